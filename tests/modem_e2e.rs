//! The modem engine end to end: daemon ⇄ real ptys ⇄ virtual modems ⇄ virtual network.

mod daemon_support;

use daemon_support::{TestDaemon, SOON};
use simgate::messaging::{send_text, SendText};
use simgate::store::{inbound as inbound_store, outbound};

fn text(to: &str, body: &str) -> SendText {
    SendText {
        to: to.into(),
        body: body.into(),
        line: None,
        report: false,
        purpose: "text".into(),
        purpose_id: None,
    }
}

async fn outbound_status(d: &TestDaemon, id: &str) -> Option<outbound::OutboundView> {
    let id = id.to_string();
    d.state()
        .store
        .call(move |c| Ok(outbound::get(c, &id)?))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_single_gsm7_message_to_the_world() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let accepted = send_text(d.state(), text("+447700900001", "Your code is 123456"))
        .await
        .unwrap();
    assert_eq!(accepted.parts, 1);
    let got = d
        .network
        .world()
        .wait_for("+447700900001", SOON)
        .await
        .expect("message reached the world");
    assert_eq!(got.text, "Your code is 123456");
    assert_eq!(got.from, "+15550000001");
    let view = loop {
        let v = outbound_status(&d, &accepted.id).await.unwrap();
        if v.status == "sent" {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(view.parts.len(), 1);
    assert!(
        view.parts[0].message_ref.is_some(),
        "message reference captured: {view:?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receives_single_message_and_deletes_it_after_commit() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    d.network
        .send_from_world("+447700900002", "+15550000001", "hello simgate")
        .unwrap();
    let store = d.state().store.clone();
    let msg = loop {
        let list = store
            .call(|c| Ok(inbound_store::list(c, 10, None)?))
            .await
            .unwrap();
        if let Some(m) = list.into_iter().next() {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(msg.body, "hello simgate");
    assert_eq!(msg.from, "+447700900002");
    assert_eq!(msg.to.as_deref(), Some("+15550000001"));
    let modem = d.modems[0].clone();
    assert!(
        modem.wait_until(SOON, |m| m.stored().is_empty()).await,
        "deleted from the SIM after commit"
    );
    d.stop().await;
}
