//! Which addresses webhook requests may go to (an SSRF guard).
//!
//! A webhook endpoint or a `success_url` is a URL chosen by whoever holds an API key, and the
//! daemon POSTs to it from inside the network: without a guard it would reach the cloud
//! metadata service (credentials), link-local devices, or act as a port scanner. The check is
//! made on the addresses actually connected to, after DNS resolution ([`GuardedResolver`], so
//! a name that resolves to a forbidden address is refused too), and on IP-literal URLs, which
//! never reach a resolver ([`check_url`]). The HTTP client uses no proxy, so the address checked
//! is the address connected to.
//!
//! Always refused: link-local (169.254.0.0/16, fe80::/10), cloud metadata addresses, multicast,
//! unspecified (0.0.0.0/8, ::), broadcast and reserved (240.0.0.0/4). Loopback and private
//! ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) are allowed unless
//! `webhooks.allow_private_targets = false`: a local app is the common receiver.
//! IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) addresses are judged by the
//! IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why an address is refused. Shown in the delivery log as `refused: <reason> <address>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Metadata,
    LinkLocal,
    Multicast,
    Unspecified,
    Broadcast,
    Reserved,
    /// Loopback, refused only when private targets are not allowed.
    Loopback,
    /// A private range, refused only when private targets are not allowed.
    Private,
}

impl Refusal {
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::Metadata => "cloud metadata address",
            Refusal::LinkLocal => "link-local address",
            Refusal::Multicast => "multicast address",
            Refusal::Unspecified => "unspecified address",
            Refusal::Broadcast => "broadcast address",
            Refusal::Reserved => "reserved address",
            Refusal::Loopback => "loopback address",
            Refusal::Private => "private address",
        }
    }
}

/// A refused target: the error the resolver returns, and what the delivery log shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: Refusal,
    pub addr: IpAddr,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused: {} {}", self.reason.describe(), self.addr)?;
        if matches!(self.reason, Refusal::Loopback | Refusal::Private) {
            f.write_str(" (webhooks.allow_private_targets = false)")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// Well-known metadata services that are not link-local (link-local ones are refused anyway):
/// AWS's IPv6 endpoint, Alibaba Cloud, Oracle Cloud's legacy address.
const METADATA_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(100, 100, 100, 200),
    Ipv4Addr::new(192, 0, 0, 192),
];
const METADATA_V6: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)];

/// Decides whether an address may be connected to.
pub fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), Refusal> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4, allow_private),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => check_v4(v4, allow_private),
            None => check_v6(v6, allow_private),
        },
    }
}

fn check_v4(ip: Ipv4Addr, allow_private: bool) -> Result<(), Refusal> {
    let [a, b, ..] = ip.octets();
    if METADATA_V4.contains(&ip) {
        Err(Refusal::Metadata)
    } else if ip.is_link_local() {
        Err(Refusal::LinkLocal)
    } else if ip.is_multicast() {
        Err(Refusal::Multicast)
    } else if ip.is_broadcast() {
        Err(Refusal::Broadcast)
    } else if a == 0 {
        // 0.0.0.0/8 "this network": connecting to it reaches the local host.
        Err(Refusal::Unspecified)
    } else if a >= 240 {
        Err(Refusal::Reserved)
    } else if allow_private {
        Ok(())
    } else if ip.is_loopback() {
        Err(Refusal::Loopback)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Err(Refusal::Private)
    } else {
        Ok(())
    }
}

