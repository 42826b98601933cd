use super::*;

fn db() -> Connection {
    crate::store::test_support::test_db()
}

fn message(conn: &mut Connection, parts: usize) -> String {
    let message = NewMessage {
        recipient: "+447700900001".into(),
        body: "body".into(),
        line: None,
        report: false,
        encoding: "gsm7".into(),
        parts: (0..parts).map(|i| (10, format!("{i:02X}"))).collect(),
        purpose: "text".into(),
        purpose_id: None,
    };
    enqueue(conn, &message).unwrap()
}

const LONG: i64 = 600_000;

fn code_message(conn: &mut Connection, verification: &str) -> String {
    let message = NewMessage {
        recipient: "+447700900002".into(),
        body: "Your code is 123456".into(),
        line: None,
        report: true,
        encoding: "gsm7".into(),
        parts: vec![(10, "AA".into())],
        purpose: PURPOSE_CODE.into(),
        purpose_id: Some(verification.into()),
    };
    enqueue(conn, &message).unwrap()
}

fn verification(conn: &Connection, id: &str, status: &str, expires_at: i64) {
    conn.execute(
        "INSERT INTO verifications (id, recipient, code_hmac, status, max_attempts, last_sent_at,
             language, message_id, key_label, created_at, expires_at, updated_at)
         VALUES (?1, '+447700900002', x'00', ?2, 5, 0, 'en', 'm', 'k', 0, ?3, 0)",
        params![id, status, expires_at],
    )
    .unwrap();
}

#[test]
fn codes_are_claimed_before_older_plain_texts() {
    let mut conn = db();
    let far = now_ms() + 600_000;
    verification(&conn, "otp_a", "pending", far);
    let plain: Vec<String> = (0..3).map(|_| message(&mut conn, 1)).collect();
    let code = code_message(&mut conn, "otp_a");
    let first = claim_next(&mut conn, "a", LONG).unwrap().unwrap();
    assert_eq!(first.id, code);
    // Codes only: nothing else qualifies.
    let none = claim(&mut conn, "a", LONG, Claimable::CodesOnly).unwrap();
    assert!(none.claimed.is_none());
    // Then the plain texts, oldest first.
    let next = claim(&mut conn, "a", LONG, Claimable::Any).unwrap();
    assert_eq!(next.claimed.unwrap().id, plain[0]);
}

