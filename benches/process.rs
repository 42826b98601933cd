//! The daemon as users run it, measured from outside (issue 12): the release binary in its own
//! process (`simgate run --config …`, no simulator inside), one virtual modem on a real pty in
//! this process, a webhook receiver on 127.0.0.1 in this process. Prints min/median/max of
//!
//! * inbound: the SMS handed to the virtual modem (which writes its URC) → the signed
//!   `message.received` webhook at the receiver;
//! * send: `POST /send/text` sent → the whole SMS-SUBMIT PDU read by the virtual modem;
//! * resident memory 3 s after `/readyz` first answered 200, from `/proc/PID/status`.
//!
//! Beside the peer: with `SIMGATE_PEER_BIN=/path/to/sms-server` (morgverd/sms-server, built
//! from its own repository; see `daemon_process/peer.rs` and BENCHMARKS.md) each round runs
//! simgate and the peer one after the other, order alternating, on the same harness (a fresh
//! virtual modem and receiver each), then prints both systems' figures and the ratios of the
//! medians. Without it the output is simgate's alone, as before.
//!
//! Run: `cargo bench --bench process`. Knobs (environment): `SIMGATE_BENCH_ROUNDS` (3: a fresh
//! daemon each), `SIMGATE_BENCH_INBOUND` and `SIMGATE_BENCH_SENDS` (30 samples per round each),
//! `SIMGATE_BENCH_GAP_MS` (50: idle time between samples, so each one meets an idle daemon),
//! `SIMGATE_BENCH_BIN` (another `simgate` binary, e.g. an older build, instead of the shipped one
//! that `cargo build --release` makes, which is built into `target/shipped` first),
//! `SIMGATE_BENCH_STORAGE_URL` (a PostgreSQL URL: the daemon on it instead of a SQLite file).

mod daemon_process;

use daemon_process::{knob, peer, Memory, Rig, Summary};
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

/// The daemon under test: simgate, or the peer beside it.
#[derive(Clone, Copy, PartialEq)]
enum System {
    Simgate,
    Peer,
}

/// What one system's rounds gathered.
#[derive(Default)]
struct Figures {
    inbound: Vec<Duration>,
    sends: Vec<Duration>,
    answers: Vec<Duration>,
    idle: Vec<Memory>,
}

async fn run() {
    let rounds: usize = knob("SIMGATE_BENCH_ROUNDS", 3);
    let samples = Samples {
        inbound: knob("SIMGATE_BENCH_INBOUND", 30),
        sends: knob("SIMGATE_BENCH_SENDS", 30),
        gap: Duration::from_millis(knob("SIMGATE_BENCH_GAP_MS", 50)),
    };
    println!("binary: {}", daemon_process::binary().display());
    let Some(peer_binary) = peer::binary() else {
        let mut figures = Figures::default();
        for round in 0..rounds {
            let rig = Rig::start(&["message.received"]).await;
            measure_round(System::Simgate, &rig, "", round, &samples, &mut figures).await;
        }
        println!();
        println!("all rounds ({rounds}):");
        print_all(&figures, "message.received");
        return;
    };

    // Beside the peer: the same harness, one system after the other in each round, the order
    // alternating so neither always meets the machine just after the other.
    println!("peer: {}", peer_binary.display());
    print_size("simgate", &daemon_process::binary());
    print_size("peer", &peer_binary);
    let mut simgate = Figures::default();
    let mut peer_figures = Figures::default();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [System::Simgate, System::Peer]
        } else {
            [System::Peer, System::Simgate]
        };
        for system in order {
            match system {
                System::Simgate => {
                    let rig = Rig::start(&["message.received"]).await;
                    measure_round(system, &rig, "simgate ", round, &samples, &mut simgate).await;
                }
                System::Peer => {
                    let rig = peer::start(&peer_binary).await;
                    measure_round(system, &rig, "peer    ", round, &samples, &mut peer_figures)
                        .await;
                    println!("peer    round {round}: {}", peer::log_summary(&rig));
                }
            }
        }
    }
    println!();
    println!("simgate, all rounds ({rounds}):");
    print_all(&simgate, "message.received");
    println!();
    println!("peer (morgverd/sms-server), all rounds ({rounds}):");
    print_all(&peer_figures, "incoming");
    println!();
    println!("ratio simgate / peer (medians over all rounds):");
    let ratio =
        |ours: &[Duration], theirs: &[Duration]| match (Summary::of(ours), Summary::of(theirs)) {
            (Some(a), Some(b)) => format!(
                "{:.2}× ({:.2} / {:.2} ms)",
                a.median / b.median,
                a.median,
                b.median
            ),
            _ => "-".to_string(),
        };
    println!(
        "inbound → webhook      {}",
        ratio(&simgate.inbound, &peer_figures.inbound)
    );
    println!(
        "API → PDU at modem     {}",
        ratio(&simgate.sends, &peer_figures.sends)
    );
    let rss = |idle: &[Memory]| {
        let mut kb: Vec<u64> = idle.iter().map(|m| m.rss).collect();
        kb.sort_unstable();
        kb.get(kb.len() / 2).map(|kb| *kb as f64 / 1024.0)
    };
    if let (Some(a), Some(b)) = (rss(&simgate.idle), rss(&peer_figures.idle)) {
        println!("idle VmRSS             {:.2}× ({a:.1} / {b:.1} MiB)", a / b);
    }
}

