//! SQLite WAL checkpoints off the request path, and not too often.
//!
//! By default the connection that commits when the WAL passes 1,000 pages copies the WAL into
//! the database and fsyncs it, inside that commit's call: once every fifty-odd SMS, one
//! inbound message or API request waited tens to hundreds of milliseconds for it
//! (BENCHMARKS.md, "Fewer hand-offs"). Here a thread of its own does it instead: it opens a
//! connection, runs a `PASSIVE` checkpoint (which never blocks the writer) and closes it
//! again, so no page cache stays resident between checkpoints. The daemon's connection keeps
//! a far higher threshold as a safety net should this thread ever fall behind.
//!
//! When: once the WAL holds [`DUE_FRAMES`] frames, or after [`QUIET`] without a commit. Not
//! after every second with traffic: a complete checkpoint makes the next commit start the
//! WAL over, and SQLite syncs the new WAL header before that commit's frames, so the commit
//! pays two fsyncs instead of one. Checkpointing each second put that second fsync on nearly
//! every request of sporadic traffic (BENCHMARKS.md, "sixth pass"); by size, it is one
//! commit in forty-odd. The commits' frame counts come from SQLite's WAL hook on the
//! daemon's connection ([`watch`]), which also carries the safety net.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

/// How often the thread looks; its first look is this long after it starts.
pub(super) const EVERY: Duration = Duration::from_secs(1);

/// Frames in the WAL at which the thread checkpoints (SQLite's own automatic threshold:
/// about 4 MB of 4 KiB pages).
pub const DUE_FRAMES: u32 = 1_000;

/// Without a commit for this long, what the WAL holds is checkpointed whatever its size, so
/// that an idle daemon's database file is whole.
pub const QUIET: Duration = Duration::from_secs(60);

/// Frames after which the daemon's own connection checkpoints anyway (about 40 MB of WAL).
pub const SAFETY_NET_PAGES: u32 = 10_000;

/// What the daemon connection's commits report: the frames in its WAL after the last commit
/// (SQLite's count, which starts again from zero when a commit restarts the WAL) and how
/// many commits there were.
#[derive(Debug, Default)]
pub struct WalWatch {
    frames: AtomicU32,
    commits: AtomicU64,
}

impl WalWatch {
    /// (frames in the WAL after the last commit, commits so far).
    pub fn load(&self) -> (u32, u64) {
        (
            self.frames.load(Ordering::Relaxed),
            self.commits.load(Ordering::Relaxed),
        )
    }
}

/// Installs the WAL hook on the daemon's connection: each commit records its frame count in
/// the returned [`WalWatch`], and a WAL of [`SAFETY_NET_PAGES`] frames is checkpointed by
/// the committing connection itself, as SQLite's automatic checkpoint would (the hook
/// replaces it).
pub fn watch(conn: &rusqlite::Connection) -> Arc<WalWatch> {
    use rusqlite::ffi;
    use std::os::raw::{c_char, c_int, c_void};

    unsafe extern "C" fn on_commit(
        watch: *mut c_void,
        db: *mut ffi::sqlite3,
        schema: *const c_char,
        frames: c_int,
    ) -> c_int {
        // SAFETY: `watch` is the pointer `watch` registered below, from an `Arc` that is
        // never released, so it outlives the connection.
        let watch = unsafe { &*(watch as *const WalWatch) };
        let frames = u32::try_from(frames).unwrap_or(0);
        watch.frames.store(frames, Ordering::Relaxed);
        watch.commits.fetch_add(1, Ordering::Relaxed);
        if frames >= SAFETY_NET_PAGES {
            // SAFETY: what SQLite's own automatic checkpoint does from this hook.
            unsafe { ffi::sqlite3_wal_checkpoint(db, schema) };
        }
        ffi::SQLITE_OK
    }

    let watch = Arc::new(WalWatch::default());
    // One reference is given to SQLite for good: a few bytes per database opened (a daemon
    // opens one), and the hook can never see it freed.
    let raw = Arc::into_raw(watch.clone()) as *mut c_void;
    // SAFETY: the handle is the live connection's; the hook is a plain function that only
    // reads `raw`, which stays valid forever (above).
    unsafe { ffi::sqlite3_wal_hook(conn.handle(), Some(on_commit), raw) };
    watch
}

/// Starts the checkpoint thread for the database at `path`; it ends once `alive` (the
/// store's connection) is gone.
pub fn start<T: Send + 'static>(path: &Path, alive: Weak<Mutex<T>>, watch: Arc<WalWatch>) {
    let path = path.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .stack_size(256 * 1024)
        .spawn(move || run(&path, alive, &watch));
    if let Err(e) = spawned {
        // The safety net still checkpoints; only the latency of some commits suffers.
        tracing::warn!(error = %e, "cannot start the checkpoint thread");
    }
}

