use super::*;

fn db() -> Connection {
    crate::store::test_support::test_db()
}

/// One event fanned out to one configured endpoint at t=1000, due at once.
fn one_due_delivery(conn: &mut Connection) -> DueDelivery {
    events::append(conn, events::EventKind::ModemStatus, &serde_json::json!({})).unwrap();
    fan_out(conn, &[configured("http://a/", &["*"])], DAY, 1_000, 10).unwrap();
    due(conn, 1_000, &HashSet::new(), 1).unwrap().remove(0)
}

fn configured(url: &str, events: &[&str]) -> Endpoint {
    Endpoint {
        id: config_endpoint_id(url),
        url: url.into(),
        secret: Redacted::default(),
        events: events.iter().map(|e| e.to_string()).collect(),
        description: None,
        source: EndpointSource::Config,
        disabled_reason: None,
        created_at: None,
    }
}

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn fans_out_each_event_once_to_matching_endpoints_and_target() {
    let conn = db();
    let all = configured("http://a/", &["*"]);
    let messages = configured("http://b/", &["message.*"]);
    let api = insert_endpoint(
        &conn,
        &NewEndpoint {
            url: "http://c/".into(),
            secret: "whsec_AAAA".into(),
            events: vec!["otp.reverse.verified".into()],
            description: None,
        },
        1,
    )
    .unwrap();
    events::append(
        &conn,
        events::EventKind::MessageReceived,
        &serde_json::json!({"n": 1}),
    )
    .unwrap();
    events::append_with_target(
        &conn,
        crate::states::EventKind::OtpReverseVerified,
        &serde_json::json!({}),
        Some("http://t/"),
    )
    .unwrap();
    // A target that is also a subscribed endpoint gets the event once.
    events::append_with_target(
        &conn,
        crate::states::EventKind::OtpReverseVerified,
        &serde_json::json!({}),
        Some("http://c/"),
    )
    .unwrap();
    let endpoints = vec![all.clone(), messages.clone()];
    assert_eq!(fan_out(&conn, &endpoints, DAY, 100, 2).unwrap(), 2);
    assert_eq!(fan_out(&conn, &endpoints, DAY, 100, 2).unwrap(), 1);
    assert_eq!(
        fan_out(&conn, &endpoints, DAY, 100, 2).unwrap(),
        0,
        "nothing fanned twice"
    );
    let rows: Vec<(String, String, Option<String>, String)> = conn
        .prepare("SELECT event_type, endpoint_kind, endpoint_id, url FROM webhook_deliveries ORDER BY event_seq, url")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<crate::store::db::Result<_>>()
        .unwrap();
    let expected = vec![
        (
            "message.received",
            "config",
            Some(all.id.clone()),
            "http://a/",
        ),
        (
            "message.received",
            "config",
            Some(messages.id.clone()),
            "http://b/",
        ),
        (
            "otp.reverse.verified",
            "config",
            Some(all.id.clone()),
            "http://a/",
        ),
        (
            "otp.reverse.verified",
            "api",
            Some(api.id.clone()),
            "http://c/",
        ),
        ("otp.reverse.verified", "target", None, "http://t/"),
        (
            "otp.reverse.verified",
            "config",
            Some(all.id.clone()),
            "http://a/",
        ),
        (
            "otp.reverse.verified",
            "api",
            Some(api.id.clone()),
            "http://c/",
        ),
    ];
    let got: Vec<_> = rows
        .iter()
        .map(|(t, k, e, u)| (t.as_str(), k.as_str(), e.clone(), u.as_str()))
        .collect();
    assert_eq!(got, expected);
    // Same body bytes for every delivery of an event.
    let bodies: i64 = conn
        .query_row(
            "SELECT count(DISTINCT body) FROM webhook_deliveries",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bodies, 3);
}

