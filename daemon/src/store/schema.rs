//! The schema as numbered migrations. `MIGRATIONS[i]` takes the database from
//! version `i` to `i + 1`; the version is `PRAGMA user_version`. All pending
//! migrations run in one transaction, so a database is never left half-migrated.
//! Never edit a migration that has shipped: append a new one.
//!
//! Identities: channel keys are folded (`chatd_proto::fold`); an account is its
//! `accounts.id` (`AUTOINCREMENT`, never reused), so an account registered under a
//! deleted one's name inherits nothing. A message's `conv` is the folded channel name
//! for a channel, or `"<a>|<b>"` for a direct conversation, the two party identities
//! (`a:<account id>` / `n:<nick>`) sorted, so both sides read one history;
//! `party_a`/`party_b` hold the sender and the recipient (NULL for channel messages),
//! and the `conversations` table lists each direct conversation once with its
//! parties, so a party's conversations can be found (CHATHISTORY TARGETS). Since
//! migration 9 each conversation (and channel incarnation) is a row of `convs`, and
//! a message names it by that id (see migration 9 below).
//!
//! Channel incarnations (migration 4): a channel lives from its creation until it is
//! empty; the next channel of that name is a new incarnation, and history is read per
//! incarnation (`messages.incarnation`, `memberships.incarnation`). Each incarnation
//! is listed in `channel_incarnations`, and the bans set in it in `channel_bans`
//! (they outlive it: a member banned while away gets nothing said after the ban as
//! missed, even once the channel is gone). The seam for registered channels: one that
//! should keep its history across empty periods (and restarts) records its
//! incarnation and re-creates itself with it instead of taking a new one.
//!
//! Read markers (migration 5): `read_markers` keeps, per account id and folded
//! target, the time of the last message the user read; all of them are loaded at
//! start (the loop answers MARKREAD from memory) and each change is written through.

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
    // 4: accounts by a stable id, channels by incarnation.
    //
    // Accounts get `AUTOINCREMENT`, so a deleted account's id is never given out
    // again; the offline queue and memberships refer to the id instead of the name,
    // and direct conversations name an account party `a:<id>`. A logged `a:<name>`
    // becomes `a:<id>` only for messages since that account was created: older ones
    // were written by or to an earlier, deleted account of the same name, and keep an
    // identity no one has any more.
    //
    // Every channel message logged before has incarnation 0, which no live channel
    // ever has again (the server restarts to run this, and a restart starts every
    // channel anew): those messages stay for `tail-log` and for what remembered
    // members missed (their memberships are in incarnation 0 too), not for HISTORY.
    "
    ALTER TABLE accounts RENAME TO accounts_v3;
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        folded TEXT NOT NULL UNIQUE,
        email TEXT,
        hash BLOB NOT NULL,
        salt BLOB NOT NULL,
        iterations INTEGER NOT NULL,
        created INTEGER NOT NULL,
        last_seen INTEGER NOT NULL
    );
    INSERT INTO accounts (id, name, folded, email, hash, salt, iterations, created, last_seen)
        SELECT id, name, folded, email, hash, salt, iterations, created, last_seen
        FROM accounts_v3;
    DROP TABLE accounts_v3;

    ALTER TABLE messages ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;
    UPDATE messages SET party_a = (
            SELECT 'a:' || a.id FROM accounts a
            WHERE a.folded = substr(messages.party_a, 3) AND messages.time_ms >= a.created * 1000)
        WHERE substr(party_a, 1, 2) = 'a:' AND EXISTS (
            SELECT 1 FROM accounts a
            WHERE a.folded = substr(messages.party_a, 3) AND messages.time_ms >= a.created * 1000);
    UPDATE messages SET party_b = (
            SELECT 'a:' || a.id FROM accounts a
            WHERE a.folded = substr(messages.party_b, 3) AND messages.time_ms >= a.created * 1000)
        WHERE substr(party_b, 1, 2) = 'a:' AND EXISTS (
            SELECT 1 FROM accounts a
            WHERE a.folded = substr(messages.party_b, 3) AND messages.time_ms >= a.created * 1000);
    UPDATE messages SET conv = CASE WHEN party_a <= party_b
            THEN party_a || '|' || party_b ELSE party_b || '|' || party_a END
        WHERE party_a IS NOT NULL AND party_b IS NOT NULL;
    DELETE FROM conversations;
    INSERT OR IGNORE INTO conversations (conv, party_a, party_b)
        SELECT conv, party_a, party_b FROM messages WHERE party_a IS NOT NULL;

    DROP INDEX offline_queue_account;
    ALTER TABLE offline_queue RENAME TO offline_queue_v3;
    CREATE TABLE offline_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL REFERENCES messages (id),
        queued_ms INTEGER NOT NULL
    );
    INSERT INTO offline_queue (id, account_id, message_id, queued_ms)
        SELECT q.id, a.id, q.message_id, q.queued_ms
        FROM offline_queue_v3 q JOIN accounts a ON a.folded = q.account;
    DROP TABLE offline_queue_v3;
    CREATE INDEX offline_queue_account ON offline_queue (account_id, id);

    ALTER TABLE memberships RENAME TO memberships_v3;
    CREATE TABLE memberships (
        account_id INTEGER NOT NULL,
        channel TEXT NOT NULL,
        display TEXT NOT NULL,
        incarnation INTEGER NOT NULL,
        last_id INTEGER NOT NULL,
        PRIMARY KEY (account_id, channel)
    ) WITHOUT ROWID;
    INSERT INTO memberships (account_id, channel, display, incarnation, last_id)
        SELECT a.id, m.channel, m.display, 0, m.last_id
        FROM memberships_v3 m JOIN accounts a ON a.folded = m.account;
    DROP TABLE memberships_v3;

    CREATE TABLE channel_incarnations (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        name TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE channel_bans (
        incarnation INTEGER NOT NULL,
        mask TEXT NOT NULL,
        set_id INTEGER NOT NULL
    );
    CREATE INDEX channel_bans_incarnation ON channel_bans (incarnation);
    ",
    // 5: read markers (draft/read-marker), one row per account and target (folded
    // channel name or nick), only ever moving forward; and an index to find a
    // message's offline-queue rows when it is redacted (draft/message-redaction).
    // Channel events (draft/event-playback) need no new column: they are rows of
    // `messages` with `kind` 2 and up.
    "
    CREATE TABLE read_markers (
        account_id INTEGER NOT NULL,
        target TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        PRIMARY KEY (account_id, target)
    ) WITHOUT ROWID;
    CREATE INDEX offline_queue_message ON offline_queue (message_id);
    ",
    // 6: SCRAM-SHA-256 credentials beside the password hash (RFC 5802 §3: salt,
    // iteration count, StoredKey, ServerKey). NULL until the account's next password
    // login (the password is needed to make them). `server_secrets` holds the random
    // key the fake SCRAM salt of an unknown account is derived from, so that salt is
    // the same across restarts, as a real one is.
    "
    ALTER TABLE accounts ADD COLUMN scram_salt BLOB;
    ALTER TABLE accounts ADD COLUMN scram_iterations INTEGER;
    ALTER TABLE accounts ADD COLUMN scram_stored_key BLOB;
    ALTER TABLE accounts ADD COLUMN scram_server_key BLOB;
    CREATE TABLE server_secrets (
        name TEXT NOT NULL PRIMARY KEY,
        value BLOB NOT NULL
    ) WITHOUT ROWID;
    ",
    // 7: login tokens (the web client's "keep me logged in"), only their SHA-256.
    "
    CREATE TABLE login_tokens (
        id TEXT PRIMARY KEY,
        account_id INTEGER NOT NULL,
        hash BLOB NOT NULL UNIQUE,
        label TEXT NOT NULL,
        created INTEGER NOT NULL
    );
    CREATE INDEX login_tokens_account ON login_tokens (account_id);
    ",
    // 8: registered channels (ChanServ REGISTER) and their access lists. A channel
    // keeps its settings, its +b/+e/+I lists and one incarnation (so its history)
    // across empty periods and restarts; `founder` and `channel_access.account_id`
    // are account ids, never reused, so a re-registered name inherits no role.
    "
    CREATE TABLE registered_channels (
        channel TEXT NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        founder INTEGER NOT NULL,
        registered INTEGER NOT NULL,
        last_used INTEGER NOT NULL,
        incarnation INTEGER NOT NULL,
        history TEXT NOT NULL,
        topic TEXT,
        topic_setter TEXT,
        topic_time INTEGER,
        modes TEXT NOT NULL,
        key TEXT,
        user_limit INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE registered_channel_lists (
        channel TEXT NOT NULL,
        list TEXT NOT NULL,
        mask TEXT NOT NULL,
        setter TEXT NOT NULL,
        set_at INTEGER NOT NULL
    );
    CREATE INDEX registered_channel_lists_channel ON registered_channel_lists (channel);
    CREATE TABLE channel_access (
        channel TEXT NOT NULL,
        account_id INTEGER NOT NULL,
        role TEXT NOT NULL,
        PRIMARY KEY (channel, account_id)
    ) WITHOUT ROWID;
    ",
    // 9: the history layout for many conversations. Each conversation (a channel
    // incarnation, or a direct conversation with its two parties) is interned once in
    // `convs`, which replaces `conversations`; a message row names it by that integer
    // id and says in `dir` whether its sender is the conversation's `party_a` (0) or
    // `party_b` (1). Rows are appended by id, and the `(conv, id)` index lives in its
    // own table, `messages_by_conv`, written behind the appends in large sorted
    // batches: every message with `id <= history_state.indexed_to` is in it, a newer
    // one may not be yet (the store thread keeps those pairs in memory, see
    // `db/index.rs`, and indexes whatever lies above the watermark at start).
    // The offline queue is rebuilt to refer to the new table; ids stay the same.
    "
    CREATE TABLE convs (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        incarnation INTEGER NOT NULL,
        party_a TEXT,
        party_b TEXT,
        UNIQUE (key, incarnation)
    );
    CREATE INDEX convs_party_a ON convs (party_a) WHERE party_a IS NOT NULL;
    CREATE INDEX convs_party_b ON convs (party_b) WHERE party_b IS NOT NULL;
    INSERT INTO convs (key, incarnation, party_a, party_b)
        SELECT conv, 0, party_a, party_b FROM conversations ORDER BY conv;
    INSERT OR IGNORE INTO convs (key, incarnation, party_a, party_b)
        SELECT conv, 0, party_a, party_b FROM messages
        WHERE party_a IS NOT NULL AND party_b IS NOT NULL ORDER BY id;
    INSERT OR IGNORE INTO convs (key, incarnation)
        SELECT DISTINCT conv, incarnation FROM messages WHERE party_a IS NULL OR party_b IS NULL;
    DROP TABLE conversations;

    ALTER TABLE offline_queue RENAME TO offline_queue_v8;
    ALTER TABLE messages RENAME TO messages_v8;
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conv INTEGER NOT NULL,
        dir INTEGER NOT NULL,
        kind INTEGER NOT NULL,
        time_ms INTEGER NOT NULL,
        source TEXT NOT NULL,
        account TEXT,
        target TEXT NOT NULL,
        text TEXT NOT NULL
    );
    INSERT INTO messages (id, conv, dir, kind, time_ms, source, account, target, text)
        SELECT m.id, c.id,
            CASE WHEN m.party_a IS NOT NULL AND m.party_a IS NOT c.party_a THEN 1 ELSE 0 END,
            m.kind, m.time_ms, m.source, m.account, m.target, m.text
        FROM messages_v8 m JOIN convs c ON c.key = m.conv
            AND c.incarnation = CASE WHEN m.party_a IS NOT NULL AND m.party_b IS NOT NULL
                THEN 0 ELSE m.incarnation END
        ORDER BY m.id;
    CREATE TABLE messages_by_conv (
        conv INTEGER NOT NULL,
        id INTEGER NOT NULL,
        PRIMARY KEY (conv, id)
    ) WITHOUT ROWID;
    INSERT INTO messages_by_conv (conv, id) SELECT conv, id FROM messages ORDER BY conv, id;
    CREATE TABLE history_state (
        name TEXT NOT NULL PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO history_state (name, value)
        SELECT 'indexed_to', COALESCE(max(id), 0) FROM messages;

    CREATE TABLE offline_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL REFERENCES messages (id),
        queued_ms INTEGER NOT NULL
    );
    INSERT INTO offline_queue (id, account_id, message_id, queued_ms)
        SELECT q.id, q.account_id, q.message_id, q.queued_ms
        FROM offline_queue_v8 q JOIN messages m ON m.id = q.message_id ORDER BY q.id;
    DELETE FROM sqlite_sequence WHERE name = 'offline_queue';
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'offline_queue', seq FROM sqlite_sequence WHERE name = 'offline_queue_v8';
    DROP TABLE offline_queue_v8;
    DROP TABLE messages_v8;
    CREATE INDEX offline_queue_account ON offline_queue (account_id, id);
    CREATE INDEX offline_queue_message ON offline_queue (message_id);
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

    /// Runs the migrations from the database's version up to `to` only.
    fn upgrade(conn: &mut Connection, to: usize) {
        let from = version(conn) as usize;
        for (i, sql) in MIGRATIONS.iter().enumerate().take(to).skip(from) {
            conn.execute_batch(sql).unwrap();
            conn.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
                .unwrap();
        }
    }

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
                "INSERT INTO memberships (account_id, channel, display, incarnation, last_id) \
                 VALUES (1, '#c', '#C', 7, 1)",
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
        upgrade(&mut conn, 8);
        assert_eq!(version(&conn), 8);
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
    fn migration_4_gives_accounts_ids_and_keeps_existing_data_readable() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("t.db")).unwrap();
        for sql in &MIGRATIONS[..3] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch("PRAGMA user_version = 3").unwrap();
        // alice since t=100 s; the bob of today since t=1000 s, after an earlier
        // bob (deleted) wrote to alice at t=500 s.
        for (id, name, created) in [(1, "alice", 100), (2, "bob", 1000)] {
            conn.execute(
                "INSERT INTO accounts (id, name, folded, hash, salt, iterations, created, \
                 last_seen) VALUES (?1, ?2, ?2, x'00', x'00', 1, ?3, ?3)",
                rusqlite::params![id, name, created],
            )
            .unwrap();
        }
        let insert = "INSERT INTO messages \
             (id, time_ms, kind, source, account, target, conv, party_a, party_b, text) \
             VALUES (?1, ?2, 0, 'x!u@h', NULL, 'y', ?3, ?4, ?5, 't')";
        for (id, ms, conv, a, b) in [
            (1, 500_000, "a:alice|a:bob", Some("a:bob"), Some("a:alice")),
            (
                2,
                2_000_000,
                "a:alice|a:bob",
                Some("a:alice"),
                Some("a:bob"),
            ),
            (3, 2_000_000, "#c", None, None),
            (4, 2_000_000, "a:bob|n:zed", Some("n:zed"), Some("a:bob")),
        ] {
            conn.execute(insert, rusqlite::params![id, ms, conv, a, b])
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO conversations VALUES ('a:alice|a:bob', 'a:bob', 'a:alice');
             INSERT INTO conversations VALUES ('a:bob|n:zed', 'n:zed', 'a:bob');
             INSERT INTO offline_queue (account, message_id, queued_ms) VALUES ('bob', 4, 0);
             INSERT INTO offline_queue (account, message_id, queued_ms) VALUES ('gone', 2, 0);
             INSERT INTO memberships VALUES ('alice', '#c', '#C', 2);
             INSERT INTO memberships VALUES ('gone', '#c', '#C', 2);",
        )
        .unwrap();
        upgrade(&mut conn, 8);
        assert_eq!(version(&conn), 8);

        let rows = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        // The earlier bob's message keeps his name: no account has that identity.
        assert_eq!(
            rows(
                "SELECT conv || ' ' || party_a || '>' || party_b FROM messages \
                  WHERE party_a IS NOT NULL ORDER BY id"
            ),
            [
                "a:1|a:bob a:bob>a:1",
                "a:1|a:2 a:1>a:2",
                "a:2|n:zed n:zed>a:2"
            ]
        );
        assert_eq!(
            rows("SELECT conv FROM conversations ORDER BY conv"),
            ["a:1|a:2", "a:1|a:bob", "a:2|n:zed"]
        );
        assert_eq!(
            rows("SELECT account_id || ':' || message_id FROM offline_queue"),
            ["2:4"]
        );
        assert_eq!(
            rows(
                "SELECT account_id || channel || display || incarnation || ':' || last_id \
                  FROM memberships"
            ),
            ["1#c#C0:2"]
        );
        assert_eq!(
            rows("SELECT DISTINCT CAST(incarnation AS TEXT) FROM messages"),
            ["0"]
        );
        // Ids are never given out again, even the newest one's after it is deleted.
        conn.execute_batch("DELETE FROM accounts WHERE id = 2")
            .unwrap();
        conn.execute(
            "INSERT INTO accounts (name, folded, hash, salt, iterations, created, last_seen) \
             VALUES ('bob', 'bob', x'00', x'00', 1, 0, 0)",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 3);
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
