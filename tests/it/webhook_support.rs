//! A webhook receiver for tests: a real HTTP server on 127.0.0.1 that records every request
//! and answers from a script, plus signature checks written independently of simgate's
//! signing code (straight from the Standard Webhooks and Contiguity definitions).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use simgate::config::{Config, Webhook};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// The status answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// An answer: status and extra headers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    otherwise: Mutex<Option<Reply>>,
    arrived: Notify,
}

/// The receiver. Answers the scripted replies in order, then the default (200).
pub struct Listener {
    pub url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let reply = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| inner.otherwise.lock().unwrap().clone())
        .unwrap_or(Reply::status(200));
    inner.received.lock().unwrap().push(Received {
        headers,
        body,
        at: Instant::now(),
        answered: reply.status,
    });
    inner.arrived.notify_waiters();
    let mut out = HeaderMap::new();
    for (name, value) in &reply.headers {
        out.insert(*name, value.parse().unwrap());
    }
    (StatusCode::from_u16(reply.status).unwrap(), out, "")
}

impl Listener {
    pub async fn start() -> Listener {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(inner.clone());
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", socket.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(socket, app).await;
        });
        Listener { url, inner, task }
    }

    /// Answers these first, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().unwrap().extend(replies);
    }

    /// Answers this once the script is used up.
    pub fn otherwise(&self, reply: Reply) {
        *self.inner.otherwise.lock().unwrap() = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let got = self
            .wait_until(timeout, |got| (got.len() >= n).then(|| got.to_vec()))
            .await;
        got.unwrap_or_else(|| panic!("{} request(s) arrived, expected {n}", self.received().len()))
    }

    /// Waits for the first request whose JSON body satisfies `wanted`; panics after `timeout`.
    /// Deliveries of different events run side by side, so their order is not theirs to keep.
    pub async fn wait_for_event(
        &self,
        timeout: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Received {
        let found = self
            .wait_until(timeout, |got| {
                got.iter().find(|r| wanted(&r.json())).cloned()
            })
            .await;
        found.unwrap_or_else(|| {
            let bodies: Vec<_> = self.received().iter().map(Received::json).collect();
            panic!("no such event among {bodies:?}")
        })
    }

    /// What `look` finds in the requests so far, as soon as it finds something; `None` after
    /// `timeout`.
    async fn wait_until<T>(
        &self,
        timeout: Duration,
        look: impl Fn(&[Received]) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.inner.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(found) = look(&self.received()) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

/// A `[[webhook]]` for the config.
pub fn webhook(url: &str, events: &[&str]) -> Webhook {
    Webhook {
        url: url.to_string(),
        secret: SECRET.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
    }
}

/// Retries in milliseconds instead of seconds.
pub fn fast_retries(config: &mut Config) {
    let d = &mut config.webhook_delivery;
    d.retry_base_ms = 100;
    d.retry_factor = 2;
    d.retry_max_ms = 300;
    d.poll_interval_ms = 200;
    d.timeout_ms = 2_000;
}

fn key_of(secret: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret")
}

/// `webhook-signature` holds `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`.
pub fn standard_signature_ok(secret: &str, r: &Received) -> bool {
    let signed = [
        r.header("webhook-id").as_bytes(),
        b".",
        r.header("webhook-timestamp").as_bytes(),
        b".",
        &r.body,
    ]
    .concat();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key_of(secret)).unwrap();
    mac.update(&signed);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    r.header("webhook-signature")
        .split(' ')
        .any(|candidate| candidate == expected)
}

/// `Contiguity-Signature` holds `t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`, keyed with
/// the secret string as configured (`whsec_` included), as Contiguity's SDKs verify it; its
/// `t` is the `webhook-timestamp`.
pub fn contiguity_signature_ok(secret: &str, r: &Received) -> bool {
    let value = r.header("contiguity-signature");
    let Some((t, v1)) = value
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&[t.as_bytes(), b".", &r.body].concat());
    t == r.header("webhook-timestamp") && hex::encode(mac.finalize().into_bytes()) == v1
}

/// A small client for the daemon's API.
pub struct Api {
    pub base: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(base: String) -> Api {
        Api {
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> (u16, String, serde_json::Value) {
        let answer = request
            .bearer_auth(crate::daemon_support::API_KEY)
            .send()
            .await
            .expect("API answers");
        let status = answer.status().as_u16();
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = answer.text().await.unwrap();
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, content_type, body)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, _, body) = self
            .call(self.client.get(format!("{}{path}", self.base)))
            .await;
        (status, body)
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let (status, _, body) = self
            .call(self.client.post(format!("{}{path}", self.base)).json(&body))
            .await;
        (status, body)
    }

    pub async fn post_raw(&self, path: &str, body: &str) -> (u16, String, serde_json::Value) {
        self.call(
            self.client
                .post(format!("{}{path}", self.base))
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (u16, String, serde_json::Value) {
        self.call(self.client.delete(format!("{}{path}", self.base)))
            .await
    }

    /// The delivery of `event_id` (exactly one expected).
    pub async fn delivery_of(&self, event_id: &str) -> serde_json::Value {
        let (status, list) = self
            .get(&format!("/v1/webhooks/deliveries?event_id={event_id}"))
            .await;
        assert_eq!(status, 200, "{list}");
        let data = list["data"].as_array().expect("a list").clone();
        assert_eq!(data.len(), 1, "one delivery of {event_id}: {list}");
        let id = data[0]["id"].as_str().unwrap().to_string();
        let (status, one) = self.get(&format!("/v1/webhooks/deliveries/{id}")).await;
        assert_eq!(status, 200);
        one
    }

    /// Polls the delivery of `event_id` until its status is `status`.
    pub async fn wait_delivery_status(
        &self,
        event_id: &str,
        status: &str,
        timeout: Duration,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (_, list) = self
                .get(&format!("/v1/webhooks/deliveries?event_id={event_id}"))
                .await;
            if let Some(d) = list["data"].as_array().and_then(|a| a.first()) {
                if d["status"] == status {
                    return self.delivery_of(event_id).await;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "delivery of {event_id} never became {status}: {list}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
