//! The status page in a real browser: Debian's chromium, driven over WebDriver (chromedriver)
//! with fantoccini, against a whole daemon on virtual modems and a real webhook receiver.
//!
//! A person's path through the page: a wrong key gets no page; log in; see the modems' cards;
//! an SMS sent through the API appears, and a text to our SIM, without a reload; a reverse
//! OTP completed by a phone in the virtual world turns `verified`; a failed webhook delivery is
//! retried from its button; an unplugged modem's card turns `offline`. The test also saves a
//! screenshot in light and dark mode (target/tmp/status-page*.png; with
//! SIMGATE_UPDATE_SCREENSHOT=1, docs/status-page*.png for the README).
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`;
//! .ci/run installs them). Without them the test fails and says so.

use crate::daemon_support;
use crate::webhook_support;

use daemon_support::{TestDaemon, API_KEY};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use webhook_support::{fast_retries, webhook, Listener, Reply};

const PERSON: &str = "+14155550100";
const FRIEND: &str = "+14155550111";
/// Bound for anything the page should show "at once"; the measured times are printed.
const SHOWN: Duration = Duration::from_secs(10);

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .chain([
                PathBuf::from("/usr/bin"),
                PathBuf::from("/usr/lib/chromium"),
            ])
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let driver = find_program(&["chromedriver"]).unwrap_or_else(|| {
        panic!(
            "chromedriver not found: the status page's browser test needs Debian's chromium and \
             chromium-driver (apt-get install -y chromium chromium-driver)"
        )
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await {
            if r.status().is_success() {
                return driver;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let chromium = find_program(&["chromium", "chromium-browser"]).unwrap_or_else(|| {
        panic!(
            "chromium not found: the status page's browser test needs Debian's chromium and \
             chromium-driver (apt-get install -y chromium chromium-driver)"
        )
    });
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,2000",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|a| a.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": chromium, "args": args },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session")
}

/// Runs `script` in the page until it returns a truthy value; returns it and how long it took.
async fn until(client: &Client, what: &str, script: &str, args: Vec<Value>) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let v = client
            .execute(script, args.clone())
            .await
            .unwrap_or(Value::Null);
        let truthy = match &v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return (v, started.elapsed());
        }
        if started.elapsed() >= SHOWN {
            let url = client.current_url().await.map(|u| u.to_string());
            let source = client.source().await.unwrap_or_default();
            panic!("the page did not show {what}; at {url:?}:\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Text of the first element matching a CSS selector ("" if none).
const TEXT_OF: &str =
    "var e = document.querySelector(arguments[0]); return e ? e.textContent : '';";

async fn text_of(client: &Client, selector: &str) -> String {
    client
        .execute(TEXT_OF, vec![json!(selector)])
        .await
        .unwrap()
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Waits until the element's text contains `needle`.
async fn shows(client: &Client, selector: &str, needle: &str) -> Duration {
    let script = "var e = document.querySelector(arguments[0]); return !!e && e.textContent.indexOf(arguments[1]) >= 0;";
    until(
        client,
        &format!("{needle:?} in {selector}"),
        script,
        vec![json!(selector), json!(needle)],
    )
    .await
    .1
}

/// Clicks the element, finding it again if a live update replaced it in between (the section
/// swap makes the old reference stale).
async fn click(client: &Client, selector: &str) {
    let mut tries = 0;
    loop {
        let clicked = match client.find(Locator::Css(selector)).await {
            Ok(element) => element.click().await,
            Err(e) => Err(e),
        };
        match clicked {
            Ok(()) => return,
            Err(e) if tries < 20 => {
                tries += 1;
                eprintln!("retrying a click on {selector}: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot click {selector}: {e}"),
        }
    }
}

async fn log_in(client: &Client, base: &str, key: &str) {
    client.goto(&format!("{base}/ui/")).await.unwrap();
    let input = client
        .find(Locator::Css("input[name=api_key]"))
        .await
        .expect("the login form");
    input.send_keys(key).await.unwrap();
    client
        .find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The page has not been reloaded since `mark` set the marker.
async fn same_document(client: &Client) -> bool {
    client
        .execute("return window.__simgateMarker === 42;", vec![])
        .await
        .unwrap()
        == json!(true)
}

/// Chrome's DevTools command, through chromedriver: the page sees `prefers-color-scheme: dark`.
#[derive(Debug)]
struct PrefersDark;

impl WebDriverCompatibleCommand for PrefersDark {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or("")
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({
            "cmd": "Emulation.setEmulatedMedia",
            "params": { "features": [{ "name": "prefers-color-scheme", "value": "dark" }] },
        });
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

/// Keeps a screenshot in target/tmp; with SIMGATE_UPDATE_SCREENSHOT=1 also in docs/ (the
/// README's).
fn save_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"));
    std::fs::write(Path::new(env!("CARGO_TARGET_TMPDIR")).join(name), png).unwrap();
    if std::env::var_os("SIMGATE_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join(name);
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(&docs, png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_in_a_browser() {
    let driver = start_driver().await;
    let receiver = Listener::start().await;
    // The first delivery fails (and with one attempt allowed, stays failed); later ones pass.
    receiver.script([Reply::status(500)]);
    let receiver_url = receiver.url.clone();
    let mut d = TestDaemon::with_config(2, move |c| {
        c.webhooks
            .push(webhook(&receiver_url, &["message.received"]));
        fast_retries(c);
        c.webhook_delivery.max_attempts = 1;
        c.modems[0].max_per_minute = 10;
        c.modems[0].max_per_hour = 100;
        c.modems[0].max_per_day = 500;
    })
    .await;
    d.wait_all_ready().await;
    let base = d.base_url();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;

    // A wrong key gets no page: the form again, with an error, and nothing about the modems.
    log_in(&client, &base, "sk_wrong_key_123").await;
    shows(&client, "#login-error", "not accepted").await;
    let source = client.source().await.unwrap();
    assert!(!source.contains("data-modem"), "no page for a wrong key");
    assert!(!source.contains("sim1"));

    // Log in: the modems' cards, server-rendered, with their names and states in the text.
    log_in(&client, &base, API_KEY).await;
    client
        .wait()
        .at_most(SHOWN)
        .for_element(Locator::Css("[data-modem=sim1]"))
        .await
        .expect("sim1's card");
    let body = client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("sim1") && body.contains("sim2"), "{body}");
    assert!(body.contains("ready"), "{body}");
    let card = text_of(&client, "[data-modem=sim1]").await;
    assert!(
        card.contains("dBm") && card.contains("+15550000001"),
        "{card}"
    );
    assert!(card.contains("/ 10"), "caps are shown: {card}");
    // The stylesheet and the script loaded under the page's CSP, and the stream is open.
    let styled = client
        .execute(
            "return getComputedStyle(document.querySelector('.badge')).borderRadius;",
            vec![],
        )
        .await
        .unwrap();
    assert_ne!(styled, json!("0px"), "style.css applies");
    shows(&client, "#live", "Live").await;
    // Plain accessibility checks: landmarks, one h1, a label for every input, named sections.
    let a11y = client
        .execute(
            "var bad = [];
             ['header','nav','main'].forEach(function (t) { if (!document.querySelector(t)) bad.push('no ' + t); });
             if (document.querySelectorAll('h1').length !== 1) bad.push('h1 count');
             document.querySelectorAll('input:not([type=hidden])').forEach(function (i) { if (!i.labels.length) bad.push('unlabelled ' + i.name); });
             document.querySelectorAll('section').forEach(function (s) { if (!document.getElementById(s.getAttribute('aria-labelledby'))) bad.push('unnamed ' + s.id); });
             if (!document.querySelector('[aria-live]')) bad.push('no live region');
             return bad;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(a11y, json!([]));
    // On a phone's width the page reflows: nothing wider than the screen but the tables that
    // scroll in their own box.
    client.set_window_size(390, 844).await.unwrap();
    let width = client
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert!(
        width.as_i64().is_some_and(|w| w <= 400),
        "a phone's width: {width}"
    );
    let overflow = client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(overflow, json!(0), "the page is wider than a phone");
    let phone = client.screenshot().await.unwrap();
    std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page-phone.png"),
        phone,
    )
    .unwrap();
    client.set_window_size(1280, 2000).await.unwrap();
    client
        .execute("window.__simgateMarker = 42;", vec![])
        .await
        .unwrap();

    // An SMS sent through the API appears without a reload.
    let http = reqwest::Client::new();
    let sent: Value = http
        .post(format!("{base}/v1/messages"))
        .bearer_auth(API_KEY)
        .json(&json!({ "to": FRIEND, "body": "hello from the API" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let message_id = sent["id"].as_str().expect("a message id").to_string();
    // Sent, or already delivered: the simulated network reports at once.
    let (_, outbound_shown) = until(
        &client,
        "the message sent",
        "var e = document.querySelector(arguments[0]);
         return !!e && ['sent', 'delivered'].indexOf(e.textContent) >= 0;",
        vec![json!(format!(
            "[data-message='{message_id}'] .status .badge"
        ))],
    )
    .await;
    assert!(same_document(&client).await, "no reload");

    // A text to our SIM appears without a reload; its body stays hidden until asked for.
    d.network
        .send_from_world(FRIEND, "+15550000002", "see you at 6")
        .unwrap();
    let (inbound_id, inbound_shown) = until(
        &client,
        "the inbound message",
        "var r = document.querySelector('[data-inbound]'); return r ? r.getAttribute('data-inbound') : '';",
        vec![],
    )
    .await;
    let inbound_id = inbound_id.as_str().unwrap().to_string();
    assert!(!client.source().await.unwrap().contains("see you at 6"));
    click(&client, &format!("[data-reveal='{inbound_id}']")).await;
    shows(&client, &format!("#t-{inbound_id}"), "see you at 6").await;

    // A reverse OTP: the session appears pending; the phone texts the factor; it turns verified.
    let started: Value = http
        .post(format!("{base}/otp/reverse/initiate"))
        .bearer_auth(API_KEY)
        .json(&json!({ "number": PERSON }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let otp_id = started["data"]["otp_id"].as_str().unwrap().to_string();
    let factor = started["data"]["factor"].as_str().unwrap().to_string();
    let to = started["data"]["to"].as_str().unwrap().to_string();
    let row = format!("[data-verification='{otp_id}']");
    shows(&client, &row, "pending").await;
    d.network.send_from_world(PERSON, &to, &factor).unwrap();
    let verified_shown = shows(&client, &row, "verified").await;
    assert!(same_document(&client).await, "no reload");

    // Webhooks: the first message.received delivery failed (500); retry it from the page.
    receiver.wait_for(2, SHOWN).await;
    let (failed_id, _) = until(
        &client,
        "a failed delivery",
        "var rows = document.querySelectorAll('[data-delivery]');
         for (var i = 0; i < rows.length; i++) if (rows[i].textContent.indexOf('failed') >= 0) return rows[i].getAttribute('data-delivery');
         return '';",
        vec![],
    )
    .await;
    let failed_id = failed_id.as_str().unwrap().to_string();
    let row = format!("[data-delivery='{failed_id}']");
    assert!(text_of(&client, &row).await.contains("HTTP 500"));
    click(&client, &format!("{row} summary")).await;
    click(&client, &format!("{row} form button")).await;
    shows(&client, "#flash", "Retry scheduled").await;
    shows(&client, &row, "delivered").await;
    let attempts = receiver.received();
    assert_eq!(
        attempts.iter().filter(|r| r.answered == 500).count(),
        1,
        "one failed attempt"
    );
    assert!(attempts.len() >= 3, "the retry reached the receiver");

    // A modem that drops shows it at once.
    client
        .execute("window.__simgateMarker = 42;", vec![])
        .await
        .unwrap();
    shows(&client, "[data-modem=sim2]", "ready").await;
    d.modems[1].unplug().await;
    let unplugged_shown = shows(&client, "[data-modem=sim2]", "offline").await;
    assert!(same_document(&client).await, "no reload");
    let card = text_of(&client, "[data-modem=sim2]").await;
    assert!(!card.contains("Last error—"), "the card says why: {card}");

    eprintln!(
        "shown after: outbound {outbound_shown:?}, inbound {inbound_shown:?}, reverse OTP verified {verified_shown:?}, modem unplugged {unplugged_shown:?}"
    );

    // The README's screenshot: the page from the top, as a person sees it.
    client
        .execute("window.scrollTo(0, 0);", vec![])
        .await
        .unwrap();
    let png = client.screenshot().await.unwrap();
    save_screenshot("status-page.png", &png);
    // Dark mode follows the system setting (prefers-color-scheme), here emulated.
    let background = "return getComputedStyle(document.body).backgroundColor;";
    let light = client.execute(background, vec![]).await.unwrap();
    client.issue_cmd(PrefersDark).await.unwrap();
    let dark = client.execute(background, vec![]).await.unwrap();
    assert_eq!(light, json!("rgb(246, 247, 249)"));
    assert_eq!(dark, json!("rgb(13, 17, 23)"));
    save_screenshot("status-page-dark.png", &client.screenshot().await.unwrap());

    // Logging out ends the session: the login form again.
    client
        .find(Locator::Css("header form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .at_most(SHOWN)
        .for_element(Locator::Css("input[name=api_key]"))
        .await
        .unwrap();
    assert!(!client.source().await.unwrap().contains("data-modem"));

    client.close().await.unwrap();
    d.stop().await;
}
