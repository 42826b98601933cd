//! PostgreSQL for the tests: a fresh database per test daemon (or per cluster), made through the
//! `postgres` crate on the server named by `SIMGATE_TEST_POSTGRES`
//! (`postgres://simgate:…@127.0.0.1:5432/simgate`, a role with CREATEDB; `.ci/run` sets one up),
//! and dropped when the handle is dropped.
//!
//! `SIMGATE_TEST_BACKEND=postgres` runs the in-process daemons of the end-to-end suite on such a
//! database instead of a SQLite file (see [`TestBackend`]); the multi-host test
//! (tests/it/cluster.rs) always needs one and skips itself without `SIMGATE_TEST_POSTGRES`.
//!
//! The sync `postgres` client runs its own small runtime, which cannot be started from inside
//! tokio's: every call here runs on a plain thread of its own.

use simgate::config::Config;
use std::path::Path;

/// The server the tests may create databases on.
pub const SERVER_VAR: &str = "SIMGATE_TEST_POSTGRES";
/// `postgres` runs the end-to-end daemons on PostgreSQL; anything else (or unset): SQLite.
pub const BACKEND_VAR: &str = "SIMGATE_TEST_BACKEND";

/// The server URL, when set.
pub fn server_url() -> Option<String> {
    std::env::var(SERVER_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Whether this run puts the test daemons on PostgreSQL. Panics (loudly, once per test) when the
/// backend asks for PostgreSQL and no server is named: a run meant for PostgreSQL must not pass
/// on SQLite by mistake.
pub fn postgres_backend() -> bool {
    match std::env::var(BACKEND_VAR).as_deref() {
        Ok("postgres") | Ok("postgresql") => {
            assert!(
                server_url().is_some(),
                "{BACKEND_VAR}=postgres needs {SERVER_VAR}=postgres://user:password@host:port/db"
            );
            true
        }
        Ok("") | Ok("sqlite") | Err(_) => false,
        Ok(other) => panic!("{BACKEND_VAR}={other:?}: expected \"sqlite\" or \"postgres\""),
    }
}

/// Runs `f` on a thread of its own (see the module comment) and returns its result.
fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f).join().unwrap_or_else(|panic| {
        std::panic::resume_unwind(panic);
    })
}

/// The server URL with another database name (the path of the URL).
fn with_database(server: &str, database: &str) -> String {
    let mut url = url::Url::parse(server)
        .unwrap_or_else(|e| panic!("{SERVER_VAR} is not a URL ({e}): expected postgres://…"));
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// A database of its own on the test server, dropped (with whatever is still connected to it)
/// when this is dropped.
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// `CREATE DATABASE simgate_t_<pid>_<random>` on the server of `SIMGATE_TEST_POSTGRES`.
    /// Panics when the variable is unset or the server refuses.
    pub fn create() -> TestDatabase {
        let server = server_url().unwrap_or_else(|| panic!("{SERVER_VAR} is not set"));
        let name = format!(
            "simgate_t_{}_{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let (admin, created) = (server.clone(), name.clone());
        off_runtime(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)
                .unwrap_or_else(|e| panic!("connect to {SERVER_VAR}: {e}"));
            // A name made of [a-z0-9_] only: nothing to quote.
            client
                .batch_execute(&format!("CREATE DATABASE {created}"))
                .unwrap_or_else(|e| panic!("CREATE DATABASE {created}: {e}"));
        });
        let url = with_database(&server, &name);
        TestDatabase { server, name, url }
    }

    /// The URL of this database, for `[storage] url`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Best effort: a database left behind only takes disk until the next cleanup.
        let dropped = off_runtime(move || -> Result<(), postgres::Error> {
            let mut client = postgres::Client::connect(&server, postgres::NoTls)?;
            client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        });
        if let Err(e) = dropped {
            eprintln!("test database {} not dropped: {e}", self.name);
        }
    }
}

/// Where a test daemon keeps its data: a SQLite file in its directory, or a fresh PostgreSQL
/// database under `SIMGATE_TEST_BACKEND=postgres`. Keep it alive as long as the daemon runs.
pub struct TestBackend {
    _database: Option<TestDatabase>,
}

impl TestBackend {
    /// Points `config.storage` at this run's backend: `dir/simgate.db`, or a new database.
    pub fn apply(config: &mut Config, dir: &Path) -> TestBackend {
        config.storage.path = dir.join("simgate.db");
        let database = postgres_backend().then(TestDatabase::create);
        if let Some(database) = &database {
            config.storage.url = Some(database.url().into());
        }
        TestBackend {
            _database: database,
        }
    }
}

/// The harness itself: a database is made, reachable at its URL, and gone after the drop.
#[test]
fn a_test_database_is_made_and_dropped() {
    let Some(server) = server_url() else {
        eprintln!("a_test_database_is_made_and_dropped: skipped: {SERVER_VAR} is not set");
        return;
    };
    let database = TestDatabase::create();
    let (url, name) = (database.url.clone(), database.name.clone());
    let current: String = postgres::Client::connect(&url, postgres::NoTls)
        .expect("the new database answers")
        .query_one("SELECT current_database()", &[])
        .unwrap()
        .get(0);
    assert_eq!(current, name);
    drop(database);
    let left: i64 = postgres::Client::connect(&server, postgres::NoTls)
        .unwrap()
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "{name} dropped");
}
