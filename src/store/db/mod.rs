//! One connection, either database. The store's operations are written once against this
//! small surface (shaped like rusqlite's: `execute`, `query_row`, `prepare_cached` +
//! `query_map`, `transaction`, `params!`, `.optional()`), and it runs them on SQLite (the
//! embedded default) or on PostgreSQL (several hosts, one service).
//!
//! - [`value`]: the values that cross (SQLite's five storage classes) and the `ToSql` /
//!   `FromSql` traits stored types implement once.
//! - [`dialect`]: the SQL text is SQLite's; what PostgreSQL says differently is rewritten there.
//! - [`postgres`]: the PostgreSQL connection (statement cache, typed binding, lenient reading).
//!
//! Transactions nest: the outermost is `BEGIN … COMMIT`, inner ones are savepoints. On
//! PostgreSQL every store call is already one transaction (see [`super::Store::call`]), so the
//! operations' own transactions become savepoints there.

pub mod dialect;
pub mod postgres;
mod tls;
mod value;

pub use value::{
    params_from_iter, FromSql, FromSqlError, FromSqlResult, Params, ToSql, Value, ValueRef,
};

pub use crate::params;
use std::cell::{Cell, RefCell};

/// Work to do once the transaction that asked for it is durable (see
/// [`Connection::after_commit`]), with the depth of the transaction that asked.
type AfterCommit = (u32, Box<dyn FnOnce() + Send>);

/// A database error, from either backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("query returned no rows")]
    QueryReturnedNoRows,
    #[error("no column {0}")]
    InvalidColumn(String),
    #[error("column {column}: {source}")]
    FromSql {
        column: usize,
        #[source]
        source: FromSqlError,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `query_row(…).optional()`: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Box<std::cell::RefCell<postgres::PgConnection>>),
}

/// Prepared statements a SQLite connection keeps (PostgreSQL keeps one per text it ran).
const STATEMENT_CACHE: usize = 128;

/// One open connection.
pub struct Connection {
    inner: Inner,
    /// Open transactions (the outermost plus savepoints).
    depth: Cell<u32>,
    /// What runs when the outermost transaction commits; dropped if it rolls back.
    after_commit: RefCell<Vec<AfterCommit>>,
}

impl Connection {
    pub fn sqlite(conn: rusqlite::Connection) -> Connection {
        // rusqlite keeps 16 prepared statements by default; one inbound SMS alone runs more
        // than that, so each call parsed and planned its SQL again (about half the inbound
        // transaction's time: BENCHMARKS.md, "Fewer hand-offs"). The store has about 170
        // statement texts, the daemon's steady traffic well under 128.
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Connection {
            inner: Inner::Sqlite(conn),
            depth: Cell::new(0),
            after_commit: RefCell::default(),
        }
    }

    pub fn postgres(conn: postgres::PgConnection) -> Connection {
        Connection {
            inner: Inner::Postgres(Box::new(std::cell::RefCell::new(conn))),
            depth: Cell::new(0),
            after_commit: RefCell::default(),
        }
    }

