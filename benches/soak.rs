//! Soak (issue 12): the release daemon in its own process (as in `benches/process.rs`) under a
//! steady mixed load, to see what grows with history. Each round (one per second by default):
//!
//! * an OTP created (`POST /otp/new`), its code read off the virtual network, verified;
//! * a reverse OTP initiated, the user's SMS with the factor sent, `otp.reverse.verified` awaited;
//! * two inbound SMS that match nothing, their `message.received` webhooks awaited;
//! * one plain SMS (`POST /send/text`).
//!
//! Caps and rate limits are off. Prints, per minute: API → whole PDU at the modem (median) for
//! OTPs and plain sends, SMS → webhook (median) for unmatched inbound and reverse OTPs, resident
//! memory and the database's size on disk; then the first minute against the whole run.
//!
//! And a control: after each round the bench itself writes 16 KiB into a file of its own beside
//! the database and times the flush (`fsync`), the one cost every path above pays. When the
//! daemon's medians move and the flush moves with them, the disk (or the VM under it) changed,
//! not the daemon.
//!
//! Run: `cargo bench --bench soak`. Knobs: `SIMGATE_SOAK_SECS` (120), `SIMGATE_SOAK_RATE`
//! (rounds per second, 1), `SIMGATE_SOAK_HISTORY` (rounds run back to back, unmeasured,
//! before the first minute: an hour's history in a minute or two, so that what grows with
//! history shows without waiting an hour), `SIMGATE_BENCH_BIN` (another `simgate` binary).

mod daemon_process;

use daemon_process::{knob, Rig};
use std::time::{Duration, Instant, SystemTime};

const WAIT: Duration = Duration::from_secs(10);

/// History rounds are numbered from here, so that their phone numbers and texts never meet
/// the measured rounds' (a round's numbers come from `round % 10_000`).
const ROUNDS_OF_HISTORY_FIRST: usize = 5_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

/// Samples of one period, in the order of the table's columns.
#[derive(Default)]
struct Period {
    rounds: usize,
    errors: usize,
    otp_wire: Vec<Duration>,
    send_wire: Vec<Duration>,
    inbound_hook: Vec<Duration>,
    reverse_hook: Vec<Duration>,
    disk_flush: Vec<Duration>,
}

impl Period {
    fn absorb(&mut self, other: &Period) {
        self.rounds += other.rounds;
        self.errors += other.errors;
        self.otp_wire.extend(&other.otp_wire);
        self.send_wire.extend(&other.send_wire);
        self.inbound_hook.extend(&other.inbound_hook);
        self.reverse_hook.extend(&other.reverse_hook);
        self.disk_flush.extend(&other.disk_flush);
    }

    fn row(&self) -> String {
        let median = |samples: &[Duration]| {
            daemon_process::Summary::of(samples)
                .map_or("-".to_string(), |s| format!("{:.2}", s.median))
        };
        format!(
            "{:>6} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8}",
            self.rounds,
            self.errors,
            median(&self.otp_wire),
            median(&self.send_wire),
            median(&self.inbound_hook),
            median(&self.reverse_hook),
            median(&self.disk_flush)
        )
    }
}

