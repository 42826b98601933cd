use super::super::view::{FlowStats, ModemCard, Snapshot};
use super::*;
use crate::modem::{ModemState, ModemStatus};
use crate::store::dashboard::{InboundSummary, OutboundSummary, TrafficBucket};

fn snapshot() -> Snapshot {
    let mut ready = ModemStatus::new("sim1", "/dev/x", Some("+15550000001".into()));
    ready.state = ModemState::Ready;
    ready.operator = Some("<script>alert(1)</script>".into());
    ready.set_signal(20);
    ready.registration = Some("roaming".into());
    let mut gone = ModemStatus::new("sim2", "/dev/y", None);
    gone.detail = Some("port closed".into());
    Snapshot {
        now: 1_700_000_000_000,
        modems: vec![
            ModemCard {
                status: ready,
                sent: [1, 5, 9],
                caps: [2, 0, 100],
                queue_depth: 3,
            },
            ModemCard {
                status: gone,
                sent: [0; 3],
                caps: [0; 3],
                queue_depth: 0,
            },
        ],
        queue_depth: 4,
        unassigned: 1,
        traffic: (0..12)
            .map(|i| TrafficBucket {
                start: i * 300_000,
                sent: i as u32,
                ..Default::default()
            })
            .collect(),
        outbound: vec![OutboundSummary {
            id: "msg_1".into(),
            to: "+447700900001".into(),
            purpose: "text".into(),
            status: "sent".into(),
            modem: Some("sim1".into()),
            error: None,
            created_at: 0,
            parts: vec!["delivered".into(), "sent".into()],
        }],
        inbound: vec![InboundSummary {
            id: "in_1".into(),
            modem: "sim1".into(),
            from: "+14155550100".into(),
            sender_type: "international".into(),
            parts_total: 1,
            complete: true,
            received_at: 0,
        }],
        standard: FlowStats::default(),
        reverse: FlowStats::default(),
        endpoints: vec![],
        deliveries: vec![],
        events: vec![],
    }
}

fn operator() -> Viewer {
    Viewer::Operator {
        csrf: "tok\"en".into(),
    }
}

#[test]
fn escapes_what_modems_say() {
    let html = page(&snapshot(), &operator(), Some("<b>"));
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;"));
    assert!(html.contains("value=\"tok&quot;en\""));
}

#[test]
fn cards_show_state_signal_and_caps() {
    let html = section("modems", &snapshot(), &operator());
    assert!(html.contains(">sim1</h3>"));
    assert!(html.contains(">ready</span>"));
    assert!(html.contains(">offline</span>"));
    assert!(html.contains("-73 dBm"), "{html}");
    assert!(html.contains("bars b4"));
    assert!(html.contains(">roaming</span>"));
    assert!(html.contains("<td>1 / 2</td><td>5</td><td>9 / 100</td>"));
    assert!(html.contains("<td>1</td><td>no cap</td><td>91</td>"));
    assert!(html.contains("port closed"));
    assert!(html.contains("1 of 2 ready"));
}

#[test]
fn read_only_masks_numbers_and_offers_no_action() {
    let snap = snapshot();
    let html = page(&snap, &Viewer::ReadOnly, None);
    assert!(!html.contains("+447700900001"));
    assert!(!html.contains("+14155550100"));
    assert!(!html.contains("/ui/inbound/"));
    assert!(!html.contains("/ui/logout"));
    assert!(html.contains("name=\"api_key\""), "offers a login");
    let operator = page(&snap, &operator(), None);
    assert!(operator.contains("+447700900001"));
    assert!(operator.contains("/ui/inbound/in_1/text"));
}

#[test]
fn chart_has_a_text_alternative() {
    let html = section("traffic", &snapshot(), &operator());
    assert!(html.contains("role=\"img\""));
    assert!(html.contains("Last hour: 66 sent, 0 delivered, 0 failed, 0 received"));
    // One bar per non-zero count: slices 1..=11 sent something.
    assert_eq!(html.matches("<rect class=\"l-sent\"").count(), 11);
    assert_eq!(html.matches("<rect").count(), 11);
}

#[test]
fn bars_and_masks() {
    assert_eq!(signal_bars(None), 0);
    assert_eq!(signal_bars(Some(-51)), 4);
    assert_eq!(signal_bars(Some(-80)), 3);
    assert_eq!(signal_bars(Some(-100)), 1);
    assert_eq!(signal_bars(Some(-113)), 0);
    assert_eq!(mask("+14155550100"), "+141•••00");
    assert_eq!(mask("12345"), "•••");
}

#[test]
fn login_page_has_one_key_input() {
    let html = login_page(Some("That API key is not accepted."));
    assert_eq!(html.matches("<input").count(), 1);
    assert!(html.contains("name=\"api_key\""));
    assert!(html.contains("type=\"submit\""));
    assert!(html.contains("role=\"alert\""));
}
