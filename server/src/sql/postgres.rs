//! The PostgreSQL backend of the SQL layer: one pooled tokio-postgres connection, driven from
//! a blocking thread (the server's database work runs on `spawn_blocking`, as SQLite's does)
//! by `block_on` on the database's own runtime. Statements are rewritten to PostgreSQL's
//! dialect ([`super::dialect`]) and prepared once per connection; parameters are encoded as
//! the type PostgreSQL inferred for them (an integer bound where a boolean is expected is
//! `<> 0`), and columns come back as [`Value`]s (booleans as 0 and 1, `NUMERIC` sums as
//! integers when they are whole).

use std::error::Error as StdError;
use std::sync::Arc;

use bytes::BytesMut;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::{Backend, Engine, Error, Result, RowSet, Value, dialect};

type BoxError = Box<dyn StdError + Sync + Send>;

/// A pooled connection, usable from a blocking thread.
pub struct PgConn<'a> {
    client: &'a deadpool_postgres::ClientWrapper,
    rt: &'a tokio::runtime::Handle,
    sealer: &'a crate::sealing::Sealer,
    /// A `BEGIN ...` not sent yet: it goes out with the transaction's first statement, in one
    /// flight ([`PgConn::begin_with_next`]).
    begin: std::sync::Mutex<Option<&'static str>>,
    /// Statements sent to PostgreSQL through this process's connections.
    statements: Option<&'a std::sync::atomic::AtomicU64>,
    /// Set when a transaction on this connection could not be ended: the connection must not
    /// go back to the pool, where the next request would find itself inside that transaction.
    unusable: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for PgConn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn").finish_non_exhaustive()
    }
}

