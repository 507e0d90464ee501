//! `chatd migrate`: copies a single node's SQLite database into an empty PostgreSQL
//! database, table by table (binary `COPY`), in one transaction, then checks that
//! every table holds as many rows on both sides.

use super::schema::{self, TABLES};
use crate::store::{StoreError, DB_FILE};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use rusqlite::types::Value;
use std::path::Path;

/// Rows copied, by table, in copy order.
pub type Copied = Vec<(&'static str, i64)>;

/// Copies `data_dir/chatd.db` into the PostgreSQL database `url`, which must have
/// no chatd rows yet (it is migrated to the current schema first). The SQLite
/// database is brought up to its current schema first, as chatd would at start.
pub fn migrate_sqlite_to_pg(data_dir: &Path, url: &str) -> Result<Copied, StoreError> {
    let path = data_dir.join(DB_FILE);
    let fail = |what: &str, e: &dyn std::fmt::Display| StoreError(format!("{what}: {e}"));
    if !path.is_file() {
        return Err(StoreError(format!(
            "{} does not exist: nothing to migrate",
            path.display()
        )));
    }
    let mut lite =
        rusqlite::Connection::open(&path).map_err(|e| fail(&path.display().to_string(), &e))?;
    crate::store::schema::migrate(&mut lite).map_err(|e| fail(&path.display().to_string(), &e))?;
    let (config, tls) = super::parse_config(url)?;
    let mut client = config.connect(tls).map_err(|e| {
        fail(
            "cannot connect to PostgreSQL (cluster.database)",
            &super::describe(&e),
        )
    })?;
    schema::migrate(&mut client).map_err(StoreError)?;
    let mut tx = client
        .transaction()
        .map_err(|e| fail("cannot begin a transaction", &e))?;
    for table in TABLES {
        let n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .map_err(|e| fail(table, &e))?
            .get(0);
        if n > 0 {
            return Err(StoreError(format!(
                "the PostgreSQL database is not empty (table {table} has {n} rows); \
                 chatd migrate copies into an empty database only"
            )));
        }
    }
    let mut copied = Vec::new();
    // A read transaction: one consistent snapshot of the SQLite database.
    let snapshot = lite
        .transaction()
        .map_err(|e| fail(&path.display().to_string(), &e))?;
    for table in TABLES {
        let n = copy_table(&snapshot, &mut tx, table).map_err(|e| fail(table, &e))?;
        copied.push((*table, n));
    }
    drop(snapshot);
    // Sequences continue above every id SQLite ever gave out (AUTOINCREMENT never
    // reuses one, even a deleted account's).
    for (table, column) in [("accounts", "id"), ("offline_queue", "id")] {
        let ever: i64 = lite
            .query_row(
                "SELECT COALESCE(max(seq), 0) FROM sqlite_sequence WHERE name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap_or(0);
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                 GREATEST($1, (SELECT COALESCE(max({column}), 0) FROM {table}), 1))"
            ),
            &[&ever],
        )
        .map_err(|e| fail(table, &e))?;
    }
    for (table, n) in &copied {
        let lite_n: i64 = lite
            .query_row(
                &format!("SELECT count(*) FROM {}", sqlite_source(table)),
                [],
                |r| r.get(0),
            )
            .map_err(|e| fail(table, &e))?;
        let pg_n: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .map_err(|e| fail(table, &e))?
            .get(0);
        if lite_n != pg_n || *n != pg_n {
            return Err(StoreError(format!(
                "table {table}: {lite_n} rows in SQLite but {pg_n} in PostgreSQL; nothing \
                 was committed"
            )));
        }
    }
    tx.commit().map_err(|e| fail("commit failed", &e))?;
    Ok(copied)
}

