//! The HTTP API (SPEC §3): Contiguity-compatible routes and the native `/v1`.
//!
//! ```text
//!  request ─► face layer ─► body limit ─► router ─► auth ─► (idempotency, /v1 POST) ─► handler
//!             (timeout, errors rendered per face, metrics)
//! ```
//!
//! - [`face`]: which face a path belongs to; the outermost layer.
//! - [`error`]: [`ApiError`](error::ApiError) and how each face renders it.
//! - [`extract`]: JSON/path/query extractors with clear 4xx errors.
//! - [`auth`], [`idempotency`], [`metrics`], [`openapi`].
//! - Handlers: [`contiguity`] (§3a), [`verifications`], [`messages`], [`modems`] (§3b).
//! - [`ui`]: the status page at `/ui/` (its own router, outside the face layer).
//!
//! Every route is declared once in a [`Table`], which records its method and path: the OpenAPI
//! document is checked against that list.

pub mod auth;
pub mod contiguity;
pub mod error;
pub mod extract;
pub mod face;
pub mod hooks;
pub mod host;
pub mod idempotency;
pub mod messages;
pub mod metrics;
pub mod modems;
pub mod openapi;
pub mod serve;
pub mod simulator;
pub mod ui;
pub mod verifications;
pub mod webhooks;

use crate::daemon::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{middleware, Extension, Json, Router};
use error::{ApiError, ErrorKind};
use std::sync::Arc;
use std::time::Duration;

/// One route: its method and path template (as in the OpenAPI document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    /// Reachable without an API key.
    pub public: bool,
}

/// A router that remembers what it routes.
pub struct Table {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

impl Table {
    fn new() -> Table {
        Table {
            router: Router::new(),
            specs: Vec::new(),
        }
    }

