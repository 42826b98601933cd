//! The status page at `/ui/`: modems, queue and traffic, recent messages, verifications and
//! webhooks on one server-rendered page that updates itself over server-sent events.
//!
//! ```text
//!  GET  /ui/                                   the page (or the login form without a session)
//!  POST /ui/login                              api_key=… → session cookie, 303 to /ui/
//!  POST /ui/logout                             csrf=…
//!  GET  /ui/events                             text/event-stream: changed sections as HTML
//!  GET  /ui/inbound/{id}/text                  one inbound text, on request (operators only)
//!  POST /ui/webhooks/deliveries/{id}/retry     csrf=… (the API's retry, same checks)
//!  GET  /ui/assets/{style.css,app.js}          compiled into the binary
//! ```
//!
//! Trust is the API's: a browser logs in with an API key and gets a session (see [`session`]);
//! without one it sees the login form, or, with `ui.read_only_on_loopback` and a loopback
//! peer, a read-only view (numbers masked, no texts, no actions). Every response carries a
//! strict Content-Security-Policy: the page loads only its own script and stylesheet.
//!
//! These routes sit outside the API's face layer (their errors are pages, not JSON). They are
//! declared in [`table`] like every other route, all public (the page checks its own
//! sessions); only `GET /ui/` ([`RouteKind::PageEntry`]) is in the OpenAPI document.

mod assets;
mod render;
pub mod session;
mod sse;
mod view;

pub use render::Viewer;

use super::auth::Keys;
use super::{RouteKind, Table};
use crate::daemon::AppState;
use crate::store::now_ms;
use crate::webhook::store::{self as webhook_store, DeliveryKind, RetryOutcome};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Form, Router};
use serde::Deserialize;
use session::{Session, Sessions};
use std::net::SocketAddr;
use std::time::Duration;
use view::Snapshot;

/// What the page's handlers share.
#[derive(Clone)]
pub struct UiContext {
    sessions: Sessions,
    keys: Keys,
    read_only_on_loopback: bool,
}

/// The page's routes, with their own layers (security headers, a small body limit).
pub fn router(state: &AppState) -> Router<AppState> {
    let ui = &state.config.ui;
    if !ui.enabled {
        return Router::new()
            .route("/ui", get(disabled))
            .route("/ui/", get(disabled))
            .route("/ui/{*rest}", get(disabled).post(disabled));
    }
    let context = UiContext {
        sessions: Sessions::new(Duration::from_secs(ui.session_ttl_secs)),
        // The API's own keys: a reload (SIGHUP) that replaces them applies to the page too.
        keys: state.keys.clone(),
        read_only_on_loopback: ui.read_only_on_loopback,
    };
    table()
        .into_router()
        .layer(Extension(context))
        .layer(DefaultBodyLimit::max(8 * 1024))
        .layer(middleware::from_fn(security_headers))
}

/// The page's routes: public (no API key; the page has its own sessions), and not API.
pub fn table() -> Table {
    let entry = Table::new()
        .route(Method::GET, "/ui/", page)
        .kind(RouteKind::PageEntry);
    let rest = Table::new()
        .route(Method::GET, "/ui", || async { Redirect::permanent("/ui/") })
        .route(Method::POST, "/ui/login", login)
        .route(Method::POST, "/ui/logout", logout)
        .route(Method::GET, "/ui/events", events)
        .route(Method::GET, "/ui/inbound/{id}/text", inbound_text)
        .route(Method::POST, "/ui/webhooks/deliveries/{id}/retry", retry)
        .route(Method::GET, "/ui/assets/{name}", assets::serve)
        .kind(RouteKind::Page);
    entry.merge(rest).public()
}

async fn disabled() -> Response {
    (
        StatusCode::NOT_FOUND,
        "the status page is disabled (ui.enabled = false)",
    )
        .into_response()
}

/// The page loads only its own files; it is never framed; its HTML is never cached. (The
/// referrer policy is `same-origin`, not `no-referrer`: with the latter, browsers send
/// `Origin: null` on the page's own form posts, which the origin check would refuse.)
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// How a request may see the page.
#[derive(Debug, Clone)]
enum Access {
    /// A live session (its cookie id).
    Session(String, Session),
    ReadOnly,
}

