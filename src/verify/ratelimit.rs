//! Rate limits on verification requests and plain texts: sliding windows per destination
//! number, per API key and per end-user IP.
//!
//! Two families share the table and never count against each other: verifications (`otp`,
//! `resend`, `reverse`, limited by `[otp]`) and plain texts (`text`, limited by `[messages]`),
//! so a newsletter cannot use up the codes' budget for a number, nor the other way round.
//!
//! Why SQLite and a sliding log rather than in-memory token buckets: the limits that matter
//! most are per number and per IP over an hour — they stop SMS pumping (toll fraud) and a
//! person being flooded with codes. An in-memory bucket forgets on restart, and a restart
//! (crash loop, deploy, power cut on a Pi) would hand an attacker a fresh hour. Counting recent
//! rows of a small, indexed, self-pruning table costs a few index probes per request — nothing
//! next to the seconds a modem needs per SMS — and the check and the record happen in the
//! same transaction as the verification itself, so concurrent requests cannot both slip under
//! a limit. The per-key limit per minute is counted the same way, for one mechanism only.
//!
//! The decision is a pure function of the recent timestamps and `now` ([`decide`]), tested
//! with an explicit clock.

use rusqlite::{params, Connection};
use std::net::IpAddr;

/// A limit: at most `limit` requests in any window of `window_ms`. A limit of 0 is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub window_ms: i64,
}

impl Window {
    pub fn per_hour(limit: u32) -> Window {
        Window {
            limit,
            window_ms: 3_600_000,
        }
    }

    pub fn per_minute(limit: u32) -> Window {
        Window {
            limit,
            window_ms: 60_000,
        }
    }
}

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_number: Window,
    pub per_key: Window,
    pub per_ip: Window,
}

impl Limits {
    pub fn from_config(otp: &crate::config::Otp) -> Limits {
        Limits {
            per_number: Window::per_hour(otp.rate_per_number_per_hour),
            per_key: Window::per_minute(otp.rate_per_key_per_minute),
            per_ip: Window::per_hour(otp.rate_per_ip_per_hour),
        }
    }

    /// The limits of plain texts (`[messages]`); no per-IP limit (the API is not told the IP).
    pub fn for_texts(messages: &crate::config::Messages) -> Limits {
        Limits {
            per_number: Window::per_hour(messages.per_number_per_hour),
            per_key: Window::per_minute(messages.per_key_per_minute),
            per_ip: Window::per_hour(0),
        }
    }

    /// The longest window: rows older than this can be pruned.
    fn longest_ms(&self) -> i64 {
        self.per_number
            .window_ms
            .max(self.per_key.window_ms)
            .max(self.per_ip.window_ms)
    }
}

/// A request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds until the request would be allowed (at least 1).
    pub retry_after_secs: u64,
    /// Which limit: `"number"`, `"ip"` or `"key"`.
    pub scope: &'static str,
}

/// Is another request allowed at `now`? `newest_first` holds the times of requests within
/// the window (newest first; at most `limit` of them are looked at). `Err` carries the
/// milliseconds until the `limit`-th newest request leaves the window.
pub fn decide(now: i64, window: Window, newest_first: &[i64]) -> Result<(), i64> {
    if window.limit == 0 {
        return Ok(());
    }
    let limit = window.limit as usize;
    let in_window: Vec<i64> = newest_first
        .iter()
        .copied()
        .filter(|&t| t > now - window.window_ms)
        .take(limit)
        .collect();
    if in_window.len() < limit {
        return Ok(());
    }
    let frees_at = in_window[limit - 1] + window.window_ms;
    Err((frees_at - now).max(1))
}

/// Milliseconds to whole seconds for `Retry-After`, rounded up, at least 1.
pub fn retry_secs(ms: i64) -> u64 {
    (ms.max(1) as u64).div_ceil(1000).max(1)
}

/// The IP a limit is kept for: IPv4 addresses as they are (IPv4-mapped IPv6 too), IPv6 by
/// its /64, since one subscriber usually holds a whole /64.
pub fn ip_scope(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Who a request is from and for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject<'a> {
    /// Destination (or, for reverse OTP, the person's) number in E.164.
    pub number: &'a str,
    /// [`crate::verify::code::key_label`] of the API key.
    pub key_label: &'a str,
    /// [`ip_scope`] of the end user's IP, when the caller passed it.
    pub ip: Option<&'a str>,
}

/// Checks every limit for `subject` at `now` and, when all allow it, records the request.
/// Runs inside the caller's transaction. `kind` is what the request was (`otp`, `resend`,
/// `reverse`), kept for operators.
pub fn check_and_record(
    conn: &Connection,
    limits: &Limits,
    subject: &Subject<'_>,
    kind: &str,
    now: i64,
) -> rusqlite::Result<Result<(), Limited>> {
    debug_assert_ne!(kind, TEXT_KIND);
    check_and_record_in(conn, limits, subject, kind, false, now)
}

