//! Webhook latency: from an event's commit to a receiver on 127.0.0.1 having the request, with
//! the real dispatcher, a real SQLite file (WAL, synchronous=FULL) and a real HTTP server.
//!
//! - `webhook/commit_to_receipt`: one event at a time (what an app waiting for
//!   `otp.reverse.verified` sees).
//! - `webhook/burst_100`: 100 events committed at once, until the receiver has them all.
//!
//! Before the criterion runs, a percentile summary over 300 single events is printed.
//! Run: `cargo bench --bench webhook`. Figures are in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion};
use simgate::config::{Config, Webhook};
use simgate::secret::Secret;
use simgate::store::{events, Store};
use simgate::webhook::Dispatcher;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

struct Rig {
    store: Store,
    wake: Arc<Notify>,
    arrivals: mpsc::UnboundedReceiver<Instant>,
    _dir: tempfile::TempDir,
    _shutdown: watch::Sender<bool>,
}

async fn rig() -> Rig {
    let (arrived, arrivals) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move || {
        let arrived = arrived.clone();
        async move {
            let _ = arrived.send(Instant::now());
            ""
        }
    });
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", socket.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(socket, app).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let mut config = Config::default();
    config.webhooks.push(Webhook {
        url,
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        events: vec!["*".into()],
    });
    let wake = Arc::new(Notify::new());
    let dispatcher = Dispatcher::new(
        store.clone(),
        &config,
        &Secret::from_bytes(vec![7; 32]),
        wake.clone(),
    )
    .unwrap();
    let (shutdown, stop) = simgate::shutdown::Shutdown::channel();
    tokio::spawn(dispatcher.run(stop));
    Rig {
        store,
        wake,
        arrivals,
        _dir: dir,
        _shutdown: shutdown,
    }
}

/// Commits `n` events in one transaction, wakes the dispatcher, and returns the time from the
/// commit until the receiver has all of them.
async fn round(rig: &mut Rig, n: usize) -> Duration {
    rig.store
        .call(move |c| {
            let tx = c.transaction()?;
            for i in 0..n {
                events::append(
                    &tx,
                    events::EventKind::MessageReceived,
                    &serde_json::json!({"body": "bench", "n": i}),
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
        .unwrap();
    let committed = Instant::now();
    rig.wake.notify_waiters();
    let mut last = committed;
    for _ in 0..n {
        last = rig.arrivals.recv().await.expect("receiver alive");
    }
    last - committed
}

fn percentiles(rt: &tokio::runtime::Runtime) {
    let mut rig = rt.block_on(rig());
    let mut samples: Vec<Duration> = (0..300).map(|_| rt.block_on(round(&mut rig, 1))).collect();
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "webhook commit→receipt over {} events: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        samples.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        samples[samples.len() - 1]
    );
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    percentiles(&rt);
    let mut rig = rt.block_on(rig());
    let mut group = c.benchmark_group("webhook");
    group.bench_function("commit_to_receipt", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(round(&mut rig, 1))).sum())
    });
    group.sample_size(20);
    group.bench_function("burst_100", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| rt.block_on(round(&mut rig, 100))).sum())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