/// One table: PostgreSQL's columns (but `seq`, which it numbers itself), read from
/// SQLite in the same order and written with a binary COPY.
fn copy_table(
    lite: &rusqlite::Connection,
    tx: &mut postgres::Transaction<'_>,
    table: &str,
) -> Result<i64, String> {
    let probe = tx
        .prepare(&format!("SELECT * FROM {table} LIMIT 0"))
        .map_err(|e| e.to_string())?;
    let columns: Vec<(String, Type)> = probe
        .columns()
        .iter()
        .filter(|c| c.name() != "seq")
        .map(|c| (c.name().to_string(), c.type_().clone()))
        .collect();
    let select: Vec<String> = columns
        .iter()
        .map(|(name, _)| sqlite_column(table, name))
        .collect();
    let order = if table == "registered_channel_lists" {
        " ORDER BY rowid"
    } else {
        ""
    };
    let from = sqlite_source(table);
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let types: Vec<Type> = columns.iter().map(|(_, t)| t.clone()).collect();
    let sink = tx
        .copy_in(&format!(
            "COPY {table} ({}) FROM STDIN BINARY",
            names.join(", ")
        ))
        .map_err(|e| e.to_string())?;
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    let mut stmt = lite
        .prepare(&format!("SELECT {} FROM {from}{order}", select.join(", ")))
        .map_err(|e| e.to_string())?;
    let mut rows = stmt.query([]).map_err(|e| e.to_string())?;
    let mut n = 0;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(types.len());
        for (i, ty) in types.iter().enumerate() {
            let v: Value = row.get(i).map_err(|e| e.to_string())?;
            values.push(convert(v, ty).map_err(|e| format!("column {}: {e}", names[i]))?);
        }
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v as _).collect();
        writer.write(&refs).map_err(|e| e.to_string())?;
        n += 1;
    }
    writer.finish().map_err(|e| e.to_string())?;
    Ok(n)
}

/// Where PostgreSQL table `table`'s rows come from in SQLite. Since SQLite's
/// migration 9, history is kept differently there: a message's conversation is an
/// interned id into `convs` (and `dir` says which party sent it), so `messages` is
/// read joined with its conversation, and `conversations` is the direct ones of `convs`.
fn sqlite_source(table: &str) -> &str {
    match table {
        "messages" => "messages m JOIN convs c ON c.id = m.conv",
        "conversations" => "convs WHERE party_a IS NOT NULL AND incarnation = 0",
        other => other,
    }
}

/// The SQLite expression for PostgreSQL column `name` of `table` (see
/// [`sqlite_source`]).
fn sqlite_column(table: &str, name: &str) -> String {
    match (table, name) {
        // SQLite's NOCASE key: ASCII lowercase, as `lower` does there.
        ("bans", "key") => "lower(mask)".into(),
        ("messages", "conv") => "c.key".into(),
        ("messages", "party_a") => "CASE m.dir WHEN 0 THEN c.party_a ELSE c.party_b END".into(),
        ("messages", "party_b") => "CASE m.dir WHEN 0 THEN c.party_b ELSE c.party_a END".into(),
        ("messages", "incarnation") => "c.incarnation".into(),
        ("messages", other) => format!("m.{other}"),
        ("conversations", "conv") => "key".into(),
        (_, other) => other.into(),
    }
}

/// A SQLite value as the PostgreSQL column's type wants it.
fn convert(v: Value, ty: &Type) -> Result<Box<dyn ToSql + Sync>, String> {
    Ok(match *ty {
        Type::INT8 => Box::new(match v {
            Value::Null => None,
            Value::Integer(i) => Some(i),
            other => return Err(format!("expected an integer, got {other:?}")),
        }),
        Type::TEXT => Box::new(match v {
            Value::Null => None,
            Value::Text(s) => Some(s),
            Value::Integer(i) => Some(i.to_string()),
            other => return Err(format!("expected text, got {other:?}")),
        }),
        Type::BYTEA => Box::new(match v {
            Value::Null => None,
            Value::Blob(b) => Some(b),
            Value::Text(s) => Some(s.into_bytes()),
            other => return Err(format!("expected a blob, got {other:?}")),
        }),
        ref other => return Err(format!("no conversion to {other}")),
    })
}