/// The `kind` of plain texts' rows.
pub const TEXT_KIND: &str = "text";

/// [`check_and_record`] for a plain text: counts only earlier plain texts.
pub fn check_and_record_text(
    conn: &Connection,
    limits: &Limits,
    subject: &Subject<'_>,
    now: i64,
) -> rusqlite::Result<Result<(), Limited>> {
    check_and_record_in(conn, limits, subject, TEXT_KIND, true, now)
}

fn check_and_record_in(
    conn: &Connection,
    limits: &Limits,
    subject: &Subject<'_>,
    kind: &str,
    texts: bool,
    now: i64,
) -> rusqlite::Result<Result<(), Limited>> {
    conn.execute(
        "DELETE FROM verify_requests WHERE created_at <= ?1",
        [now - limits.longest_ms()],
    )?;
    let scopes: [(&'static str, &str, Option<&str>, Window); 3] = [
        (
            "number",
            "recipient",
            Some(subject.number),
            limits.per_number,
        ),
        ("ip", "client_ip", subject.ip, limits.per_ip),
        ("key", "key_label", Some(subject.key_label), limits.per_key),
    ];
    for (scope, column, value, window) in scopes {
        let Some(value) = value else { continue };
        if window.limit == 0 {
            continue;
        }
        let recent = recent(
            conn,
            column,
            value,
            texts,
            now - window.window_ms,
            window.limit,
        )?;
        if let Err(ms) = decide(now, window, &recent) {
            return Ok(Err(Limited {
                retry_after_secs: retry_secs(ms),
                scope,
            }));
        }
    }
    conn.execute(
        "INSERT INTO verify_requests (kind, recipient, key_label, client_ip, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![kind, subject.number, subject.key_label, subject.ip, now],
    )?;
    Ok(Ok(()))
}

fn recent(
    conn: &Connection,
    column: &str,
    value: &str,
    texts: bool,
    after: i64,
    limit: u32,
) -> rusqlite::Result<Vec<i64>> {
    // `column` is one of three constants above, never input.
    let sql = format!(
        "SELECT created_at FROM verify_requests
         WHERE {column} = ?1 AND created_at > ?2 AND (kind = 'text') = ?4
         ORDER BY created_at DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![value, after, i64::from(limit), texts], |r| r.get(0))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn allows_up_to_the_limit_then_tells_when() {
        let w = Window {
            limit: 3,
            window_ms: 10 * MIN,
        };
        assert_eq!(decide(0, w, &[]), Ok(()));
        assert_eq!(decide(5 * MIN, w, &[4 * MIN, MIN]), Ok(()));
        // Three in the window: the third-newest (at 1 min) leaves at 11 min.
        assert_eq!(decide(5 * MIN, w, &[4 * MIN, 2 * MIN, MIN]), Err(6 * MIN));
        // The window is (now - w, now]: 1 ms before the edge it is still in, at the edge out.
        assert_eq!(decide(11 * MIN - 1, w, &[4 * MIN, 2 * MIN, MIN]), Err(1));
        assert_eq!(decide(11 * MIN, w, &[4 * MIN, 2 * MIN, MIN]), Ok(()));
        // Older rows passed by mistake are ignored.
        assert_eq!(decide(20 * MIN, w, &[5 * MIN, 4 * MIN, 3 * MIN]), Ok(()));
        // Zero means no limit.
        let off = Window {
            limit: 0,
            window_ms: MIN,
        };
        assert_eq!(decide(0, off, &[0, 0, 0, 0]), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_secs(1), 1);
        assert_eq!(retry_secs(1000), 1);
        assert_eq!(retry_secs(1001), 2);
        assert_eq!(retry_secs(-5), 1);
    }

    #[test]
    fn ip_scopes() {
        assert_eq!(ip_scope("203.0.113.9".parse().unwrap()), "203.0.113.9");
        assert_eq!(
            ip_scope("::ffff:203.0.113.9".parse().unwrap()),
            "203.0.113.9"
        );
        assert_eq!(
            ip_scope("2001:db8:1:2:aaaa::1".parse().unwrap()),
            ip_scope("2001:db8:1:2:bbbb::2".parse().unwrap())
        );
        assert_eq!(
            ip_scope("2001:db8:1:2::1".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            ip_scope("2001:db8:1:2::1".parse().unwrap()),
            ip_scope("2001:db8:1:3::1".parse().unwrap())
        );
    }

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        conn
    }

    fn limits(number: u32, key: u32, ip: u32) -> Limits {
        Limits {
            per_number: Window::per_hour(number),
            per_key: Window::per_minute(key),
            per_ip: Window::per_hour(ip),
        }
    }

    #[test]
    fn per_number_limit_survives_in_the_table_and_slides() {
        let conn = db();
        let l = limits(2, 0, 0);
        let s = Subject {
            number: "+15550000001",
            key_label: "k",
            ip: None,
        };
        let t0 = 1_700_000_000_000;
        assert_eq!(check_and_record(&conn, &l, &s, "otp", t0).unwrap(), Ok(()));
        assert_eq!(
            check_and_record(&conn, &l, &s, "otp", t0 + 10 * MIN).unwrap(),
            Ok(())
        );
        let limited = check_and_record(&conn, &l, &s, "otp", t0 + 20 * MIN)
            .unwrap()
            .unwrap_err();
        assert_eq!(limited.scope, "number");
        assert_eq!(limited.retry_after_secs, 40 * 60);
        // A refused request is not recorded: after the first leaves, one more is allowed.
        assert_eq!(
            check_and_record(&conn, &l, &s, "otp", t0 + 60 * MIN + 1).unwrap(),
            Ok(())
        );
        // Another number is not affected.
        let other = Subject {
            number: "+15550000002",
            ..s.clone()
        };
        assert_eq!(
            check_and_record(&conn, &l, &other, "otp", t0 + 61 * MIN).unwrap(),
            Ok(())
        );
    }

    #[test]
    fn per_key_and_per_ip_limits() {
        let conn = db();
        let l = limits(0, 3, 2);
        let t0 = 1_700_000_000_000;
        let numbers = [
            "+15550000011",
            "+15550000012",
            "+15550000013",
            "+15550000014",
        ];
        // Per IP: two requests from one IP, whatever the number.
        for (i, n) in numbers.iter().take(2).enumerate() {
            let s = Subject {
                number: n,
                key_label: "k1",
                ip: Some("198.51.100.7"),
            };
            assert_eq!(
                check_and_record(&conn, &l, &s, "otp", t0 + i as i64).unwrap(),
                Ok(())
            );
        }
        let s = Subject {
            number: numbers[2],
            key_label: "k1",
            ip: Some("198.51.100.7"),
        };
        assert_eq!(
            check_and_record(&conn, &l, &s, "otp", t0 + 2)
                .unwrap()
                .unwrap_err()
                .scope,
            "ip"
        );
        // Same key, no IP given: the per-key limit (3 a minute) counts the two above.
        let s = Subject {
            number: numbers[3],
            key_label: "k1",
            ip: None,
        };
        assert_eq!(
            check_and_record(&conn, &l, &s, "otp", t0 + 3).unwrap(),
            Ok(())
        );
        let limited = check_and_record(&conn, &l, &s, "otp", t0 + 4)
            .unwrap()
            .unwrap_err();
        assert_eq!(limited.scope, "key");
        assert_eq!(limited.retry_after_secs, 60);
        // Another key is free; a minute later the first key is too.
        let s2 = Subject {
            key_label: "k2",
            ..s.clone()
        };
        assert_eq!(
            check_and_record(&conn, &l, &s2, "otp", t0 + 5).unwrap(),
            Ok(())
        );
        assert_eq!(
            check_and_record(&conn, &l, &s, "otp", t0 + MIN + 1).unwrap(),
            Ok(())
        );
    }

    #[test]
    fn texts_and_verifications_are_counted_apart() {
        let conn = db();
        let l = limits(2, 0, 0);
        let s = Subject {
            number: "+15550000001",
            key_label: "k",
            ip: None,
        };
        let t0 = 1_700_000_000_000;
        for i in 0..2 {
            assert_eq!(
                check_and_record_text(&conn, &l, &s, t0 + i).unwrap(),
                Ok(())
            );
        }
        let limited = check_and_record_text(&conn, &l, &s, t0 + 2)
            .unwrap()
            .unwrap_err();
        assert_eq!(limited.scope, "number");
        // The texts did not use up the number's verification budget, nor the other way round.
        for i in 0..2 {
            assert_eq!(
                check_and_record(&conn, &l, &s, "otp", t0 + 3 + i).unwrap(),
                Ok(())
            );
        }
        assert!(check_and_record(&conn, &l, &s, "otp", t0 + 5)
            .unwrap()
            .is_err());
        assert_eq!(
            Limits::for_texts(&crate::config::Messages {
                per_number_per_hour: 7,
                per_key_per_minute: 9
            }),
            Limits {
                per_number: Window::per_hour(7),
                per_key: Window::per_minute(9),
                per_ip: Window::per_hour(0),
            }
        );
    }

    #[test]
    fn old_rows_are_pruned() {
        let conn = db();
        let l = limits(100, 100, 100);
        let s = Subject {
            number: "+15550000001",
            key_label: "k",
            ip: None,
        };
        let t0 = 1_700_000_000_000;
        for i in 0..5 {
            check_and_record(&conn, &l, &s, "otp", t0 + i)
                .unwrap()
                .unwrap();
        }
        check_and_record(&conn, &l, &s, "otp", t0 + 2 * 3_600_000)
            .unwrap()
            .unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM verify_requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }
}
