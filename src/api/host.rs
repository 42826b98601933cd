//! The `Host` check: a defence against DNS rebinding.
//!
//! A web page can make a browser on the gateway's machine (or LAN) send requests to simgate by
//! pointing a name it controls at 127.0.0.1. The browser then sends that name in `Host`, so
//! answering only for names we know defeats the attack: `localhost`, IP literals we listen on
//! (a browser that typed an IP literal is not being rebound; with a wildcard listen address every
//! IP literal is "ours"), and the names in `server.allowed_hosts`. A request without `Host`
//! (HTTP/1.0 tools) is not from a browser and passes. The check applies to every route,
//! `/healthz` included, so that no answer at all reaches a rebinding page.

use super::error::{ApiError, ErrorKind};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The hosts this server answers for.
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `server.allowed_hosts` contains `"*"`.
    any: bool,
    /// The listen IP, `None` for a wildcard address (then every IP literal is allowed).
    listen_ip: Option<IpAddr>,
    /// Configured names, lower case, with or without `:port`.
    names: Vec<String>,
}

impl AllowedHosts {
    pub fn new(listen: &str, configured: &[String]) -> AllowedHosts {
        let listen_ip = listen
            .parse::<SocketAddr>()
            .ok()
            .map(|a| a.ip())
            .filter(|ip| !ip.is_unspecified());
        let names: Vec<String> = configured
            .iter()
            .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect();
        AllowedHosts {
            inner: Arc::new(Inner {
                any: names.iter().any(|n| n == "*"),
                listen_ip,
                names,
            }),
        }
    }

    /// Does this server answer for `authority` (a `Host` header value: `name[:port]`,
    /// `1.2.3.4[:port]` or `[v6][:port]`)?
    pub fn allows(&self, authority: &str) -> bool {
        let inner = &self.inner;
        if inner.any {
            return true;
        }
        let authority = authority.trim().to_ascii_lowercase();
        let Some(host) = host_part(&authority) else {
            return false;
        };
        let host = host.trim_end_matches('.');
        if host == "localhost" {
            return true;
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return ip.is_loopback() || inner.listen_ip.is_none_or(|listen| listen == ip);
        }
        let with_port = authority.trim_end_matches('.');
        inner
            .names
            .iter()
            .any(|name| name == host || name == with_port)
    }
}

/// The host of an authority without its port (and without brackets for IPv6); `None` when
/// malformed.
fn host_part(authority: &str) -> Option<&str> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        return port_ok.then_some(v6);
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => host,
        Some(_) => return None,
        None => authority,
    };
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    valid.then_some(host)
}

/// Middleware: 400 `host-not-allowed` (in the face's format) for a `Host` we do not answer for.
pub async fn check_host(
    State(allowed): State<AllowedHosts>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .uri()
        .authority()
        .map(|a| Ok(a.as_str().to_string()))
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .map(|v| v.to_str().map(str::to_string))
        });
    match host {
        None => next.run(request).await,
        Some(Ok(host)) if allowed.allows(&host) => next.run(request).await,
        Some(host) => {
            let shown: String = host.unwrap_or_default().chars().take(100).collect();
            ApiError::new(
                ErrorKind::HostNotAllowed,
                format!(
                    "this server does not answer for Host {shown:?}; use its address or localhost, \
                     or add the name to server.allowed_hosts"
                ),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listen_address_and_configured_names() {
        let hosts = AllowedHosts::new("192.168.1.5:8080", &["sms.example.lan".into()]);
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:1",
            "127.0.0.1:8080",
            "127.0.0.1",
            "[::1]:8080",
            "[::1]",
            "192.168.1.5:8080",
            "sms.example.lan",
            "sms.example.lan:8080",
            "SMS.Example.LAN.:8080",
        ] {
            assert!(hosts.allows(ok), "{ok}");
        }
        for refused in [
            "evil.example",
            "evil.example:8080",
            "192.168.1.6:8080",
            "localhost.evil.example",
            "sms.example.lan.evil.example",
            "",
            "[::1",
            "localhost:80x",
            "a b",
            "user@localhost",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
    }

    #[test]
    fn wildcard_listen_allows_ip_literals_only() {
        let hosts = AllowedHosts::new("0.0.0.0:8080", &[]);
        assert!(hosts.allows("10.1.2.3:8080"));
        assert!(hosts.allows("[2001:db8::1]:8080"));
        assert!(!hosts.allows("rebind.example:8080"));
    }

    #[test]
    fn names_with_a_port_match_only_that_port() {
        let hosts = AllowedHosts::new("127.0.0.1:8080", &["gw.lan:8443".into()]);
        assert!(hosts.allows("gw.lan:8443"));
        assert!(!hosts.allows("gw.lan:8080"));
        assert!(!hosts.allows("gw.lan"));
    }

    #[test]
    fn star_turns_the_check_off() {
        let hosts = AllowedHosts::new("127.0.0.1:8080", &["*".into()]);
        assert!(hosts.allows("anything.example"));
    }
}
