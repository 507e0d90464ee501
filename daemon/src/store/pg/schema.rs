//! The PostgreSQL schema as numbered migrations, like SQLite's (`store/schema.rs`)
//! but numbered on their own: `MIGRATIONS[i]` takes the database from version `i`
//! to `i + 1`, kept in the one-row table `schema_version`. All pending migrations
//! run in one transaction under an advisory lock, so two nodes starting together
//! migrate once, and a database newer than the code is refused.
//!
//! The tables and columns are SQLite's at its migration 8, with PostgreSQL types:
//! every integer is `BIGINT`, blobs are `BYTEA`, account and queue ids come from
//! sequences (never reused), and keys compared or sorted as text use `COLLATE "C"`
//! (byte order, as SQLite). Server bans are keyed by their ASCII-lowercased mask
//! (SQLite's `COLLATE NOCASE`); registered channel lists keep their order in `seq`.

use postgres::Client;

/// An arbitrary number, the same on every node: the advisory lock the migration
/// holds.
const MIGRATION_LOCK: i64 = 0x6368_6174_6400_0001;

/// Migration `i` brings `schema_version` from `i` to `i + 1`.
pub(in crate::store) const MIGRATIONS: &[&str] = &[
    // 1: the schema of SQLite's version 8.
    r#"
    CREATE TABLE accounts (
        id BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL,
        folded TEXT COLLATE "C" NOT NULL UNIQUE,
        email TEXT,
        hash BYTEA NOT NULL,
        salt BYTEA NOT NULL,
        iterations BIGINT NOT NULL,
        created BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        scram_salt BYTEA,
        scram_iterations BIGINT,
        scram_stored_key BYTEA,
        scram_server_key BYTEA
    );
    CREATE TABLE messages (
        id BIGINT PRIMARY KEY,
        time_ms BIGINT NOT NULL,
        kind BIGINT NOT NULL,
        source TEXT NOT NULL,
        account TEXT,
        target TEXT NOT NULL,
        conv TEXT COLLATE "C" NOT NULL,
        party_a TEXT COLLATE "C",
        party_b TEXT COLLATE "C",
        text TEXT NOT NULL,
        incarnation BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX messages_conv ON messages (conv, id);
    CREATE TABLE conversations (
        conv TEXT COLLATE "C" PRIMARY KEY,
        party_a TEXT COLLATE "C" NOT NULL,
        party_b TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX conversations_a ON conversations (party_a);
    CREATE INDEX conversations_b ON conversations (party_b);
    CREATE TABLE offline_queue (
        id BIGSERIAL PRIMARY KEY,
        account_id BIGINT NOT NULL,
        message_id BIGINT NOT NULL REFERENCES messages (id),
        queued_ms BIGINT NOT NULL
    );
    CREATE INDEX offline_queue_account ON offline_queue (account_id, id);
    CREATE INDEX offline_queue_message ON offline_queue (message_id);
    CREATE TABLE memberships (
        account_id BIGINT NOT NULL,
        channel TEXT COLLATE "C" NOT NULL,
        display TEXT NOT NULL,
        incarnation BIGINT NOT NULL,
        last_id BIGINT NOT NULL,
        PRIMARY KEY (account_id, channel)
    );
    CREATE TABLE bans (
        key TEXT COLLATE "C" PRIMARY KEY,
        mask TEXT NOT NULL,
        reason TEXT NOT NULL,
        set_at BIGINT NOT NULL,
        expires BIGINT
    );
    CREATE TABLE channel_incarnations (
        id BIGINT PRIMARY KEY,
        channel TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE channel_bans (
        incarnation BIGINT NOT NULL,
        mask TEXT NOT NULL,
        set_id BIGINT NOT NULL
    );
    CREATE INDEX channel_bans_incarnation ON channel_bans (incarnation);
    CREATE TABLE read_markers (
        account_id BIGINT NOT NULL,
        target TEXT COLLATE "C" NOT NULL,
        time_ms BIGINT NOT NULL,
        PRIMARY KEY (account_id, target)
    );
    CREATE TABLE server_secrets (
        name TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
    CREATE TABLE login_tokens (
        id TEXT PRIMARY KEY,
        account_id BIGINT NOT NULL,
        hash BYTEA NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created BIGINT NOT NULL
    );
    CREATE INDEX login_tokens_account ON login_tokens (account_id);
    CREATE TABLE registered_channels (
        channel TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        founder BIGINT NOT NULL,
        registered BIGINT NOT NULL,
        last_used BIGINT NOT NULL,
        incarnation BIGINT NOT NULL,
        history TEXT NOT NULL,
        topic TEXT,
        topic_setter TEXT,
        topic_time BIGINT,
        modes TEXT NOT NULL,
        key TEXT,
        user_limit BIGINT
    );
    CREATE TABLE registered_channel_lists (
        seq BIGSERIAL PRIMARY KEY,
        channel TEXT COLLATE "C" NOT NULL,
        list TEXT NOT NULL,
        mask TEXT NOT NULL,
        setter TEXT NOT NULL,
        set_at BIGINT NOT NULL
    );
    CREATE INDEX registered_channel_lists_channel ON registered_channel_lists (channel);
    CREATE TABLE channel_access (
        channel TEXT COLLATE "C" NOT NULL,
        account_id BIGINT NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (channel, account_id)
    );
    "#,
];

/// The tables `chatd migrate` copies and counts, in an order that keeps foreign
/// keys satisfied.
pub(in crate::store) const TABLES: &[&str] = &[
    "accounts",
    "messages",
    "conversations",
    "offline_queue",
    "memberships",
    "bans",
    "channel_incarnations",
    "channel_bans",
    "read_markers",
    "server_secrets",
    "login_tokens",
    "registered_channels",
    "registered_channel_lists",
    "channel_access",
];

/// The schema version this code writes.
pub(in crate::store) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database up to [`latest_version`]. Fails, changing nothing, when the
/// database is newer than this code.
pub(in crate::store) fn migrate(client: &mut Client) -> Result<(), String> {
    let mut tx = client
        .transaction()
        .map_err(|e| format!("cannot start the schema migration: {e}"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| format!("cannot lock the schema for migration: {e}"))?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .map_err(|e| format!("cannot create the schema_version table: {e}"))?;
    let version: Option<i64> = tx
        .query_opt("SELECT max(version) FROM schema_version", &[])
        .map_err(|e| format!("cannot read the schema version: {e}"))?
        .and_then(|row| row.get(0));
    let version = version.unwrap_or(0);
    let latest = latest_version();
    if version > latest {
        return Err(format!(
            "the PostgreSQL schema is version {version}, newer than this chatd \
             understands (version {latest}); run a newer chatd or restore a backup"
        ));
    }
    if version < 0 {
        return Err(format!("the database schema version {version} is invalid"));
    }
    if version == latest {
        return Ok(());
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let to = i as i64 + 1;
        tx.batch_execute(sql)
            .map_err(|e| format!("schema migration to version {to} failed: {e}"))?;
        tx.execute("DELETE FROM schema_version", &[])
            .and_then(|_| tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&to]))
            .map_err(|e| format!("cannot record schema version {to}: {e}"))?;
    }
    tx.commit()
        .map_err(|e| format!("cannot commit the schema migration: {e}"))?;
    log::info!("PostgreSQL schema migrated from version {version} to {latest}");
    Ok(())
}
