//! The daemon as users run it, measured from outside (issue 12): the release binary in its own
//! process (`simgate run --config …`, no simulator inside), one virtual modem on a real pty in
//! this process, a webhook receiver on 127.0.0.1 in this process. Prints min/median/max of
//!
//! * inbound: the SMS handed to the virtual modem (which writes its URC) → the signed
//!   `message.received` webhook at the receiver;
//! * send: `POST /send/text` sent → the whole SMS-SUBMIT PDU read by the virtual modem;
//! * resident memory 3 s after `/readyz` first answered 200, from `/proc/PID/status`.
//!
//! Run: `cargo bench --bench process`. Knobs (environment): `SIMGATE_BENCH_ROUNDS` (3: a fresh
//! daemon each), `SIMGATE_BENCH_INBOUND` and `SIMGATE_BENCH_SENDS` (30 samples per round each),
//! `SIMGATE_BENCH_GAP_MS` (50: idle time between samples, so each one meets an idle daemon),
//! `SIMGATE_BENCH_BIN` (another `simgate` binary, e.g. an older build, instead of this one),
//! `SIMGATE_BENCH_STORAGE_URL` (a PostgreSQL URL: the daemon on it instead of a SQLite file).

mod daemon_process;

use daemon_process::{knob, Memory, Rig};
use std::time::{Duration, Instant, SystemTime};

const PHONE: &str = "+447700900123";
const WAIT: Duration = Duration::from_secs(10);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let rounds: usize = knob("SIMGATE_BENCH_ROUNDS", 3);
    let inbound_samples: usize = knob("SIMGATE_BENCH_INBOUND", 30);
    let send_samples: usize = knob("SIMGATE_BENCH_SENDS", 30);
    let gap = Duration::from_millis(knob("SIMGATE_BENCH_GAP_MS", 50));
    println!("binary: {}", daemon_process::binary().display());

    let mut inbound = Vec::new();
    let mut sends = Vec::new();
    let mut answers = Vec::new();
    let mut idle = Vec::new();
    for round in 0..rounds {
        let rig = Rig::start(&["message.received"]).await;
        let ready = Instant::now();
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(ready.elapsed())).await;
        let memory = rig.daemon.memory();
        println!("round {round}: idle, 3 s after ready: {memory}");
        idle.push(memory);

        // Both paths once before measuring: connections made, statements prepared.
        for i in 0..3 {
            inbound_sample(&rig, &format!("warm-up {round}-{i}")).await;
            send_sample(&rig, &format!("warm-up {round}-{i}")).await;
        }
        let mut round_inbound = Vec::new();
        for i in 0..inbound_samples {
            tokio::time::sleep(gap).await;
            round_inbound.push(inbound_sample(&rig, &format!("inbound {round}-{i}")).await);
        }
        let mut round_sends = Vec::new();
        for i in 0..send_samples {
            tokio::time::sleep(gap).await;
            let (wire, answer) = send_sample(&rig, &format!("send {round}-{i}")).await;
            round_sends.push(wire);
            answers.push(answer);
        }
        println!(
            "round {round}: inbound → webhook   {}",
            daemon_process::summary(&round_inbound)
        );
        println!(
            "round {round}: API → PDU at modem  {}",
            daemon_process::summary(&round_sends)
        );
        println!("round {round}: after the traffic:  {}", rig.daemon.memory());
        inbound.extend(round_inbound);
        sends.extend(round_sends);
    }

    println!();
    println!("all rounds ({rounds}):");
    println!(
        "inbound: SMS handed to the modem → message.received webhook  {}",
        daemon_process::summary(&inbound)
    );
    println!(
        "send: API request → whole SMS-SUBMIT PDU at the modem        {}",
        daemon_process::summary(&sends)
    );
    println!(
        "send: API request → API answer (202/200)                    {}",
        daemon_process::summary(&answers)
    );
    print_memory("VmRSS ", &idle, |m| m.rss);
    print_memory("RssAnon", &idle, |m| m.anon);
    print_memory("RssFile", &idle, |m| m.file);
}

/// SMS handed to the modem → its `message.received` webhook at the receiver.
async fn inbound_sample(rig: &Rig, text: &str) -> Duration {
    let start = Instant::now();
    rig.network
        .send_from_world(PHONE, rig.modem.number(), text)
        .expect("the virtual modem takes the SMS");
    let hook = rig
        .receiver
        .take(WAIT, |event| {
            event["type"] == "message.received" && event["data"]["body"] == text
        })
        .await
        .unwrap_or_else(|| panic!("no message.received for {text:?}"));
    hook.at.duration_since(start)
}

/// `POST /send/text` → the whole PDU at the modem (the virtual network stamps the moment the
/// modem handed it on, which with no send latency is when the modem read its last byte); also
/// the time to the API's answer.
async fn send_sample(rig: &Rig, text: &str) -> (Duration, Duration) {
    let to = "+14155550100";
    let start_wall = SystemTime::now();
    let start = Instant::now();
    rig.daemon
        .post(
            "/send/text",
            serde_json::json!({ "to": to, "message": text }),
        )
        .await;
    let answered = start.elapsed();
    let message = rig
        .network
        .world()
        .wait_for(to, WAIT)
        .await
        .unwrap_or_else(|| panic!("{text:?} never reached the network"));
    assert_eq!(message.text, text, "the PDU carries the text sent");
    let wire = message
        .received_at
        .duration_since(start_wall)
        .unwrap_or_default();
    (wire, answered)
}

fn print_memory(label: &str, samples: &[Memory], field: impl Fn(&Memory) -> u64) {
    let mut mib: Vec<f64> = samples.iter().map(|m| field(m) as f64 / 1024.0).collect();
    mib.sort_by(|a, b| a.total_cmp(b));
    if mib.is_empty() {
        return;
    }
    println!(
        "idle memory, one modem, 3 s after ready: {label} min {:.1} / median {:.1} / max {:.1} MiB",
        mib[0],
        mib[mib.len() / 2],
        mib[mib.len() - 1]
    );
}
