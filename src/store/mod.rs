//! Storage: one SQLite file (WAL) holds everything that must survive a crash. This module is
//! the only door to it: the rest of simgate calls operations named for what they do
//! (`store.claim_next_message(…)`, `store.check_code(…)`, `store.commit_inbound_pdu(…)`), each
//! one transaction, and never sees a connection or writes SQL (`tests/tidy.rs` checks).
//!
//! Blocking SQLite work runs on tokio's blocking pool through [`Store::call`], never on the
//! async workers. One connection, serialised by a mutex: simgate's write rate is bounded by the
//! modems (seconds per SMS), so a single writer is plenty and keeps transactions simple.
//!
//! A second backend (PostgreSQL, issue 13) implements the same `Store` operations; the
//! SQLite functions below them (`fn …(conn: &Connection, …)`) are this backend's
//! implementation. Where a decision needs policy or secrets (does this code match? may this
//! sender verify?), the operation takes a closure or calls a pure module, so the decision is
//! the same whatever the backend.
//!
//! - [`schema`]: versioned migrations (status columns checked against [`crate::states`]).
//! - [`outbound`], [`queue`]: the outbound queue and the pool's steps through it.
//! - [`texts`]: accepting a plain text (queue bound, `[messages]` limits, enqueue).
//! - [`inbound`]: inbound parts, joined messages, status reports; the inbound transaction
//!   ([`inbound::InboundTx`]) hooks run in.
//! - [`reverse`]: reverse-OTP sessions and the match inside the inbound transaction.
//! - [`verifications`]: standard OTP (create with its SMS, check, resend, cancel, expire, redact).
//! - [`ratelimit`]: the request log behind the pure [`crate::verify::ratelimit`].
//! - [`hooks`]: auth-server hook requests (dedupe + limits + enqueue) and their janitor.
//! - [`idempotency`]: `Idempotency-Key` records.
//! - [`events`], [`webhooks`]: the event log, and the webhook outbox, endpoints and attempts.
//! - [`messages`], [`metrics`]: API listings and counts.
//! - [`retention`]: old rows deleted in batches (`[retention]`).
//!
//! The database, its WAL and shared-memory files are private to the service user (0600): they
//! hold message bodies, phone numbers and webhook secrets. Deleted rows are overwritten
//! (`secure_delete`).
//! - [`dashboard`]: read-only queries for the status page.

pub mod dashboard;
pub mod events;
pub mod hooks;
pub mod idempotency;
pub mod inbound;
pub mod messages;
pub mod metrics;
pub mod outbound;
pub mod queue;
pub mod ratelimit;
pub mod retention;
pub mod reverse;
pub mod schema;
mod states;
pub mod texts;
pub mod verifications;
pub mod webhooks;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// A stored state word this version does not know (a newer version wrote it, or the file
    /// was edited): refused, never read as a default.
    #[error("the database holds an unknown {} {:?}", .0.what, .0.value)]
    UnknownState(crate::states::UnknownState),
    #[error("database task failed: {0}")]
    Task(String),
    #[error("cannot open database {path}: {message}")]
    Open { path: PathBuf, message: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match states::unknown_state(&e) {
            Some(unknown) => StoreError::UnknownState(unknown),
            None => StoreError::Sqlite(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        let io_err = |e: std::io::Error| StoreError::Open {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        private_file(path).map_err(io_err)?;
        let mut conn = Connection::open(path).map_err(open_err)?;
        // WAL: readers never block the writer. synchronous=FULL: a commit survives power loss
        // too, which a Raspberry Pi on a wall plug will meet; the cost is invisible next to a
        // modem's seconds per SMS.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // Deleted content is overwritten with zeros, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        schema::migrate(&mut conn).map_err(open_err)?;
        // SQLite gives the -wal and -shm files the database file's mode when it creates them;
        // files left by an older version or another umask are narrowed here.
        for suffix in ["-wal", "-shm"] {
            narrow_if_present(&sidecar(path, suffix)).map_err(io_err)?;
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on the blocking pool. For this module's operations, and
    /// for tests and benchmarks that poke the database; code outside `src/store/` calls the
    /// named operations instead.
    pub async fn call<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The same, synchronously (start-up, tests, benchmarks).
    pub fn call_blocking<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R>,
    {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Is the database answering? For `/readyz`.
    pub async fn ping(&self) -> bool {
        self.call(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .is_ok()
    }
}

/// `simgate.db` + `-wal`: SQLite's names for the WAL and shared-memory files.
pub fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates the database file with mode 0600 if it is missing (SQLite would follow the umask),
/// and narrows an existing one to 0600.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => narrow_if_present(path),
        Err(e) => Err(e),
    }
}

/// Sets mode 0600 on a file that has wider permissions.
fn narrow_if_present(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(m) => m.permissions().mode() & 0o777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "database file open to others: setting mode 0600");
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            // Not fatal (a file system without modes, a file owned by someone else): said.
            tracing::warn!(path = %path.display(), error = %e, "cannot set mode 0600");
        }
    }
    Ok(())
}

/// Milliseconds since the Unix epoch: the one time format stored.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A new random id with a readable prefix (`msg_…`, `in_…`).
pub fn new_id(prefix: &str) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::rng();
    let tail: String = (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}_{tail}")
}

/// A secret is stored and read as its value; only its `Debug`/`Display` are masked.
impl<T: rusqlite::ToSql> rusqlite::ToSql for crate::redact::Redacted<T> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        (**self).to_sql()
    }
}

impl<T: rusqlite::types::FromSql> rusqlite::types::FromSql for crate::redact::Redacted<T> {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        T::column_result(value).map(crate::redact::Redacted::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The database, WAL and shared-memory files are 0600 whatever the umask (the test
    /// process's is usually 022, which would give 0644), and an existing wider file is narrowed.
    #[test]
    fn database_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("simgate.db");
        let store = Store::open(&path).unwrap();
        store
            .call_blocking(|c| {
                c.execute(
                    "INSERT INTO events (id, type, data, created_at) VALUES ('evt_1', 'x', '{}', 1)",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = sidecar(&path, suffix);
            assert!(file.exists(), "{} exists", file.display());
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        let secure: i64 = store
            .call_blocking(|c| Ok(c.query_row("PRAGMA secure_delete", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(secure, 1);
        drop(store);

        let older = dir.path().join("older.db");
        std::fs::write(&older, b"").unwrap();
        std::fs::set_permissions(&older, std::fs::Permissions::from_mode(0o644)).unwrap();
        let _store = Store::open(&older).unwrap();
        assert_eq!(mode(&older), 0o600);
    }
}
