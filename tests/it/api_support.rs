//! Helpers for the HTTP API tests: a client, request shortcuts, and exact checks of the two
//! faces' envelopes (SPEC §3a, §3b).

use crate::daemon_support::{TestDaemon, API_KEY};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("http client")
}

/// How a request authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth {
    Bearer,
    Token,
    None,
    Wrong,
}

pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(d: &TestDaemon) -> Api {
        Api {
            base: d.base_url(),
            http: client(),
        }
    }

    pub fn request(&self, method: Method, path: &str, auth: Auth) -> reqwest::RequestBuilder {
        let builder = self.http.request(method, format!("{}{}", self.base, path));
        match auth {
            Auth::Bearer => builder.header("Authorization", format!("Bearer {API_KEY}")),
            Auth::Token => builder.header("Authorization", format!("Token {API_KEY}")),
            Auth::Wrong => builder.header("Authorization", "Bearer sk_wrong_key_123"),
            Auth::None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        read(
            self.request(Method::GET, path, Auth::Bearer)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        read(
            self.request(Method::POST, path, Auth::Bearer)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// POST with a raw body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> Response {
        self.request(Method::POST, path, Auth::Bearer)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

/// Status and JSON body (panics with the text if the body is not JSON: every answer must be).
pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {text:?}"));
    (status, value)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

fn check_metadata(body: &Value, object: &str, prefix: &str) {
    let id = body["id"].as_str().expect("id is a string");
    assert!(
        id.starts_with(prefix),
        "id {id:?} should start with {prefix}"
    );
    let ts = body["timestamp"]
        .as_i64()
        .expect("timestamp is a JSON integer");
    assert!(
        (ts - now_ms()).abs() < 60_000,
        "timestamp {ts} is now, in ms"
    );
    assert!(body["api_version"].is_string(), "api_version: {body}");
    assert_eq!(body["object"], object);
    let metadata = &body["data"]["metadata"];
    assert_eq!(metadata["id"], body["id"], "{body}");
    assert_eq!(metadata["timestamp"], body["timestamp"]);
    assert_eq!(metadata["api_version"], body["api_version"]);
    assert_eq!(metadata["object"], body["object"]);
    assert_eq!(keys(metadata), ["api_version", "id", "object", "timestamp"]);
}

/// A Contiguity success envelope; returns `data` without its metadata.
pub fn contiguity_ok(status: StatusCode, body: &Value) -> Value {
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        keys(body),
        ["api_version", "data", "id", "object", "timestamp"],
        "{body}"
    );
    check_metadata(body, "response", "req_");
    let mut data = body["data"].clone();
    data.as_object_mut().unwrap().remove("metadata");
    data
}

/// A Contiguity error envelope with RFC 9457 members at top level.
pub fn contiguity_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    for k in [
        "id",
        "timestamp",
        "api_version",
        "object",
        "data",
        "type",
        "title",
        "status",
        "detail",
    ] {
        assert!(body.get(k).is_some(), "missing {k}: {body}");
    }
    check_metadata(body, "error", "err_");
    assert_eq!(
        keys(body),
        [
            "api_version",
            "data",
            "detail",
            "id",
            "object",
            "status",
            "timestamp",
            "title",
            "type"
        ],
        "{body}"
    );
    assert_eq!(
        keys(&body["data"]),
        ["error", "metadata", "status"],
        "{body}"
    );
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert_eq!(body["data"]["status"], expected.as_u16(), "{body}");
    let error = body["data"]["error"]
        .as_str()
        .expect("data.error is a string");
    assert!(!error.is_empty());
    assert_eq!(body["detail"], body["data"]["error"]);
    assert!(body["type"]
        .as_str()
        .unwrap()
        .starts_with("urn:simgate:problem:"));
    assert!(body["title"].is_string());
}

/// An RFC 9457 problem document; returns its `type` slug.
pub fn problem(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(body["title"].is_string(), "{body}");
    let detail = body["detail"].as_str().expect("detail");
    assert!(!detail.is_empty());
    body["type"]
        .as_str()
        .expect("type")
        .trim_start_matches("urn:simgate:problem:")
        .to_string()
}

/// Checks the problem's content type.
pub async fn problem_response(response: Response, expected: StatusCode) -> (String, Value) {
    let ct = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (status, body) = read(response).await;
    assert_eq!(ct, "application/problem+json", "{body}");
    (problem(status, &body, expected), body)
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no Content-Length) over a raw connection, so
/// that the body limit must be enforced while reading.
pub async fn chunked_post(api: &Api, path: &str, body: &[u8]) -> (StatusCode, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = api.base.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8192) {
        let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The server may answer and close before it read everything: stop writing then.
        if stream.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: {e}: {body:?}"));
    (StatusCode::from_u16(status).unwrap(), value)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}