fn check_v6(ip: Ipv6Addr, allow_private: bool) -> Result<(), Refusal> {
    let first = ip.segments()[0];
    if METADATA_V6.contains(&ip) {
        Err(Refusal::Metadata)
    } else if first & 0xffc0 == 0xfe80 {
        Err(Refusal::LinkLocal)
    } else if ip.is_multicast() {
        Err(Refusal::Multicast)
    } else if ip.is_unspecified() {
        Err(Refusal::Unspecified)
    } else if allow_private {
        Ok(())
    } else if ip.is_loopback() {
        Err(Refusal::Loopback)
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        // Unique local (fc00::/7) and the deprecated site-local (fec0::/10).
        Err(Refusal::Private)
    } else {
        Ok(())
    }
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:0:0/96`) or NAT64 (`64:ff9b::/96`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0]).then(|| {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    })
}

/// Checks a URL whose host is an IP literal (those skip the resolver). Names are checked when
/// they are resolved. An unparsable URL passes here: it is refused elsewhere as unusable.
pub fn check_url(url: &str, allow_private: bool) -> Result<(), Refused> {
    let Ok(url) = reqwest::Url::parse(url) else {
        return Ok(());
    };
    let addr = match url.host() {
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        _ => return Ok(()),
    };
    check_ip(addr, allow_private).map_err(|reason| Refused { reason, addr })
}

/// A pending name lookup.
pub type LookupFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;

/// Looks a host name up; replaceable so that tests can give a name any address.
pub type Lookup = Arc<dyn Fn(String) -> LookupFuture + Send + Sync>;

/// The system resolver (getaddrinfo, through tokio).
pub fn system_lookup() -> Lookup {
    Arc::new(|host: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .collect::<Vec<SocketAddr>>())
        })
    })
}

/// A reqwest resolver that drops refused addresses from every answer; when none is left, the
/// request fails with the [`Refused`] of the first one.
#[derive(Clone)]
pub struct GuardedResolver {
    lookup: Lookup,
    allow_private: bool,
}

impl GuardedResolver {
    pub fn new(allow_private: bool) -> GuardedResolver {
        GuardedResolver::with_lookup(system_lookup(), allow_private)
    }

    pub fn with_lookup(lookup: Lookup, allow_private: bool) -> GuardedResolver {
        GuardedResolver {
            lookup,
            allow_private,
        }
    }
}

/// Keeps the allowed addresses; with none, the refusal of the first address.
pub fn filter_addrs(
    addrs: Vec<SocketAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Refused> {
    let mut first_refusal = None;
    let mut allowed = Vec::with_capacity(addrs.len());
    for addr in addrs {
        match check_ip(addr.ip(), allow_private) {
            Ok(()) => allowed.push(addr),
            Err(reason) => {
                first_refusal.get_or_insert(Refused {
                    reason,
                    addr: addr.ip(),
                });
            }
        }
    }
    match (allowed.is_empty(), first_refusal) {
        (true, Some(refused)) => Err(refused),
        _ => Ok(allowed),
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = lookup(host).await?;
            let allowed = filter_addrs(addrs, allow_private)?;
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The refusal somewhere in an error's source chain (a resolver error wrapped by reqwest and
/// hyper), if that is what failed.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str, allow_private: bool) -> Option<Refusal> {
        check_ip(ip.parse().unwrap(), allow_private).err()
    }

    #[test]
    fn always_refused() {
        for (ip, why) in [
            ("169.254.169.254", Refusal::Metadata),
            ("100.100.100.200", Refusal::Metadata),
            ("fd00:ec2::254", Refusal::Metadata),
            ("169.254.1.1", Refusal::LinkLocal),
            ("fe80::1", Refusal::LinkLocal),
            ("febf::1", Refusal::LinkLocal),
            ("224.0.0.1", Refusal::Multicast),
            ("ff02::1", Refusal::Multicast),
            ("0.0.0.0", Refusal::Unspecified),
            ("0.1.2.3", Refusal::Unspecified),
            ("::", Refusal::Unspecified),
            ("255.255.255.255", Refusal::Broadcast),
            ("240.0.0.1", Refusal::Reserved),
            ("::ffff:169.254.169.254", Refusal::Metadata),
            ("::ffff:169.254.0.9", Refusal::LinkLocal),
            ("64:ff9b::a9fe:a9fe", Refusal::Metadata),
        ] {
            assert_eq!(refused(ip, true), Some(why), "{ip}");
            assert_eq!(refused(ip, false), Some(why), "{ip}");
        }
    }

    #[test]
    fn private_and_loopback_follow_the_switch() {
        for (ip, why) in [
            ("127.0.0.1", Refusal::Loopback),
            ("127.8.9.10", Refusal::Loopback),
            ("::1", Refusal::Loopback),
            ("::ffff:127.0.0.1", Refusal::Loopback),
            ("10.1.2.3", Refusal::Private),
            ("172.16.0.1", Refusal::Private),
            ("172.31.255.255", Refusal::Private),
            ("192.168.1.10", Refusal::Private),
            ("100.64.0.1", Refusal::Private),
            ("fd12:3456::1", Refusal::Private),
            ("fc00::1", Refusal::Private),
        ] {
            assert_eq!(refused(ip, true), None, "{ip} allowed by default");
            assert_eq!(refused(ip, false), Some(why), "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700::1111",
            "2001:db8::1",
        ] {
            assert_eq!(refused(ip, false), None, "{ip}");
        }
    }

    #[test]
    fn ip_literal_urls() {
        let e = check_url("http://169.254.169.254/latest/meta-data/", true).unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused: cloud metadata address 169.254.169.254"
        );
        assert!(check_url("http://[fe80::1]:8080/x", true).is_err());
        assert!(check_url("http://[::ffff:a9fe:a9fe]/", true).is_err());
        // Decimal and hex IPv4 forms are read as the address they mean.
        assert!(check_url("http://2852039166/", true).is_err());
        assert!(check_url("http://0xa9fea9fe/", true).is_err());
        assert!(check_url("http://127.0.0.1:9000/hooks", true).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hooks", false).is_err());
        assert!(check_url("http://example.com/hooks", false).is_ok());
    }

    /// A lookup that answers `addrs` for every name (the guard still judges them).
    fn answering(addrs: Vec<SocketAddr>) -> Lookup {
        Arc::new(move |_host: String| {
            let addrs = addrs.clone();
            Box::pin(async move { Ok(addrs) }) as LookupFuture
        })
    }

    fn client(lookup: Lookup, allow_private: bool) -> reqwest::Client {
        reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver::with_lookup(
                lookup,
                allow_private,
            )))
            .no_proxy()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap()
    }

    /// A name that resolves to the metadata address is refused before any connection, and the
    /// error says why; one that resolves to a refused and an allowed address reaches the
    /// allowed one (a real listener on 127.0.0.1).
    #[tokio::test]
    async fn resolved_names_are_judged_by_their_addresses() {
        let metadata: SocketAddr = "169.254.169.254:80".parse().unwrap();
        let err = client(answering(vec![metadata]), true)
            .get("http://metadata.internal/latest/meta-data/")
            .send()
            .await
            .unwrap_err();
        let refused = refusal_in(&err).expect("the refusal is in the error chain");
        assert_eq!(refused.reason, Refusal::Metadata);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let served = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
        });
        let url = format!("http://app.internal:{}/", local.port());
        let link_local: SocketAddr = "169.254.1.1:80".parse().unwrap();
        let answer = client(answering(vec![link_local, local]), true)
            .get(&url)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 204);
        served.await.unwrap();

        // The same name with private targets refused: loopback is refused too.
        let err = client(answering(vec![local]), false)
            .get(&url)
            .send()
            .await
            .unwrap_err();
        assert_eq!(refusal_in(&err).unwrap().reason, Refusal::Loopback);
    }

    #[test]
    fn mixed_answers_keep_the_allowed_addresses() {
        let addrs: Vec<SocketAddr> = vec![
            "169.254.169.254:80".parse().unwrap(),
            "93.184.216.34:80".parse().unwrap(),
        ];
        assert_eq!(filter_addrs(addrs.clone(), true).unwrap(), vec![addrs[1]]);
        let e = filter_addrs(vec![addrs[0]], true).unwrap_err();
        assert_eq!(e.reason, Refusal::Metadata);
        assert!(filter_addrs(Vec::new(), true).unwrap().is_empty());
    }
}