    /// A private in-memory SQLite database (unit tests).
    pub fn open_in_memory() -> Result<Connection> {
        Ok(Connection::sqlite(rusqlite::Connection::open_in_memory()?))
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    pub(super) fn postgres_mut(&self) -> Option<std::cell::RefMut<'_, postgres::PgConnection>> {
        match &self.inner {
            Inner::Sqlite(_) => None,
            Inner::Postgres(c) => Some(c.borrow_mut()),
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        let values = params.values();
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                Ok(stmt.execute(rusqlite::params_from_iter(values.iter()))?)
            }
            Inner::Postgres(c) => Ok(c.borrow_mut().execute(sql, &values)? as usize),
        }
    }

    /// Runs several statements without parameters (migrations, tests).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(c) => c.borrow_mut().batch_execute(sql),
        }
    }

    /// The first row, through `f`; [`Error::QueryReturnedNoRows`] when there is none.
    pub fn query_row<T, P, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let values = params.values();
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
                match rows.next()? {
                    Some(r) => f(&Row(RowInner::Sqlite(r))),
                    None => Err(Error::QueryReturnedNoRows),
                }
            }
            Inner::Postgres(c) => {
                let rows = c.borrow_mut().query(sql, &values)?;
                match rows.first() {
                    Some(r) => f(&Row(RowInner::Postgres(r))),
                    None => Err(Error::QueryReturnedNoRows),
                }
            }
        }
    }

    /// Every row, each through `f`.
    pub fn query_map<T, P, F>(&self, sql: &str, params: P, mut f: F) -> Result<Vec<Result<T>>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let values = params.values();
        match &self.inner {
            Inner::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(f(&Row(RowInner::Sqlite(r))));
                }
                Ok(out)
            }
            Inner::Postgres(c) => {
                let rows = c.borrow_mut().query(sql, &values)?;
                Ok(rows
                    .iter()
                    .map(|r| f(&Row(RowInner::Postgres(r))))
                    .collect())
            }
        }
    }

    /// A statement to run (perhaps many times); prepared statements are cached by both
    /// backends, so this only names the text.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_string(),
        })
    }

    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare_cached(sql)
    }

    /// Begins a transaction (a savepoint inside another one); rolled back when dropped
    /// without [`Transaction::commit`].
    pub fn transaction(&self) -> Result<Transaction<'_>> {
        let depth = self.depth.get();
        if depth == 0 {
            self.execute_batch("BEGIN")?;
        } else {
            self.execute_batch(&format!("SAVEPOINT sp{depth}"))?;
        }
        self.depth.set(depth + 1);
        Ok(Transaction {
            conn: self,
            depth,
            done: false,
        })
    }

    /// The same (rusqlite's name for a transaction begun through a shared reference).
    pub fn unchecked_transaction(&self) -> Result<Transaction<'_>> {
        self.transaction()
    }

    /// Opens the outermost transaction with `begin` (PostgreSQL's serialized store call);
    /// the operation's own transactions inside it become savepoints.
    pub(crate) fn begin_outer(&self, begin: &str) -> Result<()> {
        self.execute_batch(begin)?;
        self.depth.set(1);
        Ok(())
    }

    /// Ends what [`Connection::begin_outer`] opened: commit or roll back.
    pub(crate) fn end_outer(&self, commit: bool) -> Result<()> {
        self.depth.set(0);
        let ended = self.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" });
        self.outermost_ended(commit && ended.is_ok());
        ended
    }

    /// Runs `f` once the current transaction is durable: after the outermost `COMMIT`
    /// succeeded (at once when no transaction is open, the statement having committed by
    /// itself). If the transaction, or the savepoint that asked, rolls back, `f` is dropped
    /// unrun. For hand-offs that must not act on what might still be undone: a claimed
    /// message going to its modem, whose PDU may leave only after the commit.
    pub fn after_commit(&self, f: impl FnOnce() + Send + 'static) {
        match self.depth.get() {
            0 => f(),
            depth => self.after_commit.borrow_mut().push((depth, Box::new(f))),
        }
    }

    /// The outermost transaction ended: its after-commit work runs or is dropped.
    fn outermost_ended(&self, committed: bool) {
        let work = std::mem::take(&mut *self.after_commit.borrow_mut());
        if committed {
            for (_, f) in work {
                f();
            }
        }
    }

    /// A savepoint opened at `depth` rolled back: the work it asked for is dropped.
    fn savepoint_undone(&self, depth: u32) {
        self.after_commit.borrow_mut().retain(|(d, _)| *d <= depth);
    }

    /// Runs `f` with its commits not waiting for the disk: SQLite's `synchronous = NORMAL` in
    /// WAL mode (the commit reaches the WAL, not yet the platter; a power cut may lose it,
    /// never corrupt, and a later durable commit makes it durable too), PostgreSQL's
    /// `synchronous_commit = off` for the transaction. Only for writes that recovery would
    /// redo anyway.
    pub fn without_waiting_for_disk<R>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        match self.backend() {
            Backend::Sqlite => {
                self.execute_batch("PRAGMA synchronous = NORMAL")?;
                let out = f(self);
                let restored = self.execute_batch("PRAGMA synchronous = FULL");
                let out = out?;
                restored?;
                Ok(out)
            }
            Backend::Postgres => {
                self.execute_batch("SET LOCAL synchronous_commit TO OFF")?;
                f(self)
            }
        }
    }
}

/// An open transaction or savepoint; derefs to its connection.
pub struct Transaction<'c> {
    conn: &'c Connection,
    depth: u32,
    done: bool,
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.depth.set(self.depth);
        if self.depth == 0 {
            let committed = self.conn.execute_batch("COMMIT");
            if committed.is_err() {
                // SQLite leaves the transaction open when its COMMIT fails (a deferred
                // constraint, a busy or full disk): rolled back, so that none of it can be
                // committed by a later statement and the connection can begin again.
                // (PostgreSQL has already rolled it back; its ROLLBACK only warns.)
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            self.conn.outermost_ended(committed.is_ok());
            committed
        } else {
            self.conn
                .execute_batch(&format!("RELEASE SAVEPOINT sp{}", self.depth))
        }
    }

    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.undo()
    }

    fn undo(&self) -> Result<()> {
        self.conn.depth.set(self.depth);
        if self.depth == 0 {
            self.conn.outermost_ended(false);
            self.conn.execute_batch("ROLLBACK")
        } else {
            let d = self.depth;
            self.conn.savepoint_undone(d);
            self.conn.execute_batch(&format!(
                "ROLLBACK TO SAVEPOINT sp{d}; RELEASE SAVEPOINT sp{d}"
            ))
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = self.undo() {
                tracing::warn!(error = %e, "rolling back a transaction failed");
            }
        }
    }
}

