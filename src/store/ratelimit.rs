//! The rate-limit request log (`verify_requests`): recent timestamps are read here and judged
//! by the pure [`crate::verify::ratelimit::decide`]; the check and the record run inside the
//! caller's transaction (a store operation), so concurrent requests cannot both slip under a
//! limit.

use crate::store::db::{params, Connection};
use crate::verify::ratelimit::{decide, retry_secs, Limited, Limits, Subject, Window};

/// Checks every limit for `subject` at `now` and, when all allow it, records the request.
/// Runs inside the caller's transaction. `kind` is what the request was (`otp`, `resend`,
/// `reverse`), kept for operators.
pub fn check_and_record(
    conn: &Connection,
    limits: &Limits,
    subject: &Subject<'_>,
    kind: &str,
    now: i64,
) -> crate::store::db::Result<Result<(), Limited>> {
    debug_assert_ne!(kind, TEXT_KIND);
    check_and_record_in(conn, limits, subject, kind, false, now)
}

/// The `kind` of plain texts' rows.
pub const TEXT_KIND: &str = "text";

/// [`check_and_record`] for a plain text: counts only earlier plain texts.
/// The log is pruned when a boundary of this many milliseconds passes (see
/// [`check_and_record_in`]).
const PRUNE_EVERY_MS: i64 = 60_000;

pub fn check_and_record_text(
    conn: &Connection,
    limits: &Limits,
    subject: &Subject<'_>,
    now: i64,
) -> crate::store::db::Result<Result<(), Limited>> {
    check_and_record_in(conn, limits, subject, TEXT_KIND, true, now)
}

fn check_and_record_in(
    conn: &Connection,
    limits: &Limits,
    subject: &Subject<'_>,
    kind: &str,
    texts: bool,
    now: i64,
) -> crate::store::db::Result<Result<(), Limited>> {
    // What fell out of the longest window is deleted in whole minutes: most requests then
    // delete nothing, where deleting a row or two each time put a page of the table and of
    // each of its indexes into every request's commit. The windows read only their own span.
    let out_of_every_window = now - limits.longest_ms();
    conn.execute(
        "DELETE FROM verify_requests WHERE created_at <= ?1",
        [out_of_every_window - out_of_every_window.rem_euclid(PRUNE_EVERY_MS)],
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
) -> crate::store::db::Result<Vec<i64>> {
    // `column` is one of three constants above, never input.
    let sql = format!(
        "SELECT created_at FROM verify_requests
         WHERE {column} = ?1 AND created_at > ?2 AND (CASE WHEN kind = 'text' THEN 1 ELSE 0 END) = ?4
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

    fn db() -> Connection {
        crate::store::test_support::test_db()
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

    /// Rows that fell out of every window are deleted once a minute boundary has passed, not
    /// by every request; until then they are kept, and counted by no window.
    #[test]
    fn old_rows_are_pruned_in_whole_minutes_and_never_counted() {
        let conn = db();
        let l = limits(1, 0, 0);
        let subject = |number| Subject {
            number,
            key_label: "k",
            ip: None,
        };
        let rows = || -> i64 {
            conn.query_row("SELECT count(*) FROM verify_requests", [], |r| r.get(0))
                .unwrap()
        };
        let minute = 1_700_000_040_000; // a whole minute
        assert_eq!(minute % PRUNE_EVERY_MS, 0);
        let a = subject("+15550000001");
        check_and_record(&conn, &l, &a, "otp", minute + 1_000)
            .unwrap()
            .unwrap();
        check_and_record(&conn, &l, &subject("+15550000002"), "otp", minute + 30_000)
            .unwrap()
            .unwrap();
        // An hour and 40 s later both are out of the window, but no minute has turned since
        // the first one left it: kept, and not counted against the number.
        let later = minute + 3_600_000 + 40_000;
        assert_eq!(
            check_and_record(&conn, &l, &a, "otp", later).unwrap(),
            Ok(())
        );
        assert_eq!(rows(), 3);
        // Once the minute has turned, both go (the newest request stays).
        check_and_record(
            &conn,
            &l,
            &subject("+15550000003"),
            "otp",
            minute + 3_600_000 + 61_000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(rows(), 2);
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
