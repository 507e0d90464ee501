//! Accounts: create, load, delete, last seen, SCRAM credentials, the server secret.

use super::*;
use crate::store::{AccountRows, LoginToken};
use rand::RngCore;

// ---- accounts ----

/// [`super::Request::CreateAccount`]: the new account's id, or `Exists` when the
/// folded name is taken.
pub(in crate::store) fn create_account(
    conn: &Connection,
    account: &Account,
) -> Result<Result<AccountId, RegisterError>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO accounts \
             (name, folded, email, hash, salt, iterations, created, last_seen, \
              scram_salt, scram_iterations, scram_stored_key, scram_server_key) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (folded) DO NOTHING",
        )?
        .execute(params![
            account.name,
            fold(&account.name),
            account.email,
            account.hash.hash,
            account.hash.salt,
            account.hash.iterations,
            account.created,
            account.last_seen,
            account.scram.as_ref().map(|s| &s.salt),
            account.scram.as_ref().map(|s| s.iterations),
            account.scram.as_ref().map(|s| &s.stored_key),
            account.scram.as_ref().map(|s| &s.server_key),
        ])?;
    Ok(if inserted == 0 {
        Err(RegisterError::Exists)
    } else {
        Ok(conn.last_insert_rowid())
    })
}

/// Every account, in creation order.
const ACCOUNT_COLUMNS: &str = "SELECT name, email, hash, salt, iterations, created, \
     last_seen, id, scram_salt, scram_iterations, scram_stored_key, scram_server_key \
     FROM accounts";

fn account_of(row: &rusqlite::Row<'_>) -> Result<Account> {
    Ok(Account {
        id: row.get(7)?,
        name: row.get(0)?,
        email: row.get(1)?,
        hash: PasswordHash {
            hash: row.get(2)?,
            salt: row.get(3)?,
            iterations: row.get(4)?,
        },
        created: row.get(5)?,
        last_seen: row.get(6)?,
        scram: scram_from(row.get(8)?, row.get(9)?, row.get(10)?, row.get(11)?),
    })
}

pub(in crate::store) fn load_accounts(conn: &Connection) -> Result<Vec<Account>> {
    let mut stmt = conn.prepare_cached(&format!("{ACCOUNT_COLUMNS} ORDER BY id"))?;
    let rows = stmt.query_map([], account_of)?;
    rows.collect()
}

/// [`super::Request::FetchAccount`]: the account named `name` (any case).
/// With its login tokens and read markers.
pub(in crate::store) fn fetch_account(
    conn: &Connection,
    name: &str,
) -> Result<Option<Box<AccountRows>>> {
    let Some(account) = conn
        .prepare_cached(&format!("{ACCOUNT_COLUMNS} WHERE folded = ?1"))?
        .query_row([fold(name)], account_of)
        .optional()?
    else {
        return Ok(None);
    };
    let tokens = conn
        .prepare_cached(
            "SELECT id, account_id, hash, label, created FROM login_tokens \
             WHERE account_id = ?1",
        )?
        .query_map([account.id], |row| {
            let hash: Vec<u8> = row.get(2)?;
            Ok(LoginToken {
                id: row.get(0)?,
                account: row.get(1)?,
                hash: hash.try_into().unwrap_or([0; 32]),
                label: row.get(3)?,
                created: row.get(4)?,
            })
        })?
        .collect::<Result<_>>()?;
    let read_markers = conn
        .prepare_cached(
            "SELECT account_id, target, time_ms FROM read_markers WHERE account_id = ?1",
        )?
        .query_map([account.id], |r| {
            Ok(ReadMarker {
                account: r.get(0)?,
                target: r.get(1)?,
                time_ms: r.get(2)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(Some(Box::new(AccountRows {
        account,
        tokens,
        read_markers,
    })))
}

/// [`super::Request::DeleteAccount`]: the account, its queue, memberships and login tokens
/// (its logged messages stay, under an identity no later account has).
pub(in crate::store) fn delete_account(conn: &Connection, account: AccountId) -> Result<()> {
    conn.prepare_cached("DELETE FROM offline_queue WHERE account_id = ?1")?
        .execute([account])?;
    conn.prepare_cached("DELETE FROM memberships WHERE account_id = ?1")?
        .execute([account])?;
    conn.prepare_cached("DELETE FROM read_markers WHERE account_id = ?1")?
        .execute([account])?;
    delete_tokens(conn, account, None)?;
    conn.prepare_cached("DELETE FROM accounts WHERE id = ?1")?
        .execute([account])?;
    Ok(())
}

/// [`super::Request::Seen`].
pub(in crate::store) fn seen(conn: &Connection, account: &str, time: i64) -> Result<()> {
    conn.prepare_cached("UPDATE accounts SET last_seen = ?2 WHERE folded = ?1")?
        .execute(params![fold(account), time])?;
    Ok(())
}

/// SCRAM credentials from their four columns: all present and sane, or none.
fn scram_from(
    salt: Option<Vec<u8>>,
    iterations: Option<u32>,
    stored_key: Option<Vec<u8>>,
    server_key: Option<Vec<u8>>,
) -> Option<ScramCreds> {
    let (salt, iterations, stored_key, server_key) = (salt?, iterations?, stored_key?, server_key?);
    (iterations > 0 && stored_key.len() == 32 && server_key.len() == 32).then_some(ScramCreds {
        iterations,
        salt,
        stored_key,
        server_key,
    })
}

/// [`super::Request::SetScram`]: the account's SCRAM credentials, unless it has some.
pub(in crate::store) fn set_scram(
    conn: &Connection,
    account: AccountId,
    creds: &ScramCreds,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE accounts SET scram_salt = ?2, scram_iterations = ?3, \
         scram_stored_key = ?4, scram_server_key = ?5 \
         WHERE id = ?1 AND scram_stored_key IS NULL",
    )?
    .execute(params![
        account,
        creds.salt,
        creds.iterations,
        creds.stored_key,
        creds.server_key
    ])?;
    Ok(())
}

/// The server secret `name` (32 random bytes), made on first use and kept.
pub(in crate::store) fn server_secret(conn: &Connection, name: &str) -> Result<Vec<u8>> {
    let kept: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM server_secrets WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?;
    if let Some(value) = kept.filter(|v| v.len() >= 32) {
        return Ok(value);
    }
    let mut value = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut value);
    conn.prepare_cached("INSERT OR REPLACE INTO server_secrets (name, value) VALUES (?1, ?2)")?
        .execute(params![name, value])?;
    Ok(value)
}