/// Samples per round and the idle time between them.
struct Samples {
    inbound: usize,
    sends: usize,
    gap: Duration,
}

/// One round on a fresh daemon: idle memory, warm-up, then the inbound and the send samples.
/// `label` prefixes each line ("" when simgate runs alone, so its output stays as it was).
async fn measure_round(
    system: System,
    rig: &Rig,
    label: &str,
    round: usize,
    samples: &Samples,
    figures: &mut Figures,
) {
    let ready = Instant::now();
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(ready.elapsed())).await;
    let memory = rig.daemon.memory();
    println!("{label}round {round}: idle, 3 s after ready: {memory}");
    figures.idle.push(memory);

    // Both paths once before measuring: connections made, statements prepared.
    for i in 0..3 {
        inbound_sample(system, rig, &format!("warm-up {round}-{i}")).await;
        send_sample(system, rig, &format!("warm-up {round}-{i}")).await;
    }
    let mut round_inbound = Vec::new();
    for i in 0..samples.inbound {
        tokio::time::sleep(samples.gap).await;
        round_inbound.push(inbound_sample(system, rig, &format!("inbound {round}-{i}")).await);
    }
    let mut round_sends = Vec::new();
    for i in 0..samples.sends {
        tokio::time::sleep(samples.gap).await;
        let (wire, answer) = send_sample(system, rig, &format!("send {round}-{i}")).await;
        round_sends.push(wire);
        figures.answers.push(answer);
    }
    println!(
        "{label}round {round}: inbound → webhook   {}",
        daemon_process::summary(&round_inbound)
    );
    println!(
        "{label}round {round}: API → PDU at modem  {}",
        daemon_process::summary(&round_sends)
    );
    println!(
        "{label}round {round}: after the traffic:  {}",
        rig.daemon.memory()
    );
    figures.inbound.extend(round_inbound);
    figures.sends.extend(round_sends);
}

/// `hook`: the name of the webhook event that announces an inbound SMS.
fn print_all(figures: &Figures, hook: &str) {
    println!(
        "inbound: SMS handed to the modem → {hook} webhook  {}",
        daemon_process::summary(&figures.inbound)
    );
    println!(
        "send: API request → whole SMS-SUBMIT PDU at the modem        {}",
        daemon_process::summary(&figures.sends)
    );
    println!(
        "send: API request → API answer (202/200)                    {}",
        daemon_process::summary(&figures.answers)
    );
    print_memory("VmRSS ", &figures.idle, |m| m.rss);
    print_memory("RssAnon", &figures.idle, |m| m.anon);
    print_memory("RssFile", &figures.idle, |m| m.file);
}

/// The binary's size on disk (both projects' release profiles strip their binaries).
fn print_size(name: &str, binary: &std::path::Path) {
    let bytes = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
    println!(
        "{name} binary: {:.2} MB ({bytes} bytes)",
        bytes as f64 / 1e6
    );
}

/// SMS handed to the modem → its `message.received` webhook at the receiver.
async fn inbound_sample(system: System, rig: &Rig, text: &str) -> Duration {
    let start = Instant::now();
    rig.network
        .send_from_world(PHONE, rig.modem.number(), text)
        .expect("the virtual modem takes the SMS");
    let hook = rig
        .receiver
        .take(WAIT, |event| match system {
            System::Simgate => event["type"] == "message.received" && event["data"]["body"] == text,
            System::Peer => peer::is_incoming(event, text),
        })
        .await
        .unwrap_or_else(|| panic!("no message.received for {text:?}"));
    hook.at.duration_since(start)
}

/// `POST /send/text` → the whole PDU at the modem (the virtual network stamps the moment the
/// modem handed it on, which with no send latency is when the modem read its last byte); also
/// the time to the API's answer.
async fn send_sample(system: System, rig: &Rig, text: &str) -> (Duration, Duration) {
    let to = "+14155550100";
    let start_wall = SystemTime::now();
    let start = Instant::now();
    let (path, body) = match system {
        System::Simgate => (
            "/send/text",
            serde_json::json!({ "to": to, "message": text }),
        ),
        System::Peer => (peer::SEND_PATH, peer::send_body(to, text)),
    };
    rig.daemon.post(path, body).await;
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
