//! Accounts (with SCRAM credentials), the server secret, login tokens, read markers,
//! server bans and what operators read.

use super::{Pg, R};
use crate::store::{
    Account, AccountId, AccountRows, AccountSummary, Ban, LoginToken, PasswordHash, ReadMarker,
    RegisterError, ScramCreds,
};
use chatd_proto::fold;
use rand::RngCore;

fn u32_of(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// An account, or `Exists` when the folded name is taken (by any node: the unique
/// key decides a race between two).
pub(super) fn create_account(
    pg: &mut Pg,
    account: &Account,
) -> R<Result<AccountId, RegisterError>> {
    let scram = account.scram.as_ref();
    let row = pg.row(
        "INSERT INTO accounts \
         (name, folded, email, hash, salt, iterations, created, last_seen, \
          scram_salt, scram_iterations, scram_stored_key, scram_server_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (folded) DO NOTHING RETURNING id",
        &[
            &account.name,
            &fold(&account.name),
            &account.email,
            &account.hash.hash,
            &account.hash.salt,
            &i64::from(account.hash.iterations),
            &account.created,
            &account.last_seen,
            &scram.map(|s| &s.salt),
            &scram.map(|s| i64::from(s.iterations)),
            &scram.map(|s| &s.stored_key),
            &scram.map(|s| &s.server_key),
        ],
    )?;
    Ok(match row {
        Some(row) => Ok(row.get(0)),
        None => Err(RegisterError::Exists),
    })
}

const ACCOUNT_COLUMNS: &str = "SELECT name, email, hash, salt, iterations, created, \
     last_seen, id, scram_salt, scram_iterations, scram_stored_key, scram_server_key \
     FROM accounts";

fn account_of(row: &postgres::Row) -> Account {
    Account {
        id: row.get(7),
        name: row.get(0),
        email: row.get(1),
        hash: PasswordHash {
            hash: row.get(2),
            salt: row.get(3),
            iterations: u32_of(row.get(4)),
        },
        created: row.get(5),
        last_seen: row.get(6),
        scram: scram_from(row.get(8), row.get(9), row.get(10), row.get(11)),
    }
}

pub(super) fn load_accounts(pg: &mut Pg) -> R<Vec<Account>> {
    let rows = pg.rows(&format!("{ACCOUNT_COLUMNS} ORDER BY id"), &[])?;
    Ok(rows.iter().map(account_of).collect())
}

/// [`crate::store::Request::FetchAccount`]: the account named `name` (any case).
/// With its login tokens and read markers.
pub(super) fn fetch_account(pg: &mut Pg, name: &str) -> R<Option<Box<AccountRows>>> {
    let row = pg.row(
        &format!("{ACCOUNT_COLUMNS} WHERE folded = $1"),
        &[&fold(name)],
    )?;
    let Some(account) = row.as_ref().map(account_of) else {
        return Ok(None);
    };
    let tokens = pg
        .rows(
            "SELECT id, account_id, hash, label, created FROM login_tokens \
             WHERE account_id = $1",
            &[&account.id],
        )?
        .iter()
        .map(token_of)
        .collect();
    let read_markers = pg
        .rows(
            "SELECT account_id, target, time_ms FROM read_markers WHERE account_id = $1",
            &[&account.id],
        )?
        .iter()
        .map(|r| ReadMarker {
            account: r.get(0),
            target: r.get(1),
            time_ms: r.get(2),
        })
        .collect();
    Ok(Some(Box::new(AccountRows {
        account,
        tokens,
        read_markers,
    })))
}

fn scram_from(
    salt: Option<Vec<u8>>,
    iterations: Option<i64>,
    stored_key: Option<Vec<u8>>,
    server_key: Option<Vec<u8>>,
) -> Option<ScramCreds> {
    let (salt, iterations, stored_key, server_key) = (salt?, iterations?, stored_key?, server_key?);
    let iterations = u32_of(iterations);
    (iterations > 0 && stored_key.len() == 32 && server_key.len() == 32).then_some(ScramCreds {
        iterations,
        salt,
        stored_key,
        server_key,
    })
}

pub(super) fn delete_account(pg: &mut Pg, account: AccountId) -> R<()> {
    for sql in [
        "DELETE FROM offline_queue WHERE account_id = $1",
        "DELETE FROM memberships WHERE account_id = $1",
        "DELETE FROM read_markers WHERE account_id = $1",
        "DELETE FROM login_tokens WHERE account_id = $1",
        "DELETE FROM accounts WHERE id = $1",
    ] {
        pg.exec(sql, &[&account])?;
    }
    Ok(())
}

pub(super) fn seen(pg: &mut Pg, account: &str, time: i64) -> R<()> {
    pg.exec(
        "UPDATE accounts SET last_seen = $2 WHERE folded = $1",
        &[&fold(account), &time],
    )?;
    Ok(())
}

pub(super) fn set_scram(pg: &mut Pg, account: AccountId, creds: &ScramCreds) -> R<()> {
    pg.exec(
        "UPDATE accounts SET scram_salt = $2, scram_iterations = $3, \
         scram_stored_key = $4, scram_server_key = $5 \
         WHERE id = $1 AND scram_stored_key IS NULL",
        &[
            &account,
            &creds.salt,
            &i64::from(creds.iterations),
            &creds.stored_key,
            &creds.server_key,
        ],
    )?;
    Ok(())
}

/// The server secret `name` (32 random bytes), made by the first node that needs it
/// and the same for every node after.
pub(super) fn server_secret(pg: &mut Pg, name: &str) -> R<Vec<u8>> {
    let mut value = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut value);
    pg.exec(
        "INSERT INTO server_secrets (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value \
         WHERE length(server_secrets.value) < 32",
        &[&name, &value],
    )?;
    let row = pg.row("SELECT value FROM server_secrets WHERE name = $1", &[&name])?;
    Ok(row.map(|r| r.get(0)).unwrap_or(value))
}

