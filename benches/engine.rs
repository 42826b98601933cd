//! Modem engine figures (issue 3): inbound latency and pool send throughput, through the real
//! path: daemon ⇄ pty ⇄ virtual modem ⇄ virtual network.
//!
//! Run: `cargo bench --bench engine` (prints a table; BENCHMARKS.md records it).

// The tests' support module: a bench uses only part of it.
#[path = "../tests/it/daemon_support.rs"]
#[allow(dead_code)]
mod daemon_support;
#[path = "../tests/it/pg_support.rs"]
#[allow(dead_code)]
mod pg_support;
#[path = "../tests/it/webhook_support.rs"]
#[allow(dead_code)]
mod webhook_support;

use daemon_support::TestDaemon;
use simgate::messaging::{send_text, SendText};
use std::time::{Duration, Instant};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        inbound_latency(200).await;
        sms_to_webhook(200).await;
        for modems in [1u32, 2, 4] {
            throughput(modems, Duration::from_millis(250), 24).await;
        }
    });
}

/// From the moment the network hands an SMS to the virtual modem until the daemon has it
/// committed with its event: pushed as `+CMT` where the modem acknowledges (`AT+CSMS=1`, then
/// `AT+CNMA` after the commit), else announced as `+CMTI` and read with `AT+CMGR`.
async fn inbound_latency(samples: usize) {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let notified = d.state().events_appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let start = Instant::now();
        d.network
            .send_from_world("+447700900999", "+15550000001", &format!("inbound {i}"))
            .expect("send");
        tokio::time::timeout(Duration::from_secs(5), notified)
            .await
            .expect("stored");
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "inbound latency (URC on the wire -> committed), {samples} samples: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(pct(1.0))
    );
    d.stop().await;
}

/// The whole inbound path a user sees: from the network handing an SMS to the virtual modem
/// until a `message.received` webhook, signed, reaches a real HTTP receiver on 127.0.0.1.
async fn sms_to_webhook(samples: usize) {
    let receiver = webhook_support::Listener::start().await;
    let url = receiver.url.clone();
    let mut d = TestDaemon::with_config(1, |c| {
        c.webhooks
            .push(webhook_support::webhook(&url, &["message.received"]))
    })
    .await;
    d.wait_all_ready().await;
    let mut latencies = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        d.network
            .send_from_world("+447700900998", "+15550000001", &format!("to webhook {i}"))
            .expect("send");
        let got = receiver.wait_for(i + 1, Duration::from_secs(5)).await;
        assert_eq!(got.len(), i + 1, "webhook {i} arrived");
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    println!(
        "SMS on the network -> message.received webhook at a local receiver, {samples} samples: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        ms(pct(0.5)),
        ms(pct(0.95)),
        ms(pct(1.0))
    );
    d.stop().await;
}

/// `messages` single-part SMS through a pool of `modems`, each taking `latency` per part (as a
/// network does). The ideal is `modems / latency` messages per second.
async fn throughput(modems: u32, latency: Duration, messages: usize) {
    let mut d = TestDaemon::start_with(modems, |_, sim| sim.send_latency = latency, |_| {}).await;
    d.wait_all_ready().await;
    let start = Instant::now();
    for i in 0..messages {
        let text = SendText {
            to: format!("+4477009{i:05}"),
            body: format!("throughput {i}"),
            line: None,
            report: false,
            purpose: "text".into(),
            purpose_id: None,
        };
        send_text(d.state(), text).await.expect("accepted");
    }
    while d.network.world().messages().len() < messages {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = start.elapsed();
    let rate = messages as f64 / elapsed.as_secs_f64();
    let ideal = f64::from(modems) / latency.as_secs_f64();
    println!(
        "pool of {modems}, {} ms/part, {messages} messages: {:.2} msg/s (ideal {:.2}), efficiency {:.1} %",
        latency.as_millis(),
        rate,
        ideal,
        100.0 * rate / ideal
    );
    d.stop().await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
