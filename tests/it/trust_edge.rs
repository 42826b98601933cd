//! Safe defaults at the edge: the Host check, slow and surplus connections, bounded metrics
//! labels, one abuse policy for every send path, and background tasks that fail loudly.

use crate::api_support;
use crate::daemon_support;

use api_support::{contiguity_error, problem, read, Api, Auth};
use daemon_support::{TestDaemon, API_KEY};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends raw bytes and reads the whole answer (the connection is closed by the request).
async fn raw(d: &TestDaemon, request: String) -> (u16, String) {
    let mut stream = TcpStream::connect(d.running().local_addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn get(path: &str, host: &str, auth: bool) -> String {
    let auth = if auth {
        format!("Authorization: Bearer {API_KEY}\r\n")
    } else {
        String::new()
    };
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_unknown_hosts_are_refused_in_each_face() {
    let mut d = TestDaemon::with_config(0, |c| {
        c.server.allowed_hosts = vec!["sms.example.lan".into()];
    })
    .await;
    let port = d.running().local_addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_string(),
        format!("[::1]:{port}"),
        "sms.example.lan".to_string(),
        format!("SMS.example.lan:{port}"),
    ] {
        let (status, body) = raw(&d, get("/v1/modems", &host, true)).await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    // A rebinding page's name: refused everywhere, /healthz included, before auth.
    for (path, auth) in [
        ("/v1/modems", true),
        ("/healthz", false),
        ("/metrics", false),
    ] {
        let (status, body) = raw(&d, get(path, &format!("rebind.example:{port}"), auth)).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        let slug = problem(
            StatusCode::from_u16(status).unwrap(),
            &body,
            StatusCode::BAD_REQUEST,
        );
        assert_eq!(slug, "host-not-allowed", "{path}");
    }
    let request = format!(
        "POST /send/text HTTP/1.1\r\nHost: rebind.example:{port}\r\nAuthorization: Bearer {API_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    let (status, body) = raw(&d, request).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    contiguity_error(
        StatusCode::from_u16(status).unwrap(),
        &body,
        StatusCode::BAD_REQUEST,
    );
    assert_eq!(body["type"], "urn:simgate:problem:host-not-allowed");
    d.stop().await;
}

/// Connections that send half a request and stall are closed after the header timeout, and
/// counted; a well-behaved client is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_after_the_header_timeout() {
    const STALLED: usize = 60;
    let mut d = TestDaemon::with_config(0, |c| {
        c.server.header_timeout_secs = 1;
        c.server.idle_timeout_secs = 30;
    })
    .await;
    let addr = d.running().local_addr;
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await
            .unwrap();
        stalled.push(s);
    }
    let api = Api::new(&d);
    let r = api
        .request(Method::GET, "/healthz", Auth::None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    for mut s in stalled {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("closed by the server, not left open");
        // EOF (or a reset): no answer to a half request.
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(8), "closed after {waited:?}");
    let (status, metrics) = {
        let r = api
            .request(Method::GET, "/metrics", Auth::Bearer)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(status, StatusCode::OK);
    let closed: u64 = metrics
        .lines()
        .find(|l| l.starts_with("simgate_http_connections_closed_total{reason=\"slow_headers\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("slow_headers counter");
    assert!(closed >= STALLED as u64, "{closed}");
    d.stop().await;
}

/// Beyond `server.max_connections`, a connection is not served until another one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let mut d = TestDaemon::with_config(0, |c| {
        c.server.max_connections = 2;
        c.server.idle_timeout_secs = 60;
    })
    .await;
    let addr = d.running().local_addr;
    let first = TcpStream::connect(addr).await.unwrap();
    let second = TcpStream::connect(addr).await.unwrap();
    // Give the server a moment to accept both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(get("/healthz", "localhost", false).as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_millis(800), third.read_to_end(&mut answer)).await;
    assert!(early.is_err(), "served beyond the cap: {answer:?}");
    drop(first);
    tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut answer))
        .await
        .expect("served once a slot is free")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(second);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_share_one_metrics_label() {
    let mut d = TestDaemon::start(0).await;
    for i in 0..40 {
        let request =
            format!("FOO{i} /v1/anything HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let (status, _) = raw(&d, request).await;
        assert!((400..500).contains(&status), "{status}");
    }
    let api = Api::new(&d);
    let text = api
        .request(Method::GET, "/metrics", Auth::Bearer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("FOO"), "{text}");
    let other: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("simgate_http_requests_total") && l.contains("method=\"OTHER\""))
        .collect();
    assert_eq!(other.len(), 1, "{other:?}");
    assert!(other[0].ends_with(" 40"), "{other:?}");
    d.stop().await;
}

/// Sends through both plain-text routes; returns (status, body, Retry-After).
async fn send(api: &Api, route: &str, to: &str) -> (StatusCode, Value, Option<u64>) {
    let body = match route {
        "/send/text" => json!({"to": to, "message": "hello"}),
        _ => json!({"to": to, "body": "hello"}),
    };
    let r = api
        .request(Method::POST, route, Auth::Bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (status, body) = read(r).await;
    (status, body, retry_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_texts_obey_the_country_list_and_limits() {
    let mut d = TestDaemon::with_config(0, |c| {
        c.otp.allowed_countries = vec!["US".into(), "GB".into()];
        c.messages.per_number_per_hour = 2;
        c.messages.per_key_per_minute = 5;
    })
    .await;
    let api = Api::new(&d);
    // Pumping to Lithuania, refused on both routes; so is an OTP.
    let (status, body, _) = send(&api, "/send/text", "+37060012345").await;
    contiguity_error(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "urn:simgate:problem:country-not-allowed");
    let (status, body, _) = send(&api, "/v1/messages", "+37060012345").await;
    assert_eq!(
        problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY),
        "country-not-allowed"
    );
    let (status, _) = api.post("/otp/new", json!({"to": "+37060012345"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Per number: two texts an hour, whichever route.
    let (status, _, _) = send(&api, "/send/text", "+14155550101").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(&api, "/v1/messages", "+14155550101").await;
    assert_eq!(status, StatusCode::CREATED);
    for route in ["/send/text", "/v1/messages"] {
        let (status, body, retry_after) = send(&api, route, "+14155550101").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{route}: {body}");
        let secs = retry_after.expect("Retry-After");
        assert!((3000..=3600).contains(&secs), "{secs}");
    }
    // The texts did not use up that number's verification budget.
    let (status, body) = api.post("/otp/new", json!({"to": "+14155550101"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Per key: five accepted a minute (two above), then refused for any number.
    for n in 2..5 {
        let (status, _, _) = send(&api, "/send/text", &format!("+4477009000{n:02}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, body, retry_after) = send(&api, "/v1/messages", "+447700900099").await;
    assert_eq!(
        problem(status, &body, StatusCode::TOO_MANY_REQUESTS),
        "rate-limited"
    );
    assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_plain_texts_with_retry_after() {
    // No modem: nothing leaves the queue.
    let mut d = TestDaemon::with_config(0, |c| {
        c.otp.allowed_countries = vec!["US".into()];
        c.outbound.max_queued = 3;
    })
    .await;
    let api = Api::new(&d);
    for n in 0..3 {
        let (status, body, _) = send(&api, "/v1/messages", &format!("+1415555020{n}")).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body, retry_after) = send(&api, "/send/text", "+14155550209").await;
    contiguity_error(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["type"], "urn:simgate:problem:queue-full");
    assert_eq!(retry_after, Some(30));
    let (status, body, retry_after) = send(&api, "/v1/messages", "+14155550209").await;
    assert_eq!(
        problem(status, &body, StatusCode::SERVICE_UNAVAILABLE),
        "queue-full"
    );
    assert_eq!(retry_after, Some(30));
    let queued = d
        .state()
        .store
        .call(|c| Ok(simgate::store::outbound::queue_depth(c)?))
        .await
        .unwrap();
    assert_eq!(queued, 3);
    d.stop().await;
}

/// A background task that panics is reported by the daemon's supervisor (which `run` turns into
/// a non-zero exit); the API keeps answering until the daemon is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_background_task_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = simgate::config::Config::default();
    config.server.listen = "127.0.0.1:0".into();
    let _backend = crate::pg_support::TestBackend::apply(&mut config, dir.path());
    config.security.secret_file = dir.path().join("secret.key");
    let (stop, shutdown) = simgate::shutdown::Shutdown::channel();
    let mut running = simgate::daemon::start(config, Default::default(), shutdown)
        .await
        .unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(300), running.failed()).await;
    assert!(quiet.is_err(), "nothing failed yet");
    running.watch(
        "embedded worker",
        tokio::spawn(async { panic!("worker invariant broken") }),
    );
    let failure = tokio::time::timeout(Duration::from_secs(5), running.failed())
        .await
        .expect("the panic is reported");
    assert_eq!(failure.task, "embedded worker");
    assert!(failure.to_string().contains("worker invariant broken"));
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(25), running.stop())
        .await
        .expect("stops");
}

/// `Running::reload`: new keys apply at once; a reload that would break protected mode
/// changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_replaces_api_keys() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = simgate::config::Config::default();
    config.server.listen = "127.0.0.1:0".into();
    let _backend = crate::pg_support::TestBackend::apply(&mut config, dir.path());
    config.security.secret_file = dir.path().join("secret.key");
    config.auth.api_keys = vec!["sk_first_key_0123456789abcdef".into()];
    let (stop, shutdown) = simgate::shutdown::Shutdown::channel();
    let mut running = simgate::daemon::start(config.clone(), Default::default(), shutdown)
        .await
        .unwrap();
    let url = format!("http://{}/v1/modems", running.local_addr);
    let http = api_support::client();
    let status = |key: &'static str| {
        let request = http.get(&url).bearer_auth(key);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        status("sk_first_key_0123456789abcdef").await,
        StatusCode::OK
    );
    let mut next = config.clone();
    next.auth.api_keys = vec!["sk_second_key_0123456789abcdef".into()];
    running.reload(&next).await.unwrap();
    assert_eq!(
        status("sk_first_key_0123456789abcdef").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status("sk_second_key_0123456789abcdef").await,
        StatusCode::OK
    );
    let _ = stop.send(true);
    running.stop().await;
}
