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
//! with an explicit clock; the request log itself is read and written by
//! [`crate::store::ratelimit`], which calls [`decide`].

use core::net::IpAddr;

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
    pub fn longest_ms(&self) -> i64 {
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
}
