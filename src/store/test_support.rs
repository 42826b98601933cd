//! Databases for the store's unit tests: an in-memory SQLite one, or, when
//! `SIMGATE_TEST_BACKEND=postgres` (CI's second pass), a fresh schema in the PostgreSQL
//! database `SIMGATE_TEST_POSTGRES` names, so that every storage test runs on both backends.

use super::db::{postgres::Target, Connection};
use super::{schema, Store};

/// Is this test run against PostgreSQL?
pub fn on_postgres() -> bool {
    std::env::var("SIMGATE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A URL whose connections see only a new, empty schema of the test database.
pub fn fresh_postgres_url() -> String {
    let base = std::env::var("SIMGATE_TEST_POSTGRES")
        .expect("SIMGATE_TEST_BACKEND=postgres needs SIMGATE_TEST_POSTGRES=postgres://…");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let schema = format!(
        "t_{now}_{}",
        super::new_id("s").trim_start_matches("s_").to_lowercase()
    );
    let admin = Connection::postgres(Target::parse(&base).unwrap().connect().unwrap());
    // Schemas of runs more than an hour old go (they are named by their creation time).
    let old: Vec<String> = admin
        .query_map(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 't\\_%'",
            [],
            |r| r.get(0),
        )
        .unwrap()
        .into_iter()
        .filter_map(|n: super::db::Result<String>| n.ok())
        .filter(|n| {
            n.split('_')
                .nth(1)
                .and_then(|t| t.parse::<u64>().ok())
                .is_some_and(|t| t + 3600 < now)
        })
        .collect();
    for name in old {
        let _ = admin.execute_batch(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
    }
    admin
        .execute_batch(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{schema}")
}

/// A migrated connection to a database of its own.
pub fn test_db() -> Connection {
    if on_postgres() {
        let url = fresh_postgres_url();
        let conn = Connection::postgres(Target::parse(&url).unwrap().connect().unwrap());
        schema::migrate_postgres(&conn).unwrap();
        conn
    } else {
        let mut raw = rusqlite::Connection::open_in_memory().unwrap();
        schema::migrate(&mut raw).unwrap();
        Connection::sqlite(raw)
    }
}

/// A store of its own (the directory holds the SQLite file; kept alive by the caller).
pub fn test_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = if on_postgres() {
        // On a thread of its own: the blocking client may not start inside a test's runtime.
        std::thread::spawn(|| Store::open_postgres(&fresh_postgres_url()).unwrap())
            .join()
            .unwrap()
    } else {
        Store::open(&dir.path().join("simgate.db")).unwrap()
    };
    (store, dir)
}

/// A dispatcher's fan-out plan: `configured` endpoints, deliveries handed over on `to`, held
/// by the host `pi-1`.
pub fn plan_handing_off(
    configured: Vec<super::webhooks::Endpoint>,
    to: tokio::sync::mpsc::UnboundedSender<super::webhooks::DueDelivery>,
) -> super::webhooks::FanOutPlan {
    use super::webhooks::{FanOutPlan, Handoff, Lease};
    FanOutPlan {
        configured,
        give_up_after: std::time::Duration::from_secs(86_400),
        batch: 10,
        handoff: Some(Handoff {
            lease: Lease {
                host: "pi-1".into(),
                duration_ms: 60_000,
            },
            to,
        }),
    }
}
