//! The Contiguity-compatible face (SPEC §3a): envelopes and the `/otp/…` routes.
//!
//! Success: `{"id":"req_…","timestamp":<ms>,"api_version":"v1","object":"response","data":{…,
//! "metadata":{"id","timestamp","api_version","object"}}}`. The official Python SDK (3.x)
//! decodes exactly this: it reads `id`, `timestamp` (an integer), `api_version` and `object` at
//! the top and the route's fields inside `data`.

use super::error::API_VERSION;
use super::face::set_header;
use crate::store::{new_id, now_ms};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// A successful Contiguity answer; `data` must be a JSON object.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub status: StatusCode,
    pub data: Value,
}

impl Envelope {
    pub fn ok(data: Value) -> Envelope {
        Envelope {
            status: StatusCode::OK,
            data,
        }
    }

    /// The whole document, with the given id and time.
    pub fn body(&self, id: &str, timestamp_ms: i64) -> Value {
        let metadata = json!({
            "id": id,
            "timestamp": timestamp_ms,
            "api_version": API_VERSION,
            "object": "response",
        });
        let mut data = match &self.data {
            Value::Object(map) => map.clone(),
            other => {
                let mut map = Map::new();
                map.insert("value".into(), other.clone());
                map
            }
        };
        data.insert("metadata".into(), metadata);
        json!({
            "id": id,
            "timestamp": timestamp_ms,
            "api_version": API_VERSION,
            "object": "response",
            "data": Value::Object(data),
        })
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        let id = new_id("req");
        let body = self.body(&id, now_ms());
        let mut response = (self.status, axum::Json(body)).into_response();
        set_header(&mut response, "x-request-id", &id);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_spec_shape() {
        let e = Envelope::ok(json!({"otp_id": "otp_1"}));
        let body = e.body("req_1", 42);
        assert_eq!(body["id"], "req_1");
        assert_eq!(body["timestamp"], 42);
        assert!(body["timestamp"].is_i64());
        assert_eq!(body["api_version"], API_VERSION);
        assert_eq!(body["object"], "response");
        assert_eq!(body["data"]["otp_id"], "otp_1");
        assert_eq!(
            body["data"]["metadata"],
            json!({"id": "req_1", "timestamp": 42, "api_version": API_VERSION, "object": "response"})
        );
        let top: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(top.len(), 5, "{top:?}");
    }
}
