//! One virtual modem, driven through its pty exactly as the daemon drives hardware: identity,
//! echo, personalities, and every fault knob.

use crate::sim_support;

use std::time::Duration;

use sim_support::{fast, one_modem, send_part, Host, SOON};
use simgate::sim::{Personality, SimModemConfig};

#[tokio::test]
async fn identity_and_echo_on_then_off() {
    let (_network, modem, _directory) = one_modem(fast(1)).await;
    assert!(std::fs::read_link(modem.path())
        .unwrap()
        .starts_with("/dev/pts"));
    let mut host = Host::open(modem.path());
    // Echo is on after power-on, like real modems.
    host.write("AT\r").await;
    assert_eq!(host.read_final(SOON).await, "AT\r\r\nOK\r\n");
    host.write("AT+CGMI\r").await;
    assert_eq!(
        host.read_final(SOON).await,
        "AT+CGMI\r\r\nSIMGATE\r\n\r\nOK\r\n"
    );
    host.write("ATE0\r").await;
    assert_eq!(host.read_final(SOON).await, "ATE0\r\r\nOK\r\n");
    assert_eq!(
        host.query("AT+CGSN").await,
        vec![modem.config().imei.clone()]
    );
    assert_eq!(
        host.query("AT+CIMI").await,
        vec![modem.config().imsi.clone()]
    );
    assert_eq!(
        host.query("AT+CNUM").await,
        vec![format!("+CNUM: \"\",\"{}\",145", modem.number())]
    );
    assert_eq!(
        host.query("AT+CSCA?").await,
        vec!["+CSCA: \"+15550009999\",145"]
    );
    assert_eq!(host.query("AT+CREG?").await, vec!["+CREG: 0,1"]);
    assert_eq!(
        modem.commands(),
        vec!["AT", "AT+CGMI", "ATE0", "AT+CGSN", "AT+CIMI", "AT+CNUM", "AT+CSCA?", "AT+CREG?"]
    );
}

#[tokio::test]
async fn cnmi_test_answer_per_personality() {
    let expected = [
        (Personality::Generic, "+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)"),
        (Personality::Huawei, "+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"),
        (Personality::Quectel, "+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)"),
        (Personality::Simcom, "+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)"),
        (Personality::Zte, "+CNMI: (0-2),(0,1),(0,2),(0,2),(0,1)"),
    ];
    for (personality, answer) in expected {
        let (_network, modem, _directory) = one_modem(SimModemConfig {
            personality,
            ..fast(1)
        })
        .await;
        let mut host = Host::open_quiet(modem.path()).await;
        assert_eq!(
            host.query("AT+CNMI=?").await,
            vec![answer],
            "{personality:?}"
        );
        let unknown = host.command("AT+NOSUCH").await;
        let expected_refusal = match personality {
            Personality::Huawei | Personality::Zte => "COMMAND NOT SUPPORT",
            _ => "ERROR",
        };
        assert!(
            unknown.ends_with(&format!("\r\n{expected_refusal}\r\n")),
            "{personality:?}: {unknown:?}"
        );
    }
}

#[tokio::test]
async fn startup_urcs_wait_in_the_port_for_the_daemon() {
    let (_network, modem, _directory) = one_modem(SimModemConfig {
        personality: Personality::Quectel,
        ..fast(1)
    })
    .await;
    let mut host = Host::open(modem.path());
    let banner = host.read_until("+QIND: SMS DONE\r\n", SOON).await;
    assert!(banner.contains("\r\nRDY\r\n"), "{banner:?}");
    assert!(banner.contains("\r\n+CPIN: READY\r\n"), "{banner:?}");
}

