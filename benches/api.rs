//! HTTP API throughput and latency against a whole in-process daemon on virtual modems with no
//! send latency (the network is as fast as the simulator; the modem path is real ptys + AT).
//!
//! - OTP create (`POST /otp/new`) and verify (`POST /otp/verify`, right code) requests per
//!   second, with a few concurrent clients over loopback HTTP/1.1 keep-alive.
//! - API→wire latency: from sending `POST /send/text` (or `/otp/new`) to the SMS-SUBMIT PDU
//!   having left the virtual modem (the simulator's world recorded it).
//!
//! Run: `cargo bench --bench api` (figures in BENCHMARKS.md, section API).

// The tests' support module: a bench uses only part of it.
#[path = "../tests/it/daemon_support.rs"]
#[allow(dead_code)]
mod daemon_support;
#[path = "../tests/it/pg_support.rs"]
#[allow(dead_code)]
mod pg_support;

use daemon_support::{TestDaemon, API_KEY};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests per throughput run.
const OTP_COUNT: usize = 400;
/// Concurrent clients.
const CLIENTS: usize = 8;
/// Sequential sends for the latency run.
const LATENCY_SAMPLES: usize = 60;

fn phone(i: usize) -> String {
    format!("+1415555{:04}", 1000 + i)
}

fn code_in(text: &str, length: usize) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == length)
        .map(str::to_string)
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {API_KEY}"))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let value: Value = r.json().await.expect("JSON answer");
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }
}

/// Runs `jobs` with `CLIENTS` workers; returns the wall time.
async fn run_concurrently<F, Fut>(count: usize, job: F) -> Duration
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let job = job.clone();
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    job(i).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report_latency(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms ({} samples)",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.95).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        samples.len()
    );
}

async fn bench() {
    let mut d = TestDaemon::with_config(2, |c| {
        c.otp.rate_per_number_per_hour = 0;
        c.otp.rate_per_key_per_minute = 0;
        c.otp.rate_per_ip_per_hour = 0;
    })
    .await;
    d.wait_all_ready().await;
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .build()
            .expect("client"),
        base: d.base_url(),
    });
    let code_length = d.config.otp.code_length as usize;

    // OTP create.
    let ids = Arc::new(std::sync::Mutex::new(vec![String::new(); OTP_COUNT]));
    let (c, ids_w) = (client.clone(), ids.clone());
    let elapsed = run_concurrently(OTP_COUNT, move |i| {
        let (c, ids) = (c.clone(), ids_w.clone());
        async move {
            let v = c.post("/otp/new", json!({"to": phone(i)})).await;
            let id = v["data"]["otp_id"].as_str().expect("otp_id").to_string();
            ids.lock().unwrap()[i] = id;
        }
    })
    .await;
    println!(
        "POST /otp/new: {OTP_COUNT} requests, {CLIENTS} clients: {:.0} req/s ({:.2} ms mean)",
        OTP_COUNT as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 * CLIENTS as f64 / OTP_COUNT as f64
    );

    // Every code SMS reaches its phone; read the codes from them.
    let deadline = Instant::now() + Duration::from_secs(120);
    let started = Instant::now();
    let codes: Vec<String> = loop {
        let world = d.network.world().messages();
        if world.len() >= OTP_COUNT {
            break (0..OTP_COUNT)
                .map(|i| {
                    let to = phone(i);
                    let m = world
                        .iter()
                        .find(|m| m.to == to)
                        .expect("SMS for each phone");
                    code_in(&m.text, code_length).expect("code")
                })
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "only {} SMS arrived",
            world.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!(
        "  all {OTP_COUNT} code SMS on the wire {:.0} ms after the last create answer (2 modems)",
        started.elapsed().as_secs_f64() * 1e3
    );

    // OTP verify with the right code.
    let ids: Arc<Vec<String>> = Arc::new(ids.lock().unwrap().clone());
    let codes = Arc::new(codes);
    let verified = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (c, v) = (client.clone(), verified.clone());
    let elapsed = run_concurrently(OTP_COUNT, move |i| {
        let (c, ids, codes, v) = (c.clone(), ids.clone(), codes.clone(), v.clone());
        async move {
            let r = c
                .post("/otp/verify", json!({"otp_id": ids[i], "otp": codes[i]}))
                .await;
            if r["data"]["verified"] == true {
                v.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    })
    .await;
    assert_eq!(
        verified.load(std::sync::atomic::Ordering::Relaxed),
        OTP_COUNT
    );
    println!(
        "POST /otp/verify: {OTP_COUNT} requests, {CLIENTS} clients: {:.0} req/s ({:.2} ms mean)",
        OTP_COUNT as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e3 * CLIENTS as f64 / OTP_COUNT as f64
    );

    // API → wire latency, one request at a time.
    for (path, make) in [
        (
            "/send/text",
            (|i: usize| json!({"to": phone(5000 + i), "message": "latency probe"}))
                as fn(usize) -> Value,
        ),
        ("/otp/new", |i: usize| json!({"to": phone(6000 + i)})),
    ] {
        let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
        for i in 0..LATENCY_SAMPLES {
            let to = make(i)["to"].as_str().unwrap().to_string();
            let started = Instant::now();
            client.post(path, make(i)).await;
            d.network
                .world()
                .wait_for(&to, Duration::from_secs(10))
                .await
                .expect("on the wire");
            samples.push(started.elapsed());
        }
        report_latency(&format!("API→wire, POST {path}"), samples);
    }
    d.stop().await;
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, so keep it quick
    // enough for both.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
}
