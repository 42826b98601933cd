//! The PostgreSQL connection: the synchronous client of `rust-postgres` (tokio-postgres under
//! a small private runtime), called from tokio's blocking pool exactly like SQLite.
//!
//! - Statements are prepared once per (text, parameter types) and cached.
//! - Parameters are typed from their values (integer → `int8`, text → `text`, blob →
//!   `bytea`, real → `float8`; a null is left for the server to infer), so `?1 - 60000` or
//!   `LIMIT ?2` mean what they mean in SQLite.
//! - Columns are read leniently into SQLite's storage classes: `bool`, `int2/4/8` and whole
//!   `numeric`s (PostgreSQL's `SUM` of integers) are integers.

use super::dialect;
use super::value::{Value, ValueRef};
use super::Result;
use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, Kind, ToSql, Type};
use std::collections::HashMap;
use std::error::Error as StdError;

/// What the server said, in one line (the driver's own `Display` often says only "db error").
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => match e.source() {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// How to reach the server: the URL (`postgres://user:password@host:port/db?sslmode=…`) and,
/// for TLS, the certificate authority to trust.
#[derive(Clone)]
pub struct Target {
    config: postgres::Config,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Target {
    /// Plain TCP unless the URL says `sslmode=require` (or `prefer`); then TLS, with the
    /// server's certificate checked against the Mozilla roots.
    pub fn parse(url: &str) -> std::result::Result<Target, String> {
        Target::parse_with_ca(url, None)
    }

    /// The same, trusting the CA in `ca_file` (PEM) instead of the Mozilla roots: a
    /// database server with a certificate from the organisation's own CA.
    pub fn parse_with_ca(
        url: &str,
        ca_file: Option<&std::path::Path>,
    ) -> std::result::Result<Target, String> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| format!("not a PostgreSQL URL: {e}"))?;
        let asks_tls = url.contains("sslmode=require") || url.contains("sslmode=prefer");
        let tls = if asks_tls {
            Some(std::sync::Arc::new(tls_config(ca_file)?))
        } else {
            config.ssl_mode(postgres::config::SslMode::Disable);
            None
        };
        Ok(Target { config, tls })
    }

    pub fn connect(&self) -> std::result::Result<PgConnection, postgres::Error> {
        let client = match &self.tls {
            None => self.config.connect(postgres::NoTls)?,
            Some(tls) => self.config.connect(super::tls::MakeRustls(tls.clone()))?,
        };
        Ok(PgConnection {
            client: Some(client),
            statements: HashMap::new(),
        })
    }
}

fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> std::result::Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let pem =
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut added = 0;
            for block in pem::parse_many(&pem).map_err(|e| format!("{}: {e}", path.display()))? {
                if block.tag() == "CERTIFICATE" {
                    roots
                        .add(rustls::pki_types::CertificateDer::from(
                            block.into_contents(),
                        ))
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    added += 1;
                }
            }
            if added == 0 {
                return Err(format!("{}: no CERTIFICATE in it", path.display()));
            }
        }
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

pub struct PgConnection {
    /// Always `Some` but while being dropped.
    client: Option<postgres::Client>,
    statements: HashMap<String, postgres::Statement>,
}

/// The client owns a small tokio runtime, which may not be dropped on an async worker (the
/// last `Store` clone can go anywhere): it is closed on a thread of its own.
impl Drop for PgConnection {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(client));
        }
    }
}

/// The type a parameter is declared with when prepared; oid 0 lets the server infer it.
fn declared_type(value: &ValueRef<'_>) -> Type {
    match value {
        ValueRef::Integer(_) => Type::INT8,
        ValueRef::Real(_) => Type::FLOAT8,
        ValueRef::Text(_) => Type::TEXT,
        ValueRef::Blob(_) => Type::BYTEA,
        ValueRef::Null => Type::new("unknown".into(), 0, Kind::Simple, "pg_catalog".into()),
    }
}

