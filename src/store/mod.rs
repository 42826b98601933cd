//! Storage: one SQLite file (WAL), or one PostgreSQL database shared by several hosts, holds
//! everything that must survive a crash. This module is the only door to it: the rest of simgate calls operations named for what they do
//! (`store.claim_next_message(…)`, `store.check_code(…)`, `store.commit_inbound_pdu(…)`), each
//! one transaction, and never sees a connection or writes SQL (`tests/tidy.rs` checks).
//!
//! Blocking database work runs on tokio's blocking pool through [`Store::call`], never on the
//! async workers. One connection, serialised by a mutex: simgate's write rate is bounded by the
//! modems (seconds per SMS), so a single writer is plenty and keeps transactions simple. On
//! PostgreSQL each call also holds a cluster-wide lock, so the hosts take turns the same way.
//!
//! The functions below the operations (`fn …(conn: &Connection, …)`) are written once, against
//! [`db::Connection`], and run on either database. Where a decision needs policy or secrets (does this code match? may this
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
//! - [`cluster`]: several hosts on one database (join, heartbeat, take-over, shared secrets).
//! - [`db`]: the connection both backends hide behind.

mod checkpoint;
pub mod cluster;
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
pub mod standby;
mod states;
#[cfg(test)]
pub mod test_support;
pub mod texts;
pub mod verifications;
pub mod webhooks;

pub mod db;

pub use db::Backend;
use db::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(db::Error),
    /// A stored state word this version does not know (a newer version wrote it, or the file
    /// was edited): refused, never read as a default.
    #[error("the database holds an unknown {} {:?}", .0.what, .0.value)]
    UnknownState(crate::states::UnknownState),
    #[error("database task failed: {0}")]
    Task(String),
    /// The operation was refused for a reason stated to the operator (a host may not join).
    #[error("{0}")]
    Refused(String),
    #[error("cannot open database {path}: {message}")]
    Open { path: PathBuf, message: String },
}

