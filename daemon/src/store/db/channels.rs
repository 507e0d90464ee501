//! Remembered channel memberships and what was missed in them.

use super::*;

// ---- memberships ----

/// [`super::Request::Join`]: insert or replace the membership.
pub(in crate::store) fn join(
    conn: &Connection,
    account: AccountId,
    channel: &str,
    incarnation: Incarnation,
    last_id: i64,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO memberships (account_id, channel, display, incarnation, last_id) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (account_id, channel) \
         DO UPDATE SET display = excluded.display, incarnation = excluded.incarnation, \
         last_id = excluded.last_id",
    )?
    .execute(params![
        account,
        fold(channel),
        channel,
        incarnation,
        last_id
    ])?;
    Ok(())
}

/// [`super::Request::Part`].
pub(in crate::store) fn part(conn: &Connection, account: AccountId, channel: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM memberships WHERE account_id = ?1 AND channel = ?2")?
        .execute(params![account, fold(channel)])?;
    Ok(())
}

/// [`super::Request::Left`].
pub(in crate::store) fn left(
    conn: &Connection,
    account: AccountId,
    channels: &[String],
    last_id: i64,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE memberships SET last_id = ?3 WHERE account_id = ?1 AND channel = ?2",
    )?;
    for channel in channels {
        stmt.execute(params![account, fold(channel), last_id])?;
    }
    Ok(())
}

/// [`super::Request::FetchMemberships`]: every membership (by folded channel name),
/// each with the newest `missed` messages of its incarnation after its `last_id`,
/// oldest first: what was said in a later incarnation, which the account was never
/// a member of, is not missed.
pub(in crate::store) fn fetch_memberships(
    conn: &Connection,
    account: AccountId,
    missed: usize,
) -> Result<Vec<Membership>> {
    let rows: Vec<(String, String, Incarnation, i64)> = conn
        .prepare_cached(
            "SELECT channel, display, incarnation, last_id FROM memberships \
             WHERE account_id = ?1 ORDER BY channel",
        )?
        .query_map([account], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<Result<_>>()?;
    let mut bans = conn.prepare_cached(
        "SELECT mask, set_id FROM channel_bans WHERE incarnation = ?1 ORDER BY set_id",
    )?;
    rows.into_iter()
        .map(|(folded, display, incarnation, last_id)| {
            let bans = if incarnation == 0 {
                Vec::new()
            } else {
                bans.query_map([incarnation], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_>>()?
            };
            Ok(Membership {
                channel: display,
                incarnation,
                bans,
                missed: messages_between(
                    conn,
                    &folded,
                    (incarnation, false),
                    last_id,
                    i64::MAX,
                    true,
                    missed,
                )?,
            })
        })
        .collect()
}