impl PgConnection {
    pub fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(|c| c.is_closed())
    }

    fn client(&mut self) -> &mut postgres::Client {
        self.client
            .as_mut()
            .expect("the client is only taken when dropped")
    }

    fn statement(&mut self, sql: &str, values: &[ValueRef<'_>]) -> Result<postgres::Statement> {
        let types: Vec<Type> = values.iter().map(declared_type).collect();
        let mut key = String::with_capacity(sql.len() + types.len() * 5);
        key.push_str(sql);
        for t in &types {
            key.push('\u{0}');
            key.push_str(&t.oid().to_string());
        }
        if let Some(s) = self.statements.get(&key) {
            return Ok(s.clone());
        }
        let translated = dialect::to_postgres(sql);
        let statement = self.client().prepare_typed(&translated, &types)?;
        self.statements.insert(key, statement.clone());
        Ok(statement)
    }

    pub fn execute(&mut self, sql: &str, values: &[ValueRef<'_>]) -> Result<u64> {
        let statement = self.statement(sql, values)?;
        let params: Vec<Param<'_>> = values.iter().map(|v| Param(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.client().execute(&statement, &refs)?)
    }

    pub fn query(&mut self, sql: &str, values: &[ValueRef<'_>]) -> Result<Vec<postgres::Row>> {
        let statement = self.statement(sql, values)?;
        let params: Vec<Param<'_>> = values.iter().map(|v| Param(*v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        Ok(self.client().query(&statement, &refs)?)
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<()> {
        Ok(self.client().batch_execute(&dialect::to_postgres(sql))?)
    }
}

/// A parameter, written as whatever type the server settled on.
#[derive(Debug)]
struct Param<'a>(ValueRef<'a>);

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::FLOAT4 => (i as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(format!("an integer cannot be sent as {ty}").into()),
            },
            ValueRef::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ => Err(format!("a real cannot be sent as {ty}").into()),
            },
            ValueRef::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.to_sql(ty, out)
                }
                _ => Err(format!("text cannot be sent as {ty}").into()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("a blob cannot be sent as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A column read into SQLite's storage classes.
pub struct PgValue(pub Value);

impl<'a> postgres::types::FromSql<'a> for PgValue {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        Ok(PgValue(match *ty {
            Type::BOOL => Value::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => Value::Integer(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Integer(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::OID => Value::Integer(i64::from(u32::from_sql(ty, raw)?)),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw)?,
            Type::BYTEA => Value::Blob(<Vec<u8>>::from_sql(ty, raw)?),
            _ => Value::Text(String::from_utf8(raw.to_vec())?),
        }))
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(PgValue(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `numeric` in binary form: digit count, weight, sign, display scale, then base-10000
/// digits. Whole numbers that fit are integers (what `SUM` over integers gives), else reals.
fn numeric(raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let word = |i: usize| -> std::result::Result<i16, BoxError> {
        raw.get(i..i + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "short numeric".into())
    };
    let ndigits = word(0)? as usize;
    let weight = i32::from(word(2)?);
    let sign = word(4)? as u16;
    let scale = word(6)?;
    if sign == 0xC000 {
        return Ok(Value::Real(f64::NAN));
    }
    let mut whole: i128 = 0;
    let mut real = 0f64;
    let mut fractional = false;
    for d in 0..ndigits {
        let digit = i128::from(word(8 + 2 * d)?);
        let power = weight - d as i32;
        real += digit as f64 * 10000f64.powi(power);
        if power >= 0 {
            whole =
                whole.saturating_add(digit.saturating_mul(10000i128.saturating_pow(power as u32)));
        } else if digit != 0 {
            fractional = true;
        }
    }
    let negative = sign == 0x4000;
    if scale == 0 && !fractional {
        if let Ok(i) = i64::try_from(if negative { -whole } else { whole }) {
            return Ok(Value::Integer(i));
        }
    }
    Ok(Value::Real(if negative { -real } else { real }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_bytes(digits: &[i16], weight: i16, sign: u16, scale: u16) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&scale.to_be_bytes());
        for d in digits {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out
    }

    /// TLS to the server, checked against the CA given, and refused when the server's
    /// certificate is not from a trusted CA. Needs a server with TLS on: `SIMGATE_TEST_POSTGRES`
    /// and `SIMGATE_TEST_POSTGRES_CA` (the PEM of the CA that signed the server's certificate,
    /// for 127.0.0.1); `.ci/run` sets both up. Without them there is nothing to connect to.
    #[test]
    fn tls_is_used_and_the_server_certificate_checked() {
        let (Ok(url), Ok(ca)) = (
            std::env::var("SIMGATE_TEST_POSTGRES"),
            std::env::var("SIMGATE_TEST_POSTGRES_CA"),
        ) else {
            eprintln!("skipped: SIMGATE_TEST_POSTGRES and SIMGATE_TEST_POSTGRES_CA are not set");
            return;
        };
        let separator = if url.contains('?') { '&' } else { '?' };
        let tls_url = format!("{url}{separator}sslmode=require");
        let target = Target::parse_with_ca(&tls_url, Some(std::path::Path::new(&ca))).unwrap();
        let mut conn = target.connect().unwrap();
        let rows = conn
            .query(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .unwrap();
        let ssl: PgValue = rows[0].get(0);
        assert_eq!(ssl.0, Value::Integer(1), "the session is encrypted");

        // The public roots do not know the test CA: the handshake fails, nothing is sent.
        let untrusting = Target::parse(&tls_url).unwrap();
        let err = untrusting
            .connect()
            .err()
            .expect("an unknown CA is refused");
        assert!(
            describe(&err).to_lowercase().contains("certificate"),
            "{}",
            describe(&err)
        );
    }

    #[test]
    fn numerics_read_as_integers_when_whole() {
        // 1_700_000_000_123 = 1 7000 0000 0123 in base 10000, weight 3.
        let raw = numeric_bytes(&[1, 7000, 0, 123], 3, 0, 0);
        assert_eq!(numeric(&raw).unwrap(), Value::Integer(1_700_000_000_123));
        let raw = numeric_bytes(&[42], 0, 0x4000, 0);
        assert_eq!(numeric(&raw).unwrap(), Value::Integer(-42));
        // 0 has no digits.
        assert_eq!(
            numeric(&numeric_bytes(&[], 0, 0, 0)).unwrap(),
            Value::Integer(0)
        );
        // 2.5 = 2 . 5000
        let raw = numeric_bytes(&[2, 5000], 0, 0, 1);
        assert_eq!(numeric(&raw).unwrap(), Value::Real(2.5));
    }
}
