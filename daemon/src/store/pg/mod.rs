//! The PostgreSQL engine: the store's second implementation of
//! [`Engine`](super::worker::Engine), for nodes that share one database
//! (`cluster.database`, `docs/cluster.md`). Same requests, same answers as SQLite.
//!
//! One `postgres::Client` (synchronous) owned by the store thread. A batch is one
//! transaction, each request in a savepoint; a batch nobody needs on disk before
//! answering commits with `SET LOCAL synchronous_commit = off` (the analogue of a
//! SQLite batch without fsync). Several nodes write the same database, so nothing
//! here assumes it is the only writer: inserts use `ON CONFLICT`, account ids come
//! from a sequence, message ids carry the node id (`store::next_id`).
//!
//! Connection loss: a failed call that lost the connection is transient (the worker
//! keeps the writes nobody waits for and refuses the others), and the next batch
//! reconnects, no sooner than a pause that doubles from [`RECONNECT_FIRST`] up to
//! [`RECONNECT_MAX`].
//!
//! Files: `schema.rs` the numbered migrations (`schema_version`); `accounts.rs`
//! accounts, tokens, markers, bans and operator reads; `messages.rs` the log, the
//! offline queue, history, redaction, TARGETS and the tail; `channels.rs`
//! memberships and registered channels; `execute.rs` one request; `copy.rs`
//! `chatd migrate` (SQLite into an empty PostgreSQL database).

mod accounts;
mod channels;
mod copy;
mod execute;
mod messages;
pub(super) mod schema;

pub use copy::{migrate_sqlite_to_pg, Copied};

use super::worker::{Engine, Failure};
use super::{Completion, Loaded, Request, StoreError, StoreOptions};
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_postgres_rustls::MakeRustlsConnect;

type R<T> = Result<T, PgError>;

/// A failed call: PostgreSQL's error, or no connection to make it on.
#[derive(Debug)]
pub(super) enum PgError {
    Db(postgres::Error),
    Closed,
}

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> Self {
        PgError::Db(e)
    }
}

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PgError::Db(e) => match e.as_db_error() {
                // The server's message, with its detail (which row conflicted...).
                Some(db) => write!(f, "{}: {}", db.severity(), db.message()),
                None => f.write_str(&describe(e)),
            },
            PgError::Closed => f.write_str("the connection to PostgreSQL is lost"),
        }
    }
}
type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

const RECONNECT_FIRST: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Used when the connection string sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The store thread's connection to PostgreSQL.
pub(super) struct Pg {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    client: Option<Client>,
    /// Prepared statements of this connection, by their text.
    cache: HashMap<String, Statement>,
    /// The earliest time of the next connection attempt, and the pause after it.
    next_attempt: Instant,
    pause: Duration,
}

/// Takes libpq's `sslrootcert` parameter out of a connection string (the client
/// library does not know it): the string without it, and its value.
fn split_rootcert(url: &str) -> (String, Option<String>) {
    const KEY: &str = "sslrootcert=";
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), None);
        };
        let mut found = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| match p.strip_prefix(KEY) {
                Some(v) => {
                    found = Some(v.to_string());
                    false
                }
                None => true,
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, found);
    }
    let mut found = None;
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|p| match p.strip_prefix(KEY) {
            Some(v) => {
                found = Some(v.to_string());
                false
            }
            None => true,
        })
        .collect();
    (kept.join(" "), found)
}