    fn route(
        mut self,
        method: Method,
        path: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Table {
        self.specs.push(RouteSpec {
            method,
            path,
            public: false,
        });
        self.router = self.router.route(path, handler);
        self
    }

    fn public(mut self) -> Table {
        for s in &mut self.specs {
            s.public = true;
        }
        self
    }
}

fn public_table() -> Table {
    Table::new()
        .route(Method::GET, "/healthz", get(healthz))
        .route(Method::GET, "/readyz", get(readyz))
        // Public keys of verification proofs (SPEC §3b/§3c): no key needed to check a proof.
        .route(
            Method::GET,
            "/.well-known/jwks.json",
            get(verifications::jwks),
        )
        .public()
}

/// `/hooks/…`: auth servers' SMS (no API key: each hook checks its own signature or
/// credential, see [`hooks`]).
fn hooks_table() -> Table {
    Table::new()
        .route(
            Method::POST,
            "/hooks/gotrue/send-sms",
            post(hooks::gotrue::send_sms),
        )
        .route(
            Method::POST,
            "/hooks/zitadel/sms",
            post(hooks::zitadel::sms),
        )
        .route(
            Method::POST,
            "/hooks/authentik/sms",
            post(hooks::http::authentik),
        )
        .route(Method::POST, "/hooks/logto/sms", post(hooks::http::logto))
        .route(
            Method::POST,
            "/hooks/keycloak/sms",
            post(hooks::http::keycloak),
        )
        .route(Method::POST, "/hooks/kratos/sms", post(hooks::http::kratos))
        .public()
}

/// SPEC §3a.
fn contiguity_table() -> Table {
    Table::new()
        .route(Method::POST, "/otp/new", post(contiguity::otp_new))
        .route(Method::POST, "/otp/send", post(contiguity::otp_new))
        .route(Method::POST, "/otp/verify", post(contiguity::otp_verify))
        .route(Method::POST, "/otp/resend", post(contiguity::otp_resend))
        .route(
            Method::POST,
            "/otp/reverse/initiate",
            post(contiguity::reverse_initiate),
        )
        .route(
            Method::GET,
            "/otp/reverse/verify/{otp_id}",
            get(contiguity::reverse_verify),
        )
        .route(
            Method::POST,
            "/otp/reverse/cancel/{otp_id}",
            post(contiguity::reverse_cancel),
        )
        .route(
            Method::POST,
            "/send/text",
            post(messages::send_text_contiguity),
        )
}

/// SPEC §3b, `/v1`.
fn native_table() -> Table {
    Table::new()
        .route(
            Method::POST,
            "/v1/verifications",
            post(verifications::create),
        )
        .route(
            Method::GET,
            "/v1/verifications/{id}",
            get(verifications::get),
        )
        .route(
            Method::POST,
            "/v1/verifications/{id}/check",
            post(verifications::check),
        )
        .route(
            Method::POST,
            "/v1/verifications/{id}/resend",
            post(verifications::resend),
        )
        .route(
            Method::POST,
            "/v1/verifications/{id}/cancel",
            post(verifications::cancel),
        )
        .route(
            Method::POST,
            "/v1/reverse-verifications",
            post(verifications::reverse_create),
        )
        .route(
            Method::GET,
            "/v1/reverse-verifications/{id}",
            get(verifications::reverse_get),
        )
        .route(
            Method::POST,
            "/v1/reverse-verifications/{id}/cancel",
            post(verifications::reverse_cancel),
        )
        .route(
            Method::GET,
            "/v1/reverse-verifications/{id}/qr.svg",
            get(verifications::reverse_qr),
        )
        .route(Method::POST, "/v1/messages", post(messages::create))
        .route(Method::GET, "/v1/messages", get(messages::list))
        .route(Method::GET, "/v1/messages/{id}", get(messages::get))
        .route(Method::GET, "/v1/modems", get(modems::list))
        .route(Method::GET, "/v1/modems/{name}", get(modems::get))
}

/// Documents about the service itself.
fn service_table() -> Table {
    Table::new()
        .route(Method::GET, "/openapi.json", get(openapi::serve))
        .route(Method::GET, "/metrics", get(metrics_text))
}

/// The routes of [`webhooks::routes`] (that module builds its own router). The OpenAPI test
/// requests every one of them, so a path listed here that the module stops serving fails it.
const WEBHOOK_ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/v1/webhooks/endpoints"),
    (Method::POST, "/v1/webhooks/endpoints"),
    (Method::GET, "/v1/webhooks/endpoints/{id}"),
    (Method::DELETE, "/v1/webhooks/endpoints/{id}"),
    (Method::GET, "/v1/webhooks/deliveries"),
    (Method::GET, "/v1/webhooks/deliveries/{id}"),
    (Method::POST, "/v1/webhooks/deliveries/{id}/retry"),
    (Method::GET, "/v1/events"),
];

/// The status page's entry (src/api/ui builds its own router): public, since without a
/// session it is the login form (SPEC §3b). The page's other routes (form posts, its event
/// stream, assets) are the page's, not API, and answer in HTML or text.
const UI_ROUTES: &[(Method, &str)] = &[(Method::GET, "/ui/")];

/// Every route this build serves.
pub fn routes() -> Vec<RouteSpec> {
    let webhook = WEBHOOK_ROUTES.iter().map(|(method, path)| RouteSpec {
        method: method.clone(),
        path,
        public: false,
    });
    let ui = UI_ROUTES.iter().map(|(method, path)| RouteSpec {
        method: method.clone(),
        path,
        public: true,
    });
    [
        public_table(),
        hooks_table(),
        contiguity_table(),
        native_table(),
        service_table(),
    ]
    .into_iter()
    .flat_map(|t| t.specs)
    .chain(webhook)
    .chain(ui)
    .collect()
}

pub fn router(state: AppState) -> Router {
    let server = &state.config.server;
    let timeout = Duration::from_secs(server.request_timeout_secs.max(1));
    let max_body = server.max_body_bytes;
    let http_metrics = state.http_metrics.clone();
    let body_timeout = Duration::from_secs(server.body_timeout_secs.max(1));
    let allowed_hosts = host::AllowedHosts::new(&server.listen, &server.allowed_hosts);

    let idempotency = idempotency::IdempotencyContext {
        store: state.store.clone(),
        max_body_bytes: max_body,
        stale_after: timeout + Duration::from_secs(5),
    };
    let native = native_table()
        .router
        // Webhook endpoints, deliveries and the event log (src/api/webhooks.rs); their POSTs
        // get Idempotency-Key support too.
        .merge(webhooks::routes())
        .layer(middleware::from_fn_with_state(
            idempotency,
            idempotency::layer,
        ));
    let authenticated = Router::new()
        .merge(contiguity_table().router)
        .merge(native)
        .merge(service_table().router)
        // The built-in simulator's routes (404 unless running with --simulate).
        .merge(simulator::routes())
        .layer(Extension(http_metrics.clone()))
        .layer(middleware::from_fn_with_state(
            state.keys.clone(),
            auth::require_key,
        ));
    let face = face::FaceContext {
        timeout,
        metrics: http_metrics,
    };
    public_table()
        .router
        .merge(hooks_table().router)
        .merge(authenticated)
        .fallback(route_not_found)
        .route_layer(middleware::from_fn(face::tag_route))
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(max_body))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        // Inside the face layer, so that a refused Host is answered in the face's format.
        .layer(middleware::from_fn_with_state(
            allowed_hosts.clone(),
            host::check_host,
        ))
        .layer(middleware::from_fn_with_state(face, face::face_layer))
        // The status page: pages and forms, not API answers, so outside the face layer; the
        // same Host check (DNS rebinding would otherwise reach the login form and the session).
        .merge(ui::routes(&state).layer(middleware::from_fn_with_state(
            allowed_hosts,
            host::check_host,
        )))
        .with_state(state)
}

/// A bug, not bad input; the connection survives and the client gets a proper 500.
fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::internal("internal error").into_response()
}

async fn route_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorKind::RouteNotFound,
        format!("no route for {method} {}", uri.path()),
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when storage answers and at least one modem is registered.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let storage = state.store.ping().await;
    let modems = state.modem_statuses();
    let ready_modems = modems.iter().filter(|m| m.state.can_send()).count();
    let ok = storage && ready_modems > 0;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(serde_json::json!({
            "ready": ok,
            "storage": storage,
            "modems_ready": ready_modems,
            "modems": modems.iter().map(|m| serde_json::json!({"name": m.name, "state": m.state})).collect::<Vec<_>>(),
        })),
    )
}

async fn metrics_text(
    State(state): State<AppState>,
    Extension(http): Extension<Arc<metrics::HttpMetrics>>,
) -> Result<Response, ApiError> {
    let text = metrics::render(&state, &http).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2025-01-02T03:04:05.678Z`).
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_from_ms() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn routes_are_unique() {
        let routes = routes();
        for (i, a) in routes.iter().enumerate() {
            for b in &routes[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} twice",
                    a.method,
                    a.path
                );
            }
        }
        let public: Vec<&str> = routes.iter().filter(|r| r.public).map(|r| r.path).collect();
        assert_eq!(
            public,
            [
                "/healthz",
                "/readyz",
                "/.well-known/jwks.json",
                "/hooks/gotrue/send-sms",
                "/hooks/zitadel/sms",
                "/hooks/authentik/sms",
                "/hooks/logto/sms",
                "/hooks/keycloak/sms",
                "/hooks/kratos/sms",
                "/ui/",
            ]
        );
    }
}