#[test]
fn due_respects_time_busy_and_limit() {
    let conn = db();
    let endpoints = vec![configured("http://a/", &["*"])];
    for _ in 0..3 {
        events::append(
            &conn,
            events::EventKind::ModemStatus,
            &serde_json::json!({}),
        )
        .unwrap();
    }
    fan_out(&conn, &endpoints, DAY, 1_000, 10).unwrap();
    assert!(due(&conn, 999, &HashSet::new(), 10).unwrap().is_empty());
    let all = due(&conn, 1_000, &HashSet::new(), 10).unwrap();
    assert_eq!(all.len(), 3);
    let busy: HashSet<String> = [all[0].id.clone()].into();
    let rest = due(&conn, 1_000, &busy, 10).unwrap();
    assert_eq!(rest.len(), 2);
    assert!(rest.iter().all(|d| d.id != all[0].id));
    assert_eq!(due(&conn, 1_000, &busy, 1).unwrap().len(), 1);
    assert_eq!(next_due_at(&conn, &HashSet::new()).unwrap(), Some(1_000));
    let all_busy: HashSet<String> = all.iter().map(|d| d.id.clone()).collect();
    assert_eq!(next_due_at(&conn, &all_busy).unwrap(), None);
}

#[test]
fn claim_leaves_a_saturated_origin_for_later() {
    let conn = db();
    let endpoints = vec![
        configured("http://slow.example:8080/a", &["*"]),
        configured("http://fast.example/b", &["*"]),
    ];
    for _ in 0..3 {
        events::append(
            &conn,
            events::EventKind::ModemStatus,
            &serde_json::json!({}),
        )
        .unwrap();
    }
    fan_out(&conn, &endpoints, DAY, 1_000, 10).unwrap();
    // Two slow attempts in flight already: the slow origin gets no more.
    let mut in_flight = InFlight::default();
    in_flight
        .per_origin
        .insert(origin_of("http://slow.example:8080/other"), 2);
    let (claimed, next) = claim(&conn, 1_000, &in_flight, 2, 10).unwrap();
    assert_eq!(claimed.len(), 2, "fast ones, up to their own limit");
    assert!(claimed.iter().all(|d| d.url == "http://fast.example/b"));
    assert_eq!(next, None, "nothing else may start: no busy wake-ups");
    // With a free slow slot: one slow one, and the rest wait for the slot.
    in_flight
        .per_origin
        .insert(origin_of("http://slow.example:8080/other"), 1);
    let (claimed, _) = claim(&conn, 1_000, &in_flight, 2, 10).unwrap();
    let slow = claimed.iter().filter(|d| d.url.contains("slow")).count();
    assert_eq!((claimed.len(), slow), (3, 1));
    // `limit` bounds the whole claim.
    let (claimed, next) = claim(&conn, 1_000, &InFlight::default(), 2, 10).unwrap();
    assert_eq!(claimed.len(), 4);
    assert_eq!(next, None);
    let (claimed, next) = claim(&conn, 1_000, &InFlight::default(), 2, 1).unwrap();
    assert_eq!((claimed.len(), next), (1, Some(1_000)));
    // Nothing is due before its time.
    let (claimed, next) = claim(&conn, 999, &InFlight::default(), 2, 10).unwrap();
    assert_eq!((claimed.len(), next), (0, Some(1_000)));
    assert_eq!(
        origin_of("https://Fast.example/x?y"),
        "https://fast.example:443"
    );
}