impl From<db::Error> for StoreError {
    fn from(e: db::Error) -> StoreError {
        match states::unknown_state(&e) {
            Some(unknown) => StoreError::UnknownState(unknown),
            None => StoreError::Database(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Where the data lives.
#[derive(Clone)]
enum Location {
    Sqlite(PathBuf),
    Postgres(Box<db::postgres::Target>, String),
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    location: Arc<Location>,
    /// How events become webhook deliveries, once the dispatcher has said (see
    /// [`Store::set_fan_out_plan`]).
    fan_out_plan: Arc<std::sync::RwLock<Option<Arc<webhooks::FanOutPlan>>>>,
    /// The pool's idle workers, for the accepting transactions to claim for.
    standby: Arc<standby::StandbyBoard>,
    /// Notified after a commit that handed its events' deliveries to the dispatcher, which
    /// is then not woken (see [`Store::handed_off`]).
    handed_off: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.location {
            Location::Sqlite(path) => f.debug_struct("Store").field("path", path).finish(),
            Location::Postgres(_, masked) => f.debug_struct("Store").field("url", masked).finish(),
        }
    }
}

/// Advisory lock every PostgreSQL store call holds for its transaction: one writer at a time
/// across all hosts, as SQLite has one per file (see [`Store::call`]).
const CLUSTER_LOCK: i64 = 0x0053_494D_4741_5445; // "SIMGATE"

impl Store {
    /// Opens the database the `[storage]` table names: PostgreSQL when `url` is set, else the
    /// SQLite file at `path`.
    pub fn open_configured(storage: &crate::config::Storage) -> Result<Store> {
        match &storage.url {
            Some(url) => Store::open_postgres_with_ca(url, storage.ca_file.as_deref()),
            None => Store::open(&storage.path),
        }
    }

    /// Connects to PostgreSQL and brings its schema up to date.
    pub fn open_postgres(url: &str) -> Result<Store> {
        Store::open_postgres_with_ca(url, None)
    }

    /// The same, trusting `ca_file` for the server's TLS certificate.
    pub fn open_postgres_with_ca(url: &str, ca_file: Option<&Path>) -> Result<Store> {
        let masked = crate::config::mask_url_password(url);
        let open_err = |message: String| StoreError::Open {
            path: PathBuf::from(&masked),
            message,
        };
        let target = db::postgres::Target::parse_with_ca(url, ca_file).map_err(open_err)?;
        let conn = target
            .connect()
            .map_err(|e| open_err(db::postgres::describe(&e)))?;
        let conn = Connection::postgres(conn);
        schema::migrate_postgres(&conn).map_err(|e| open_err(e.to_string()))?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            location: Arc::new(Location::Postgres(Box::new(target), masked)),
            fan_out_plan: Arc::default(),
            standby: Arc::default(),
            handed_off: Arc::default(),
        })
    }

    /// Opens (creating if needed) the SQLite database and brings its schema up to date.
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
        let mut conn = rusqlite::Connection::open(path).map_err(open_err)?;
        // WAL: readers never block the writer. synchronous=FULL: a commit survives power loss
        // too, which a Raspberry Pi on a wall plug will meet; the cost is invisible next to a
        // modem's seconds per SMS.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // A 1 MiB page cache (SQLite's default is 2 MiB): the hot queries are index probes, the
        // kernel's page cache holds the file anyway, and a Pi's memory stays flat as history
        // grows (BENCHMARKS "Memory and flat over time").
        conn.pragma_update(None, "cache_size", -1024)
            .map_err(open_err)?;
        // Deleted content is overwritten with zeros, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        schema::migrate(&mut conn).map_err(open_err)?;
        // Checkpoints are the checkpoint thread's; this connection's own only a safety net
        // (in the WAL hook, which tells the thread how full the WAL is).
        let wal = checkpoint::watch(&conn);
        // SQLite gives the -wal and -shm files the database file's mode when it creates them;
        // files left by an older version or another umask are narrowed here.
        for suffix in ["-wal", "-shm"] {
            narrow_if_present(&sidecar(path, suffix)).map_err(io_err)?;
        }
        let conn = Arc::new(Mutex::new(Connection::sqlite(conn)));
        checkpoint::start(path, Arc::downgrade(&conn), wal);
        Ok(Store {
            conn,
            location: Arc::new(Location::Sqlite(path.to_path_buf())),
            fan_out_plan: Arc::default(),
            standby: Arc::default(),
            handed_off: Arc::default(),
        })
    }

