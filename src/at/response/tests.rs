//! Unit tests of the module above.
use super::*;

#[test]
fn cmgs_variants() {
    assert_eq!(parse_cmgs("+CMGS: 12"), Some(12));
    assert_eq!(parse_cmgs("+CMGS:7,\"24/01/01,00:00:00+00\""), Some(7));
    assert_eq!(parse_cmgs("+CMGS: 256"), None);
    assert_eq!(parse_cmgs("+CMGS: "), None);
    assert_eq!(parse_cmgs("+CMGR: 1"), None);
}

#[test]
fn cmgr_empty_slot_and_text_mode_are_none() {
    assert_eq!(parse_cmgr(&["+CMGR: 0,,0", "OK"]), None);
    assert_eq!(parse_cmgr(&["OK"]), None);
    assert_eq!(
        parse_cmgr(&["+CMGR: \"REC READ\",\"+1555\",,\"24/01/01\"", "hello", "OK"]),
        None
    );
}

#[test]
fn cmgr_four_field_header_takes_valid_stat() {
    let stored = parse_cmgr(&["+CMGR: 4,1,,151", "00AB"]).expect("parsed");
    assert_eq!(stored.stat, Some(1));
    assert_eq!(stored.length, Some(151));
    let stored = parse_cmgr(&["+CMGR: 2,2,,174", "00AB"]).expect("parsed");
    assert_eq!(stored.stat, Some(2));
}

#[test]
fn cmgl_skips_headers_without_pdu() {
    let lines = [
        "+CMGL: 1,0,,5",
        "+CMGL: 2,1,,5",
        "0011AA",
        "+CMGL: x,1,,5",
        "0011BB",
        "+CMGL: 3,1,5",
        "0011CC",
        "+CMGL: 4,1,,5",
    ];
    let entries = parse_cmgl(&lines);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].index, Some(2));
    assert_eq!(entries[0].pdu, "0011AA");
    assert_eq!(entries[1].index, Some(3));
    assert_eq!(entries[1].length, Some(5));
}

#[test]
fn csq_and_dbm() {
    assert_eq!(parse_csq("+CSQ: 18,99"), Some((18, 99)));
    assert_eq!(parse_csq("+CSQ:4,0"), Some((4, 0)));
    assert_eq!(parse_csq("+CSQ: 18"), None);
    assert_eq!(rssi_to_dbm(0), Some(-113));
    assert_eq!(rssi_to_dbm(31), Some(-51));
    assert_eq!(rssi_to_dbm(99), None);
}

#[test]
fn cpin_states() {
    assert_eq!(parse_cpin("+CPIN: READY"), Some(SimState::Ready));
    assert_eq!(parse_cpin("+CPIN: SIM PIN"), Some(SimState::PinRequired));
    assert_eq!(parse_cpin("+CPIN:SIM  PUK"), Some(SimState::PukRequired));
    assert_eq!(parse_cpin("+CPIN: NOT READY"), Some(SimState::Busy));
    assert_eq!(
        parse_cpin("+CPIN: PH-NET PIN"),
        Some(SimState::DeviceLocked("PH-NET PIN".into()))
    );
    assert_eq!(parse_cpin("+CPIN: "), None);
    assert_eq!(parse_cpin("+CSQ: 1,2"), None);
}

#[test]
fn sim_errors_map_to_states() {
    assert_eq!(
        sim_state_from_cme(&CmError::Code(10)),
        Some(SimState::NotInserted)
    );
    assert_eq!(
        sim_state_from_cme(&CmError::Code(13)),
        Some(SimState::Failure)
    );
    assert_eq!(sim_state_from_cme(&CmError::Code(14)), Some(SimState::Busy));
    assert_eq!(sim_state_from_cme(&CmError::Code(30)), None);
    assert_eq!(
        sim_state_from_cme(&CmError::Text("SIM not inserted".into())),
        Some(SimState::NotInserted)
    );
    assert_eq!(
        sim_state_from_final(&FinalResult::CmsError(CmError::Code(310))),
        Some(SimState::NotInserted)
    );
    assert_eq!(sim_state_from_final(&FinalResult::Ok), None);
}

#[test]
fn cpms_forms() {
    let usage = parse_cpms("+CPMS: \"SM\",3,30,\"SM\",3,30,\"SM\",3,30").expect("parsed");
    assert_eq!(usage.len(), 3);
    assert_eq!(usage[0].storage.as_deref(), Some("SM"));
    assert_eq!((usage[2].used, usage[2].total), (3, 30));
    let usage = parse_cpms("+CPMS: 14,50,14,50").expect("parsed");
    assert_eq!(usage.len(), 2);
    assert_eq!(usage[1].storage, None);
    assert_eq!(parse_cpms("+CPMS: ,,,,,,,,"), None);
}

