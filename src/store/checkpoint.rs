//! SQLite WAL checkpoints off the request path.
//!
//! By default the connection that commits when the WAL passes 1,000 pages copies the WAL into
//! the database and fsyncs it, inside that commit's call: once every fifty-odd SMS, one
//! inbound message or API request waited tens to hundreds of milliseconds for it
//! (BENCHMARKS.md, "Fewer hand-offs"). Here a thread of its own does it instead: once a
//! second, if the WAL changed, it opens a connection, runs a `PASSIVE` checkpoint (which never
//! blocks the writer) and closes it again, so no page cache stays resident between
//! checkpoints (it then trims the heap, see [`crate::memory`]). The daemon's connection keeps a far higher automatic threshold as a safety net
//! should this thread ever fall behind.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Weak};
use std::time::{Duration, SystemTime};

/// How often the thread looks at the WAL.
const EVERY: Duration = Duration::from_secs(1);

/// Pages after which the daemon's own connection checkpoints anyway (about 40 MB of WAL).
pub const SAFETY_NET_PAGES: i64 = 10_000;

/// Starts the checkpoint thread for the database at `path`; it ends once `alive` (the
/// store's connection) is gone.
pub fn start<T: Send + 'static>(path: &Path, alive: Weak<Mutex<T>>) {
    let path = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .stack_size(256 * 1024)
        .spawn(move || run(&path, alive));
    if let Err(e) = spawned {
        // The safety net still checkpoints; only the latency of some commits suffers.
        tracing::warn!(error = %e, "cannot start the checkpoint thread");
    }
}

fn run<T>(path: &Path, alive: Weak<Mutex<T>>) {
    let wal = super::sidecar(path, "-wal");
    let mut last_seen = None;
    loop {
        std::thread::sleep(EVERY);
        if alive.strong_count() == 0 {
            return;
        }
        let now_seen = stamp(&wal);
        if now_seen.is_none() || now_seen == last_seen {
            continue;
        }
        match checkpoint(path) {
            Ok(()) => last_seen = now_seen,
            Err(e) => tracing::debug!(error = %e, "checkpoint postponed"),
        }
        // The short-lived connection's pages, and what the traffic since the last look
        // freed, go back to the kernel.
        crate::memory::trim();
    }
}

/// What tells that the WAL was written since the last look.
fn stamp(wal: &PathBuf) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(wal).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// One `PASSIVE` checkpoint through a short-lived connection, synced as the daemon's commits are.
pub fn checkpoint(path: &Path) -> rusqlite::Result<()> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(1))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}