#[test]
fn code_sms_of_ended_verifications_are_withdrawn_not_sent() {
    let mut conn = db();
    let now = now_ms();
    for (id, status, expires_at) in [
        ("otp_verified", "verified", now + 600_000),
        ("otp_cancelled", "cancelled", now + 600_000),
        ("otp_locked", "locked", now + 600_000),
        ("otp_expired", "pending", now - 1),
        ("otp_live", "pending", now + 600_000),
    ] {
        verification(&conn, id, status, expires_at);
    }
    let dead: Vec<String> = ["otp_verified", "otp_cancelled", "otp_locked", "otp_expired"]
        .iter()
        .map(|v| code_message(&mut conn, v))
        .collect();
    let live = code_message(&mut conn, "otp_live");
    let claim = claim(&mut conn, "a", LONG, Claimable::CodesOnly).unwrap();
    assert_eq!(claim.claimed.unwrap().id, live);
    let mut withdrawn = claim.withdrawn.clone();
    withdrawn.sort();
    let mut expected = dead.clone();
    expected.sort();
    assert_eq!(withdrawn, expected);
    for id in &dead {
        let view = get(&conn, id).unwrap().unwrap();
        assert_eq!(view.status, "withdrawn");
        assert!(view.parts.iter().all(|p| p.status == "withdrawn"));
        assert!(view.error.unwrap().contains("withdrawn before sending"));
    }
    let statuses: Vec<String> = events::since(&conn, 0, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "message.status")
        .map(|e| e.data["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, vec!["withdrawn"; 4]);
    // Nothing withdrawn twice.
    assert!(withdraw_ended_codes(&conn, now_ms()).unwrap().is_empty());
}

#[test]
fn claims_and_withdrawals_use_their_indexes() {
    let conn = db();
    if conn.backend() == crate::store::Backend::Postgres {
        return; // SQLite's planner, read through EXPLAIN QUERY PLAN; PostgreSQL's plans by statistics.
    }
    let plan = |sql: &str| -> Vec<String> {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<crate::store::db::Result<_>>()
            .unwrap()
    };
    let withdraw = plan(
        "SELECT m.id FROM outbound_messages m JOIN verifications v ON v.id = m.purpose_id
         WHERE m.status = 'queued' AND m.purpose = 'otp' AND (v.status != 'pending' OR v.expires_at <= 0)",
    );
    assert!(
        withdraw
            .iter()
            .any(|s| s.contains("outbound_codes_waiting")),
        "{withdraw:?}"
    );
    let order = plan(
        "SELECT id FROM outbound_messages WHERE status = 'queued' ORDER BY priority DESC, created_at LIMIT 1",
    );
    assert!(
        order.iter().any(|s| s.contains("outbound_claim"))
            && !order.iter().any(|s| s.contains("TEMP B-TREE")),
        "{order:?}"
    );
}

#[test]
fn a_long_message_begun_on_one_modem_waits_for_it_then_restarts_whole() {
    let mut conn = db();
    let id = message(&mut conn, 3);
    let claimed = claim_next(&mut conn, "a", LONG).unwrap().unwrap();
    assert_eq!(claimed.pending.len(), 3);
    mark_submitting(&conn, &id, 1, "a").unwrap();
    mark_sent(&conn, &id, 1, Some(7)).unwrap();
    release(&mut conn, &id, "modem gone", 0, 5).unwrap();

    assert!(claim_next(&mut conn, "b", LONG).unwrap().is_none());
    let again = claim_next(&mut conn, "a", LONG).unwrap().unwrap();
    assert_eq!(again.pending.len(), 2, "only the rest, from the same modem");
    assert_eq!(again.restarted_from, None);
    release(&mut conn, &id, "modem gone again", 0, 5).unwrap();

    let taken = claim_next(&mut conn, "b", 0).unwrap().unwrap();
    assert_eq!(taken.restarted_from.as_deref(), Some("a"));
    assert_eq!(taken.pending.len(), 3, "every part again");
    let view = get(&conn, &id).unwrap().unwrap();
    assert!(view
        .parts
        .iter()
        .all(|p| p.status == "queued" && p.modem.is_none()));
}

#[test]
fn an_uncertain_single_part_is_never_restarted_elsewhere() {
    let mut conn = db();
    let id = message(&mut conn, 1);
    claim_next(&mut conn, "a", LONG).unwrap().unwrap();
    mark_submitting(&conn, &id, 1, "a").unwrap();
    mark_uncertain(&conn, &id, 1, "no answer").unwrap();
    release(&mut conn, &id, "no answer", 0, 5).unwrap();
    let taken = claim_next(&mut conn, "b", 0).unwrap().unwrap();
    assert_eq!(taken.restarted_from, None);
    assert!(taken.pending.is_empty(), "nothing is sent again");
}

/// What the inbound pipeline does with a report: apply it, and keep it either way.
fn report_arrives(conn: &Connection, modem: &str, message_ref: u8, status: u8, n: u32) {
    let matched = apply_status_report(conn, modem, message_ref, status).unwrap();
    super::super::inbound::record_status_report(
        conn,
        &super::super::inbound::StatusReportRow {
            modem,
            pdu: &format!("report {n}"),
            message_ref,
            recipient: "+447700900001",
            status,
            discharge_time: None,
            matched: matched.is_some(),
        },
    )
    .unwrap();
}

#[test]
fn a_report_that_overtakes_its_send_is_applied_when_the_send_is_recorded() {
    let mut conn = db();
    let id = message(&mut conn, 2);
    claim_next(&mut conn, "a", LONG).unwrap().unwrap();
    for (seq, mr) in [(1, 7u8), (2, 8u8)] {
        mark_submitting(&conn, &id, seq, "a").unwrap();
        // +CMGS and +CDS in one breath: the report is committed first.
        report_arrives(&conn, "a", mr, 0x00, seq);
        mark_sent(&conn, &id, seq, Some(mr)).unwrap();
    }
    finish_sent(&conn, &id).unwrap();
    let view = get(&conn, &id).unwrap().unwrap();
    assert_eq!(view.status, "delivered", "{view:#?}");
    assert!(view.parts.iter().all(|p| p.report_status == Some(0)));
    // Applied once: a later part with a reused reference does not take the old report.
    let other = message(&mut conn, 1);
    claim_next(&mut conn, "a", LONG).unwrap().unwrap();
    mark_submitting(&conn, &other, 1, "a").unwrap();
    mark_sent(&conn, &other, 1, Some(7)).unwrap();
    finish_sent(&conn, &other).unwrap();
    assert_eq!(get(&conn, &other).unwrap().unwrap().status, "sent");
}

#[test]
fn a_failed_report_fails_the_message_once_it_is_sent() {
    let mut conn = db();
    let id = message(&mut conn, 2);
    claim_next(&mut conn, "a", LONG).unwrap().unwrap();
    mark_submitting(&conn, &id, 1, "a").unwrap();
    mark_sent(&conn, &id, 1, Some(3)).unwrap();
    report_arrives(&conn, "a", 3, 0x41, 1);
    assert_eq!(get(&conn, &id).unwrap().unwrap().status, "sending");
    mark_submitting(&conn, &id, 2, "a").unwrap();
    mark_sent(&conn, &id, 2, Some(4)).unwrap();
    finish_sent(&conn, &id).unwrap();
    let view = get(&conn, &id).unwrap().unwrap();
    assert_eq!(view.status, "failed");
    assert_eq!(view.error.as_deref(), Some("status report 0x41"));
}

#[test]
fn early_reports_are_found_through_the_index() {
    let conn = db();
    if conn.backend() == crate::store::Backend::Postgres {
        return; // SQLite's planner, read through EXPLAIN QUERY PLAN; PostgreSQL's plans by statistics.
    }
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {EARLY_REPORTS}"))
        .unwrap()
        .query_map(params!["m", 1, 7], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<crate::store::db::Result<_>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|step| step.contains("status_reports_unmatched")),
        "{plan:?}"
    );
}

/// The last part's record finishes its message in the same commit: the part and the message
/// `sent`, one `message.status` event, and that event's delivery handed to the dispatcher
/// with the commit (nothing left for a poll). Earlier parts are recorded on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_part_finishes_its_message_and_hands_its_event_over_in_one_commit() {
    let (store, _dir) = crate::store::test_support::test_store();
    let (to, mut handed) = tokio::sync::mpsc::unbounded_channel();
    let hooks = crate::store::webhooks::config_endpoints(&{
        let mut config = crate::config::Config::default();
        config.webhooks.push(crate::config::Webhook {
            url: "http://hooks.example/".into(),
            events: vec!["message.status".into()],
            ..Default::default()
        });
        config
    });
    store.set_fan_out_plan(crate::store::test_support::plan_handing_off(hooks, to));
    let id = store
        .call(|c| {
            let id = message(c, 2);
            claim_next(c, "a", LONG)?.expect("claimed");
            mark_submitting(c, &id, 1, "a")?;
            Ok(id)
        })
        .await
        .unwrap();
    store.mark_part_sent(id.clone(), 1, Some(1)).await.unwrap();
    let first = {
        let id = id.clone();
        store
            .call(move |c| {
                mark_submitting(c, &id, 2, "a")?;
                Ok(get(c, &id)?.expect("kept"))
            })
            .await
            .unwrap()
    };
    assert_eq!(first.status, "sending", "one part still to go");
    assert!(handed.try_recv().is_err(), "no event yet");

    let page_woken = store.handed_off().clone();
    let page_woken = page_woken.notified();
    tokio::pin!(page_woken);
    page_woken.as_mut().enable();
    let left_for_a_poll = store
        .finish_with_last_part(id.clone(), 2, Some(2))
        .await
        .unwrap();
    assert!(!left_for_a_poll);
    tokio::time::timeout(std::time::Duration::from_secs(5), page_woken)
        .await
        .expect("Store::handed_off notified: the status page follows the log");
    let view = {
        let id = id.clone();
        store
            .call(move |c| Ok(get(c, &id)?.expect("kept")))
            .await
            .unwrap()
    };
    assert_eq!(view.status, "sent", "{view:#?}");
    assert!(view.parts.iter().all(|p| p.status == "sent"), "{view:#?}");
    let delivery = handed.try_recv().expect("handed over with the commit");
    let body: serde_json::Value = serde_json::from_str(&delivery.body).unwrap();
    assert_eq!(body["type"], "message.status");
    assert_eq!(body["data"]["message_id"], id.as_str());
    assert_eq!(body["data"]["status"], "sent");
    assert!(handed.try_recv().is_err(), "one event, one endpoint");
}