/// TLS for the connection: used when the server offers it (`sslmode=prefer`, the
/// default) or required (`sslmode=require`). The server's certificate is always
/// verified, against `sslrootcert` (a PEM file, such as RDS's CA bundle) when the
/// connection string names one, else against the public web roots.
fn tls_connector(rootcert: Option<&str>) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match rootcert {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect())
                .map_err(|e| StoreError(format!("sslrootcert {path}: {e}")))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(StoreError(format!(
                    "sslrootcert {path}: no certificate in it"
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Parses a connection string; the error never repeats it (it may hold a password).
pub(super) fn parse_config(url: &str) -> Result<(postgres::Config, MakeRustlsConnect), StoreError> {
    let (url, rootcert) = split_rootcert(url);
    let tls = tls_connector(rootcert.as_deref())?;
    let mut config: postgres::Config = url.parse().map_err(|e| {
        StoreError(format!(
            "cluster.database is not a valid PostgreSQL connection string: {e}"
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("chatd");
    }
    Ok((config, tls))
}

/// Connects, migrates and loads what the loop needs at start.
pub(super) fn open(url: &str, now_secs: i64) -> Result<(Pg, Loaded), StoreError> {
    let (config, tls) = parse_config(url)?;
    let mut pg = Pg::connect(config, tls)?;
    schema::migrate(pg.client()?).map_err(StoreError)?;
    let loaded = pg
        .load(now_secs)
        .map_err(|e| StoreError(format!("cannot read the PostgreSQL database: {e}")))?;
    Ok((pg, loaded))
}

impl Pg {
    /// A first connection (failing at once if the database cannot be reached).
    pub(super) fn connect(
        config: postgres::Config,
        tls: MakeRustlsConnect,
    ) -> Result<Pg, StoreError> {
        let client = config.connect(tls.clone()).map_err(|e| {
            StoreError(format!(
                "cannot connect to PostgreSQL (cluster.database): {}",
                describe(&e)
            ))
        })?;
        Ok(Pg {
            config,
            tls,
            client: Some(client),
            cache: HashMap::new(),
            next_attempt: Instant::now(),
            pause: RECONNECT_FIRST,
        })
    }

    fn client(&mut self) -> Result<&mut Client, StoreError> {
        self.client
            .as_mut()
            .ok_or_else(|| StoreError("not connected to PostgreSQL".into()))
    }

    /// Reconnects if the connection was lost, unless the pause since the last
    /// attempt is not over.
    fn ensure_connected(&mut self) -> Result<(), Failure> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        self.client = None;
        self.cache.clear();
        let now = Instant::now();
        if now < self.next_attempt {
            return Err(Failure {
                why: "the connection to PostgreSQL is lost; reconnecting".into(),
                transient: true,
            });
        }
        match self.config.connect(self.tls.clone()) {
            Ok(client) => {
                log::warn!("store: connected to PostgreSQL again");
                self.client = Some(client);
                self.pause = RECONNECT_FIRST;
                Ok(())
            }
            Err(e) => {
                self.next_attempt = now + self.pause;
                self.pause = (self.pause * 2).min(RECONNECT_MAX);
                Err(Failure {
                    why: format!("cannot connect to PostgreSQL: {}", describe(&e)),
                    transient: true,
                })
            }
        }
    }

    /// A failure, noting a lost connection.
    fn failure(&mut self, e: PgError) -> Failure {
        let transient = is_transient(&e);
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            self.client = None;
            self.cache.clear();
        }
        Failure {
            why: e.to_string(),
            transient,
        }
    }

    fn statement(&mut self, sql: &str) -> R<Statement> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let Some(client) = self.client.as_mut() else {
            return Err(PgError::Closed);
        };
        let s = client.prepare(sql)?;
        self.cache.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Runs a statement; the number of rows it changed.
    fn exec(&mut self, sql: &str, params: Params<'_>) -> R<u64> {
        let s = self.statement(sql)?;
        match self.client.as_mut() {
            Some(c) => Ok(c.execute(&s, params)?),
            None => Err(PgError::Closed),
        }
    }

    fn rows(&mut self, sql: &str, params: Params<'_>) -> R<Vec<Row>> {
        let s = self.statement(sql)?;
        match self.client.as_mut() {
            Some(c) => Ok(c.query(&s, params)?),
            None => Err(PgError::Closed),
        }
    }

    fn row(&mut self, sql: &str, params: Params<'_>) -> R<Option<Row>> {
        let s = self.statement(sql)?;
        match self.client.as_mut() {
            Some(c) => Ok(c.query_opt(&s, params)?),
            None => Err(PgError::Closed),
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), Failure> {
        let result = match self.client.as_mut() {
            Some(c) => c.batch_execute(sql).map_err(PgError::from),
            None => Err(PgError::Closed),
        };
        result.map_err(|e| self.failure(e))
    }

    /// The records another node may change (`Request::Reload`): reads only.
    fn reload(&mut self) -> R<Loaded> {
        Ok(Loaded {
            accounts: accounts::load_accounts(self)?,
            read_markers: accounts::load_read_markers(self)?,
            tokens: accounts::load_tokens(self)?,
            channels: channels::load_channels(self)?,
            ..Loaded::default()
        })
    }

    fn load(&mut self, now_secs: i64) -> R<Loaded> {
        Ok(Loaded {
            accounts: accounts::load_accounts(self)?,
            read_markers: accounts::load_read_markers(self)?,
            last_id: messages::last_id(self)?,
            bans: accounts::load_bans(self, now_secs)?,
            scram_secret: accounts::server_secret(self, "scram")?,
            tokens: accounts::load_tokens(self)?,
            channels: channels::load_channels(self)?,
        })
    }
}

/// An error with its causes ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"), never the connection string.
pub(super) fn describe(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// The database cannot be written *now* (connection lost, server shutting down or
/// starting, out of resources, a serialization conflict or deadlock with another
/// node), rather than the request being wrong.
fn is_transient(e: &PgError) -> bool {
    let e = match e {
        PgError::Closed => return true,
        PgError::Db(e) => e,
    };
    if e.is_closed() {
        return true;
    }
    let Some(state) = e.code() else {
        // No SQLSTATE: an I/O or protocol error on the connection.
        return e.as_db_error().is_none();
    };
    let code = state.code();
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57")
        || code.starts_with("58")
        || code == "40001"
        || code == "40P01"
        || code == "25006"
}

impl Engine for Pg {
    fn begin(&mut self, durable: bool, read_only: bool) -> Result<(), Failure> {
        self.ensure_connected()?;
        self.batch(match (read_only, durable) {
            (true, _) => "BEGIN READ ONLY",
            (false, true) => "BEGIN",
            (false, false) => "BEGIN; SET LOCAL synchronous_commit = off",
        })
    }

    fn savepoint(&mut self) -> Result<(), Failure> {
        self.batch("SAVEPOINT request")
    }

    fn execute(
        &mut self,
        request: &Request,
        options: &StoreOptions,
        now_ms: i64,
    ) -> Result<Option<Completion>, Failure> {
        execute::execute(self, request, options, now_ms).map_err(|e| self.failure(e))
    }

    fn release(&mut self) -> Result<(), Failure> {
        self.batch("RELEASE SAVEPOINT request")
    }

    fn rollback_savepoint(&mut self) {
        let _ = self.batch("ROLLBACK TO SAVEPOINT request; RELEASE SAVEPOINT request");
    }

    fn commit(&mut self) -> Result<(), Failure> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            let _ = self.batch("ROLLBACK");
        }
    }

    fn backup(&mut self, _path: &Path) -> Result<u64, String> {
        Err(
            "the database is PostgreSQL (cluster.database): back it up with pg_dump \
             (docs/cluster.md, Backups), not chatctl backup"
                .into(),
        )
    }

    fn close(self: Box<Self>) {
        if let Some(client) = self.client {
            if let Err(e) = client.close() {
                log::warn!("store: closing the PostgreSQL connection: {e}");
            }
        }
        log::info!("store: closed");
    }
}

#[cfg(test)]
mod tests {
    use super::split_rootcert;

    #[test]
    fn sslrootcert_is_taken_out_of_either_form() {
        let (rest, cert) = split_rootcert(
            "postgresql://u:p@db:5432/chatd?sslmode=require&sslrootcert=/etc/ca.pem",
        );
        assert_eq!(rest, "postgresql://u:p@db:5432/chatd?sslmode=require");
        assert_eq!(cert.as_deref(), Some("/etc/ca.pem"));
        let (rest, cert) = split_rootcert("postgres://db/chatd?sslrootcert=/ca.pem");
        assert_eq!(
            (rest.as_str(), cert.as_deref()),
            ("postgres://db/chatd", Some("/ca.pem"))
        );
        let (rest, cert) =
            split_rootcert("host=db dbname=chatd sslrootcert=/ca.pem sslmode=require");
        assert_eq!(rest, "host=db dbname=chatd sslmode=require");
        assert_eq!(cert.as_deref(), Some("/ca.pem"));
        let (rest, cert) = split_rootcert("host=/run/postgresql dbname=chatd");
        assert_eq!(
            (rest.as_str(), cert),
            ("host=/run/postgresql dbname=chatd", None)
        );
    }
}
