//! Verification benchmarks.
//!
//! - Reverse-OTP matching of one inbound message against 1,000,000 pending sessions (the
//!   lookup by the `(number, status)` index, token matching and the status update), inside a
//!   transaction that is rolled back so every iteration sees the same table.
//! - Standard OTP create and check throughput through the service (`Verifier`), on a real
//!   SQLite file with `synchronous=FULL` (so each operation includes its commit's fsync), with
//!   no modems: the SMS is queued, not sent.
//!
//! Run: `cargo bench --bench verify` (figures in BENCHMARKS.md).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use simgate::config::Config;
use simgate::params;
use simgate::pool::{Pool, PoolOptions};
use simgate::secret::Secret;
use simgate::store::inbound::InboundMessage;
use simgate::store::{now_ms, Store};
use simgate::verify::{CreateOtp, ReverseMatcher, Verifier};
use std::sync::Arc;
use std::time::Duration;

const PENDING: u32 = 1_000_000;

fn person(i: u32) -> String {
    format!("+1415{:07}", i % 10_000_000)
}

fn fill_pending(store: &Store, count: u32) {
    let expires = now_ms() + 3_600_000;
    store
        .call_blocking(move |c| {
            let tx = c.transaction()?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO reverse_verifications (id, number, country, factor, factor_key, recipient,
                         line, status, max_attempts, language, key_label, created_at, expires_at, updated_at)
                     VALUES (?1, ?2, 'US', ?3, ?3, '+15550000001', 'sim1', 'pending', 5, 'en', 'k', 0, ?4, 0)",
                )?;
                for i in 0..count {
                    insert.execute(params![
                        format!("r_otp_bench{i:08}"),
                        person(i),
                        format!("{:06}", (i * 7919) % 1_000_000),
                        expires
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .expect("filling the table");
}

fn message(from: &str, body: &str) -> InboundMessage {
    InboundMessage {
        id: "in_bench".into(),
        modem: "sim1".into(),
        to: Some("+15550000001".into()),
        from: from.into(),
        sender_type: "international".into(),
        sender_toa: Some(0x91),
        smsc: Some("+15550009999".into()),
        body: body.into(),
        encoding: "gsm7".into(),
        parts_total: 1,
        complete: true,
        received_at: now_ms(),
        ..Default::default()
    }
}

fn reverse_matching(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    fill_pending(&store, PENDING);
    let matcher = ReverseMatcher::new("US");
    let target = PENDING / 2;
    let verifying = message(
        &person(target),
        &format!("my code is {:06}", (target * 7919) % 1_000_000),
    );
    let wrong = message(&person(target), "my code is nothing");
    let stranger = message("+447700900123", "hello there");

    let mut group = c.benchmark_group("reverse_match_1e6_pending");
    group.sample_size(200);
    group.measurement_time(Duration::from_secs(5));
    for (name, msg, expect_verified) in [
        ("verifying_message", &verifying, 1),
        ("wrong_factor", &wrong, 0),
        ("unknown_sender", &stranger, 0),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let outcome = store
                    .match_reverse_rolled_back(&matcher, msg, now_ms())
                    .unwrap();
                assert_eq!(outcome.verified.len(), expect_verified);
            })
        });
    }
    group.finish();
}

fn otp_service(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("otp.db")).unwrap();
    let mut config = Config::default();
    config.otp.rate_per_number_per_hour = 0;
    config.otp.rate_per_key_per_minute = 0;
    config.otp.rate_per_ip_per_hour = 0;
    let verifier = runtime.block_on(async {
        let pool = Pool::new(store.clone(), Vec::new(), PoolOptions::default());
        Verifier::new(
            &config,
            store.clone(),
            pool,
            Secret::from_bytes(vec![7; 32]),
            simgate::verify::ProofKeys::generate(),
            Arc::new(tokio::sync::Notify::new()),
        )
    });
    let mut n = 0u32;
    let mut next_request = move || {
        n += 1;
        CreateOtp {
            to: person(n),
            language: None,
            name: Some("Bench".into()),
            api_key: "sk_bench_key".into(),
            client_ip: None,
        }
    };
    // The code, read back from the queued SMS (the service never returns it).
    let code_of = |message_id: String| -> String {
        store
            .call_blocking(move |c| {
                let body: String = c.query_row(
                    "SELECT body FROM outbound_messages WHERE id = ?1",
                    [&message_id],
                    |r| r.get(0),
                )?;
                Ok(body
                    .split(|ch: char| !ch.is_ascii_digit())
                    .find(|run| run.len() == 6)
                    .unwrap()
                    .to_string())
            })
            .unwrap()
    };

    let mut group = c.benchmark_group("otp_service");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("create", |b| {
        b.iter(|| runtime.block_on(verifier.create(next_request())).unwrap())
    });
    group.bench_function("check_correct", |b| {
        b.iter_batched(
            || {
                let created = runtime.block_on(verifier.create(next_request())).unwrap();
                (created.otp_id, code_of(created.message_id))
            },
            |(id, code)| {
                let r = runtime.block_on(verifier.check(&id, &code)).unwrap();
                assert!(r.verified);
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("check_wrong", |b| {
        b.iter_batched(
            || {
                runtime
                    .block_on(verifier.create(next_request()))
                    .unwrap()
                    .otp_id
            },
            |id| {
                let r = runtime.block_on(verifier.check(&id, "no-code")).unwrap();
                assert!(!r.verified);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, reverse_matching, otp_service);
criterion_main!(benches);
