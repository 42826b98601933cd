//! `GET /ui/events`: the page's live updates as server-sent events.
//!
//! One task per open page. It renders every section, sends those whose HTML changed (event
//! name = section id, data = the section's HTML), then sleeps until something may have
//! changed: an event appended to the log (new SMS, status report, verified reverse OTP,
//! webhook retry: the same `Notify` that wakes webhook delivery, or, for the commits that hand
//! their events to the dispatcher from memory, `Store::handed_off`), a modem's status (each
//! driver's `watch`), or a slow tick for what changes with the clock (caps windows, expiries).
//! The stream ends when the page goes away, the session ends (a `logout` event first), or the
//! daemon shuts down.

use super::render::{self, SECTIONS};
use super::session::Sessions;
use super::view::Snapshot;
use super::Access;
use crate::daemon::AppState;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Re-render at least this often (caps windows and expiries move with the clock).
const TICK: Duration = Duration::from_secs(2);
/// After a wake-up, wait this long so that a burst (an inbound SMS appends its event and then
/// verifies a session) becomes one update.
const COALESCE: Duration = Duration::from_millis(80);

pub fn stream(state: AppState, sessions: Sessions, access: Access) -> Response {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(feed(state, sessions, access, tx));
    let mut response = Sse::new(Receiver(rx))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Proxies (nginx) must pass events through at once.
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    response
}

/// The channel as the `Stream` that `Sse` reads.
struct Receiver(mpsc::Receiver<Event>);

impl futures_core::Stream for Receiver {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

async fn feed(state: AppState, sessions: Sessions, access: Access, tx: mpsc::Sender<Event>) {
    // Any modem's status change wakes this page (a capacity-1 channel: one pending wake-up is
    // enough). The forwarders end with the page.
    let (modem_tx, mut modem_changed) = mpsc::channel::<()>(1);
    for handle in state.pool.handles() {
        let mut status = handle.subscribe();
        let modem_tx = modem_tx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let _ = modem_tx.try_send(());
                    }
                    _ = modem_tx.closed() => return,
                }
            }
        });
    }
    let mut shutdown = state.shutdown.clone();
    let mut sent: HashMap<&'static str, String> = HashMap::new();
    loop {
        if shutdown.is_shutdown() {
            return;
        }
        let viewer = match &access {
            Access::Session(id, _) => match sessions.get(id) {
                Some(s) => Access::Session(id.clone(), s).viewer(),
                None => {
                    let _ = tx.send(Event::default().event("logout").data("")).await;
                    return;
                }
            },
            Access::ReadOnly => access.viewer(),
        };
        // Registered before reading, so that an event appended meanwhile is not missed.
        let appended = state.events_appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let handed_off = state.store.handed_off().notified();
        tokio::pin!(handed_off);
        handed_off.as_mut().enable();
        match Snapshot::load(&state).await {
            Ok(snap) => {
                for (id, _) in SECTIONS {
                    let html = render::section(id, &snap, &viewer);
                    if sent.get(id) == Some(&html) {
                        continue;
                    }
                    if tx
                        .send(Event::default().event(*id).data(&html))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    sent.insert(id, html);
                }
            }
            Err(e) => tracing::warn!(error = %e, "status page: cannot read the dashboard"),
        }
        tokio::select! {
            _ = &mut appended => {}
            _ = &mut handed_off => {}
            _ = modem_changed.recv() => {}
            _ = tokio::time::sleep(TICK) => {}
            _ = shutdown.recv() => return,
            _ = tx.closed() => return,
        }
        tokio::time::sleep(COALESCE).await;
    }
}
