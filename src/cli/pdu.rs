//! `simgate pdu decode` / `simgate pdu encode`: the codec as JSON and as the
//! lines one would type after `AT+CMGS`.

use serde_json::{json, Map, Value};

use crate::codec::{self, Address, EncodeError, Encoding, Pdu, PduError, SubmitOptions, UserData};

/// Decodes a PDU into the JSON object of SPEC §1. `no_smsc` says the hex
/// starts directly with the TPDU (as `+CDS` prints it on some modems).
pub fn decode_to_json(hex: &str, no_smsc: bool) -> Result<Value, PduError> {
    let pdu = codec::decode(hex, !no_smsc)?;
    let mut out = Map::new();
    let smsc = pdu.smsc().map(Address::to_display);
    match &pdu {
        Pdu::Deliver(m) => {
            out.insert("type".into(), json!("deliver"));
            out.insert("smsc".into(), json!(smsc));
            insert_address(&mut out, "sender", &m.originator);
            insert_text(&mut out, m.dcs.encoding, &m.user_data);
            out.insert("timestamp".into(), json!(m.timestamp.to_rfc3339()));
        }
        Pdu::Submit(m) => {
            out.insert("type".into(), json!("submit"));
            out.insert("smsc".into(), json!(smsc));
            insert_address(&mut out, "recipient", &m.destination);
            insert_text(&mut out, m.dcs.encoding, &m.user_data);
            out.insert("message_ref".into(), json!(m.message_ref));
        }
        Pdu::StatusReport(m) => {
            out.insert("type".into(), json!("status_report"));
            out.insert("smsc".into(), json!(smsc));
            insert_address(&mut out, "recipient", &m.recipient);
            out.insert("message_ref".into(), json!(m.message_ref));
            out.insert("status".into(), json!(m.status));
            out.insert("timestamp".into(), json!(m.timestamp.to_rfc3339()));
            out.insert(
                "discharge_time".into(),
                json!(m.discharge_time.to_rfc3339()),
            );
        }
    }
    Ok(Value::Object(out))
}

fn insert_address(out: &mut Map<String, Value>, key: &str, address: &Address) {
    out.insert(key.into(), json!(address.to_display()));
    out.insert("sender_type".into(), json!(address.kind().as_str()));
}

fn insert_text(out: &mut Map<String, Value>, encoding: Encoding, user_data: &UserData) {
    out.insert("text".into(), json!(user_data.text));
    out.insert("encoding".into(), json!(encoding.as_str()));
    if user_data.text.is_none() {
        out.insert(
            "data_hex".into(),
            json!(hex::encode_upper(&user_data.payload)),
        );
    }
    let concat = user_data
        .concat()
        .map(|c| json!({"ref": c.reference, "parts": c.total, "seq": c.seq}));
    out.insert("concat".into(), concat.unwrap_or(Value::Null));
}

/// Encodes a text as SMS-SUBMIT PDUs: one `<tpdu_len> <HEX>` line per part,
/// exactly what `AT+CMGS=<tpdu_len>` and then the hex would send.
pub fn encode_lines(
    to: &str,
    text: &str,
    report: bool,
    smsc: Option<&str>,
) -> Result<Vec<String>, EncodeError> {
    let opts = SubmitOptions {
        smsc: smsc.map(str::to_owned),
        status_report: report,
        ..SubmitOptions::default()
    };
    Ok(codec::encode_submit(to, text, &opts)?
        .into_iter()
        .map(|part| format!("{} {}", part.tpdu_len, part.hex))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliver_json() {
        let v = decode_to_json(
            "07912143658709F1040B918100551512F20000111010214365000AE8329BFD4697D9EC37",
            false,
        )
        .expect("valid");
        assert_eq!(
            v,
            json!({"type":"deliver","smsc":"+12345678901","sender":"+18005551212",
                   "sender_type":"international","text":"hellohello","encoding":"gsm7",
                   "timestamp":"2011-01-01T12:34:56+00:00","concat":null})
        );
    }

    #[test]
    fn status_report_json_without_smsc() {
        let v = decode_to_json("06550A912143658709122022118314801220221183148000", true)
            .expect("valid");
        assert_eq!(v["type"], "status_report");
        assert_eq!(v["smsc"], Value::Null);
        assert_eq!(v["recipient"], "+1234567890");
        assert_eq!(v["message_ref"], 85);
        assert_eq!(v["status"], 0);
        assert_eq!(v["discharge_time"], "2021-02-22T11:38:41+02:00");
    }

    #[test]
    fn eight_bit_has_data_hex() {
        let v = decode_to_json(
            "07912143658709F1040B918100551512F20004111010214365000AE8329BFD4697D9EC37DE",
            false,
        )
        .expect("valid");
        assert_eq!(v["encoding"], "8bit");
        assert_eq!(v["text"], Value::Null);
        assert_eq!(v["data_hex"], "E8329BFD4697D9EC37DE");
    }

    #[test]
    fn encode_lines_format() {
        let lines = encode_lines("+1234567890", "Moi", true, None).expect("valid");
        assert_eq!(
            lines,
            vec!["15 0021000A912143658709000003CD771A".to_owned()]
        );
        assert!(encode_lines("abc!", "x", false, None).is_err());
    }
}