    /// The dispatcher's fan-out rules. With them, the inbound transaction writes the
    /// deliveries of the events it appends itself, so a `message.received` is on its way
    /// after one commit instead of two (the outbox stays the source of truth).
    pub fn set_fan_out_plan(&self, plan: webhooks::FanOutPlan) {
        *self.fan_out_plan.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(plan));
    }

    /// Notified after each commit that handed events to the dispatcher from memory. Those
    /// commits do not wake the dispatcher's poll (`events_appended`), so whoever else follows
    /// the event log (the status page) listens here too.
    pub fn handed_off(&self) -> &Arc<tokio::sync::Notify> {
        &self.handed_off
    }

    /// The pool's idle workers standing by for work (see [`standby`]).
    pub fn standby(&self) -> &Arc<standby::StandbyBoard> {
        &self.standby
    }

    pub(crate) fn fan_out_plan(&self) -> Option<Arc<webhooks::FanOutPlan>> {
        self.fan_out_plan
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn backend(&self) -> Backend {
        match &*self.location {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres(..) => Backend::Postgres,
        }
    }

    /// Runs `f` with the connection. For this module's operations, and for tests and
    /// benchmarks that poke the database; code outside `src/store/` calls the named
    /// operations instead.
    ///
    /// SQLite, connection free, on the daemon's multi-thread runtime: `f` runs right here,
    /// inside [`tokio::task::block_in_place`] (the worker's other tasks move to another thread
    /// meanwhile). The caller goes on with the result without a hand-off to the blocking pool
    /// and back: two thread wake-ups fewer on every path through the store (BENCHMARKS.md,
    /// "Fewer hand-offs"). Otherwise (the connection busy, PostgreSQL, a current-thread
    /// runtime) it runs on the blocking pool.
    ///
    /// On PostgreSQL the whole call is one transaction holding a cluster-wide advisory lock,
    /// so the hosts sharing a database take turns exactly as connections to one SQLite file
    /// do: every check-then-write an operation makes (a rate limit, a claim, the webhook
    /// cursor) stays atomic across hosts. simgate's write rate is bounded by its modems.
    pub async fn call<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        // Boxed, so that each operation's body is compiled once, not once per path below.
        let f: Operation<R> = Box::new(f);
        if matches!(&*self.location, Location::Sqlite(_)) && may_block_in_place() {
            if let Ok(mut guard) = self.conn.try_lock() {
                let mut f = Some(f);
                let mut out = None;
                in_place(&mut || {
                    if let Some(f) = f.take() {
                        out = Some(f(&mut guard));
                    }
                });
                return out.unwrap_or_else(|| Err(StoreError::Task("not run".into())));
            }
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.call_blocking(f))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// The same, synchronously (start-up, tests, benchmarks; never on an async worker).
    pub fn call_blocking<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Connection) -> Result<R>,
    {
        let mut guard = self
            .conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*self.location {
            Location::Sqlite(_) => f(&mut guard),
            Location::Postgres(target, _) => run_serialized(&mut guard, target, f),
        }
    }

    /// Is the database answering? For `/readyz`.
    pub async fn ping(&self) -> bool {
        self.call(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .is_ok()
    }
}

/// A store operation, boxed (see [`Store::call`]).
type Operation<R> = Box<dyn FnOnce(&mut Connection) -> Result<R> + Send>;

/// [`tokio::task::block_in_place`] through one non-generic door: instantiated once instead of
/// once per store operation (about 45 KB of binary otherwise).
fn in_place(run: &mut dyn FnMut()) {
    tokio::task::block_in_place(run)
}

/// Is this task on a multi-thread runtime, where [`tokio::task::block_in_place`] may be used?
fn may_block_in_place() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
}

/// One PostgreSQL store call: reconnect if the server went away, then `f` in a transaction
/// that holds [`CLUSTER_LOCK`]; committed when `f` succeeds, rolled back when it fails.
fn run_serialized<F, R>(conn: &mut Connection, target: &db::postgres::Target, f: F) -> Result<R>
where
    F: FnOnce(&mut Connection) -> Result<R>,
{
    let closed = conn.postgres_mut().is_some_and(|pg| pg.is_closed());
    if closed {
        tracing::warn!("PostgreSQL connection lost: reconnecting");
        let fresh = target.connect().map_err(db::Error::from)?;
        *conn = Connection::postgres(fresh);
    }
    conn.begin_outer(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({CLUSTER_LOCK})"
    ))?;
    let out = f(conn);
    let end = conn.end_outer(out.is_ok());
    match (out, end) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e.into()),
        (Err(e), _) => Err(e),
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

/// A new id with a readable prefix (`msg_…`, `in_…`): 22 characters after the `_`, the first
/// 9 the creation time (milliseconds, base 62 in ASCII order), the other 13 random (77 bits).
///
/// Time first, so that ids sort by creation and each table's primary-key B-tree grows at its
/// right edge: a random key lands every insert on a random page of an index that outgrows
/// the page cache as history grows, so inserts got slower with the table's size (BENCHMARKS,
/// "fourth pass"). The random part keeps ids unguessable.
pub fn new_id(prefix: &str) -> String {
    id_at(prefix, now_ms())
}