async fn run() {
    let seconds: u64 = knob("SIMGATE_SOAK_SECS", 120);
    let rate: f64 = knob("SIMGATE_SOAK_RATE", 1.0);
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.01));
    println!("binary: {}", daemon_process::binary().display());
    let history: usize = knob("SIMGATE_SOAK_HISTORY", 0);
    let rig = Rig::start(&["message.received", "otp.reverse.verified"]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    if history > 0 {
        let began = Instant::now();
        let mut unmeasured = Period::default();
        for round in 0..history {
            one_round(&rig, ROUNDS_OF_HISTORY_FIRST + round, &mut unmeasured).await;
        }
        println!(
            "history: {history} rounds in {:.0} s, {} errors, database {:.2} MB",
            began.elapsed().as_secs_f64(),
            unmeasured.errors,
            mb(rig.daemon.db_bytes())
        );
        // As after a quiet spell: the checkpoint thread has flushed what the burst left.
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    println!(
        "idle: {}, database {:.2} MB",
        rig.daemon.memory(),
        mb(rig.daemon.db_bytes())
    );
    println!(
        "{:>6} {:>6} {:>6} {:>10} {:>10} {:>10} {:>10} {:>8}   (medians in ms; memory, database at the minute's end)",
        "minute", "rounds", "errors", "otp→wire", "send→wire", "in→hook", "rev→hook", "flush"
    );
    let mut probe = FlushProbe::beside(rig.dir.path());

    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut next = tokio::time::Instant::now();
    let mut round = 0usize;
    let mut minute = Period::default();
    let mut minute_index = 0u64;
    let mut first_minute: Option<(Period, daemon_process::Memory)> = None;
    let mut whole = Period::default();
    while Instant::now() < end {
        one_round(&rig, round, &mut minute).await;
        minute.disk_flush.push(probe.flush());
        round += 1;
        let elapsed_minutes = started.elapsed().as_secs() / 60;
        if elapsed_minutes > minute_index {
            report(
                &rig,
                minute_index,
                &mut minute,
                &mut whole,
                &mut first_minute,
            );
            minute_index = elapsed_minutes;
        }
        next += interval;
        tokio::time::sleep_until(next).await;
    }
    if minute.rounds > 0 {
        report(
            &rig,
            minute_index,
            &mut minute,
            &mut whole,
            &mut first_minute,
        );
    }
    println!();
    if let Some((first, memory)) = first_minute {
        println!("first  {}   {}", first.row(), memory);
    }
    println!("all    {}   {}", whole.row(), rig.daemon.memory());
    println!(
        "database on disk: {:.2} MB after {} rounds; webhooks not yet taken by the bench: {}",
        mb(rig.daemon.db_bytes()),
        round,
        rig.receiver.pending()
    );
}

/// Prints the minute's row and starts the next minute.
fn report(
    rig: &Rig,
    index: u64,
    minute: &mut Period,
    whole: &mut Period,
    first_minute: &mut Option<(Period, daemon_process::Memory)>,
) {
    let memory = rig.daemon.memory();
    println!(
        "{:>6} {}   {} / database {:.2} MB",
        index + 1,
        minute.row(),
        memory,
        mb(rig.daemon.db_bytes())
    );
    whole.absorb(minute);
    let done = std::mem::take(minute);
    if first_minute.is_none() {
        *first_minute = Some((done, memory));
    }
}

async fn one_round(rig: &Rig, round: usize, period: &mut Period) {
    period.rounds += 1;
    let slot = round % 10_000;

    // An OTP: created, its code read off the network, verified.
    let to = format!("+1415555{slot:04}");
    let start = SystemTime::now();
    let created = rig
        .daemon
        .post("/otp/new", serde_json::json!({ "to": to }))
        .await;
    let otp_id = created["data"]["otp_id"].as_str().unwrap_or("").to_string();
    match rig.network.world().wait_for(&to, WAIT).await {
        Some(message) => {
            period.otp_wire.push(
                message
                    .received_at
                    .duration_since(start)
                    .unwrap_or_default(),
            );
            let code: String = message
                .text
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() >= 4)
                .unwrap_or("")
                .to_string();
            let checked = rig
                .daemon
                .post(
                    "/otp/verify",
                    serde_json::json!({ "otp_id": otp_id, "otp": code }),
                )
                .await;
            if checked["data"]["verified"] != true {
                period.errors += 1;
            }
        }
        None => period.errors += 1,
    }

    // A reverse OTP: initiated, the user texts the factor, the verification is announced.
    let number = format!("+1415556{slot:04}");
    let session = rig
        .daemon
        .post(
            "/otp/reverse/initiate",
            serde_json::json!({ "number": number }),
        )
        .await;
    let data = &session["data"];
    let (id, factor, ours) = (
        data["otp_id"].as_str().unwrap_or("").to_string(),
        data["factor"].as_str().unwrap_or("").to_string(),
        data["to"].as_str().unwrap_or("").to_string(),
    );
    let start = Instant::now();
    if rig
        .network
        .send_from_world(&number, &ours, &factor)
        .is_err()
    {
        period.errors += 1;
    }
    match rig
        .receiver
        .take(WAIT, |e| {
            e["type"] == "otp.reverse.verified" && e["data"]["otp_id"] == id.as_str()
        })
        .await
    {
        Some(hook) => period.reverse_hook.push(hook.at.duration_since(start)),
        None => period.errors += 1,
    }
    // Its message.received too, so the receiver's log stays short.
    if rig
        .receiver
        .take(WAIT, |e| {
            e["type"] == "message.received" && e["data"]["from"] == number.as_str()
        })
        .await
        .is_none()
    {
        period.errors += 1;
    }

    // Two inbound SMS that match nothing.
    let mut bodies = Vec::new();
    for k in 0..2 {
        let body = format!("soak inbound {round}-{k}");
        let start = Instant::now();
        if rig
            .network
            .send_from_world(&format!("+4477009{slot:04}{k}"), rig.modem.number(), &body)
            .is_err()
        {
            period.errors += 1;
        }
        bodies.push((body, start));
    }
    for (body, start) in bodies {
        match rig
            .receiver
            .take(WAIT, |e| {
                e["type"] == "message.received" && e["data"]["body"] == body.as_str()
            })
            .await
        {
            Some(hook) => period.inbound_hook.push(hook.at.duration_since(start)),
            None => period.errors += 1,
        }
    }

    // A plain SMS.
    let to = format!("+1415557{slot:04}");
    let text = format!("soak plain {round}");
    let start = SystemTime::now();
    rig.daemon
        .post(
            "/send/text",
            serde_json::json!({ "to": to, "message": text }),
        )
        .await;
    match rig.network.world().wait_for(&to, WAIT).await {
        Some(message) => period.send_wire.push(
            message
                .received_at
                .duration_since(start)
                .unwrap_or_default(),
        ),
        None => period.errors += 1,
    }
}

/// The control column: what a small durable write costs on the database's disk right now.
struct FlushProbe {
    file: std::fs::File,
    next: u64,
}

impl FlushProbe {
    const WRITE: usize = 16 * 1024;
    const FILE: u64 = 1 << 20;

    /// A preallocated 1 MiB file in `dir`, so that a flush writes data, not the file's size.
    fn beside(dir: &std::path::Path) -> FlushProbe {
        let file = std::fs::File::create(dir.join("flush-probe")).expect("probe file");
        std::os::unix::fs::FileExt::write_all_at(&file, &vec![0; Self::FILE as usize], 0)
            .expect("probe file written");
        file.sync_all().expect("probe file flushed");
        FlushProbe { file, next: 0 }
    }

    /// Writes 16 KiB (about a small commit's WAL frames) and times its `fsync`.
    fn flush(&mut self) -> Duration {
        std::os::unix::fs::FileExt::write_all_at(&self.file, &[b'x'; Self::WRITE], self.next)
            .expect("probe write");
        self.next = (self.next + Self::WRITE as u64) % Self::FILE;
        let start = Instant::now();
        self.file.sync_all().expect("probe flush");
        start.elapsed()
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
