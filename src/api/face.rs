//! The two faces of the API (SPEC §3) and the outermost layer that gives every answer the
//! right one.
//!
//! The face is decided by the path alone: `/otp/…` and `/send/…` are the Contiguity-compatible
//! routes; everything else (`/v1/…`, `/openapi.json`, `/metrics`, unknown paths) is native. The
//! layer also enforces the request time limit, turns errors that arose outside our handlers
//! (axum's 405, the body limit's 413) into the face's format, and counts requests for
//! `/metrics`.

use super::error::{ApiError, ErrorKind};
use super::metrics::HttpMetrics;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which of the two API styles a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// SPEC §3a: `{id, timestamp, api_version, object, data}` envelopes.
    Contiguity,
    /// SPEC §3b: plain JSON resources, RFC 9457 problem documents.
    Native,
}

impl Face {
    pub fn of_path(path: &str) -> Face {
        if path == "/otp"
            || path.starts_with("/otp/")
            || path == "/send"
            || path.starts_with("/send/")
        {
            Face::Contiguity
        } else {
            Face::Native
        }
    }
}

/// What the face layer needs.
#[derive(Clone)]
pub struct FaceContext {
    pub timeout: Duration,
    pub metrics: Arc<HttpMetrics>,
}

/// The route template that served a response (for metrics labels that do not explode with ids).
#[derive(Debug, Clone)]
pub struct RouteLabel(pub String);

/// Inner layer (a route layer): records which route template matched.
pub async fn tag_route(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let label = matched.map(|m| m.as_str().to_string());
    let mut response = next.run(request).await;
    if let Some(label) = label {
        response.extensions_mut().insert(RouteLabel(label));
    }
    response
}

/// Outermost layer: time limit, error rendering per face, request metrics.
pub async fn face_layer(
    State(context): State<FaceContext>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let face = Face::of_path(&path);
    let mut response = match tokio::time::timeout(context.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            ErrorKind::Timeout,
            format!(
                "the request took longer than {} s and was abandoned",
                context.timeout.as_secs_f64()
            ),
        )
        .into_response(),
    };
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map(|l| l.0.clone());
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => Some(error),
        // Auth-server hooks answer in their caller's convention (authentik shows a plain-text
        // error body to the person): left as they are.
        None if path.starts_with("/hooks/") => None,
        None => adopt_foreign_error(&mut response).await,
    };
    if let Some(error) = error {
        let allow = response.headers().get(header::ALLOW).cloned();
        response = error.render(face, &path);
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let status = response.status().as_u16();
    let route = route.as_deref().unwrap_or("unmatched");
    let elapsed = started.elapsed();
    // Route templates only: ids and bodies (codes, factors) never reach the log.
    tracing::debug!(%method, route, status, ms = elapsed.as_secs_f64() * 1e3, "request");
    context
        .metrics
        .record(route, method.as_str(), status, elapsed);
    response
}

/// Errors made by axum or tower-http (405 with an empty body, 413 as text…) carry no
/// [`ApiError`]; any error response that is not already JSON is rebuilt as one, so that no
/// plain-text rejection ever reaches a client.
async fn adopt_foreign_error(response: &mut Response) -> Option<ApiError> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return None;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if is_json {
        return None;
    }
    let body = std::mem::replace(response.body_mut(), Body::empty());
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|t| !t.is_empty());
    let (kind, default_detail) = match status {
        StatusCode::BAD_REQUEST => (ErrorKind::InvalidRequest, "the request is invalid"),
        StatusCode::UNAUTHORIZED => (ErrorKind::Unauthorized, "a valid API key is required"),
        StatusCode::NOT_FOUND => (ErrorKind::RouteNotFound, "no route has this path"),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorKind::MethodNotAllowed,
            "this path does not accept this method",
        ),
        StatusCode::REQUEST_TIMEOUT => (ErrorKind::Timeout, "the request timed out"),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorKind::PayloadTooLarge,
            "the request body is larger than the server accepts",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorKind::UnsupportedMediaType,
            "expected Content-Type: application/json",
        ),
        StatusCode::UNPROCESSABLE_ENTITY => (ErrorKind::InvalidRequest, "the request is invalid"),
        StatusCode::TOO_MANY_REQUESTS => (ErrorKind::RateLimited, "too many requests"),
        StatusCode::SERVICE_UNAVAILABLE => (ErrorKind::Timeout, "the service is unavailable"),
        s if s.is_client_error() => (ErrorKind::InvalidRequest, "the request is invalid"),
        _ => (ErrorKind::Internal, "internal error"),
    };
    let mut error = ApiError::new(kind, text.unwrap_or_else(|| default_detail.to_string()));
    if let Some(secs) = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
    {
        error = error.with_retry_after(secs);
    }
    Some(error)
}

/// Sets a header if the value is valid (ids we generate always are).
pub fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    fn app(timeout: Duration) -> (Router, Arc<HttpMetrics>) {
        let metrics = Arc::new(HttpMetrics::default());
        let context = FaceContext {
            timeout,
            metrics: metrics.clone(),
        };
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        };
        let plain_413 = || async { (StatusCode::PAYLOAD_TOO_LARGE, "length limit exceeded") };
        let router = Router::new()
            .route("/v1/slow", get(slow))
            .route("/otp/slow", get(slow))
            .route("/v1/plain", get(plain_413))
            .route("/otp/plain", get(plain_413))
            .route_layer(axum::middleware::from_fn(tag_route))
            .layer(axum::middleware::from_fn_with_state(context, face_layer));
        (router, metrics)
    }

    async fn call(router: &Router, path: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let ct = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, ct, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn slow_requests_time_out_in_the_face_format() {
        let (router, metrics) = app(Duration::from_millis(50));
        let (status, ct, body) = call(&router, "/v1/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
        assert_eq!(body["type"], "urn:simgate:problem:timeout");
        let (status, _, body) = call(&router, "/otp/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["object"], "error");
        assert_eq!(body["data"]["status"], 503);
        let snapshot = metrics.snapshot();
        assert!(snapshot.iter().any(|((_, _, s), _)| *s == 503));
    }

    #[tokio::test]
    async fn plain_text_errors_are_rebuilt() {
        let (router, metrics) = app(Duration::from_secs(5));
        let (status, ct, body) = call(&router, "/v1/plain").await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
        assert_eq!(body["detail"], "length limit exceeded");
        let (status, _, body) = call(&router, "/otp/plain").await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["data"]["error"], "length limit exceeded");
        let routes: Vec<String> = metrics
            .snapshot()
            .into_iter()
            .map(|((r, _, _), _)| r)
            .collect();
        assert!(routes.contains(&"/v1/plain".to_string()), "{routes:?}");
    }

    #[test]
    fn face_by_path() {
        assert_eq!(Face::of_path("/otp/new"), Face::Contiguity);
        assert_eq!(Face::of_path("/otp/reverse/verify/x"), Face::Contiguity);
        assert_eq!(Face::of_path("/send/text"), Face::Contiguity);
        assert_eq!(Face::of_path("/v1/messages"), Face::Native);
        assert_eq!(Face::of_path("/otpx"), Face::Native);
        assert_eq!(Face::of_path("/"), Face::Native);
    }
}
