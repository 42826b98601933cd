//! Versioned migrations, applied in order at open; `PRAGMA user_version` records the last one.

use rusqlite::Connection;

/// Each entry moves the schema one version up. Never edit a shipped entry: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the outbound queue, inbound messages, status reports, the event log.
    r#"
    CREATE TABLE outbound_messages (
        id           TEXT PRIMARY KEY,
        recipient    TEXT NOT NULL,
        body         TEXT NOT NULL,
        -- Requested line (modem name), if the caller pinned one.
        line         TEXT,
        -- queued → sending → sent → delivered | failed
        status       TEXT NOT NULL,
        encoding     TEXT NOT NULL,
        parts_total  INTEGER NOT NULL,
        report       INTEGER NOT NULL DEFAULT 1,
        -- Modem that sent (or is sending) it.
        modem        TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        error        TEXT,
        -- What the message is for: 'text', 'otp'…, and the id of that thing.
        purpose      TEXT NOT NULL DEFAULT 'text',
        purpose_id   TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        -- Not before this time (back-off after a failed attempt).
        not_before   INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX outbound_queue ON outbound_messages(status, not_before, created_at);

    CREATE TABLE outbound_parts (
        message_id   TEXT NOT NULL REFERENCES outbound_messages(id),
        seq          INTEGER NOT NULL,
        tpdu_len     INTEGER NOT NULL,
        pdu          TEXT NOT NULL,
        -- queued → submitting → sent | uncertain | failed; sent → delivered | failed (report)
        status       TEXT NOT NULL,
        modem        TEXT,
        message_ref  INTEGER,
        submitted_at INTEGER,
        sent_at      INTEGER,
        report_status INTEGER,
        report_at    INTEGER,
        error        TEXT,
        PRIMARY KEY (message_id, seq)
    );
    CREATE INDEX outbound_parts_by_ref ON outbound_parts(modem, message_ref, sent_at);
    CREATE INDEX outbound_parts_sent ON outbound_parts(modem, submitted_at);

    CREATE TABLE inbound_parts (
        id           INTEGER PRIMARY KEY,
        modem        TEXT NOT NULL,
        -- The PDU as read (SMSC included); its hash recognises re-deliveries.
        pdu          TEXT NOT NULL,
        pdu_key      TEXT NOT NULL UNIQUE,
        sender       TEXT NOT NULL,
        sender_type  TEXT NOT NULL,
        smsc         TEXT,
        scts         TEXT,
        encoding     TEXT NOT NULL,
        text         TEXT,
        concat_ref   INTEGER,
        concat_total INTEGER,
        concat_seq   INTEGER,
        message_id   TEXT,
        received_at  INTEGER NOT NULL
    );
    CREATE INDEX inbound_parts_group ON inbound_parts(modem, sender, concat_ref, concat_total) WHERE message_id IS NULL;

    CREATE TABLE inbound_messages (
        id           TEXT PRIMARY KEY,
        modem        TEXT NOT NULL,
        -- Our SIM's number, when known.
        recipient    TEXT,
        sender       TEXT NOT NULL,
        sender_type  TEXT NOT NULL,
        body         TEXT NOT NULL,
        encoding     TEXT NOT NULL,
        parts_total  INTEGER NOT NULL,
        -- 0 when surfaced after a timeout with parts missing.
        complete     INTEGER NOT NULL,
        scts         TEXT,
        received_at  INTEGER NOT NULL
    );
    CREATE INDEX inbound_messages_time ON inbound_messages(received_at);

    CREATE TABLE status_reports (
        id           INTEGER PRIMARY KEY,
        modem        TEXT NOT NULL,
        pdu_key      TEXT NOT NULL UNIQUE,
        message_ref  INTEGER NOT NULL,
        recipient    TEXT NOT NULL,
        status       INTEGER NOT NULL,
        discharge_time TEXT,
        matched      INTEGER NOT NULL,
        received_at  INTEGER NOT NULL
    );

    -- Append-only record of what happened; webhooks are fed from it.
    CREATE TABLE events (
        seq          INTEGER PRIMARY KEY,
        id           TEXT NOT NULL UNIQUE,
        type         TEXT NOT NULL,
        data         TEXT NOT NULL,
        -- An extra destination for this one event (a reverse verification's success_url).
        target_url   TEXT,
        created_at   INTEGER NOT NULL
    );
    "#,
    // 2: verifications (standard OTP), reverse-OTP sessions, and the rate-limit log.
    r#"
    CREATE TABLE verifications (
        id            TEXT PRIMARY KEY,
        recipient     TEXT NOT NULL,
        country       TEXT,
        -- HMAC-SHA256(pepper, id || 0x00 || code): the code itself is never stored here.
        code_hmac     BLOB NOT NULL,
        -- pending → verified | locked | cancelled | expired ('expired' is also read off
        -- expires_at for rows still marked pending)
        status        TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        max_attempts  INTEGER NOT NULL,
        resends       INTEGER NOT NULL DEFAULT 0,
        last_sent_at  INTEGER NOT NULL,
        language      TEXT NOT NULL,
        app_name      TEXT,
        -- The first SMS (outbound_messages.id); resends copy its text.
        message_id    TEXT NOT NULL,
        key_label     TEXT NOT NULL,
        client_ip     TEXT,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        verified_at   INTEGER,
        updated_at    INTEGER NOT NULL
    );

    CREATE TABLE reverse_verifications (
        id            TEXT PRIMARY KEY,
        -- The person's number (E.164): the sender we wait for.
        number        TEXT NOT NULL,
        country       TEXT,
        factor        TEXT NOT NULL,
        -- Lower-case factor, as matched.
        factor_key    TEXT NOT NULL,
        -- Our number the person texts, and the modem that had it at initiation.
        recipient     TEXT NOT NULL,
        line          TEXT,
        -- pending → verified | locked | cancelled | expired
        status        TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        max_attempts  INTEGER NOT NULL,
        language      TEXT NOT NULL,
        success_url   TEXT,
        service       TEXT,
        key_label     TEXT NOT NULL,
        client_ip     TEXT,
        -- The inbound message that verified it.
        message_id    TEXT,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        verified_at   INTEGER,
        updated_at    INTEGER NOT NULL
    );
    -- Inbound matching looks up the sender's pending sessions.
    CREATE INDEX reverse_verifications_match ON reverse_verifications(number, status);

    -- Recent verification requests, for sliding-window rate limits; pruned past the longest window.
    CREATE TABLE verify_requests (
        id            INTEGER PRIMARY KEY,
        kind          TEXT NOT NULL,
        recipient     TEXT NOT NULL,
        key_label     TEXT NOT NULL,
        client_ip     TEXT,
        created_at    INTEGER NOT NULL
    );
    CREATE INDEX verify_requests_recipient ON verify_requests(recipient, created_at);
    CREATE INDEX verify_requests_key ON verify_requests(key_label, created_at);
    CREATE INDEX verify_requests_ip ON verify_requests(client_ip, created_at) WHERE client_ip IS NOT NULL;
    CREATE INDEX verify_requests_time ON verify_requests(created_at);
    "#,
    // 3: webhook endpoints created through the API, the delivery outbox, the attempt log, and
    //    the fan-out cursor (started at the current end of the event log, so that events from
    //    before webhooks existed are not announced).
    r#"
    CREATE TABLE webhook_endpoints (
        id           TEXT PRIMARY KEY,
        url          TEXT NOT NULL,
        -- whsec_…; needed in clear to sign. Returned by the API only at creation.
        secret       TEXT NOT NULL,
        -- JSON array of patterns: "*", "message.received", "message.*".
        events       TEXT NOT NULL,
        description  TEXT,
        -- Set when the endpoint answered 410 Gone; no more deliveries.
        disabled_at  INTEGER,
        disabled_reason TEXT,
        -- Deleted endpoints are kept for the delivery log.
        deleted_at   INTEGER,
        created_at   INTEGER NOT NULL
    );

    -- One row per (event, endpoint): the outbox. The body is fixed at fan-out so that every
    -- attempt sends the same bytes.
    CREATE TABLE webhook_deliveries (
        id           TEXT PRIMARY KEY,
        -- No foreign key to events: a delivery carries its body, so the log may be pruned.
        event_seq    INTEGER NOT NULL,
        event_id     TEXT NOT NULL,
        event_type   TEXT NOT NULL,
        -- 'config' (a [[webhook]] table), 'api' (webhook_endpoints) or 'target' (the event's target_url)
        endpoint_kind TEXT NOT NULL,
        endpoint_id  TEXT,
        url          TEXT NOT NULL,
        body         TEXT NOT NULL,
        -- pending → delivered | failed (a manual retry makes it pending again)
        status       TEXT NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        -- Attempts made before the current schedule began (a manual retry starts a new one).
        schedule_start INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        give_up_at   INTEGER NOT NULL,
        last_status_code INTEGER,
        last_error   TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        delivered_at INTEGER
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
    CREATE INDEX webhook_deliveries_time ON webhook_deliveries(created_at);
    CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, status);

    CREATE TABLE webhook_attempts (
        id           INTEGER PRIMARY KEY,
        delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries(id),
        attempt      INTEGER NOT NULL,
        status_code  INTEGER,
        error        TEXT,
        duration_ms  INTEGER NOT NULL,
        at           INTEGER NOT NULL
    );
    CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, attempt);

    -- The last event seq fanned out into deliveries.
    CREATE TABLE webhook_cursor (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        last_seq     INTEGER NOT NULL
    );
    INSERT INTO webhook_cursor (id, last_seq) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
    "#,
    // 4 (api): Idempotency-Key records for POST /v1/… (replayed responses, with expiry).
    r#"
    CREATE TABLE idempotency_keys (
        -- The API key's id (a hash, never the key) scopes the Idempotency-Key.
        key_id        TEXT NOT NULL,
        idem_key      TEXT NOT NULL,
        -- SHA-256 over method, path and body: the same key with another request is refused.
        request_hash  TEXT NOT NULL,
        -- NULL while the first request is still being processed.
        status        INTEGER,
        content_type  TEXT,
        location      TEXT,
        body          BLOB,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        PRIMARY KEY (key_id, idem_key)
    );
    CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);
    "#,
    // 5: status reports that overtook the record of their send are looked up by reference
    // when the send is recorded (`outbound::mark_sent`).
    r#"
    CREATE INDEX status_reports_unmatched ON status_reports(modem, message_ref) WHERE matched = 0;
    "#,
    // hooks: requests from auth servers (/hooks/…) already queued, so that a retry is not sent
    // twice. The key is the caller's idempotent id (GoTrue's metadata.uuid) or a keyed HMAC over
    // (hook, recipient, text): never the code itself. Pruned past [hooks] dedupe_window_secs.
    r#"
    CREATE TABLE hook_requests (
        hook         TEXT NOT NULL,
        dedupe_key   TEXT NOT NULL,
        message_id   TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (hook, dedupe_key)
    );
    CREATE INDEX hook_requests_time ON hook_requests(created_at);
    "#,
    // trust-data: indexes for the retention pass (store::retention), which deletes by age.
    r#"
    CREATE INDEX outbound_messages_updated ON outbound_messages(updated_at);
    CREATE INDEX inbound_parts_time ON inbound_parts(received_at);
    CREATE INDEX status_reports_time ON status_reports(received_at);
    CREATE INDEX events_time ON events(created_at);
    CREATE INDEX verifications_expiry ON verifications(expires_at);
    CREATE INDEX reverse_verifications_expiry ON reverse_verifications(expires_at);
    "#,
    // trust-match: what reverse OTP may trust about an inbound sender: the originating
    // address's type-of-address octet (TON/NPI), the delivering SMSC on the message, and the
    // verdict with its reason (NULL until assessed; rows from before stay NULL).
    r#"
    ALTER TABLE inbound_parts ADD COLUMN sender_toa INTEGER;
    ALTER TABLE inbound_messages ADD COLUMN sender_toa INTEGER;
    ALTER TABLE inbound_messages ADD COLUMN smsc TEXT;
    -- trusted | flagged | refused | untrusted (see verify::sender)
    ALTER TABLE inbound_messages ADD COLUMN sender_trust TEXT;
    ALTER TABLE inbound_messages ADD COLUMN sender_trust_reason TEXT;
    "#,
    // trust-match: codes first. Verification SMS are claimed before plain texts (priority 1
    // over 0), and queued ones whose verification ended are found fast to be withdrawn.
    r#"
    ALTER TABLE outbound_messages ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    UPDATE outbound_messages SET priority = 1 WHERE purpose = 'otp';
    CREATE INDEX outbound_claim ON outbound_messages(status, priority DESC, created_at);
    CREATE INDEX outbound_codes_waiting ON outbound_messages(purpose, status);
    "#,
    // otp-settings: per-verification settings (code type and length, sending line, status
    // callback URL, the service a proof is for) and the index the expiry sweep reads.
    r#"
    ALTER TABLE verifications ADD COLUMN code_type TEXT NOT NULL DEFAULT 'numeric';
    ALTER TABLE verifications ADD COLUMN code_length INTEGER;
    ALTER TABLE verifications ADD COLUMN line TEXT;
    ALTER TABLE verifications ADD COLUMN callback_url TEXT;
    ALTER TABLE verifications ADD COLUMN service TEXT;
    CREATE INDEX verifications_pending_expiry ON verifications(expires_at) WHERE status = 'pending';
    "#,
    // ui: the status page's time windows (traffic over the last hour, verifications over 24 h)
    // read by time without scanning the tables (outbound_messages(updated_at) is retention's).
    r#"
    CREATE INDEX outbound_parts_sent_at ON outbound_parts(sent_at) WHERE sent_at IS NOT NULL;
    CREATE INDEX outbound_messages_created ON outbound_messages(created_at);
    CREATE INDEX verifications_created ON verifications(created_at);
    CREATE INDEX reverse_verifications_created ON reverse_verifications(created_at);
    "#,
];

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, latest_version());
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('outbound_messages','outbound_parts','inbound_parts','inbound_messages','events')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 5);
        let webhook_tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('webhook_endpoints','webhook_deliveries','webhook_attempts','webhook_cursor')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(webhook_tables, 4);
    }

    /// Upgrading a database that already has events: they are not announced to endpoints.
    #[test]
    fn webhook_cursor_starts_at_the_end_of_the_log() {
        let mut conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        tx.execute_batch(MIGRATIONS[0]).unwrap();
        tx.pragma_update(None, "user_version", 1).unwrap();
        tx.execute_batch(
            "INSERT INTO events (id, type, data, created_at) VALUES ('evt_a','x','{}',1),('evt_b','x','{}',2)",
        )
        .unwrap();
        tx.commit().unwrap();
        migrate(&mut conn).unwrap();
        let last: i64 = conn
            .query_row("SELECT last_seq FROM webhook_cursor", [], |r| r.get(0))
            .unwrap();
        assert_eq!(last, 2);
    }
}