impl Access {
    fn viewer(&self) -> Viewer {
        match self {
            Access::Session(_, s) => Viewer::Operator {
                csrf: s.csrf.clone(),
            },
            Access::ReadOnly => Viewer::ReadOnly,
        }
    }
}

fn session_of(headers: &HeaderMap, ui: &UiContext) -> Option<(String, Session)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(session::from_cookie_header)
        .find_map(|id| ui.sessions.get(id).map(|s| (id.to_string(), s)))
}

fn access(
    headers: &HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    ui: &UiContext,
) -> Option<Access> {
    if let Some((id, s)) = session_of(headers, ui) {
        return Some(Access::Session(id, s));
    }
    let loopback = peer.is_some_and(|Extension(ConnectInfo(addr))| addr.ip().is_loopback());
    (ui.read_only_on_loopback && loopback && loopback_host(headers)).then_some(Access::ReadOnly)
}

/// Is the `Host` the browser asked for a loopback name? A page on another site that rebinds
/// its own name to 127.0.0.1 (DNS rebinding) reaches us from loopback too, but under its
/// name: it gets no read-only view.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        // [::1]:8080
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A POST from another site is refused even before the CSRF token is looked at (defence in
/// depth; the cookie is `SameSite=Strict` too). Browsers send `Origin` on every POST.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin == format!("http://{host}") || origin == format!("https://{host}")
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// Outcomes shown at the top of the page after a form post (fixed texts: nothing reflected).
const NOTICES: &[(&str, &str)] = &[
    ("retried", "Retry scheduled: the delivery is due now."),
    ("not-found", "That delivery no longer exists."),
    (
        "inactive",
        "That endpoint is deleted or disabled: nothing was retried.",
    ),
    (
        "not-in-config",
        "That endpoint is no longer in the config file: nothing was retried.",
    ),
    ("bad-token", "The form was stale; reload and try again."),
];

#[derive(Debug, Deserialize)]
struct PageQuery {
    notice: Option<String>,
}

async fn page(
    State(state): State<AppState>,
    Extension(ui): Extension<UiContext>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Response {
    let Some(access) = access(&headers, peer, &ui) else {
        return html(StatusCode::OK, render::login_page(None));
    };
    let notice = query
        .ok()
        .and_then(|Query(q)| q.notice)
        .and_then(|n| NOTICES.iter().find(|(k, _)| *k == n).map(|(_, text)| *text));
    match Snapshot::load(&state).await {
        Ok(snap) => html(
            StatusCode::OK,
            render::page(&snap, &access.viewer(), notice),
        ),
        Err(e) => {
            tracing::error!(error = %e, "status page: storage error");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                "<!doctype html><title>simgate</title><p>The database is not answering; reload in a moment.</p>".into(),
            )
        }
    }
}

#[derive(Deserialize)]
struct LoginForm {
    api_key: String,
}

async fn login(
    Extension(ui): Extension<UiContext>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !same_origin(&headers) {
        return html(
            StatusCode::FORBIDDEN,
            render::login_page(Some("Log in from this page itself.")),
        );
    }
    let key = match &form {
        Ok(Form(f)) => f.api_key.trim(),
        Err(_) => "",
    };
    if key.is_empty() {
        return html(
            StatusCode::BAD_REQUEST,
            render::login_page(Some("Enter an API key.")),
        );
    }
    let Some(key_id) = ui.keys.check(key) else {
        tracing::info!("status page: login with a key that is not configured");
        return html(
            StatusCode::UNAUTHORIZED,
            render::login_page(Some("That API key is not accepted.")),
        );
    };
    let id = ui.sessions.create(key_id);
    let mut response = see_other("/ui/");
    if let Ok(cookie) = HeaderValue::from_str(&session::set_cookie(&id, ui.sessions.ttl())) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// Why a state-changing POST was refused.
enum Refused {
    /// No live session: the login form.
    NoSession,
    /// Another site's origin, or not this session's CSRF token: nothing done.
    BadToken,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::NoSession => html(
                StatusCode::UNAUTHORIZED,
                render::login_page(Some("Your session has ended; log in again.")),
            ),
            Refused::BadToken => see_other("/ui/?notice=bad-token"),
        }
    }
}

