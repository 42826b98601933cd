//! Versioned migrations, applied in order at open. SQLite records the last one in
//! `PRAGMA user_version`; PostgreSQL in the table `simgate_schema`.
//!
//! PostgreSQL came at version 12: it starts from `postgres_baseline.sql` (the schema SQLite
//! has at that version, in PostgreSQL's types), and every later entry of [`MIGRATIONS`] runs
//! on both, its DDL types said in PostgreSQL's words by [`dialect::ddl_to_postgres`].
//! `store::tests_pg` checks that both backends end with the same tables, columns and indexes.

use super::db::{self, dialect};
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
    // store-door: typed states checked by the schema. SQLite cannot add a CHECK to a column,
    // so the tables with a status column are recreated (with their children, whose foreign
    // keys then follow the rename), rows copied, indexes recreated; all in this migration's
    // transaction. The words are those of `crate::states` and `verify::OtpStatus`
    // (`store::schema::tests::checks_match_the_state_enums` keeps them in step).
    r#"
    CREATE TABLE outbound_messages_new (
        id           TEXT PRIMARY KEY,
        recipient    TEXT NOT NULL,
        body         TEXT NOT NULL,
        line         TEXT,
        -- queued → sending → sent → delivered | failed; a dead code SMS: queued → withdrawn
        status       TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'withdrawn')),
        encoding     TEXT NOT NULL,
        parts_total  INTEGER NOT NULL,
        report       INTEGER NOT NULL DEFAULT 1,
        modem        TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        error        TEXT,
        purpose      TEXT NOT NULL DEFAULT 'text',
        purpose_id   TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        not_before   INTEGER NOT NULL DEFAULT 0,
        priority     INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO outbound_messages_new (id, recipient, body, line, status, encoding, parts_total,
            report, modem, attempts, error, purpose, purpose_id, created_at, updated_at,
            not_before, priority)
        SELECT id, recipient, body, line, status, encoding, parts_total, report, modem, attempts,
            error, purpose, purpose_id, created_at, updated_at, not_before, priority
        FROM outbound_messages;

    CREATE TABLE outbound_parts_new (
        message_id   TEXT NOT NULL REFERENCES outbound_messages_new(id),
        seq          INTEGER NOT NULL,
        tpdu_len     INTEGER NOT NULL,
        pdu          TEXT NOT NULL,
        -- queued → submitting → sent | uncertain | failed; sent → delivered | failed (report);
        -- queued → withdrawn
        status       TEXT NOT NULL CHECK (status IN ('queued', 'submitting', 'sent', 'uncertain', 'delivered', 'failed', 'withdrawn')),
        modem        TEXT,
        message_ref  INTEGER,
        submitted_at INTEGER,
        sent_at      INTEGER,
        report_status INTEGER,
        report_at    INTEGER,
        error        TEXT,
        PRIMARY KEY (message_id, seq)
    );
    INSERT INTO outbound_parts_new (message_id, seq, tpdu_len, pdu, status, modem, message_ref,
            submitted_at, sent_at, report_status, report_at, error)
        SELECT message_id, seq, tpdu_len, pdu, status, modem, message_ref, submitted_at, sent_at,
            report_status, report_at, error
        FROM outbound_parts;

    DROP TABLE outbound_parts;
    DROP TABLE outbound_messages;
    ALTER TABLE outbound_messages_new RENAME TO outbound_messages;
    ALTER TABLE outbound_parts_new RENAME TO outbound_parts;
    CREATE INDEX outbound_queue ON outbound_messages(status, not_before, created_at);
    CREATE INDEX outbound_messages_updated ON outbound_messages(updated_at);
    CREATE INDEX outbound_claim ON outbound_messages(status, priority DESC, created_at);
    CREATE INDEX outbound_codes_waiting ON outbound_messages(purpose, status);
    CREATE INDEX outbound_parts_by_ref ON outbound_parts(modem, message_ref, sent_at);
    CREATE INDEX outbound_parts_sent ON outbound_parts(modem, submitted_at);

    CREATE TABLE verifications_new (
        id            TEXT PRIMARY KEY,
        recipient     TEXT NOT NULL,
        country       TEXT,
        code_hmac     BLOB NOT NULL,
        -- pending → verified | locked | cancelled | expired
        status        TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'expired', 'locked', 'cancelled')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        max_attempts  INTEGER NOT NULL,
        resends       INTEGER NOT NULL DEFAULT 0,
        last_sent_at  INTEGER NOT NULL,
        language      TEXT NOT NULL,
        app_name      TEXT,
        message_id    TEXT NOT NULL,
        key_label     TEXT NOT NULL,
        client_ip     TEXT,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        verified_at   INTEGER,
        updated_at    INTEGER NOT NULL,
        code_type     TEXT NOT NULL DEFAULT 'numeric',
        code_length   INTEGER,
        line          TEXT,
        callback_url  TEXT,
        service       TEXT
    );
    INSERT INTO verifications_new (id, recipient, country, code_hmac, status, attempts,
            max_attempts, resends, last_sent_at, language, app_name, message_id, key_label,
            client_ip, created_at, expires_at, verified_at, updated_at, code_type, code_length,
            line, callback_url, service)
        SELECT id, recipient, country, code_hmac, status, attempts, max_attempts, resends,
            last_sent_at, language, app_name, message_id, key_label, client_ip, created_at,
            expires_at, verified_at, updated_at, code_type, code_length, line, callback_url,
            service
        FROM verifications;
    DROP TABLE verifications;
    ALTER TABLE verifications_new RENAME TO verifications;
    CREATE INDEX verifications_expiry ON verifications(expires_at);
    CREATE INDEX verifications_pending_expiry ON verifications(expires_at) WHERE status = 'pending';

    CREATE TABLE reverse_verifications_new (
        id            TEXT PRIMARY KEY,
        number        TEXT NOT NULL,
        country       TEXT,
        factor        TEXT NOT NULL,
        factor_key    TEXT NOT NULL,
        recipient     TEXT NOT NULL,
        line          TEXT,
        -- pending → verified | locked | cancelled | expired
        status        TEXT NOT NULL CHECK (status IN ('pending', 'verified', 'expired', 'locked', 'cancelled')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        max_attempts  INTEGER NOT NULL,
        language      TEXT NOT NULL,
        success_url   TEXT,
        service       TEXT,
        key_label     TEXT NOT NULL,
        client_ip     TEXT,
        message_id    TEXT,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        verified_at   INTEGER,
        updated_at    INTEGER NOT NULL
    );
    INSERT INTO reverse_verifications_new (id, number, country, factor, factor_key, recipient,
            line, status, attempts, max_attempts, language, success_url, service, key_label,
            client_ip, message_id, created_at, expires_at, verified_at, updated_at)
        SELECT id, number, country, factor, factor_key, recipient, line, status, attempts,
            max_attempts, language, success_url, service, key_label, client_ip, message_id,
            created_at, expires_at, verified_at, updated_at
        FROM reverse_verifications;
    DROP TABLE reverse_verifications;
    ALTER TABLE reverse_verifications_new RENAME TO reverse_verifications;
    CREATE INDEX reverse_verifications_match ON reverse_verifications(number, status);
    CREATE INDEX reverse_verifications_expiry ON reverse_verifications(expires_at);

    CREATE TABLE webhook_deliveries_new (
        id           TEXT PRIMARY KEY,
        event_seq    INTEGER NOT NULL,
        event_id     TEXT NOT NULL,
        event_type   TEXT NOT NULL,
        endpoint_kind TEXT NOT NULL CHECK (endpoint_kind IN ('config', 'api', 'target')),
        endpoint_id  TEXT,
        url          TEXT NOT NULL,
        body         TEXT NOT NULL,
        -- pending → delivered | failed (a manual retry makes it pending again)
        status       TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        schedule_start INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        give_up_at   INTEGER NOT NULL,
        last_status_code INTEGER,
        last_error   TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        delivered_at INTEGER
    );
    INSERT INTO webhook_deliveries_new (id, event_seq, event_id, event_type, endpoint_kind,
            endpoint_id, url, body, status, attempts, schedule_start, next_attempt_at,
            give_up_at, last_status_code, last_error, created_at, updated_at, delivered_at)
        SELECT id, event_seq, event_id, event_type, endpoint_kind, endpoint_id, url, body,
            status, attempts, schedule_start, next_attempt_at, give_up_at, last_status_code,
            last_error, created_at, updated_at, delivered_at
        FROM webhook_deliveries;
    CREATE TABLE webhook_attempts_new (
        id           INTEGER PRIMARY KEY,
        delivery_id  TEXT NOT NULL REFERENCES webhook_deliveries_new(id),
        attempt      INTEGER NOT NULL,
        status_code  INTEGER,
        error        TEXT,
        duration_ms  INTEGER NOT NULL,
        at           INTEGER NOT NULL
    );
    INSERT INTO webhook_attempts_new (id, delivery_id, attempt, status_code, error, duration_ms, at)
        SELECT id, delivery_id, attempt, status_code, error, duration_ms, at FROM webhook_attempts;
    DROP TABLE webhook_attempts;
    DROP TABLE webhook_deliveries;
    ALTER TABLE webhook_deliveries_new RENAME TO webhook_deliveries;
    ALTER TABLE webhook_attempts_new RENAME TO webhook_attempts;
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
    CREATE INDEX webhook_deliveries_time ON webhook_deliveries(created_at);
    CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, status);
    CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, attempt);
    "#,
    // ui: the status page's time windows (traffic over the last hour, verifications over 24 h)
    // read by time without scanning the tables (outbound_messages(updated_at) is retention's).
    r#"
    CREATE INDEX outbound_parts_sent_at ON outbound_parts(sent_at) WHERE sent_at IS NOT NULL;
    CREATE INDEX outbound_messages_created ON outbound_messages(created_at);
    CREATE INDEX verifications_created ON verifications(created_at);
    CREATE INDEX reverse_verifications_created ON reverse_verifications(created_at);
    "#,
    // 13, several hosts (issue 13): each host's heartbeat and its modems' last state (the
    // cluster-wide modem view and the reverse-OTP `to`), the webhook outbox's leases (one host
    // attempts each delivery; another takes it when the lease lapses), and fingerprints of
    // the secrets the hosts must share (a host with another secret file refuses to start).
    // The first migration written once for both backends.
    r#"
    CREATE TABLE cluster_hosts (
        name         TEXT PRIMARY KEY,
        version      TEXT NOT NULL,
        started_at   INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        -- Set when another host took its work over after it went silent.
        recovered_at INTEGER
    );
    CREATE TABLE cluster_modems (
        name         TEXT PRIMARY KEY,
        host         TEXT NOT NULL,
        number       TEXT,
        ready        INTEGER NOT NULL,
        -- The modem's status as `GET /v1/modems` shows it (JSON).
        status       TEXT NOT NULL,
        heartbeat_at INTEGER NOT NULL
    );
    CREATE INDEX cluster_modems_host ON cluster_modems(host);
    ALTER TABLE webhook_deliveries ADD COLUMN lease_host TEXT;
    ALTER TABLE webhook_deliveries ADD COLUMN lease_until INTEGER;
    CREATE TABLE service_secrets (
        name         TEXT PRIMARY KEY,
        fingerprint  TEXT NOT NULL,
        set_by       TEXT NOT NULL,
        created_at   INTEGER NOT NULL
    );
    "#,
    // speed2: the janitors' "messages still carrying a code" read only those (partial indexes
    // without the redacted ones), not every OTP or hook message ever sent: a pass every 30 s
    // cost time in proportion to history, holding the connection. The literals are
    // `verifications::REDACTED_BODY` and `hooks::REDACTED_BODY`; the janitors' queries repeat
    // them (a bound parameter would not let SQLite use a partial index).
    r#"
    CREATE INDEX outbound_codes_unredacted ON outbound_messages(purpose, status)
        WHERE purpose = 'otp' AND body != '[code removed after the verification ended]';
    CREATE INDEX outbound_hooks_unredacted ON outbound_messages(purpose, status)
        WHERE purpose = 'hook' AND body != '[removed after sending: auth-server message]';
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