fn run<T>(path: &Path, alive: Weak<Mutex<T>>, watch: &WalWatch) {
    let wal = super::sidecar(path, "-wal");
    let mut policy = Policy::default();
    loop {
        std::thread::sleep(EVERY);
        if alive.strong_count() == 0 {
            return;
        }
        let (frames, commits) = watch.load();
        let now = Instant::now();
        // The file's stamp too, for writes by another process (the CLI).
        let changed = policy.saw(stamp(&wal), commits, now);
        if policy.due(frames, now) {
            match checkpoint(path) {
                Ok(()) => policy.checkpointed(),
                Err(e) => tracing::debug!(error = %e, "checkpoint postponed"),
            }
        }
        if changed {
            // What the traffic since the last look freed (and a checkpoint's short-lived
            // connection) goes back to the kernel.
            crate::memory::trim();
        }
    }
}

/// When to checkpoint, apart from the clock and the files (tested on its own).
#[derive(Debug)]
struct Policy<S> {
    /// The WAL file's stamp and the commit count at the last look, and when they last changed.
    last: Option<(S, u64, Instant)>,
    /// Written to since the last checkpoint.
    dirty: bool,
    /// The commit count at the last checkpoint: the frame count is the last commit's, so it
    /// says nothing new until another commit.
    commits_at_checkpoint: Option<u64>,
}

impl<S> Default for Policy<S> {
    fn default() -> Self {
        Policy {
            last: None,
            dirty: false,
            commits_at_checkpoint: None,
        }
    }
}

impl<S: PartialEq> Policy<S> {
    /// Records what is seen now; `true` if it changed since the last look.
    fn saw(&mut self, stamp: S, commits: u64, now: Instant) -> bool {
        let changed = self
            .last
            .as_ref()
            .is_none_or(|(s, c, _)| *s != stamp || *c != commits);
        if changed {
            // The first look is a change too: a WAL left by the last run is checkpointed
            // once the daemon has been quiet.
            self.last = Some((stamp, commits, now));
            self.dirty = true;
        }
        changed
    }

    /// Whether to checkpoint now, the last commit having left `frames` in the WAL.
    fn due(&self, frames: u32, now: Instant) -> bool {
        let Some((_, commits, since)) = &self.last else {
            return false;
        };
        let full = frames >= DUE_FRAMES && self.commits_at_checkpoint != Some(*commits);
        let quiet = self.dirty && now.duration_since(*since) >= QUIET;
        full || quiet
    }

    fn checkpointed(&mut self) {
        self.dirty = false;
        self.commits_at_checkpoint = self.last.as_ref().map(|(_, c, _)| *c);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_by_size_or_after_a_quiet_spell_not_after_every_commit() {
        let t = Instant::now();
        let mut policy = Policy::default();
        assert!(!policy.due(DUE_FRAMES, t), "nothing seen yet");
        assert!(policy.saw('a', 1, t), "the first look is a change");
        assert!(!policy.due(40, t + EVERY), "a few commits wait");
        assert!(!policy.saw('a', 1, t + EVERY), "no change");
        assert!(policy.due(DUE_FRAMES, t + EVERY), "a full WAL is due");
        assert!(policy.due(40, t + QUIET), "so is a quiet one");
        policy.checkpointed();
        assert!(
            !policy.due(DUE_FRAMES, t + QUIET),
            "no commit since the checkpoint: the count is still the old one"
        );
        assert!(policy.saw('b', 1, t + QUIET), "another process wrote");
        assert!(
            !policy.due(DUE_FRAMES, t + QUIET + EVERY),
            "not full for us"
        );
        assert!(policy.due(0, t + QUIET * 2), "but checkpointed when quiet");
        policy.checkpointed();
        assert!(policy.saw('b', 2, t + QUIET * 2 + EVERY), "a commit");
        assert!(!policy.due(20, t + QUIET * 2 + EVERY * 2));
        assert!(policy.due(DUE_FRAMES + 1, t + QUIET * 2 + EVERY * 2));
    }

    /// The hook counts the daemon connection's commits and the frames SQLite reports; a
    /// checkpoint's restart of the WAL shows as a small count at the next commit.
    #[test]
    fn the_wal_hook_reports_each_commit_s_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        let watch = watch(&conn);
        conn.execute_batch("CREATE TABLE t (x TEXT)").unwrap();
        for _ in 0..20 {
            conn.execute("INSERT INTO t VALUES (?1)", ["y".repeat(3000)])
                .unwrap();
        }
        let (frames, commits) = watch.load();
        assert_eq!(commits, 21);
        assert!(frames >= 21, "{frames} frames");
        checkpoint(&path).unwrap();
        conn.execute("INSERT INTO t VALUES ('z')", []).unwrap();
        let (after, commits) = watch.load();
        assert_eq!(commits, 22);
        assert!(after < frames, "the WAL started over: {after} < {frames}");
        let auto: i64 = conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(auto, 0, "the hook replaced SQLite's automatic checkpoint");
    }
}