/// A statement bound to its connection (`prepare_cached`).
pub struct Statement<'c> {
    conn: &'c Connection,
    sql: String,
}

impl Statement<'_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }

    pub fn query_row<T, P, F>(&mut self, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.conn.query_row(&self.sql, params, f)
    }

    pub fn query_map<T, P, F>(&mut self, params: P, f: F) -> Result<std::vec::IntoIter<Result<T>>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        Ok(self.conn.query_map(&self.sql, params, f)?.into_iter())
    }
}

enum RowInner<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r ::postgres::Row),
}

/// One result row.
pub struct Row<'r>(RowInner<'r>);

/// A column by position or by name.
pub trait RowIndex {
    fn position(&self, names: &mut dyn Iterator<Item = &str>) -> Option<usize>;
}

impl RowIndex for usize {
    fn position(&self, _: &mut dyn Iterator<Item = &str>) -> Option<usize> {
        Some(*self)
    }
}

impl RowIndex for &str {
    fn position(&self, names: &mut dyn Iterator<Item = &str>) -> Option<usize> {
        for (at, name) in names.enumerate() {
            if name.eq_ignore_ascii_case(self) {
                return Some(at);
            }
        }
        None
    }
}

impl Row<'_> {
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        match &self.0 {
            RowInner::Sqlite(r) => {
                let stmt = r.as_ref();
                let column = idx
                    .position(&mut stmt.column_names().into_iter())
                    .ok_or_else(|| Error::InvalidColumn("by name".into()))?;
                let value = match r.get_ref(column)? {
                    rusqlite::types::ValueRef::Null => ValueRef::Null,
                    rusqlite::types::ValueRef::Integer(i) => ValueRef::Integer(i),
                    rusqlite::types::ValueRef::Real(f) => ValueRef::Real(f),
                    rusqlite::types::ValueRef::Text(t) => {
                        ValueRef::Text(std::str::from_utf8(t).map_err(|e| Error::FromSql {
                            column,
                            source: FromSqlError::Other(Box::new(e)),
                        })?)
                    }
                    rusqlite::types::ValueRef::Blob(b) => ValueRef::Blob(b),
                };
                T::column_result(value).map_err(|source| Error::FromSql { column, source })
            }
            RowInner::Postgres(r) => {
                let column = idx
                    .position(&mut r.columns().iter().map(|c| c.name()))
                    .ok_or_else(|| Error::InvalidColumn("by name".into()))?;
                let value: postgres::PgValue = r.try_get(column)?;
                T::column_result(value.0.as_ref())
                    .map_err(|source| Error::FromSql { column, source })
            }
        }
    }
}

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as V};
        Ok(ToSqlOutput::Borrowed(match *self {
            ValueRef::Null => V::Null,
            ValueRef::Integer(i) => V::Integer(i),
            ValueRef::Real(f) => V::Real(f),
            ValueRef::Text(s) => V::Text(s.as_bytes()),
            ValueRef::Blob(b) => V::Blob(b),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn counter(conn: &Connection) -> Arc<AtomicUsize> {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        conn.after_commit(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        ran
    }

    #[test]
    fn after_commit_work_waits_for_the_outermost_commit() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let tx = conn.transaction().unwrap();
        let outer = counter(&tx);
        let sp = tx.transaction().unwrap();
        let inner = counter(&sp);
        sp.commit().unwrap();
        // A released savepoint is not durable yet.
        assert_eq!(inner.load(Ordering::SeqCst), 0);
        assert_eq!(outer.load(Ordering::SeqCst), 0);
        tx.commit().unwrap();
        assert_eq!(inner.load(Ordering::SeqCst), 1);
        assert_eq!(outer.load(Ordering::SeqCst), 1);
        // Outside a transaction the statement has committed by itself: at once.
        let now = counter(&conn);
        assert_eq!(now.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn after_commit_work_is_dropped_with_what_rolls_back() {
        let conn = Connection::open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        let kept = counter(&tx);
        let sp = tx.transaction().unwrap();
        let undone = counter(&sp);
        sp.rollback().unwrap();
        tx.commit().unwrap();
        assert_eq!(kept.load(Ordering::SeqCst), 1);
        assert_eq!(undone.load(Ordering::SeqCst), 0);

        let tx = conn.transaction().unwrap();
        let dropped = counter(&tx);
        drop(tx);
        let tx = conn.transaction().unwrap();
        tx.commit().unwrap();
        // Neither the rollback nor the next commit runs it.
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
    }
}
