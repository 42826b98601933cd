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
//! Every route (the API's, the status page's, the simulator's) is declared once, in a [`Table`]
//! that both builds the router and records the route's method, path, whether it needs a key,
//! and its [`RouteKind`]: [`routes`] lists them all, and the OpenAPI document is checked
//! against those whose kind it documents.

pub mod auth;
pub(crate) mod contiguity;
pub(crate) mod error;
pub(crate) mod extract;
pub(crate) mod face;
pub mod hooks;
pub(crate) mod host;
pub(crate) mod idempotency;
pub(crate) mod messages;
pub mod metrics;
pub(crate) mod modems;
pub mod openapi;
pub(crate) mod serve;
pub(crate) mod simulator;
pub(crate) mod ui;
pub(crate) mod verifications;
pub(crate) mod webhooks;

use crate::daemon::AppState;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
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
    pub kind: RouteKind,
}

/// What a route serves, which decides whether the OpenAPI document describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// The HTTP API (SPEC §3): JSON answers, documented.
    Api,
    /// The status page's front door `GET /ui/`: documented, so that clients learn it exists.
    PageEntry,
    /// The status page's forms, event stream and assets: HTML or text, not API.
    Page,
    /// The built-in simulator's controls (`--simulate` only): a test bench, not API.
    Simulator,
}

impl RouteSpec {
    /// Whether `/openapi.json` describes this route.
    pub fn documented(&self) -> bool {
        matches!(self.kind, RouteKind::Api | RouteKind::PageEntry)
    }
}

/// A router that remembers what it routes: the one place a route is declared.
pub struct Table {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
}

impl Table {
    pub fn new() -> Table {
        Table {
            router: Router::new(),
            specs: Vec::new(),
        }
    }

    /// Routes `method path` to `handler` (and only that method: the recorded method is the
    /// routed one). Needs an API key unless [`Table::public`] is called; kind [`RouteKind::Api`]
    /// unless [`Table::kind`] says otherwise.
    pub fn route<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Table
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| panic!("{method} {path}: no axum method filter"));
        self.specs.push(RouteSpec {
            method,
            path,
            public: false,
            kind: RouteKind::Api,
        });
        self.router = self.router.route(path, on(filter, handler));
        self
    }

    /// Marks every route declared so far as reachable without an API key.
    pub fn public(mut self) -> Table {
        for s in &mut self.specs {
            s.public = true;
        }
        self
    }

    /// Sets the kind of every route declared so far.
    pub fn kind(mut self, kind: RouteKind) -> Table {
        for s in &mut self.specs {
            s.kind = kind;
        }
        self
    }

    /// Adds `other`'s routes (for routes of different kinds in one router).
    pub fn merge(mut self, other: Table) -> Table {
        self.specs.extend(other.specs);
        self.router = self.router.merge(other.router);
        self
    }

    /// The routes declared.
    pub fn specs(&self) -> &[RouteSpec] {
        &self.specs
    }

    /// The router, to be layered and merged.
    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}

fn public_table() -> Table {
    Table::new()
        .route(Method::GET, "/healthz", healthz)
        .route(Method::GET, "/readyz", readyz)
        // Public keys of verification proofs (SPEC §3b/§3c): no key needed to check a proof.
        .route(Method::GET, "/.well-known/jwks.json", verifications::jwks)
        .public()
}

/// `/hooks/…`: auth servers' SMS (no API key: each hook checks its own signature or
/// credential, see [`hooks`]).
fn hooks_table() -> Table {
    Table::new()
        .route(
            Method::POST,
            "/hooks/gotrue/send-sms",
            hooks::gotrue::send_sms,
        )
        .route(Method::POST, "/hooks/zitadel/sms", hooks::zitadel::sms)
        .route(Method::POST, "/hooks/authentik/sms", hooks::http::authentik)
        .route(Method::POST, "/hooks/logto/sms", hooks::http::logto)
        .route(Method::POST, "/hooks/keycloak/sms", hooks::http::keycloak)
        .route(Method::POST, "/hooks/kratos/sms", hooks::http::kratos)
        .public()
}