// ---- login tokens ----

pub(super) fn save_token(pg: &mut Pg, token: &LoginToken) -> R<()> {
    pg.exec(
        "INSERT INTO login_tokens (id, account_id, hash, label, created) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE SET \
         account_id = excluded.account_id, hash = excluded.hash, label = excluded.label, \
         created = excluded.created",
        &[
            &token.id,
            &token.account,
            &&token.hash[..],
            &token.label,
            &token.created,
        ],
    )?;
    Ok(())
}

pub(super) fn load_tokens(pg: &mut Pg) -> R<Vec<LoginToken>> {
    let rows = pg.rows(
        "SELECT id, account_id, hash, label, created FROM login_tokens \
         ORDER BY created, id COLLATE \"C\"",
        &[],
    )?;
    Ok(rows.iter().map(token_of).collect())
}

fn token_of(row: &postgres::Row) -> LoginToken {
    let hash: Vec<u8> = row.get(2);
    LoginToken {
        id: row.get(0),
        account: row.get(1),
        hash: hash.try_into().unwrap_or([0; 32]),
        label: row.get(3),
        created: row.get(4),
    }
}

pub(super) fn delete_tokens(pg: &mut Pg, account: AccountId, id: Option<&str>) -> R<()> {
    match id {
        Some(id) => pg.exec(
            "DELETE FROM login_tokens WHERE account_id = $1 AND id = $2",
            &[&account, &id],
        )?,
        None => pg.exec(
            "DELETE FROM login_tokens WHERE account_id = $1",
            &[&account],
        )?,
    };
    Ok(())
}

// ---- read markers ----

pub(super) fn load_read_markers(pg: &mut Pg) -> R<Vec<ReadMarker>> {
    let rows = pg.rows(
        "SELECT account_id, target, time_ms FROM read_markers ORDER BY account_id",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| ReadMarker {
            account: r.get(0),
            target: r.get(1),
            time_ms: r.get(2),
        })
        .collect())
}

/// Forward only, whichever node writes first.
pub(super) fn set_read_marker(pg: &mut Pg, marker: &ReadMarker) -> R<()> {
    pg.exec(
        "INSERT INTO read_markers (account_id, target, time_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (account_id, target) \
         DO UPDATE SET time_ms = GREATEST(read_markers.time_ms, excluded.time_ms)",
        &[&marker.account, &fold(&marker.target), &marker.time_ms],
    )?;
    Ok(())
}

pub(super) fn drop_read_marker(pg: &mut Pg, account: AccountId, target: &str) -> R<()> {
    pg.exec(
        "DELETE FROM read_markers WHERE account_id = $1 AND target = $2",
        &[&account, &fold(target)],
    )?;
    Ok(())
}

// ---- server bans and operator reads ----

pub(super) fn add_ban(pg: &mut Pg, ban: &Ban) -> R<()> {
    pg.exec(
        "INSERT INTO bans (key, mask, reason, set_at, expires) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (key) DO UPDATE SET mask = excluded.mask, reason = excluded.reason, \
         set_at = excluded.set_at, expires = excluded.expires",
        &[
            &ban.mask.to_ascii_lowercase(),
            &ban.mask,
            &ban.reason,
            &ban.set_at,
            &ban.expires,
        ],
    )?;
    Ok(())
}

pub(super) fn remove_ban(pg: &mut Pg, mask: &str) -> R<()> {
    pg.exec(
        "DELETE FROM bans WHERE key = $1",
        &[&mask.to_ascii_lowercase()],
    )?;
    Ok(())
}

/// Bans that have not expired at `now` (Unix seconds); expired ones are deleted.
pub(super) fn load_bans(pg: &mut Pg, now: i64) -> R<Vec<Ban>> {
    pg.exec(
        "DELETE FROM bans WHERE expires IS NOT NULL AND expires <= $1",
        &[&now],
    )?;
    let rows = pg.rows(
        "SELECT mask, reason, set_at, expires FROM bans ORDER BY set_at",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|row| Ban {
            mask: row.get(0),
            reason: row.get(1),
            set_at: row.get(2),
            expires: row.get(3),
        })
        .collect())
}

pub(super) fn list_accounts(pg: &mut Pg) -> R<Vec<AccountSummary>> {
    let rows = pg.rows(
        "SELECT a.name, a.email, a.created, a.last_seen, \
         (SELECT count(*) FROM offline_queue q WHERE q.account_id = a.id) \
         FROM accounts a ORDER BY a.folded",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|row| AccountSummary {
            name: row.get(0),
            email: row.get(1),
            created: row.get(2),
            last_seen: row.get(3),
            queue_depth: row.get(4),
        })
        .collect())
}

pub(super) fn queue_total(pg: &mut Pg) -> R<i64> {
    let row = pg.row("SELECT count(*) FROM offline_queue", &[])?;
    Ok(row.map_or(0, |r| r.get(0)))
}

/// Bytes of the database on disk.
pub(super) fn database_bytes(pg: &mut Pg) -> R<i64> {
    let row = pg.row("SELECT pg_database_size(current_database())", &[])?;
    Ok(row.map_or(0, |r| r.get(0)))
}
