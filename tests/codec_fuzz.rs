//! A stable-toolchain stand-in for `fuzz/` (cargo-fuzz needs nightly): the
//! same checks (`fuzz/decode_check.rs`) over the vector PDUs, random bytes
//! and mutations of the vectors.
//!
//! * `SIMGATE_FUZZ_ITERS=N` sets the number of random inputs (default 20000).
//! * `SIMGATE_FUZZ_SECS=S` runs for S seconds instead.
//! * `SIMGATE_FUZZ_SEED=X` picks the RNG seed (default fixed, so CI is
//!   reproducible; a failure prints the seed and iteration).
//! * `SIMGATE_FUZZ_CORPUS=DIR` writes the seed corpus for cargo-fuzz to DIR.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::Value;

include!("../fuzz/decode_check.rs");

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// Fuzz inputs (flag byte + PDU octets) built from every PDU in the vector
/// files, named by case id.
fn seed_inputs() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let decode_doc = load("sms_pdus.json");
    for list in ["cases", "invalid_pdus"] {
        for case in decode_doc[list].as_array().into_iter().flatten() {
            let (Some(id), Some(pdu)) = (case["id"].as_str(), case["pdu"].as_str()) else {
                continue;
            };
            let Ok(bytes) = hex::decode(pdu) else {
                continue;
            };
            let flag = u8::from(case["has_smsc"].as_bool() == Some(false));
            out.push((id.to_owned(), [vec![flag], bytes].concat()));
        }
    }
    let submit_doc = load("submit_pdus.json");
    for case in submit_doc["cases"].as_array().into_iter().flatten() {
        let id = case["id"].as_str().unwrap_or("submit");
        for (i, pdu) in case["expected_pdus"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .enumerate()
        {
            if let Ok(bytes) = hex::decode(pdu) {
                out.push((format!("submit_{id}_{i}"), [vec![0], bytes].concat()));
            }
        }
    }
    out
}

#[test]
fn seeds() {
    let seeds = seed_inputs();
    assert!(seeds.len() > 100, "only {} seeds", seeds.len());
    for (id, data) in &seeds {
        check_decode_input(data);
        // Valid vectors must still decode (the corpus is only useful if it
        // reaches deep into the decoder).
        let decodes = simgate::codec::decode_bytes(&data[1..], data[0] & 1 == 0).is_ok();
        let expected_invalid = id.starts_with("mm_invalid")
            || id == "pgm_submit_ucs2_bad_udl"
            || id == "spd_truncated_ucs2";
        assert_eq!(decodes, !expected_invalid, "{id}");
    }
    if let Ok(dir) = std::env::var("SIMGATE_FUZZ_CORPUS") {
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        for (id, data) in &seeds {
            std::fs::write(format!("{dir}/{id}"), data).expect("write seed");
        }
    }
}

/// One libFuzzer-style mutation.
fn mutate(rng: &mut impl Rng, data: &mut Vec<u8>, seeds: &[(String, Vec<u8>)]) {
    const INTERESTING: [u8; 10] = [0x00, 0x01, 0x07, 0x0A, 0x40, 0x7F, 0x80, 0xA0, 0xFE, 0xFF];
    let n = data.len();
    match rng.random_range(0..8) {
        0 if n > 0 => {
            let at = rng.random_range(0..n);
            data[at] ^= 1 << rng.random_range(0..8);
        }
        1 if n > 0 => {
            let at = rng.random_range(0..n);
            data[at] = rng.random();
        }
        2 if n > 0 => {
            let at = rng.random_range(0..n);
            data[at] = INTERESTING[rng.random_range(0..INTERESTING.len())];
        }
        3 if n > 0 => data.truncate(rng.random_range(0..n)),
        4 => {
            let at = rng.random_range(0..=n);
            data.insert(at, rng.random());
        }
        5 if n > 0 => {
            data.remove(rng.random_range(0..n));
        }
        6 if n > 1 => {
            // Length fields: nudge a byte by a small amount.
            let at = rng.random_range(0..n);
            let delta = rng.random_range(1..4u8);
            data[at] = if rng.random() {
                data[at].wrapping_add(delta)
            } else {
                data[at].wrapping_sub(delta)
            };
        }
        _ => {
            // Splice: tail of another seed.
            let (_, other) = &seeds[rng.random_range(0..seeds.len())];
            let cut = rng.random_range(0..=n);
            let from = rng.random_range(0..=other.len());
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
    }
}

#[test]
fn random_and_mutated_inputs() {
    let seeds = seed_inputs();
    let seed: u64 = std::env::var("SIMGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_C0DE);
    let iterations: u64 = std::env::var("SIMGATE_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let deadline = std::env::var("SIMGATE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(|secs| Instant::now() + Duration::from_secs(secs));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut runs = 0u64;
    let mut decoded_ok = 0u64;
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if runs >= iterations => break,
            _ => {}
        }
        let mut data = if rng.random_range(0..10) == 0 {
            let len = rng.random_range(0..180);
            (0..len).map(|_| rng.random()).collect()
        } else {
            seeds[rng.random_range(0..seeds.len())].1.clone()
        };
        for _ in 0..rng.random_range(1..6) {
            mutate(&mut rng, &mut data, &seeds);
        }
        let outcome = std::panic::catch_unwind(|| check_decode_input(&data));
        if outcome.is_err() {
            panic!(
                "seed {seed} iteration {runs}: input {} broke an invariant",
                hex::encode_upper(&data)
            );
        }
        if data
            .split_first()
            .is_some_and(|(f, pdu)| simgate::codec::decode_bytes(pdu, f & 1 == 0).is_ok())
        {
            decoded_ok += 1;
        }
        runs += 1;
    }
    eprintln!("codec_fuzz: {runs} inputs, {decoded_ok} decoded, seed {seed}");
    // Mutations of valid PDUs must often stay valid, or the run would only
    // test the error paths.
    assert!(decoded_ok * 10 > runs, "{decoded_ok} of {runs} decoded");
}