fn id_at(prefix: &str, ms: i64) -> String {
    use rand::Rng;
    // ASCII order, so that the text of the time sorts as the time does.
    const SORTED: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut id = String::with_capacity(prefix.len() + 23);
    id.push_str(prefix);
    id.push('_');
    let mut time = [b'0'; 9];
    let mut rest = ms.max(0) as u64;
    for slot in time.iter_mut().rev() {
        *slot = SORTED[(rest % 62) as usize];
        rest /= 62;
    }
    id.extend(time.iter().map(|&b| b as char));
    let mut rng = rand::rng();
    id.extend((0..13).map(|_| SORTED[rng.random_range(0..SORTED.len())] as char));
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn ids_sort_by_creation_and_stay_unguessable() {
        let id = new_id("msg");
        assert_eq!(id.len(), "msg_".len() + 22);
        assert!(id[4..].chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        // Earlier milliseconds sort first, across digit, upper and lower case boundaries.
        let times = [
            0,
            1,
            9,
            10,
            35,
            36,
            61,
            62,
            1_733_000_000_000,
            1_733_000_000_001,
        ];
        let ids: Vec<String> = times.iter().map(|&t| id_at("x", t)).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
        }
        // Same millisecond: the random tails differ.
        assert_ne!(id_at("x", 5), id_at("x", 5));
        assert_eq!(&id_at("x", 62)[2..11], "000000010");
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// A claim commits without waiting for the disk; every other commit still does
    /// (`synchronous` is back to FULL after it, even when the claim fails).
    #[tokio::test]
    async fn only_the_claim_skips_the_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("simgate.db")).unwrap();
        let synchronous = |store: &Store| -> i64 {
            store
                .call_blocking(|c| Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
                .unwrap()
        };
        assert_eq!(synchronous(&store), 2, "FULL");
        let claim = store
            .claim_next_message("sim1".into(), 0, outbound::Claimable::Any)
            .await
            .unwrap();
        assert!(claim.claimed.is_none());
        assert_eq!(synchronous(&store), 2, "FULL again after the claim");
        let failed: Result<()> = store.call_blocking(|c| {
            Ok(c.without_waiting_for_disk(|c| c.execute_batch("SELECT * FROM no_such_table"))?)
        });
        assert!(failed.is_err());
        assert_eq!(synchronous(&store), 2, "FULL again after a failure");
    }

    /// Commits only append to the WAL; the checkpoint thread, not a commit, copies them into
    /// the database file once the WAL holds `checkpoint::DUE_FRAMES` frames (the daemon's
    /// connection would wait for 10,000).
    #[test]
    fn the_checkpoint_thread_copies_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("simgate.db");
        let opened = std::time::Instant::now();
        let store = Store::open(&path).unwrap();
        let size = |path: &Path| std::fs::metadata(path).unwrap().len();
        let before = size(&path);
        let rows = 250 * 20_000;
        store
            .call_blocking(|c| {
                // One commit of five pages and more per row: past the thread's threshold at
                // once (with a commit per row, the thread could copy half of them first).
                let tx = c.transaction()?;
                tx.execute_batch("CREATE TABLE filler (x TEXT)")?;
                for _ in 0..250 {
                    tx.execute("INSERT INTO filler VALUES (?1)", ["y".repeat(20_000)])?;
                }
                tx.commit()?;
                Ok(())
            })
            .unwrap();
        let size_after_commit = size(&path);
        // Before the thread's first look, nothing but the commit can have written the file.
        if opened.elapsed() < checkpoint::EVERY {
            assert_eq!(size_after_commit, before, "the commit went to the WAL only");
        }
        // The WAL keeps its size after a checkpoint, so this holds whenever the thread runs.
        assert!(
            size(&sidecar(&path, "-wal")) > rows,
            "the commit went to the WAL"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while size(&path) <= before + rows {
            assert!(
                std::time::Instant::now() < deadline,
                "the rows are not in the database file within 10 s ({} bytes)",
                size(&path)
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
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
