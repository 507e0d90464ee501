//! What follows a login: the offline queue replayed page by page, the remembered
//! channels rejoined with what was missed there, and the end of a session.

use crate::cmd::{channel, history, Cx};
use crate::followup::Then;
use crate::ids::ConnId;
use crate::store::{Membership, Request, StoredMessage};
use chatd_proto::{fold, Message};

/// Once logged in and registered: ask the store for the offline queue and the
/// remembered channels.
pub fn after_login(cx: &mut Cx) {
    let Some(account) = cx.user().account.clone() else {
        return;
    };
    let folded = fold(&account);
    let Some(id) = cx.state.account_id(&account) else {
        return;
    };
    if cx.state.replaying.insert(folded.clone()) {
        cx.user_mut().replaying = true;
        if let Some(conn) = cx.conns.get_mut(cx.me) {
            // Until the queue arrives, the replay is not over however empty it is.
            conn.queue_fetching = true;
        }
        let then = Then::QueuePage {
            account: folded,
            before: 0,
        };
        cx.ask(then, |ticket| Request::FetchQueue {
            ticket,
            account: id,
        });
    }
    cx.ask(Then::Memberships, |ticket| Request::FetchMemberships {
        ticket,
        account: id,
    });
}

/// The offline queue arrived: deliver it, oldest first, each row deleted once its
/// line is written. A page fills at most half the SendQ (at least one row); the
/// rows beyond it stay in the store and are fetched once this page is written
/// ([`finish_replay_if_done`]), so a long queue is paced by the client's reading
/// and never trips the SendQ. `account` is the folded account, `before` the rows
/// earlier pages delivered.
pub fn on_queue(
    cx: &mut Cx,
    asker: ConnId,
    (account, before): (&str, usize),
    rows: Vec<(i64, StoredMessage)>,
) {
    if !cx.alive(asker) || cx.user().account.as_deref().map(fold).as_deref() != Some(account) {
        cx.state.replaying.remove(account);
        if cx.alive(asker) {
            cx.user_mut().replaying = false;
        }
        return;
    }
    let me = cx.me;
    if let Some(conn) = cx.conns.get_mut(me) {
        conn.queue_fetching = false;
    }
    let nick = cx.user().nick.clone();
    let caps = cx.user().caps;
    let mut room = cx.replay_room();
    let mut sent = 0;
    let mut more = false;
    for (row, msg) in rows {
        let bytes = history::replay_bytes(&msg, Some(&nick), caps, None);
        if sent > 0 && bytes.len() > room {
            more = true;
            break;
        }
        room = room.saturating_sub(bytes.len());
        cx.send_replay(bytes, Some(row));
        sent += 1;
    }
    if more {
        if let Some(conn) = cx.conns.get_mut(me) {
            conn.set_queue_more();
        }
        log::debug!("conn={me} account={account} offline queue: page of {sent} rows");
    }
    let count = before + sent;
    if !more && count > 0 {
        let text = if count == 1 {
            "1 message was delivered while you were away".to_string()
        } else {
            format!("{count} messages were delivered while you were away")
        };
        let notice =
            Message::new("NOTICE", [nick.as_str(), text.as_str()]).with_source(cx.server_name());
        cx.send_replay(notice.to_line().into(), None);
        log::info!("conn={me} account={account} offline queue: {count} delivered");
    }
    if let Some(conn) = cx.conns.get_mut(me) {
        conn.queue_delivered = count;
    }
    finish_replay_if_done(cx, me);
}

/// Once the replayed lines are all written: fetches the offline queue's next page
/// if there is one, else releases the account's replay.
pub fn finish_replay_if_done(cx: &mut Cx, slot: usize) {
    let Some(conn) = cx.conns.get_mut(slot) else {
        return;
    };
    if !conn.user.replaying
        || conn.queue_fetching
        || conn.closing.is_some()
        || !conn.replay_written()
    {
        return;
    }
    let account = conn.user.account.as_deref().map(fold);
    let more = conn.take_queue_more();
    if more {
        let id = account.as_deref().and_then(|a| cx.state.account_id(a));
        if let (Some(account), Some(id)) = (account, id) {
            let Some(conn) = cx.conns.get_mut(slot) else {
                return;
            };
            // The rows just written were handed to the store for deletion before
            // this request, and the store runs requests in order.
            let then = Then::QueuePage {
                account,
                before: conn.queue_delivered,
            };
            conn.queue_fetching = true;
            debug_assert_eq!(cx.me, slot, "called for the connection in cx.me");
            cx.ask(then, |ticket| Request::FetchQueue {
                ticket,
                account: id,
            });
            return;
        }
    }
    conn_release_replay(cx, slot);
}

