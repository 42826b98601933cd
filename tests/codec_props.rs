//! Property tests for the codec: encode → decode round trips for random text
//! (GSM 7-bit basic and extension characters, UCS-2, emoji; 0..2000
//! characters), the splitting rules, and "never panics" on arbitrary or
//! mutated input.

use proptest::prelude::*;
use simgate::codec::{
    self, decode, decode_bytes, encode_deliver, encode_submit, gsm7, plan, plan_with, ucs2,
    DeliverOptions, Encoding, Pdu, SubmitOptions, Timestamp,
};

const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENSION: &str = "€[]{}~^\\|\u{0C}";

fn chars_of(s: &str) -> Vec<char> {
    s.chars().collect()
}

fn basic_char() -> impl Strategy<Value = char> {
    prop::sample::select(chars_of(GSM_BASIC))
}

fn extension_char() -> impl Strategy<Value = char> {
    prop::sample::select(chars_of(GSM_EXTENSION))
}

fn emoji_char() -> impl Strategy<Value = char> {
    (0x1F300u32..0x1FAFF).prop_filter_map("scalar value", char::from_u32)
}

fn text_of(chars: impl Strategy<Value = char>) -> impl Strategy<Value = String> {
    prop::collection::vec(chars, 0..2000).prop_map(|v| v.into_iter().collect())
}

/// Texts of every flavour the daemon may be asked to send.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        text_of(basic_char()),
        text_of(prop_oneof![4 => basic_char(), 1 => extension_char()]),
        text_of(prop_oneof![
            3 => basic_char(),
            1 => extension_char(),
            1 => any::<char>(),
            1 => emoji_char(),
        ]),
        text_of(prop_oneof![1 => emoji_char(), 1 => prop::char::range('а', 'я')]),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        2000u16..2100,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..60,
        -79i16..=79,
    )
        .prop_map(
            |(year, month, day, hour, minute, second, quarters)| Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                offset_minutes: quarters * 15,
            },
        )
}

fn septet_cost(encoding: Encoding, text: &str) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm7::septet_len(text).unwrap_or(usize::MAX),
        _ => ucs2::unit_len(text),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn submit_round_trips(text in any_text(), report: bool, reference: u16, wide: bool) {
        let opts = SubmitOptions {
            smsc: Some("+15550000000".into()),
            status_report: report,
            validity_minutes: Some(24 * 60),
            concat_ref: reference,
            concat_16bit: wide,
            message_ref: 200,
        };
        let parts = encode_submit("+15551234567", &text, &opts).expect("encodable");
        prop_assert_eq!(parts.len(), plan_with(&text, wide).parts.len());
        let mut joined = String::new();
        for (i, part) in parts.iter().enumerate() {
            prop_assert_eq!(part.hex.len() % 2, 0);
            // SMSC field: length octet, TOA, 6 octets for 11 digits.
            prop_assert_eq!(part.tpdu_len, part.hex.len() / 2 - 8);
            prop_assert!(part.tpdu_len <= 164, "TPDU too long: {}", part.tpdu_len);
            let Ok(Pdu::Submit(s)) = decode(&part.hex, true) else {
                return Err(TestCaseError::fail(format!("part {i} does not decode as a submit")));
            };
            prop_assert_eq!(s.destination.to_display(), "+15551234567");
            prop_assert_eq!(s.status_report_request, report);
            prop_assert_eq!(s.message_ref, 200u8.wrapping_add(i as u8));
            match s.user_data.concat() {
                Some(c) => {
                    prop_assert!(parts.len() > 1);
                    prop_assert_eq!(usize::from(c.total), parts.len());
                    prop_assert_eq!(usize::from(c.seq), i + 1);
                    prop_assert_eq!(c.wide_reference, wide);
                    let want_ref = if wide { reference } else { reference & 0xFF };
                    prop_assert_eq!(c.reference, want_ref);
                }
                None => prop_assert_eq!(parts.len(), 1),
            }
            prop_assert!(!s.user_data.dangling_escape);
            joined.push_str(s.user_data.text.as_deref().unwrap_or_default());
        }
        prop_assert_eq!(joined, text);
    }

    #[test]
    fn deliver_round_trips(text in any_text(), ts in timestamp(), reference: u16, wide: bool) {
        let opts = DeliverOptions { smsc: None, concat_ref: reference, concat_16bit: wide };
        let pdus = encode_deliver("+4915112345678", &text, &ts, &opts);
        prop_assert_eq!(pdus.len(), plan_with(&text, wide).parts.len());
        let mut reassembler = codec::Reassembler::new();
        let mut joined = None;
        for hex_text in &pdus {
            let Ok(Pdu::Deliver(d)) = decode(hex_text, true) else {
                return Err(TestCaseError::fail("part does not decode as a deliver"));
            };
            prop_assert_eq!(d.timestamp, ts);
            prop_assert_eq!(d.originator.to_display(), "+4915112345678");
            let part_text = d.user_data.text.clone().unwrap_or_default();
            match d.user_data.concat() {
                None => joined = Some(part_text),
                Some(c) => {
                    let outcome = reassembler.push(codec::concat::Fragment {
                        key: codec::concat::MessageKey {
                            sender: d.originator.to_display(),
                            reference: c.reference,
                            total: c.total,
                        },
                        seq: c.seq,
                        text: part_text,
                    });
                    if let codec::concat::PushOutcome::Complete { text, .. } = outcome {
                        joined = Some(text);
                    }
                }
            }
        }
        prop_assert_eq!(joined, Some(text));
    }

    #[test]
    fn split_respects_limits(text in any_text()) {
        for wide in [false, true] {
            let p = plan_with(&text, wide);
            prop_assert_eq!(p.encoding == Encoding::Gsm7, gsm7::can_encode(&text));
            prop_assert_eq!(p.parts.concat(), text.clone());
            let (single, segment) = match (p.encoding, wide) {
                (Encoding::Gsm7, false) => (160, 153),
                (Encoding::Gsm7, true) => (160, 152),
                (_, false) => (70, 67),
                (_, true) => (70, 66),
            };
            if p.parts.len() == 1 {
                prop_assert!(septet_cost(p.encoding, &text) <= single);
            } else {
                prop_assert!(septet_cost(p.encoding, &text) > single);
                for (i, part) in p.parts.iter().enumerate() {
                    let cost = septet_cost(p.encoding, part);
                    prop_assert!(cost <= segment, "part {} costs {}", i, cost);
                    prop_assert!(!part.is_empty());
                    // Greedy: a part ends early only when the next character
                    // would not fit, so no escape or surrogate pair is split
                    // and no SMS is wasted.
                    if let Some(next) = p.parts.get(i + 1).and_then(|n| n.chars().next()) {
                        let next_cost = septet_cost(p.encoding, &next.to_string());
                        prop_assert!(cost + next_cost > segment);
                    }
                }
            }
        }
        prop_assert_eq!(plan(&text), plan_with(&text, false));
    }

    #[test]
    fn septet_packing_round_trips(septets in prop::collection::vec(0u8..128, 0..300), fill in 0usize..7) {
        let packed = gsm7::pack_septets(&septets, fill);
        prop_assert_eq!(packed.len(), (fill + septets.len() * 7).div_ceil(8));
        prop_assert_eq!(gsm7::unpack_septets(&packed, fill, septets.len()), Some(septets));
    }

    #[test]
    fn status_report_round_trips(mr: u8, status: u8, scts in timestamp(), dt in timestamp()) {
        let hex_text = codec::encode_status_report(mr, "+33612345678", &scts, &dt, status, Some("+33609001390"));
        let Ok(Pdu::StatusReport(r)) = decode(&hex_text, true) else {
            return Err(TestCaseError::fail("does not decode as a status report"));
        };
        prop_assert_eq!(r.message_ref, mr);
        prop_assert_eq!(r.status, status);
        prop_assert_eq!(r.timestamp, scts);
        prop_assert_eq!(r.discharge_time, dt);
        prop_assert_eq!(r.recipient.to_display(), "+33612345678");
        prop_assert_eq!(r.smsc.map(|s| s.to_display()), Some("+33609001390".to_owned()));
    }
}