#[test]
fn attempts_are_logged_and_move_the_delivery() {
    let mut conn = db();
    let d = one_due_delivery(&mut conn);
    let fail = AttemptRecord {
        status_code: Some(500),
        error: Some("HTTP 500".into()),
        duration_ms: 3,
        at: 1_010,
    };
    record_attempt(&mut conn, &d, &fail, &Next::RetryAt(5_000), false).unwrap();
    assert!(due(&conn, 4_999, &HashSet::new(), 1).unwrap().is_empty());
    let d = due(&conn, 5_000, &HashSet::new(), 1).unwrap().remove(0);
    assert_eq!(d.attempts, 1);
    let ok = AttemptRecord {
        status_code: Some(204),
        error: None,
        duration_ms: 2,
        at: 5_010,
    };
    record_attempt(&mut conn, &d, &ok, &Next::Delivered, false).unwrap();
    let view = get_delivery(&conn, &d.id).unwrap().unwrap();
    assert_eq!(view.status, "delivered");
    assert_eq!(view.attempt_count, 2);
    assert_eq!(view.delivered_at, Some(5_010));
    assert_eq!(view.next_attempt_at, None);
    let log = view.attempts.unwrap();
    assert_eq!(
        log.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(log[0].status_code, Some(500));
    assert_eq!(log[1].error, None);
    assert!(next_due_at(&conn, &HashSet::new()).unwrap().is_none());
}

#[test]
fn gone_disables_an_api_endpoint_and_fails_its_other_deliveries() {
    let mut conn = db();
    let api = insert_endpoint(
        &conn,
        &NewEndpoint {
            url: "http://c/".into(),
            secret: "whsec_AAAA".into(),
            events: vec!["*".into()],
            description: Some("app".into()),
        },
        1,
    )
    .unwrap();
    events::append(
        &conn,
        events::EventKind::ModemStatus,
        &serde_json::json!({}),
    )
    .unwrap();
    events::append(
        &conn,
        events::EventKind::ModemStatus,
        &serde_json::json!({}),
    )
    .unwrap();
    fan_out(&conn, &[], DAY, 1_000, 10).unwrap();
    let mut due_now = due(&conn, 1_000, &HashSet::new(), 10).unwrap();
    assert_eq!(due_now.len(), 2);
    assert_eq!(due_now[0].api_secret.as_deref(), Some("whsec_AAAA"));
    assert!(due_now[0].api_inactive.is_none());
    let first = due_now.remove(0);
    let gone = AttemptRecord {
        status_code: Some(410),
        error: Some("HTTP 410".into()),
        duration_ms: 1,
        at: 1_001,
    };
    record_attempt(&mut conn, &first, &gone, &Next::Failed("410".into()), true).unwrap();
    let endpoint = get_api_endpoint(&conn, &api.id).unwrap().unwrap();
    assert!(endpoint.disabled_reason.unwrap().contains("410"));
    assert!(due(&conn, 2_000, &HashSet::new(), 10).unwrap().is_empty());
    let failed = list_deliveries(
        &conn,
        &DeliveryFilter {
            status: Some(DeliveryStatus::Failed),
            ..Default::default()
        },
        10,
    )
    .unwrap();
    assert_eq!(failed.len(), 2);
    // New events no longer reach it, and it cannot be retried by hand.
    events::append(
        &conn,
        events::EventKind::ModemStatus,
        &serde_json::json!({}),
    )
    .unwrap();
    fan_out(&conn, &[], DAY, 3_000, 10).unwrap();
    assert!(due(&conn, 3_000, &HashSet::new(), 10).unwrap().is_empty());
    assert!(matches!(
        schedule_retry(&mut conn, &first.id, 3_000, DAY).unwrap(),
        RetryOutcome::EndpointInactive(_)
    ));
}

#[test]
fn manual_retry_restarts_the_schedule() {
    let mut conn = db();
    let d = one_due_delivery(&mut conn);
    let fail = AttemptRecord {
        status_code: None,
        error: Some("connection refused".into()),
        duration_ms: 1,
        at: 1_001,
    };
    record_attempt(&mut conn, &d, &fail, &Next::Failed("gave up".into()), false).unwrap();
    assert_eq!(
        get_delivery(&conn, &d.id).unwrap().unwrap().status,
        "failed"
    );
    assert_eq!(
        schedule_retry(&mut conn, "dlv_nope", 2_000, DAY).unwrap(),
        RetryOutcome::NotFound
    );
    let RetryOutcome::Scheduled(view) = schedule_retry(&mut conn, &d.id, 2_000, DAY).unwrap()
    else {
        panic!("not scheduled");
    };
    assert_eq!(view.status, "pending");
    assert_eq!(view.next_attempt_at, Some(2_000));
    let again = due(&conn, 2_000, &HashSet::new(), 1).unwrap().remove(0);
    assert_eq!((again.attempts, again.schedule_start), (1, 1));
    assert_eq!(again.give_up_at, 2_000 + 86_400_000);
}

#[test]
fn deleting_an_endpoint_fails_its_pending_deliveries() {
    let mut conn = db();
    let api = insert_endpoint(
        &conn,
        &NewEndpoint {
            url: "http://c/".into(),
            secret: "whsec_AAAA".into(),
            events: vec!["*".into()],
            description: None,
        },
        1,
    )
    .unwrap();
    assert_eq!(api_endpoints(&conn).unwrap().len(), 1);
    events::append(
        &conn,
        events::EventKind::ModemStatus,
        &serde_json::json!({}),
    )
    .unwrap();
    fan_out(&conn, &[], DAY, 1_000, 10).unwrap();
    assert!(delete_endpoint(&mut conn, &api.id, 1_500).unwrap());
    assert!(!delete_endpoint(&mut conn, &api.id, 1_600).unwrap());
    assert!(get_api_endpoint(&conn, &api.id).unwrap().is_none());
    assert!(api_endpoints(&conn).unwrap().is_empty());
    assert!(due(&conn, 2_000, &HashSet::new(), 10).unwrap().is_empty());
    let all = list_deliveries(&conn, &DeliveryFilter::default(), 10).unwrap();
    assert_eq!(all[0].status, "failed");
    assert_eq!(
        all[0].last_error.as_deref(),
        Some("the endpoint was deleted")
    );
}

#[test]
fn prune_keeps_pending_and_recent_deliveries() {
    let mut conn = db();
    let endpoints = [configured("http://a/", &["*"])];
    for _ in 0..2 {
        events::append(
            &conn,
            events::EventKind::ModemStatus,
            &serde_json::json!({}),
        )
        .unwrap();
    }
    fan_out(&conn, &endpoints, DAY, 1_000, 10).unwrap();
    events::append(
        &conn,
        events::EventKind::ModemStatus,
        &serde_json::json!({}),
    )
    .unwrap();
    fan_out(&conn, &endpoints, DAY, 5_000, 10).unwrap();
    let mut old = due(&conn, 1_000, &HashSet::new(), 10).unwrap();
    assert_eq!(old.len(), 2);
    let done = old.remove(0);
    let ok = AttemptRecord {
        status_code: Some(200),
        error: None,
        duration_ms: 1,
        at: 1_100,
    };
    record_attempt(&mut conn, &done, &ok, &Next::Delivered, false).unwrap();
    let recent = due(&conn, 5_000, &HashSet::new(), 10).unwrap();
    let recent = recent.iter().find(|d| d.id != old[0].id).unwrap();
    record_attempt(&mut conn, recent, &ok, &Next::Delivered, false).unwrap();
    assert_eq!(
        prune(&mut conn, 2_000, 100).unwrap(),
        1,
        "only the old finished one"
    );
    assert!(get_delivery(&conn, &done.id).unwrap().is_none());
    assert!(
        get_delivery(&conn, &old[0].id).unwrap().is_some(),
        "pending kept"
    );
    assert!(
        get_delivery(&conn, &recent.id).unwrap().is_some(),
        "recent kept"
    );
    let attempts: i64 = conn
        .query_row("SELECT count(*) FROM webhook_attempts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attempts, 1);
}

#[test]
fn endpoint_debug_hides_the_secret() {
    let mut e = configured("http://a/", &["*"]);
    e.secret = "whsec_TOPSECRET".into();
    assert!(!format!("{e:?}").contains("TOPSECRET"));
    assert!(config_endpoint_id("http://a/").starts_with("cfg_"));
    assert_ne!(
        config_endpoint_id("http://a/"),
        config_endpoint_id("http://b/")
    );
}

/// A starting dispatcher lets go of what its host held before it was made (a crash, the
/// dispatcher it replaces), not of the hand-offs already made to it: released, those would
/// also be claimed by its first poll and sent twice.
#[test]
fn a_starting_dispatcher_releases_only_leases_granted_before_it() {
    let conn = db();
    let lease = Lease {
        host: "pi-1".into(),
        duration_ms: 60_000,
    };
    let held = |conn: &Connection| -> Vec<(String, Option<String>)> {
        conn.query_map(
            "SELECT url, lease_host FROM webhook_deliveries ORDER BY url",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
        .into_iter()
        .map(|row| row.unwrap())
        .collect()
    };
    // One event handed off to `url` at `at`, held by pi-1.
    let hand_off = |url: &str, at: i64| {
        events::append(
            &conn,
            events::EventKind::ModemStatus,
            &serde_json::json!({}),
        )
        .unwrap();
        fan_out_leased(&conn, &[configured(url, &["*"])], DAY, at, 10, &lease).unwrap();
    };
    // Before the dispatcher was made (t = 4 000), and after it.
    hand_off("http://old/", 1_000);
    hand_off("http://new/", 5_000);
    // Another host's lease is not this host's to release.
    hand_off("http://other/", 1_000);
    conn.execute(
        "UPDATE webhook_deliveries SET lease_host = 'pi-2' WHERE url = 'http://other/'",
        [],
    )
    .unwrap();
    let made_at = 4_000;
    let released = release_leases_of(&conn, "pi-1", made_at + lease.duration_ms).unwrap();
    assert_eq!(released, 1);
    let rows = held(&conn);
    assert!(rows.contains(&("http://old/".into(), None)), "{rows:?}");
    assert!(
        rows.contains(&("http://other/".into(), Some("pi-2".into()))),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("http://new/".into(), Some("pi-1".into()))),
        "the hand-off made after the dispatcher stays held: {rows:?}"
    );
}

/// A hand-off reaches the dispatcher only once the outermost transaction has committed. On
/// PostgreSQL a store call's own transaction is the outermost one, and the operation's
/// commit only releases a savepoint: a webhook sent then could announce what the call's
/// `COMMIT` might still undo. A transaction that rolls back hands nothing over.
#[test]
fn a_hand_off_waits_for_the_outermost_commit() {
    let conn = db();
    let (to, mut handed) = tokio::sync::mpsc::unbounded_channel();
    let plan =
        crate::store::test_support::plan_handing_off(vec![configured("http://a/", &["*"])], to);
    // The operation: its own transaction, inside the store call's.
    let operation = |conn: &Connection| {
        let own = conn.transaction().unwrap();
        events::append(&own, events::EventKind::ModemStatus, &serde_json::json!({})).unwrap();
        let left_for_a_poll =
            fan_out_in_transaction(&own, Some(&plan), &Default::default()).unwrap();
        own.commit().unwrap();
        assert!(!left_for_a_poll, "handed over, nothing left for a poll");
    };
    let deliveries = |conn: &Connection| -> Vec<(String, Option<String>)> {
        conn.query_map("SELECT url, lease_host FROM webhook_deliveries", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
        .into_iter()
        .map(|row| row.unwrap())
        .collect()
    };

    let call = conn.transaction().unwrap();
    operation(&call);
    assert!(handed.try_recv().is_err(), "not before the call's commit");
    drop(call);
    assert!(
        handed.try_recv().is_err(),
        "rolled back: nothing handed over"
    );
    assert!(deliveries(&conn).is_empty());

    let call = conn.transaction().unwrap();
    operation(&call);
    assert!(handed.try_recv().is_err(), "not before the call's commit");
    call.commit().unwrap();
    let delivery = handed.try_recv().expect("handed over with the commit");
    assert_eq!(delivery.url, "http://a/");
    assert!(handed.try_recv().is_err(), "once");
    assert_eq!(
        deliveries(&conn),
        vec![("http://a/".to_string(), Some("pi-1".to_string()))],
        "held by this host, so that no poll claims it too"
    );
}

/// Without a dispatcher's plan, or without a hand-off in it, the events are left for a poll.
#[test]
fn without_a_hand_off_the_events_are_left_for_a_poll() {
    let conn = db();
    events::append(
        &conn,
        events::EventKind::ModemStatus,
        &serde_json::json!({}),
    )
    .unwrap();
    assert!(fan_out_in_transaction(&conn, None, &Default::default()).unwrap());
    let (to, _handed) = tokio::sync::mpsc::unbounded_channel();
    let plan = FanOutPlan {
        handoff: None,
        ..crate::store::test_support::plan_handing_off(vec![configured("http://a/", &["*"])], to)
    };
    assert!(fan_out_in_transaction(&conn, Some(&plan), &Default::default()).unwrap());
    let due = due(&conn, now_ms(), &HashSet::new(), 10).unwrap();
    assert_eq!(due.len(), 1, "fanned out, due for the poll");
}