#[test]
fn choose_cpms_respects_support() {
    let wavecom = parse_cpms_test(r#"+CPMS: (("SM","BM","SR"),("SM"))"#).expect("parsed");
    assert_eq!(wavecom.mem3, Vec::<String>::new());
    let commands = choose_cpms(&wavecom);
    assert_eq!(commands[0], r#"AT+CPMS="SM","SM","SM""#);
    assert!(commands.contains(&r#"AT+CPMS="SM","SM""#.to_string()));
    assert!(!commands.iter().any(|c| c.contains("ME")));
}

#[test]
fn cnmi_setting_read_back() {
    let setting = parse_cnmi("+CNMI: 0,0,0,0,1").expect("parsed");
    assert_eq!(
        (setting.mode, setting.mt, setting.ds, setting.bfr),
        (0, 0, Some(0), Some(1))
    );
    assert_eq!(parse_cnmi("+CNMI: ,"), None);
}

#[test]
fn cops_and_csca() {
    assert_eq!(
        parse_cops("+COPS: 0,0,\"Vodafone UK\",2").as_deref(),
        Some("Vodafone UK")
    );
    assert_eq!(parse_cops("+COPS: 0"), None);
    assert_eq!(
        parse_csca("+CSCA: \"+79168999100\",145").as_deref(),
        Some("+79168999100")
    );
    assert_eq!(
        parse_csca("+CSCA: \"6281100000\",145").as_deref(),
        Some("+6281100000")
    );
    assert_eq!(
        parse_csca("+CSCA: 002B00390037003200350034003100320030003000330032,145").as_deref(),
        Some("+97254120032")
    );
    assert_eq!(parse_csca("+CSCA: \"\",129"), None);
}

#[test]
fn sweep_covers_what_the_modem_offers() {
    let support = |mem1: &[&str]| CpmsSupport {
        mem1: mem1.iter().map(|s| s.to_string()).collect(),
        ..CpmsSupport::default()
    };
    assert_eq!(sweep_storages(&support(&[])), vec!["SM"]);
    assert_eq!(
        sweep_storages(&support(&["ME", "SM", "SR"])),
        vec!["SM", "ME", "SR"]
    );
    assert_eq!(sweep_storages(&support(&["SM", "ME", "MT"])), vec!["MT"]);
}

#[test]
fn csms_answers() {
    assert_eq!(parse_csms_test("+CSMS: (0-1)"), Some(vec![0, 1]));
    assert_eq!(parse_csms_test("+CSMS: (0,1,128)"), Some(vec![0, 1, 128]));
    assert_eq!(parse_csms_test("+CSMS: (0)"), Some(vec![0]));
    assert_eq!(parse_csms_test("OK"), None);
    let set = parse_csms("+CSMS: 1,1,1", false).expect("set form");
    assert_eq!((set.service, set.mt, set.mo), (None, true, true));
    assert!(!parse_csms("+CSMS: 0,1,1", false).expect("set form").mt);
    let read = parse_csms("+CSMS: 1,1,1,1", true).expect("read form");
    assert_eq!((read.service, read.mt), (Some(1), true));
    assert_eq!(
        parse_csms("+CSMS: 0,1,1,1", true).and_then(|s| s.service),
        Some(0)
    );
    assert_eq!(parse_csms("+CSMS: ", true), None);
}

#[test]
fn direct_delivery_puts_mt_2_first_and_keeps_the_stored_chain_behind() {
    let support = parse_cnmi_test("+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)").unwrap();
    let stored = choose_cnmi(&support);
    let direct = choose_cnmi_for(&support, Delivery::Direct);
    assert_eq!(
        direct.first().map(String::as_str),
        Some("AT+CNMI=2,2,0,2,0")
    );
    assert!(
        direct.ends_with(&stored),
        "falls back to the whole stored chain"
    );
    assert_eq!(
        stored.first().map(String::as_str),
        Some("AT+CNMI=2,1,0,2,0")
    );
    assert_eq!(choose_cnmi_for(&support, Delivery::Stored), stored);
    // No <mt> 2 offered (ZTE), or unknown support: nothing direct is guessed.
    let zte = parse_cnmi_test("+CNMI: (0-2),(0,1),(0,2),(0,2),(0,1)").unwrap();
    assert_eq!(choose_cnmi_for(&zte, Delivery::Direct), choose_cnmi(&zte));
    let unknown = CnmiSupport::default();
    assert_eq!(
        choose_cnmi_for(&unknown, Delivery::Direct),
        choose_cnmi(&unknown)
    );
}