#[tokio::test]
async fn huawei_chatters_until_curc_is_off() {
    let (_network, modem, _directory) = one_modem(SimModemConfig {
        personality: Personality::Huawei,
        vendor_urc_interval: Some(Duration::from_millis(30)),
        ..fast(1)
    })
    .await;
    let mut host = Host::open_quiet(modem.path()).await;
    host.read_until("^RSSI:20\r\n", SOON).await;
    assert!(host.command("AT^CURC=0").await.ends_with("OK\r\n"));
    host.drain(Duration::from_millis(100)).await;
    let quiet = host.drain(Duration::from_millis(200)).await;
    assert!(!quiet.contains("^RSSI"), "still chattering: {quiet:?}");
}

#[tokio::test]
async fn sim_pin_is_required_and_wrong_pin_is_error_16() {
    let (_network, modem, _directory) = one_modem(SimModemConfig {
        pin: Some("1234".into()),
        ..fast(1)
    })
    .await;
    let mut host = Host::open_quiet(modem.path()).await;
    host.command("AT+CMEE=1").await;
    assert_eq!(host.query("AT+CPIN?").await, vec!["+CPIN: SIM PIN"]);
    assert!(host
        .command("AT+CMGL=4")
        .await
        .ends_with("+CMS ERROR: 311\r\n"));
    assert!(host
        .command("AT+CPIN=\"0000\"")
        .await
        .ends_with("+CME ERROR: 16\r\n"));
    assert!(host
        .command("AT+CPIN=\"1234\"")
        .await
        .ends_with("\r\nOK\r\n"));
    assert_eq!(host.query("AT+CPIN?").await, vec!["+CPIN: READY"]);
    assert_eq!(host.query("AT+CREG?").await, vec!["+CREG: 0,1"]);
    // The knob locks it again at run time.
    modem.require_pin("4321");
    host.drain(Duration::from_millis(50)).await;
    assert_eq!(host.query("AT+CPIN?").await, vec!["+CPIN: SIM PIN"]);
}

#[tokio::test]
async fn unplug_hangs_up_the_reader_and_removes_the_link_and_replug_works() {
    let (_network, modem, _directory) = one_modem(fast(1)).await;
    let mut host = Host::open_quiet(modem.path()).await;
    let first_device = modem.device().expect("plugged");
    modem.unplug().await;
    assert!(!modem.is_plugged());
    assert!(
        std::fs::symlink_metadata(modem.path()).is_err(),
        "link must be gone"
    );
    let ending = host.wait_for_hangup(SOON).await;
    assert!(ending == "eof" || ending.contains("error"), "{ending}");
    drop(host);
    // Messages for an unplugged modem wait in the network.
    modem.replug().await.unwrap();
    assert!(modem.is_plugged());
    assert_eq!(
        std::fs::read_link(modem.path()).unwrap(),
        modem.device().unwrap()
    );
    let _ = first_device;
    let mut host = Host::open(modem.path());
    host.write("AT\r").await;
    assert_eq!(
        host.read_final(SOON).await,
        "AT\r\r\nOK\r\n",
        "echo is back on after boot"
    );
}

#[tokio::test]
async fn cfun_reset_answers_then_reenumerates() {
    let (_network, modem, _directory) = one_modem(SimModemConfig {
        reset_delay: Duration::from_millis(100),
        ..fast(1)
    })
    .await;
    let mut host = Host::open_quiet(modem.path()).await;
    assert_eq!(host.command("AT+CFUN=1,1").await, "\r\nOK\r\n");
    let ending = host.wait_for_hangup(SOON).await;
    assert!(ending == "eof" || ending.contains("error"), "{ending}");
    drop(host);
    assert!(modem.wait_until(SOON, |modem| modem.is_plugged()).await);
    let mut host = Host::open(modem.path());
    host.write("AT\r").await;
    assert_eq!(host.read_final(SOON).await, "AT\r\r\nOK\r\n");
}

#[tokio::test]
async fn a_hung_modem_answers_nothing_until_cleared() {
    let (_network, modem, _directory) = one_modem(fast(1)).await;
    let mut host = Host::open_quiet(modem.path()).await;
    modem.set_hang(true);
    host.write("AT\r").await;
    assert_eq!(host.drain(Duration::from_millis(300)).await, "");
    modem.set_hang(false);
    assert_eq!(host.command("AT").await, "\r\nOK\r\n");
}

