//! Accounts: create, load, delete, last seen.

use super::*;

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
             (name, folded, email, hash, salt, iterations, created, last_seen) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (folded) DO NOTHING",
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
        ])?;
    Ok(if inserted == 0 {
        Err(RegisterError::Exists)
    } else {
        Ok(conn.last_insert_rowid())
    })
}

/// Every account, in creation order.
pub(in crate::store) fn load_accounts(conn: &Connection) -> Result<Vec<Account>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, email, hash, salt, iterations, created, last_seen, id \
         FROM accounts ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
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
        })
    })?;
    rows.collect()
}

/// [`super::Request::DeleteAccount`]: the account, its queue, memberships and login tokens
/// (its logged messages stay, under an identity no later account has).
pub(in crate::store) fn delete_account(conn: &Connection, account: AccountId) -> Result<()> {
    conn.prepare_cached("DELETE FROM offline_queue WHERE account_id = ?1")?
        .execute([account])?;
    conn.prepare_cached("DELETE FROM memberships WHERE account_id = ?1")?
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