/// SPEC §3a.
fn contiguity_table() -> Table {
    Table::new()
        .route(Method::POST, "/otp/new", contiguity::otp_new)
        .route(Method::POST, "/otp/send", contiguity::otp_new)
        .route(Method::POST, "/otp/verify", contiguity::otp_verify)
        .route(Method::POST, "/otp/resend", contiguity::otp_resend)
        .route(
            Method::POST,
            "/otp/reverse/initiate",
            contiguity::reverse_initiate,
        )
        .route(
            Method::GET,
            "/otp/reverse/verify/{otp_id}",
            contiguity::reverse_verify,
        )
        .route(
            Method::POST,
            "/otp/reverse/cancel/{otp_id}",
            contiguity::reverse_cancel,
        )
        .route(Method::POST, "/send/text", messages::send_text_contiguity)
}

/// SPEC §3b, `/v1`.
fn native_table() -> Table {
    Table::new()
        .route(Method::POST, "/v1/verifications", verifications::create)
        .route(Method::GET, "/v1/verifications/{id}", verifications::get)
        .route(
            Method::POST,
            "/v1/verifications/{id}/check",
            verifications::check,
        )
        .route(
            Method::POST,
            "/v1/verifications/{id}/resend",
            verifications::resend,
        )
        .route(
            Method::POST,
            "/v1/verifications/{id}/cancel",
            verifications::cancel,
        )
        .route(
            Method::POST,
            "/v1/reverse-verifications",
            verifications::reverse_create,
        )
        .route(
            Method::GET,
            "/v1/reverse-verifications/{id}",
            verifications::reverse_get,
        )
        .route(
            Method::POST,
            "/v1/reverse-verifications/{id}/cancel",
            verifications::reverse_cancel,
        )
        .route(
            Method::GET,
            "/v1/reverse-verifications/{id}/qr.svg",
            verifications::reverse_qr,
        )
        .route(Method::POST, "/v1/messages", messages::create)
        .route(Method::GET, "/v1/messages", messages::list)
        .route(Method::GET, "/v1/messages/{id}", messages::get)
        .route(Method::GET, "/v1/modems", modems::list)
        .route(Method::GET, "/v1/modems/{name}", modems::get)
}

/// Documents about the service itself.
fn service_table() -> Table {
    Table::new()
        .route(Method::GET, "/openapi.json", openapi::serve)
        .route(Method::GET, "/metrics", metrics_text)
}

/// Every route this build serves, from the same tables [`router`] is built from: the API's,
/// the status page's ([`ui::table`]) and the simulator's ([`simulator::table`]).
pub fn routes() -> Vec<RouteSpec> {
    [
        public_table(),
        hooks_table(),
        contiguity_table(),
        native_table(),
        webhooks::table(),
        service_table(),
        simulator::table(),
        ui::table(),
    ]
    .into_iter()
    .flat_map(|t| t.specs)
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
        // Webhook endpoints, deliveries and the event log (src/api/webhooks.rs); their POSTs
        // get Idempotency-Key support too.
        .merge(webhooks::table())
        .router
        .layer(middleware::from_fn_with_state(
            idempotency,
            idempotency::layer,
        ));
    let authenticated = Router::new()
        .merge(contiguity_table().router)
        .merge(native)
        .merge(service_table().router)
        // The built-in simulator's routes (404 unless running with --simulate).
        .merge(simulator::table().router)
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
        .merge(ui::router(&state).layer(middleware::from_fn_with_state(
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
                "/ui",
                "/ui/login",
                "/ui/logout",
                "/ui/events",
                "/ui/inbound/{id}/text",
                "/ui/webhooks/deliveries/{id}/retry",
                "/ui/assets/{name}",
            ]
        );
    }
}