/// Valid PDUs from the vectors, as octets, for mutation (read once).
fn seed_pdus() -> &'static [(Vec<u8>, bool)] {
    static SEEDS: std::sync::OnceLock<Vec<(Vec<u8>, bool)>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(load_seed_pdus)
}

fn load_seed_pdus() -> Vec<(Vec<u8>, bool)> {
    let path = format!("{}/tests/vectors/sms_pdus.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("vectors");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("json");
    doc["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(doc["invalid_pdus"].as_array().into_iter().flatten())
        .filter_map(|c| {
            let bytes = hex::decode(c["pdu"].as_str()?).ok()?;
            Some((bytes, c["has_smsc"].as_bool().unwrap_or(true)))
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bit: u8 },
    Set { at: usize, value: u8 },
    Truncate { len: usize },
    Insert { at: usize, value: u8 },
    Remove { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert { at, value }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match *m {
        Mutation::Flip { at, bit } => bytes[at % n] ^= 1 << bit,
        Mutation::Set { at, value } => bytes[at % n] = value,
        Mutation::Truncate { len } => bytes.truncate(len % n),
        Mutation::Insert { at, value } => bytes.insert(at % (n + 1), value),
        Mutation::Remove { at } => {
            bytes.remove(at % n);
        }
    }
}

/// Whatever decodes must also survive the JSON rendering and re-encoding of
/// its text, so those paths are exercised on odd input too.
fn exercise(bytes: &[u8], has_smsc: bool) {
    if let Ok(pdu) = decode_bytes(bytes, has_smsc) {
        let hex_text = hex::encode(bytes);
        let json = simgate::cli::pdu::decode_to_json(&hex_text, !has_smsc);
        assert!(json.is_ok(), "decode_to_json disagrees with decode");
        if let Some(text) = pdu.user_data().and_then(|u| u.text.clone()) {
            let parts = encode_submit("+15550001111", &text, &SubmitOptions::default());
            assert!(parts.is_ok(), "decoded text must re-encode");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200), has_smsc: bool) {
        exercise(&bytes, has_smsc);
    }

    #[test]
    fn decode_never_panics_on_mutated_vectors(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seed_pdus();
        prop_assume!(!seeds.is_empty());
        let (mut bytes, has_smsc) = seeds[seed.index(seeds.len())].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        exercise(&bytes, has_smsc);
    }

    #[test]
    fn decode_never_panics_on_random_text(s in "\\PC{0,80}") {
        let _ = decode(&s, true);
        let _ = decode(&s, false);
    }
}