/// The version `postgres_baseline.sql` stands for.
pub const POSTGRES_BASELINE_VERSION: i64 = 12;
const POSTGRES_BASELINE: &str = include_str!("postgres_baseline.sql");

/// Session-level advisory lock held while migrating, so hosts that start together migrate once.
const MIGRATION_LOCK: i64 = 0x0053_494D_474D_4947; // "SIMGMIG"

/// Brings a PostgreSQL database to [`latest_version`].
pub fn migrate_postgres(conn: &db::Connection) -> db::Result<()> {
    conn.execute_batch(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let result = migrate_postgres_locked(conn);
    let unlock = conn.execute_batch(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"));
    result.and(unlock)
}

fn migrate_postgres_locked(conn: &db::Connection) -> db::Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS simgate_schema (version BIGINT NOT NULL)")?;
    let current: i64 = conn.query_row(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM simgate_schema",
        [],
        |r| r.get(0),
    )?;
    if current < POSTGRES_BASELINE_VERSION {
        let tx = conn.transaction()?;
        tx.execute_batch(POSTGRES_BASELINE)?;
        tx.execute("DELETE FROM simgate_schema", [])?;
        tx.execute(
            "INSERT INTO simgate_schema (version) VALUES (?1)",
            [POSTGRES_BASELINE_VERSION],
        )?;
        tx.commit()?;
    }
    let current = current.max(POSTGRES_BASELINE_VERSION);
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(&dialect::ddl_to_postgres(sql))?;
        tx.execute("UPDATE simgate_schema SET version = ?1", [version])?;
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

    /// Applies the migrations before the last `skip` ones, as an older build left the file.
    fn migrated_but(conn: &mut Connection, skip: usize) {
        for (i, sql) in MIGRATIONS[..MIGRATIONS.len() - skip].iter().enumerate() {
            let tx = conn.transaction().unwrap();
            tx.execute_batch(sql).unwrap();
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .unwrap();
            tx.commit().unwrap();
        }
    }

    fn with_foreign_keys() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn
    }

    fn table_sql(conn: &Connection, table: &str) -> String {
        conn.query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// Every word of each state enum is allowed by its table's CHECK, and nothing else is.
    #[test]
    fn checks_match_the_state_enums() {
        use crate::states::{DeliveryStatus, MessageStatus, PartStatus};
        use crate::verify::OtpStatus;
        let mut conn = with_foreign_keys();
        migrate(&mut conn).unwrap();
        let otp: Vec<&str> = [
            OtpStatus::Pending,
            OtpStatus::Verified,
            OtpStatus::Expired,
            OtpStatus::Locked,
            OtpStatus::Cancelled,
        ]
        .iter()
        .map(|s| s.as_str())
        .collect();
        let words = |all: Vec<&str>| {
            all.iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (table, allowed) in [
            (
                "outbound_messages",
                words(MessageStatus::ALL.iter().map(|s| s.as_str()).collect()),
            ),
            (
                "outbound_parts",
                words(PartStatus::ALL.iter().map(|s| s.as_str()).collect()),
            ),
            ("verifications", words(otp.clone())),
            ("reverse_verifications", words(otp.clone())),
            (
                "webhook_deliveries",
                words(DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect()),
            ),
        ] {
            let sql = table_sql(&conn, table);
            assert!(
                sql.contains(&format!("CHECK (status IN ({allowed}))")),
                "{table}: {sql}"
            );
        }
        // And the schema refuses what the enums do not know.
        conn.execute(
            "INSERT INTO outbound_messages (id, recipient, body, status, encoding, parts_total, created_at, updated_at)
             VALUES ('msg_a', '+1', 'x', 'queued', 'gsm7', 1, 0, 0)",
            [],
        )
        .unwrap();
        let refused = conn
            .execute(
                "UPDATE outbound_messages SET status = 'maybe' WHERE id = 'msg_a'",
                [],
            )
            .unwrap_err();
        assert!(refused.to_string().contains("CHECK"), "{refused}");
        let refused = conn
            .execute(
                "INSERT INTO outbound_parts (message_id, seq, tpdu_len, pdu, status) VALUES ('msg_a', 1, 1, '00', 'lost')",
                [],
            )
            .unwrap_err();
        assert!(refused.to_string().contains("CHECK"), "{refused}");
    }

    /// The typed-states migration keeps every row, the foreign keys (now pointing at the new
    /// tables) and the indexes.
    #[test]
    fn typed_states_migration_keeps_rows_links_and_indexes() {
        let mut conn = with_foreign_keys();
        // Up to the migration before the typed states (later ones may add indexes of their own).
        let typed = MIGRATIONS
            .iter()
            .position(|m| m.contains("CREATE TABLE outbound_messages_new"))
            .expect("the typed-states migration");
        migrated_but(&mut conn, MIGRATIONS.len() - typed);
        let indexes_before: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
                .unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<rusqlite::Result<_>>().unwrap()
        };
        conn.execute_batch(
            "INSERT INTO outbound_messages (id, recipient, body, status, encoding, parts_total, created_at, updated_at, priority)
                 VALUES ('msg_a', '+1', 'x', 'sent', 'gsm7', 2, 1, 2, 1);
             INSERT INTO outbound_parts (message_id, seq, tpdu_len, pdu, status, modem)
                 VALUES ('msg_a', 1, 10, '00', 'sent', 'sim1'), ('msg_a', 2, 10, '00', 'uncertain', 'sim1');
             INSERT INTO verifications (id, recipient, code_hmac, status, max_attempts, last_sent_at,
                 language, message_id, key_label, created_at, expires_at, updated_at, code_type, service)
                 VALUES ('otp_a', '+1', x'00', 'locked', 3, 0, 'en', 'msg_a', 'k', 0, 9, 0, 'alphanumeric', 's');
             INSERT INTO reverse_verifications (id, number, factor, factor_key, recipient, status,
                 max_attempts, language, key_label, created_at, expires_at, updated_at)
                 VALUES ('r_otp_a', '+1', 'F', 'f', '+2', 'verified', 3, 'en', 'k', 0, 9, 0);
             INSERT INTO webhook_deliveries (id, event_seq, event_id, event_type, endpoint_kind, url, body,
                 status, next_attempt_at, give_up_at, created_at, updated_at)
                 VALUES ('dlv_a', 1, 'evt_a', 'message.status', 'target', 'http://t/', '{}', 'failed', 0, 0, 0, 0);
             INSERT INTO webhook_attempts (delivery_id, attempt, duration_ms, at) VALUES ('dlv_a', 1, 5, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT COUNT(*) FROM outbound_parts p JOIN outbound_messages m ON m.id = p.message_id WHERE m.priority = 1"),
            2
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM verifications WHERE status = 'locked' AND code_type = 'alphanumeric' AND service = 's'"),
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM reverse_verifications WHERE status = 'verified'"),
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"),
            1
        );
        // The children's foreign keys name the renamed tables, and still hold.
        assert!(table_sql(&conn, "outbound_parts").contains("REFERENCES \"outbound_messages\""));
        assert!(table_sql(&conn, "webhook_attempts").contains("REFERENCES \"webhook_deliveries\""));
        let orphan = conn.execute(
            "INSERT INTO outbound_parts (message_id, seq, tpdu_len, pdu, status) VALUES ('msg_none', 1, 1, '00', 'queued')",
            [],
        );
        assert!(orphan.is_err(), "foreign key enforced");
        let violation = conn.query_row("PRAGMA foreign_key_check", [], |r| r.get::<_, String>(0));
        assert!(
            matches!(violation, Err(rusqlite::Error::QueryReturnedNoRows)),
            "no foreign key violations: {violation:?}"
        );
        let indexes_after: Vec<String> = {
            let mut stmt = conn
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
                .unwrap();
            let rows = stmt.query_map([], |r| r.get(0)).unwrap();
            rows.collect::<rusqlite::Result<_>>().unwrap()
        };
        let lost: Vec<&String> = indexes_before
            .iter()
            .filter(|i| !indexes_after.contains(i))
            .collect();
        assert!(lost.is_empty(), "indexes lost by the migration: {lost:?}");
    }
}

/// Both backends end with the same tables, columns and indexes (run with
/// `SIMGATE_TEST_BACKEND=postgres`; on SQLite alone there is nothing to compare).
#[cfg(test)]
mod both_dialects {
    use crate::store::test_support::{on_postgres, test_db};
    use std::collections::BTreeSet;

    fn assert_same(what: &str, sqlite: &BTreeSet<String>, pg: &BTreeSet<String>) {
        let only_sqlite: Vec<_> = sqlite.difference(pg).collect();
        let only_pg: Vec<_> = pg.difference(sqlite).collect();
        assert!(
            only_sqlite.is_empty() && only_pg.is_empty(),
            "{what} only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_pg:?}"
        );
    }

    #[test]
    fn postgres_and_sqlite_schemas_agree() {
        if !on_postgres() {
            return;
        }
        let pg = test_db();
        let mut raw = rusqlite::Connection::open_in_memory().unwrap();
        super::migrate(&mut raw).unwrap();
        let sqlite = crate::store::db::Connection::sqlite(raw);

        let collect = |rows: Vec<crate::store::db::Result<String>>| -> BTreeSet<String> {
            rows.into_iter().map(|r| r.unwrap()).collect()
        };
        let sqlite_columns = collect(
            sqlite
                .query_map(
                    "SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
                     WHERE m.type = 'table'",
                    [],
                    |r| r.get(0),
                )
                .unwrap(),
        );
        let pg_columns = collect(
            pg.query_map(
                "SELECT table_name || '.' || column_name FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name <> 'simgate_schema'",
                [],
                |r| r.get(0),
            )
            .unwrap(),
        );
        assert_same("columns", &sqlite_columns, &pg_columns);

        let sqlite_indexes = collect(
            sqlite
                .query_map(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
                    [],
                    |r| r.get(0),
                )
                .unwrap(),
        );
        let pg_indexes = collect(
            pg.query_map(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
                   AND indexname NOT IN (SELECT conname FROM pg_constraint)",
                [],
                |r| r.get(0),
            )
            .unwrap(),
        );
        assert_same("indexes", &sqlite_indexes, &pg_indexes);
    }
}
