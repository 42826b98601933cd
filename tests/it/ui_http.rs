//! The status page's trust rules over plain HTTP, against a whole daemon on virtual modems:
//! login and session cookie, wrong keys, CSRF, texts only for operators, the event stream,
//! logout, and the read-only view on loopback. (The page in a real browser: tests/ui_browser.rs.)

use crate::daemon_support;

use daemon_support::{TestDaemon, API_KEY, SOON};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use std::time::Duration;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Logs in; returns the `Cookie` header value and the full `Set-Cookie`.
async fn login(base: &str) -> (String, String) {
    let r = client()
        .post(format!("{base}/ui/login"))
        .form(&[("api_key", API_KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/ui/");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let pair = set.split(';').next().unwrap().to_string();
    (pair, set)
}

async fn page(base: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut req = client().get(format!("{base}/ui/"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The CSRF token the page rendered for this session.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_session_and_what_it_unlocks() {
    let mut d = TestDaemon::start(2).await;
    d.wait_all_ready().await;
    let base = d.base_url();

    // No session: the login form, one input named api_key; nothing about the modems.
    let (status, html) = page(&base, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("<input").count(), 1, "{html}");
    assert!(html.contains("name=\"api_key\""));
    assert!(!html.contains("sim1"));

    // A wrong key gets no page: the form again, 401, no cookie.
    let r = client()
        .post(format!("{base}/ui/login"))
        .form(&[("api_key", "sk_wrong_key_123")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get("set-cookie").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains("not accepted") && html.contains("name=\"api_key\""));
    assert!(!html.contains("sim1"));
    // A bearer key does not open the page either: the page's trust is its session.
    let r = client()
        .get(format!("{base}/ui/"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert!(!r.text().await.unwrap().contains("sim1"));

    // The right key: a session cookie with the right attributes, never the key.
    let (cookie, set_cookie) = login(&base).await;
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    assert!(!set_cookie.contains(API_KEY));
    let (status, html) = page(&base, Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(">sim1</h3>") && html.contains(">sim2</h3>"));
    assert!(html.contains(">ready</span>"));
    let r = client()
        .get(format!("{base}/ui/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["cache-control"], "no-store");

    // Inbound texts: only to a session, and only on request.
    d.network
        .send_from_world("+14155550100", "+15550000001", "secret 424242")
        .unwrap();
    // Through the async `call`: a blocking store call on a runtime thread is refused on
    // PostgreSQL (its client runs a runtime of its own).
    let deadline = tokio::time::Instant::now() + SOON;
    let id = loop {
        let listed = d
            .state()
            .store
            .call(|c| Ok(simgate::store::inbound::list(c, 1, None)?))
            .await
            .ok()
            .and_then(|l| l.first().map(|m| m.id.clone()));
        if let Some(id) = listed {
            break id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the inbound message"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (_, html) = page(&base, Some(&cookie)).await;
    assert!(html.contains(&id), "the message is listed");
    assert!(!html.contains("424242"), "its text is not in the page");
    let text_url = format!("{base}/ui/inbound/{id}/text");
    let r = client().get(&text_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = client()
        .get(&text_url)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "secret 424242");

    // The event stream: refused without a session; with one, sections as HTML.
    let r = client()
        .get(format!("{base}/ui/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mut stream = client()
        .get(format!("{base}/ui/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut got = String::new();
    while !got.contains("event: modems") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("a first event")
            .unwrap()
            .expect("the stream stays open");
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(got.contains(">sim1</h3>"));

    // CSRF: a POST without the session's token does nothing; a foreign Origin neither.
    let retry = format!("{base}/ui/webhooks/deliveries/whd_x/retry");
    let r = client()
        .post(&retry)
        .header("cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/ui/?notice=bad-token");
    let token = csrf_of(&html);
    let r = client()
        .post(&retry)
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/ui/?notice=bad-token");
    // With the token: the API's answer for an unknown delivery.
    let r = client()
        .post(&retry)
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/ui/?notice=not-found#webhooks");
    // Without a session: no action.
    let r = client()
        .post(&retry)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Logout ends the session and the event stream with it.
    let r = client()
        .post(format!("{base}/ui/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let (_, html) = page(&base, Some(&cookie)).await;
    assert!(html.contains("name=\"api_key\"") && !html.contains("sim1"));
    let mut rest = String::new();
    while let Ok(Ok(Some(chunk))) =
        tokio::time::timeout(Duration::from_secs(10), stream.chunk()).await
    {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains("event: logout"), "{rest}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_view_on_loopback_when_configured() {
    let mut d = TestDaemon::with_config(1, |c| c.ui.read_only_on_loopback = true).await;
    d.wait_all_ready().await;
    let base = d.base_url();
    let (status, html) = page(&base, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Read-only view"));
    assert!(html.contains(">sim1</h3>"), "modems are shown");
    assert!(!html.contains("+15550000001"), "numbers are masked");
    assert!(!html.contains("name=\"csrf\""), "no actions");
    assert!(html.contains("name=\"api_key\""), "a login is offered");
    // Another site's name rebound to 127.0.0.1 (DNS rebinding) is refused by the Host check
    // the page shares with the API: no view, not even the login form.
    let r = client()
        .get(format!("{base}/ui/"))
        .header("host", "rebound.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("sim1") && html.contains("host-not-allowed"),
        "{html}"
    );
    // The event stream is open to it; texts are not.
    let mut stream = client()
        .get(format!("{base}/ui/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let r = client()
        .get(format!("{base}/ui/inbound/in_x/text"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // An open event stream does not hold up a graceful stop (the daemon would wait 20 s for it
    // and then warn): it ends with the daemon.
    tokio::time::timeout(Duration::from_secs(15), d.stop())
        .await
        .expect("the daemon stops with a page open");
    while let Ok(Some(_)) = stream.chunk().await {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_by_default_read_only_and_disabled_page() {
    let mut d = TestDaemon::with_config(0, |c| c.ui.enabled = false).await;
    let r = client()
        .get(format!("{}/ui/", d.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    d.stop().await;
    // Default config: no read-only view, even from loopback.
    let mut d = TestDaemon::start(0).await;
    let (_, html) = page(&d.base_url(), None).await;
    assert!(!html.contains("Read-only view"));
    assert!(html.contains("name=\"api_key\""));
    d.stop().await;
}
