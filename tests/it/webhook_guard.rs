//! Outbound webhook safety: refused targets (SSRF guard), per-endpoint slots, and the key that
//! signs `success_url` deliveries. A whole daemon, real receivers on 127.0.0.1.

use crate::daemon_support;
use crate::webhook_support;

use daemon_support::{TestDaemon, SOON};
use simgate::store::events;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use webhook_support::*;

async fn append(d: &TestDaemon, kind: &str, target: Option<&str>) -> String {
    let kind = kind.to_string();
    let target = target.map(str::to_string);
    let id = d
        .state()
        .store
        .call(move |c| {
            Ok(events::append_with_target(
                c,
                kind.parse::<events::EventKind>()
                    .expect("a known event kind"),
                &serde_json::json!({"otp_id": "r_otp_1"}),
                target.as_deref(),
            )?)
        })
        .await
        .unwrap();
    d.state().events_appended.notify_waiters();
    id
}

/// The one attempt of a refused delivery: failed at once, and the log says why.
async fn assert_refused(api: &Api, event: &str, reason: &str) {
    let failed = api.wait_delivery_status(event, "failed", SOON).await;
    assert_eq!(failed["attempt_count"], 1, "{failed}");
    let error = failed["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with(reason), "{error:?} should say {reason:?}");
    assert!(failed["attempts"][0]["status_code"].is_null(), "{failed}");
    assert!(
        !error.contains("connect"),
        "a refusal, not a connect error: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_link_local_targets_are_refused_and_others_still_delivered() {
    let app = Listener::start().await;
    let mut d = TestDaemon::with_config(0, fast_retries).await;
    let api = Api::new(d.base_url());
    // An endpoint created through the API at the cloud metadata address.
    let (status, created) = api
        .post(
            "/v1/webhooks/endpoints",
            serde_json::json!({"url": "http://169.254.169.254/latest/meta-data/", "events": ["otp.verified"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let to_metadata = append(&d, "otp.verified", None).await;
    assert_refused(
        &api,
        &to_metadata,
        "refused: cloud metadata address 169.254.169.254",
    )
    .await;
    // success_urls at link-local addresses, IPv6 and IPv4-mapped.
    let v6 = append(&d, "otp.reverse.verified", Some("http://[fe80::1]:8080/ok")).await;
    // (otp.reverse.verified does not reach the endpoint above: it takes otp.verified only.)
    let mapped = append(
        &d,
        "message.received",
        Some("http://[::ffff:169.254.10.10]/ok"),
    )
    .await;
    assert_refused(&api, &v6, "refused: link-local address fe80::1").await;
    assert_refused(
        &api,
        &mapped,
        "refused: link-local address ::ffff:169.254.10.10",
    )
    .await;
    // A local app (loopback, allowed by default) still gets its call.
    let ok = append(&d, "message.status", Some(&app.url)).await;
    app.wait_for(1, SOON).await;
    api.wait_delivery_status(&ok, "delivered", SOON).await;
    d.stop().await;
}

/// `localhost` is a name: it goes through the resolver (the system's, from /etc/hosts) and is
/// judged by the addresses it resolves to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_a_loopback_address_is_refused_when_private_targets_are_off() {
    let app = Listener::start().await;
    let by_name = app.url.replace("127.0.0.1", "localhost");
    let mut d = TestDaemon::with_config(0, |c| {
        fast_retries(c);
        c.webhook_delivery.allow_private_targets = false;
    })
    .await;
    let api = Api::new(d.base_url());
    let named = append(&d, "otp.reverse.verified", Some(&by_name)).await;
    assert_refused(&api, &named, "refused: loopback address").await;
    let literal = append(&d, "otp.reverse.verified", Some(&app.url)).await;
    assert_refused(&api, &literal, "refused: loopback address 127.0.0.1").await;
    let private = append(&d, "otp.reverse.verified", Some("http://10.1.2.3/ok")).await;
    assert_refused(&api, &private, "refused: private address 10.1.2.3").await;
    assert!(app.received().is_empty(), "nothing reached the app");
    d.stop().await;

    // The same name with the default switch: delivered.
    let mut d = TestDaemon::with_config(0, fast_retries).await;
    let api = Api::new(d.base_url());
    let named = append(&d, "otp.reverse.verified", Some(&by_name)).await;
    app.wait_for(1, SOON).await;
    api.wait_delivery_status(&named, "delivered", SOON).await;
    d.stop().await;
}

/// A name that the resolver maps to the metadata address (the lookup is replaced, the guard is
/// the dispatcher's own): refused, never connected to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_the_metadata_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = simgate::config::Config::default();
    let _backend = crate::pg_support::TestBackend::apply(&mut config, dir.path());
    let storage = config.storage.clone();
    let store =
        tokio::task::spawn_blocking(move || simgate::store::Store::open_configured(&storage))
            .await
            .unwrap()
            .unwrap();
    let secret = simgate::secret::Secret::load_or_create(&dir.path().join("secret.key")).unwrap();
    fast_retries(&mut config);
    let looked_up = Arc::new(AtomicUsize::new(0));
    let counter = looked_up.clone();
    let lookup: simgate::webhook::guard::Lookup = Arc::new(move |host: String| {
        counter.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            assert_eq!(host, "metadata.app.test");
            Ok(vec!["169.254.169.254:80".parse().unwrap()])
        }) as simgate::webhook::guard::LookupFuture
    });
    let wake = Arc::new(tokio::sync::Notify::new());
    let dispatcher = simgate::webhook::Dispatcher::with_lookup(
        store.clone(),
        &config,
        &secret,
        wake.clone(),
        lookup,
    )
    .unwrap();
    let (stop, stopped) = simgate::shutdown::Shutdown::channel();
    let task = tokio::spawn(dispatcher.run(stopped));
    let id = store
        .call(|c| {
            Ok(events::append_with_target(
                c,
                events::EventKind::OtpReverseVerified,
                &serde_json::json!({}),
                Some("http://metadata.app.test/latest/meta-data/iam"),
            )?)
        })
        .await
        .unwrap();
    wake.notify_waiters();
    let deadline = tokio::time::Instant::now() + SOON;
    let view = loop {
        let id = id.clone();
        let view = store
            .call(move |c| {
                let dlv: Option<String> = c
                    .query_row(
                        "SELECT id FROM webhook_deliveries WHERE event_id = ?1",
                        [&id],
                        |r| r.get(0),
                    )
                    .ok();
                Ok(match dlv {
                    Some(dlv) => simgate::webhook::store::get_delivery(c, &dlv)?,
                    None => None,
                })
            })
            .await
            .unwrap();
        if let Some(v) = view.filter(|v| v.status == "failed") {
            break v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let attempts = view.attempts.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        attempts[0].error.as_deref(),
        Some("refused: cloud metadata address 169.254.169.254")
    );
    assert_eq!(looked_up.load(Ordering::SeqCst), 1, "one lookup, no retry");
    let _ = stop.send(true);
    task.await.unwrap();
}

/// An endpoint that accepts connections and never answers.
struct BlackHole {
    url: String,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    async fn start() -> BlackHole {
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/slow", socket.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((conn, _)) = socket.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(conn);
            }
        });
        BlackHole {
            url,
            accepted,
            task,
        }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Three slots in all, two per endpoint: five deliveries to a black hole hold two slots, and a
/// delivery to another endpoint goes out at once instead of waiting the 15 s time limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_does_not_hold_up_another() {
    let hole = BlackHole::start().await;
    let app = Listener::start().await;
    let mut d = TestDaemon::with_config(0, |c| {
        fast_retries(c);
        c.webhook_delivery.timeout_ms = 15_000;
        c.webhook_delivery.concurrency = 3;
        c.webhook_delivery.per_endpoint_concurrency = 2;
    })
    .await;
    let api = Api::new(d.base_url());
    for _ in 0..5 {
        append(&d, "otp.reverse.verified", Some(&hole.url)).await;
    }
    // The black hole holds its two connections before the other event exists.
    let deadline = tokio::time::Instant::now() + SOON;
    while hole.accepted.load(Ordering::SeqCst) < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no slow attempt");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = tokio::time::Instant::now();
    let fast = append(&d, "otp.reverse.verified", Some(&app.url)).await;
    // Well inside the black hole's 15 s: the other endpoint did not wait for a free slot.
    let got = tokio::time::timeout(Duration::from_secs(8), app.wait_for(1, SOON))
        .await
        .expect("delivered while the slow endpoint still holds its slots");
    assert_eq!(got[0].header("webhook-id"), fast);
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(
        hole.accepted.load(Ordering::SeqCst),
        2,
        "never more than two requests at once to one endpoint"
    );
    api.wait_delivery_status(&fast, "delivered", SOON).await;
    d.stop().await;
}

/// `simgate webhook-secret` with this daemon's config: (exit ok, stdout, stderr).
fn webhook_secret_cli(
    config: &simgate::config::Config,
    url: Option<&str>,
) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("simgate.toml");
    std::fs::write(&path, toml::to_string(config).unwrap()).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"));
    command.arg("webhook-secret").arg("--config").arg(&path);
    if let Some(url) = url {
        command.arg("--url").arg(url);
    }
    let out = command.env_remove("SIMGATE_CONFIG").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// With a global endpoint configured, a `success_url` is still signed with its own key, the one
/// `simgate webhook-secret` prints, and the endpoint's secret does not verify it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_url_has_its_own_key_never_an_endpoints_secret() {
    let global = Listener::start().await;
    let plain = Listener::start().await;
    let target = Listener::start().await;
    let (global_url, plain_url) = (global.url.clone(), plain.url.clone());
    let mut d = TestDaemon::with_config(0, |c| {
        c.webhooks.push(webhook(&global_url, &["*"]));
        // A [[webhook]] configured without a secret.
        let mut no_secret = webhook(&plain_url, &["*"]);
        no_secret.secret = Default::default();
        c.webhooks.push(no_secret);
        fast_retries(c);
    })
    .await;
    let (ok, printed, stderr) = webhook_secret_cli(&d.config, None);
    assert!(ok, "{stderr}");
    assert!(printed.starts_with("whsec_"), "{printed}");
    let (ok, plain_secret, stderr) = webhook_secret_cli(&d.config, Some(&plain.url));
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = webhook_secret_cli(&d.config, Some(&global.url));
    assert!(!ok, "an endpoint with its own secret has nothing derived");
    assert!(stderr.contains("webhook[0].secret"), "{stderr}");

    let id = append(&d, "otp.reverse.verified", Some(&target.url)).await;
    let to_target = target.wait_for(1, SOON).await;
    let to_global = global.wait_for(1, SOON).await;
    let to_plain = plain.wait_for(1, SOON).await;
    for r in [&to_target[0], &to_global[0], &to_plain[0]] {
        assert_eq!(r.header("webhook-id"), id);
    }
    assert!(standard_signature_ok(&printed, &to_target[0]));
    assert!(
        !standard_signature_ok(SECRET, &to_target[0]),
        "the global endpoint's secret does not verify a success_url call"
    );
    assert!(!standard_signature_ok(&plain_secret, &to_target[0]));
    assert!(standard_signature_ok(SECRET, &to_global[0]));
    assert!(standard_signature_ok(&plain_secret, &to_plain[0]));
    assert!(
        !standard_signature_ok(&printed, &to_plain[0]),
        "the success_url key signs nothing else"
    );
    d.stop().await;
}