/// The session behind a state-changing POST, if its origin and CSRF token are right.
fn checked_session(
    headers: &HeaderMap,
    ui: &UiContext,
    form: &Result<Form<CsrfForm>, FormRejection>,
) -> Result<(String, Session), Refused> {
    let (id, session) = session_of(headers, ui).ok_or(Refused::NoSession)?;
    let token_ok = match form {
        Ok(Form(f)) => session.csrf_matches(&f.csrf),
        Err(_) => false,
    };
    if !same_origin(headers) || !token_ok {
        return Err(Refused::BadToken);
    }
    Ok((id, session))
}

async fn logout(
    Extension(ui): Extension<UiContext>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let (id, _) = match checked_session(&headers, &ui, &form) {
        Ok(s) => s,
        Err(refused) => return refused.into_response(),
    };
    ui.sessions.remove(&id);
    let mut response = see_other("/ui/");
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session::clear_cookie()).expect("a valid header"),
    );
    response
}

/// `POST /v1/webhooks/deliveries/{id}/retry`, with the same checks, from a form.
async fn retry(
    State(state): State<AppState>,
    Extension(ui): Extension<UiContext>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(refused) = checked_session(&headers, &ui, &form) {
        return refused.into_response();
    }
    let lookup = id.clone();
    let current = match state
        .store
        .call(move |c| Ok(webhook_store::get_delivery(c, &lookup)?))
        .await
    {
        Ok(Some(d)) => d,
        Ok(None) => return see_other("/ui/?notice=not-found#webhooks"),
        Err(e) => return storage_error(e),
    };
    if current.endpoint_kind == DeliveryKind::Config
        && !webhook_store::config_endpoints(&state.config)
            .iter()
            .any(|e| current.endpoint_id.as_deref() == Some(e.id.as_str()))
    {
        return see_other("/ui/?notice=not-in-config#webhooks");
    }
    let give_up_after = Duration::from_secs(state.config.webhook_delivery.give_up_after_secs);
    let outcome = state
        .store
        .call(move |c| {
            Ok(webhook_store::schedule_retry(
                c,
                &id,
                now_ms(),
                give_up_after,
            )?)
        })
        .await;
    match outcome {
        Ok(RetryOutcome::Scheduled(_)) => {
            state.events_appended.notify_waiters();
            see_other("/ui/?notice=retried#webhooks")
        }
        Ok(RetryOutcome::NotFound) => see_other("/ui/?notice=not-found#webhooks"),
        Ok(RetryOutcome::EndpointInactive(_)) => see_other("/ui/?notice=inactive#webhooks"),
        Err(e) => storage_error(e),
    }
}

fn storage_error(e: crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "status page: storage error");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the database is not answering",
    )
        .into_response()
}

/// One inbound text, for an operator who asked to see it.
async fn inbound_text(
    State(state): State<AppState>,
    Extension(ui): Extension<UiContext>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if session_of(&headers, &ui).is_none() {
        return (StatusCode::UNAUTHORIZED, "log in to read texts").into_response();
    }
    let found = state
        .store
        .call(move |c| Ok(crate::store::inbound::get(c, &id)?))
        .await;
    match found {
        Ok(Some(m)) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            m.body,
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such message").into_response(),
        Err(e) => storage_error(e),
    }
}

async fn events(
    State(state): State<AppState>,
    Extension(ui): Extension<UiContext>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    match access(&headers, peer, &ui) {
        Some(access) => sse::stream(state, ui.sessions.clone(), access),
        None => (StatusCode::UNAUTHORIZED, "log in first").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h), "no Origin: left to the token");
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn loopback_hosts() {
        let with_host = |h: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_static(h));
            loopback_host(&m)
        };
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "[::1]:8080",
            "127.1.2.3",
        ] {
            assert!(with_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "10.0.0.1:8080",
            "[::2]:80",
            "",
        ] {
            assert!(!with_host(bad), "{bad}");
        }
        assert!(!loopback_host(&HeaderMap::new()));
    }

    #[test]
    fn notices_are_fixed_texts() {
        for (key, text) in NOTICES {
            assert!(!key.is_empty() && !text.contains('<'));
        }
    }
}
