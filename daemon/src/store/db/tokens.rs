//! Login tokens: saved, loaded at start, deleted (revoked, or with their account).

use super::*;
use crate::store::LoginToken;

/// [`super::Request::SaveToken`].
pub(in crate::store) fn save_token(conn: &Connection, token: &LoginToken) -> Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO login_tokens (id, account_id, hash, label, created) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        token.id,
        token.account,
        &token.hash[..],
        token.label,
        token.created
    ])?;
    Ok(())
}

/// Every login token, oldest first.
pub(in crate::store) fn load_tokens(conn: &Connection) -> Result<Vec<LoginToken>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, account_id, hash, label, created FROM login_tokens ORDER BY created, id",
    )?;
    let rows = stmt.query_map([], |row| {
        let hash: Vec<u8> = row.get(2)?;
        Ok(LoginToken {
            id: row.get(0)?,
            account: row.get(1)?,
            hash: hash.try_into().unwrap_or([0; 32]),
            label: row.get(3)?,
            created: row.get(4)?,
        })
    })?;
    rows.collect()
}

/// [`super::Request::DeleteTokens`]: one token of the account, or all of them.
pub(in crate::store) fn delete_tokens(
    conn: &Connection,
    account: AccountId,
    id: Option<&str>,
) -> Result<()> {
    match id {
        Some(id) => conn
            .prepare_cached("DELETE FROM login_tokens WHERE account_id = ?1 AND id = ?2")?
            .execute(params![account, id])?,
        None => conn
            .prepare_cached("DELETE FROM login_tokens WHERE account_id = ?1")?
            .execute([account])?,
    };
    Ok(())
}
