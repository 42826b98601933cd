// Invariants checked on every fuzz input, shared (via `include!`) by the
// cargo-fuzz target and by `tests/codec_fuzz.rs`. A broken invariant panics,
// which is how both harnesses report a finding.

/// Runs one input: byte 0 bit 0 set = the PDU has no SMSC field; the rest
/// is the PDU as octets.
pub fn check_decode_input(data: &[u8]) {
    let Some((&flags, pdu_bytes)) = data.split_first() else {
        return;
    };
    let has_smsc = flags & 1 == 0;
    let decoded = simgate::codec::decode_bytes(pdu_bytes, has_smsc);

    // The hex path must agree with the octet path.
    let hex_text = hex::encode_upper(pdu_bytes);
    let via_hex = simgate::codec::decode(&hex_text, has_smsc);
    assert_eq!(decoded, via_hex, "hex and octet decoding differ");

    let Ok(pdu) = decoded else {
        return;
    };
    let json = simgate::cli::pdu::decode_to_json(&hex_text, !has_smsc);
    assert!(json.is_ok(), "decode_to_json fails on a PDU that decodes");

    // Whatever text we read must go back out unchanged.
    let Some(text) = pdu.user_data().and_then(|u| u.text.clone()) else {
        return;
    };
    let parts = simgate::codec::encode_submit(
        "+15550001111",
        &text,
        &simgate::codec::SubmitOptions::default(),
    );
    let parts = match parts {
        Ok(p) => p,
        Err(simgate::codec::EncodeError::TooManyParts(_)) => return,
        Err(e) => panic!("decoded text does not re-encode: {e}"),
    };
    let mut joined = String::new();
    for part in &parts {
        match simgate::codec::decode(&part.hex, true) {
            Ok(simgate::codec::Pdu::Submit(s)) => {
                joined.push_str(s.user_data.text.as_deref().unwrap_or_default());
            }
            other => panic!("own SMS-SUBMIT does not decode: {other:?}"),
        }
    }
    assert_eq!(joined, text, "text changed through encode/decode");

    // An SMS-DELIVER must survive the network-side encoder too.
    if let simgate::codec::Pdu::Deliver(d) = &pdu {
        let pdus = simgate::codec::encode_deliver(
            &d.originator.to_display(),
            &text,
            &d.timestamp,
            &simgate::codec::DeliverOptions::default(),
        );
        let mut joined = String::new();
        for hex_part in &pdus {
            match simgate::codec::decode(hex_part, true) {
                Ok(simgate::codec::Pdu::Deliver(again)) => {
                    // The zone field holds at most 79 quarter hours; lenient
                    // decoding of broken zones can exceed it.
                    if d.timestamp.offset_minutes.abs() <= 79 * 15 {
                        assert_eq!(again.timestamp, d.timestamp, "timestamp changed");
                    }
                    joined.push_str(again.user_data.text.as_deref().unwrap_or_default());
                }
                other => panic!("own SMS-DELIVER does not decode: {other:?}"),
            }
        }
        assert_eq!(joined, text, "deliver text changed through encode/decode");
    }
}
