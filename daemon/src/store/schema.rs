//! The schema as numbered migrations. `MIGRATIONS[i]` takes the database from
//! version `i` to `i + 1`; the version is `PRAGMA user_version`. All pending
//! migrations run in one transaction, so a database is never left half-migrated.
//! Never edit a migration that has shipped: append a new one.
//!
//! Identities: account and channel keys are folded (`chatd_proto::fold`). A message's
//! `conv` is the folded channel name for a channel, or `"<a>|<b>"` for a direct
//! conversation, the two party identities (`a:<account>` / `n:<nick>`) sorted, so both
//! sides read one history; `party_a`/`party_b` hold the two parties (NULL for channel
//! messages), and the `conversations` table lists each direct conversation once with
//! its parties, so a party's conversations can be found (CHATHISTORY TARGETS).

use rusqlite::{Connection, TransactionBehavior};

/// Migration `i` brings `user_version` from `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        folded TEXT NOT NULL UNIQUE,
        email TEXT,
        hash BLOB NOT NULL,
        salt BLOB NOT NULL,
        iterations INTEGER NOT NULL,
        created INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    );

    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        source TEXT NOT NULL,
        account TEXT,
        target TEXT NOT NULL,
        conv TEXT NOT NULL,
        party_a TEXT,
        party_b TEXT,
        text TEXT NOT NULL
    );
    CREATE INDEX messages_conv ON messages (conv, id);
    CREATE INDEX messages_party_a ON messages (party_a, id) WHERE party_a IS NOT NULL;
    CREATE INDEX messages_party_b ON messages (party_b, id) WHERE party_b IS NOT NULL;

    CREATE TABLE offline_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        message_id INTEGER NOT NULL REFERENCES messages (id),
        queued_ms INTEGER NOT NULL
    );
    CREATE INDEX offline_queue_account ON offline_queue (account, id);

    CREATE TABLE memberships (
        account TEXT NOT NULL,
        channel TEXT NOT NULL,
        display TEXT NOT NULL,
        last_id INTEGER NOT NULL,
        PRIMARY KEY (account, channel)
    ) WITHOUT ROWID;
    ",
    // 2: server bans (chatctl ban).
    "
    CREATE TABLE bans (
        mask TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
        reason TEXT NOT NULL,
        set_at INTEGER NOT NULL,
        expires INTEGER
    );
    ",
    // 3: direct conversations in their own small table. The two party indexes on
    // `messages` cost two B-tree inserts at scattered keys for every direct message;
    // a party's conversations (CHATHISTORY TARGETS, tail-log --target) are found here
    // instead, and each conversation's messages through `messages_conv`.
    "
    CREATE TABLE conversations (
        conv TEXT NOT NULL PRIMARY KEY,
        party_a TEXT NOT NULL,
        party_b TEXT NOT NULL
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO conversations (conv, party_a, party_b)
        SELECT conv, party_a, party_b FROM messages WHERE party_a IS NOT NULL;
    CREATE INDEX conversations_a ON conversations (party_a);
    CREATE INDEX conversations_b ON conversations (party_b);
    DROP INDEX messages_party_a;
    DROP INDEX messages_party_b;
    ",
];

/// The schema version this code writes.
pub(super) fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database up to [`latest_version`]. Fails, changing nothing, when the
/// database is newer than this code.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| format!("cannot start the schema migration: {e}"))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|e| format!("cannot read the schema version: {e}"))?;
    let latest = latest_version();
    if version > latest {
        return Err(format!(
            "the database schema is version {version}, newer than this chatd \
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
        let to = i + 1;
        tx.execute_batch(sql)
            .map_err(|e| format!("schema migration to version {to} failed: {e}"))?;
        // PRAGMA takes no bound parameters; `to` is a number we made.
        tx.execute_batch(&format!("PRAGMA user_version = {to}"))
            .map_err(|e| format!("cannot record schema version {to}: {e}"))?;
    }
    tx.commit()
        .map_err(|e| format!("cannot commit the schema migration: {e}"))?;
    log::info!("database schema migrated from version {version} to {latest}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn migrations_are_idempotent_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate(&mut conn).unwrap();
            assert_eq!(version(&conn), latest_version());
            conn.execute(
                "INSERT INTO memberships (account, channel, display, last_id) \
                 VALUES ('a', '#c', '#C', 1)",
                [],
            )
            .unwrap();
        }
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn).unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), latest_version());
        let n: i64 = conn
            .query_row("SELECT count(*) FROM memberships", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn migration_3_lists_the_direct_conversations_already_logged() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 2").unwrap();
        let insert = "INSERT INTO messages \
             (id, time_ms, kind, source, account, target, conv, party_a, party_b, text) \
             VALUES (?1, 0, 0, 'x!u@h', NULL, 'y', ?2, ?3, ?4, 't')";
        for (id, conv, a, b) in [
            (1, "a:x|n:y", Some("a:x"), Some("n:y")),
            (2, "a:x|n:y", Some("n:y"), Some("a:x")),
            (3, "#c", None, None),
            (4, "a:x|a:z", Some("a:z"), Some("a:x")),
        ] {
            conn.execute(insert, rusqlite::params![id, conv, a, b])
                .unwrap();
        }
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn), latest_version());
        let mut stmt = conn
            .prepare("SELECT conv FROM conversations ORDER BY conv")
            .unwrap();
        let convs: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(convs, ["a:x|a:z", "a:x|n:y"]);
        let party_indexes: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'messages_party_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(party_indexes, 0);
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut conn = Connection::open(&path).unwrap();
        let newer = latest_version() + 1;
        conn.execute_batch(&format!("PRAGMA user_version = {newer}"))
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert!(err.contains("newer"), "{err}");
        assert_eq!(version(&conn), newer);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