fn as_refs(args: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

impl<'a> PgConn<'a> {
    /// Wrap a pooled client; `rt` is the runtime its connection task runs on, `sealer` seals
    /// row contents (PostgreSQL has no SQLCipher).
    pub fn new(
        client: &'a deadpool_postgres::ClientWrapper,
        rt: &'a tokio::runtime::Handle,
        sealer: &'a crate::sealing::Sealer,
    ) -> Self {
        Self {
            client,
            rt,
            sealer,
            begin: std::sync::Mutex::new(None),
            statements: None,
            unusable: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Say that this connection's transaction could not be ended ([`PgConn::unusable`]).
    pub fn mark_unusable(&self) {
        self.unusable
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this connection must be dropped rather than returned to the pool.
    pub fn unusable(&self) -> bool {
        self.unusable.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Count every statement sent through this connection in `counter`.
    #[must_use]
    pub fn counting(mut self, counter: &'a std::sync::atomic::AtomicU64) -> Self {
        self.statements = Some(counter);
        self
    }

    /// Open a transaction with `begin` (a `BEGIN ...` statement) without a round trip of its
    /// own: it is sent in the same flight as the transaction's first statement, ahead of it
    /// on the connection (PostgreSQL runs them in order), and its outcome is checked with
    /// that statement's. The first statement of every transaction here is a read or the
    /// write lock, so a `BEGIN` that failed has not let a write run outside a transaction.
    pub fn begin_with_next(&self, begin: &'static str) {
        *self.pending_begin() = Some(begin);
    }

    /// Whether a [`PgConn::begin_with_next`] is still waiting for its first statement (the
    /// transaction ran no statement, so there is nothing to end).
    pub fn begin_pending(&self) -> bool {
        self.pending_begin().is_some()
    }

    fn pending_begin(&self) -> std::sync::MutexGuard<'_, Option<&'static str>> {
        // A poisoned lock still holds a meaningful value: the `BEGIN`, or none.
        self.begin
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count(&self, statements: u64) {
        if let Some(counter) = self.statements {
            counter.fetch_add(statements, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Run `work` (one statement), preceded in the same flight by a pending `BEGIN`.
    async fn after_begin<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        self.count(1);
        let begin = self.pending_begin().take();
        let Some(begin) = begin else {
            return work.await;
        };
        self.count(1);
        // `biased` makes `join!` poll the `BEGIN` first, which queues it on the connection
        // before the statement's own messages; both replies are then awaited together.
        let (began, out) = tokio::join!(biased; self.client.batch_execute(begin), work);
        began.map_err(pg_error)?;
        out
    }

    /// `sql` prepared (rewritten to PostgreSQL's dialect, cached per connection) and `params`
    /// encoded as the types it takes.
    async fn prepare_bound(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(tokio_postgres::Statement, Vec<Param>)> {
        let stmt = self
            .client
            .prepare_cached(&dialect::to_postgres(sql))
            .await
            .map_err(pg_error)?;
        let args = bind(stmt.params(), params)?;
        Ok((stmt, args))
    }
}

/// A PostgreSQL failure as the SQL layer's error: its SQLSTATE code and message (never a
/// parameter's value: PostgreSQL's messages name constraints and columns, not data, except
/// a unique violation's `DETAIL`, which is left out).
/// A failure of the connection itself (closed, reset, refused, or PostgreSQL shutting down or
/// out of connections) is [`Error::Unavailable`]: the transaction did not commit and the
/// request may be sent again.
pub fn pg_error(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) if is_unavailable_state(db.code().code()) => {
            Error::Unavailable(format!("{}: {}", db.code().code(), db.message()))
        }
        Some(db) => Error::Postgres(format!("{}: {}", db.code().code(), db.message())),
        None if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) => {
            Error::Unavailable(e.to_string())
        }
        None => Error::Postgres(e.to_string()),
    }
}

/// SQLSTATEs that say the server, not the statement, is the trouble: class 08 (connection
/// exception), `57P01`-`57P03` (shutting down, crashed, not yet accepting connections) and
/// `53300` (too many connections).
fn is_unavailable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

impl Backend for PgConn<'_> {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn sealer(&self) -> Option<&crate::sealing::Sealer> {
        Some(self.sealer)
    }

    fn execute(&self, sql: &str, params: Vec<Value>) -> Result<usize> {
        block_on(
            self.rt,
            self.after_begin(async {
                let (stmt, args) = self.prepare_bound(sql, params).await?;
                let n = self
                    .client
                    .execute(&stmt, &as_refs(&args))
                    .await
                    .map_err(pg_error)?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }),
        )
    }

    fn query(&self, sql: &str, params: Vec<Value>) -> Result<RowSet> {
        block_on(
            self.rt,
            self.after_begin(async {
                let (stmt, args) = self.prepare_bound(sql, params).await?;
                let rows = self
                    .client
                    .query(&stmt, &as_refs(&args))
                    .await
                    .map_err(pg_error)?;
                let columns: Arc<[String]> =
                    stmt.columns().iter().map(|c| c.name().to_owned()).collect();
                let mut out = Vec::with_capacity(rows.len());
                for row in &rows {
                    let mut values = Vec::with_capacity(columns.len());
                    for i in 0..columns.len() {
                        let cell: Cell = row
                            .try_get(i)
                            .map_err(|e| Error::Conversion(format!("column {i}: {e}")))?;
                        values.push(cell.0);
                    }
                    out.push(values);
                }
                Ok(RowSet { columns, rows: out })
            }),
        )
    }

    fn execute_batch(&self, sql: &str) -> Result<()> {
        block_on(
            self.rt,
            self.after_begin(async { self.client.batch_execute(sql).await.map_err(pg_error) }),
        )
    }
}

thread_local! {
    /// Set while this thread runs database work for [`crate::db::Db::read`] or `write`: a
    /// thread of tokio's blocking pool, where waiting on another runtime is allowed.
    static ON_BLOCKING_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` on this thread (one of tokio's blocking pool), marked so that [`block_on`] waits
/// directly.
pub fn on_blocking_thread<T>(f: impl FnOnce() -> T) -> T {
    let before = ON_BLOCKING_THREAD.with(|flag| flag.replace(true));
    let out = f();
    ON_BLOCKING_THREAD.with(|flag| flag.set(before));
    out
}

/// Run `future` on the database's runtime `rt` and wait for it. On a blocking thread (the
/// server's database work runs on `spawn_blocking`, marked by [`on_blocking_thread`]) or
/// outside any runtime it blocks this thread; called from anywhere else inside a runtime (an
/// async test, a tool) it waits on a scoped thread of its own, since tokio refuses to enter a
/// runtime from within another's context.
pub fn block_on<F>(rt: &tokio::runtime::Handle, future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if ON_BLOCKING_THREAD.with(std::cell::Cell::get)
        || tokio::runtime::Handle::try_current().is_err()
    {
        return rt.block_on(future);
    }
    std::thread::scope(|scope| match scope.spawn(|| rt.block_on(future)).join() {
        Ok(out) => out,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

fn bind(types: &[Type], params: Vec<Value>) -> Result<Vec<Param>> {
    if types.len() != params.len() {
        return Err(Error::Postgres(format!(
            "the statement takes {} parameters, {} given",
            types.len(),
            params.len()
        )));
    }
    Ok(params.into_iter().map(Param).collect())
}

/// A parameter, encoded as whatever type PostgreSQL inferred for its place.
#[derive(Debug)]
struct Param(Value);

fn is_text(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN
    )
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                ref t if is_text(t) => i.to_string().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound as {ty}").into()),
            },
            Value::Real(r) => match *ty {
                Type::FLOAT8 => r.to_sql(ty, out),
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                ref t if is_text(t) => r.to_string().to_sql(ty, out),
                _ => Err(format!("a real cannot be bound as {ty}").into()),
            },
            Value::Text(s) => match *ty {
                ref t if is_text(t) => s.to_sql(ty, out),
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => s.parse::<i32>()?.to_sql(ty, out),
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                _ => Err(format!("text cannot be bound as {ty}").into()),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(format!("bytes cannot be bound as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column, read as whatever type it has.
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        let value = match *ty {
            Type::BOOL => Value::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => Value::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::OID => Value::Integer(i64::from(u32::from_sql(ty, raw)?)),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::BYTEA => Value::Blob(<&[u8]>::from_sql(ty, raw)?.to_vec()),
            Type::NUMERIC => numeric(raw)?,
            ref t if is_text(t) => Value::Text(<&str>::from_sql(ty, raw)?.to_owned()),
            _ => return Err(format!("unsupported column type {ty}").into()),
        };
        Ok(Cell(value))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `NUMERIC` in PostgreSQL's binary form (what `SUM` of a `BIGINT` column gives): a whole
/// number that fits becomes an integer, anything else a double.
fn numeric(raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let word = |at: usize| -> std::result::Result<u16, BoxError> {
        raw.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated numeric".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i64::from(word(2)? as i16);
    let sign = word(4)?;
    let dscale = word(6)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let negative = sign == 0x4000;
    let mut whole: Option<i128> = Some(0);
    let mut real = 0f64;
    for i in 0..ndigits {
        let digit = i64::from(word(8 + 2 * i)?);
        let power = weight - i as i64;
        real += digit as f64 * 10_000f64.powi(power as i32);
        whole = match whole {
            Some(w) if power >= 0 => u32::try_from(power)
                .ok()
                .and_then(|p| 10_000i128.checked_pow(p))
                .and_then(|scale| w.checked_add(i128::from(digit) * scale)),
            Some(w) if digit == 0 => Some(w),
            _ => None,
        };
    }
    let signed = |v: i128| if negative { -v } else { v };
    Ok(
        match whole.map(signed).and_then(|w| i64::try_from(w).ok()) {
            Some(w) if dscale == 0 || real.fract() == 0.0 => Value::Integer(w),
            _ => Value::Real(if negative { -real } else { real }),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as u16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&dscale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numeric_sums_read_as_integers_and_fractions_as_reals() {
        // 123456789 = 1 * 10000^2 + 2345 * 10000 + 6789
        let v = numeric(&numeric_bytes(2, 0, 0, &[1, 2345, 6789])).expect("decode");
        assert_eq!(v, Value::Integer(123_456_789));
        let v = numeric(&numeric_bytes(0, 0x4000, 0, &[42])).expect("decode");
        assert_eq!(v, Value::Integer(-42));
        let v = numeric(&numeric_bytes(0, 0, 0, &[])).expect("decode");
        assert_eq!(v, Value::Integer(0));
        // 1.5 = 1 * 10000^0 + 5000 * 10000^-1
        let v = numeric(&numeric_bytes(0, 0, 1, &[1, 5000])).expect("decode");
        assert_eq!(v, Value::Real(1.5));
        assert!(numeric(&[0, 1]).is_err());
    }
}