#[tokio::test]
async fn garbage_reaches_the_host_between_responses() {
    let (_network, modem, _directory) = one_modem(fast(1)).await;
    let mut host = Host::open_quiet(modem.path()).await;
    modem.inject_garbage(b"\x00\xfe\xffNOISE\r\n");
    let noise = host.read_until("NOISE\r\n", SOON).await;
    assert!(noise.contains("NOISE"));
    assert_eq!(host.command("AT").await, "\r\nOK\r\n");
}

#[tokio::test]
async fn injected_send_failures_are_cms_errors() {
    use simgate::codec::{encode_submit, SubmitOptions};
    let (network, modem, _directory) = one_modem(fast(1)).await;
    let mut host = Host::open_quiet(modem.path()).await;
    let part = encode_submit("+447700900123", "hi", &SubmitOptions::default())
        .unwrap()
        .remove(0);
    modem.fail_next_sends(1, 500);
    assert!(send_part(&mut host, part.tpdu_len, &part.hex)
        .await
        .ends_with("\r\n+CMS ERROR: 500\r\n"));
    assert!(network.world().messages().is_empty());
    modem.set_registered(false);
    assert!(send_part(&mut host, part.tpdu_len, &part.hex)
        .await
        .ends_with("\r\n+CMS ERROR: 331\r\n"));
    modem.set_registered(true);
    let reply = send_part(&mut host, part.tpdu_len, &part.hex).await;
    assert!(reply.contains("\r\n+CMGS: 0\r\n"), "{reply:?}");
}

#[tokio::test]
async fn registration_urcs_reach_the_host() {
    let (_network, modem, _directory) = one_modem(fast(1)).await;
    let mut host = Host::open_quiet(modem.path()).await;
    host.command("AT+CREG=1").await;
    modem.set_registered(false);
    host.read_until("\r\n+CREG: 2\r\n", SOON).await;
    modem.set_registered(true);
    host.read_until("\r\n+CREG: 1\r\n", SOON).await;
    assert_eq!(
        host.query("AT+COPS?").await,
        vec!["+COPS: 0,0,\"SimNet\",7"]
    );
}

#[tokio::test]
async fn the_daemon_can_close_and_reopen_the_port() {
    let (_network, modem, _directory) = one_modem(fast(1)).await;
    for _ in 0..3 {
        let mut host = Host::open(modem.path());
        host.write("AT\r").await;
        let reply = host.read_final(SOON).await;
        assert!(reply.ends_with("\r\nOK\r\n"), "{reply:?}");
    }
    assert_eq!(modem.commands_total(), 3);
}

#[tokio::test]
async fn shutdown_stops_everything_and_removes_links() {
    let (network, modem, directory) = one_modem(fast(1)).await;
    let second = network.add_modem(fast(2), directory.path()).await.unwrap();
    assert!(
        network.add_modem(fast(2), directory.path()).await.is_err(),
        "duplicate name"
    );
    let mut host = Host::open_quiet(second.path()).await;
    network.shutdown().await;
    assert!(std::fs::symlink_metadata(modem.path()).is_err());
    assert!(std::fs::symlink_metadata(second.path()).is_err());
    let ending = host.wait_for_hangup(SOON).await;
    assert!(ending == "eof" || ending.contains("error"), "{ending}");
    assert!(
        second.replug().await.is_err(),
        "a stopped network cannot replug"
    );
}

#[tokio::test]
async fn dropping_the_network_stops_the_modems() {
    let (network, modem, _directory) = one_modem(fast(1)).await;
    let mut host = Host::open_quiet(modem.path()).await;
    drop(network);
    let ending = host.wait_for_hangup(SOON).await;
    assert!(ending == "eof" || ending.contains("error"), "{ending}");
    assert!(std::fs::symlink_metadata(modem.path()).is_err());
}