fn conn_release_replay(cx: &mut Cx, slot: usize) {
    let Some(conn) = cx.conns.get_mut(slot) else {
        return;
    };
    conn.user.replaying = false;
    if let Some(account) = conn.user.account.as_deref() {
        let folded = fold(account);
        cx.state.replaying.remove(&folded);
    }
}

/// Remembered channels arrived: rejoin each, then replay what was missed there.
///
/// What was missed is what was said in the incarnation the account is a member of,
/// after it left. If that channel has since emptied (or the server restarted), the
/// name now belongs to a new channel, joined like any other (`+i`, `+k`, `+b` apply):
/// if it refuses the account, the membership of the channel that no longer exists is
/// forgotten; if it lets the account in, its history (which any member may read) is
/// replayed after the old channel's missed messages.
pub fn on_memberships(cx: &mut Cx, asker: ConnId, channels: Vec<Membership>) {
    if !cx.alive(asker) || cx.user().account.is_none() {
        return;
    }
    for m in channels {
        let folded = fold(&m.channel);
        let live = cx.state.channels.get(&folded).map(|c| c.incarnation);
        let newer = live.filter(|inc| *inc != m.incarnation);
        let mut missed = m.missed;
        if live != Some(m.incarnation) {
            // The account's channel is gone, and its bans with it: one set after the
            // account left, and matching it, would have kept it out; nothing said
            // after that ban is its to read.
            let source = cx.user().source();
            let who = crate::state::channel::Who {
                source: &source,
                account: cx.user().account.as_deref(),
            };
            let banned_at = m
                .bans
                .iter()
                .filter(|(mask, _)| crate::state::channel::Mask::parse(mask).matches(&who))
                .map(|(_, at)| *at)
                .min();
            if let Some(at) = banned_at {
                missed.retain(|msg| msg.id <= at);
            }
        }
        cx.state.cluster.given.clear();
        cx.state.cluster.created.clear();
        channel::rejoin(cx, &m.channel, m.incarnation);
        if cx.user().in_channel(&folded) {
            crate::cmd::cluster::rejoined(cx, &m.channel, m.incarnation);
        } else {
            let current = cx.state.channels.get(&folded).map(|c| c.incarnation);
            let account = cx
                .user()
                .account
                .as_deref()
                .and_then(|a| cx.state.account_id(a));
            if let (Some(current), Some(account)) = (current, account) {
                if current != m.incarnation {
                    cx.store.send(Request::Part {
                        account,
                        channel: folded,
                    });
                }
            }
            continue;
        }
        let shown = cx
            .state
            .channels
            .get(&folded)
            .map(|c| c.name.clone())
            .unwrap_or(m.channel);
        // What was missed counts against the SendQ like any line: replay the newest
        // that fit in half of it and say what was left out, rather than cut the
        // client off at every login.
        let caps = cx.user().caps;
        let mut room = cx.replay_room();
        let mut keep = 0;
        for msg in missed.iter().rev() {
            let len = history::replay_bytes(msg, None, caps, Some("0000000000000000")).len();
            if len > room {
                break;
            }
            room -= len;
            keep += 1;
        }
        let skipped = missed.len() - keep;
        if skipped > 0 {
            // HISTORY reads the channel as it is now: an earlier channel of that
            // name is not readable any more.
            let rest = if newer.is_none() {
                format!("; HISTORY {shown} shows them")
            } else {
                String::new()
            };
            cx.notice(&format!(
                "{skipped} older missed messages in {shown} were not replayed{rest}"
            ));
        }
        if keep > 0 {
            history::send_replay_batch(cx, &shown, &missed[skipped..]);
        }
        if let Some(incarnation) = newer {
            history::ask_missed(cx, &shown, incarnation);
        }
    }
}

/// Drops `slot` from the account's sessions; the last one out records where it
/// stopped reading its channels.
pub fn end_session(cx: &mut Cx, slot: usize, account: &str) {
    let folded = fold(account);
    let mut last = false;
    if let Some(slots) = cx.state.sessions.get_mut(&folded) {
        slots.retain(|s| *s != slot);
        if slots.is_empty() {
            cx.state.sessions.remove(&folded);
            last = true;
        }
    }
    if let Some(conn) = cx.conns.get_mut(slot) {
        if conn.user.replaying {
            conn.user.replaying = false;
            cx.state.replaying.remove(&folded);
        }
    }
    if last {
        let channels = cx
            .user_of(slot)
            .map(|u| u.channels.clone())
            .unwrap_or_default();
        if let (false, Some(id)) = (channels.is_empty(), cx.state.account_id(&folded)) {
            cx.store.send(Request::Left {
                account: id,
                channels,
                last_id: cx.state.last_msg_id,
            });
        }
        cx.store.send(Request::Seen {
            account: folded,
            time: chrono::Utc::now().timestamp(),
        });
    }
}
