//! Nick changes (`change_nick`, told to whoever sees them) and nick protection: a
//! registered account's nick is lent to someone not logged in to it for one grace
//! period per connection, then taken back.

use super::nickserv_notice;
use crate::cmd::{err, CmdError, Cx};
use crate::outgoing::Outgoing;
use chatd_proto::fold;
use chatd_proto::numeric::*;

/// Most registered nicks one connection may take without logging in, each for its
/// one grace period; past that it may take none.
const MAX_NICK_GRACES: usize = 8;

/// NICK to `new` by a registered connection: a registered account's nick it is not
/// logged in to is lent for one grace period per connection. Once that period is
/// over (the connection was renamed), taking it again needs a login: 433.
pub fn may_take_nick(cx: &Cx, new: &str) -> Result<(), CmdError> {
    let user = cx.user();
    if !user.registered || !not_logged_in_to(cx, user, new) {
        return Ok(());
    }
    let folded = fold(new);
    let text = match user.nick_graces.iter().find(|(n, _)| **n == *folded) {
        Some((_, end)) if *end > cx.now => return Ok(()),
        Some(_) => format!(
            "{new} belongs to a registered account and your grace period is over: \
             log in first (LOGIN {new} <password>)"
        ),
        None if user.nick_graces.len() >= MAX_NICK_GRACES => format!(
            "{new} belongs to a registered account and you took too many of those: \
             log in first (LOGIN {new} <password>)"
        ),
        None => return Ok(()),
    };
    Err(err(ERR_NICKNAMEINUSE, [new.to_string(), text]))
}

/// After registration, a nick change or a logout: someone holding a registered
/// account's nick without being logged in to it gets a warning and, after the grace
/// period, a new nick. The grace period is one per nick and connection: taking the
/// nick again while it runs does not extend it.
pub fn check_nick(cx: &mut Cx) {
    let user = cx.user();
    if !user.registered || !holds_others_nick(cx, cx.me) {
        return;
    }
    let nick = user.nick.clone();
    let folded: Box<str> = fold(&nick).into();
    let now = cx.now;
    let id = cx.my_id();
    let end = match user.nick_graces.iter().find(|(n, _)| *n == folded) {
        Some((_, end)) => *end,
        None if user.nick_graces.len() >= MAX_NICK_GRACES => now,
        None => {
            let end = now + cx.config.nick_grace();
            cx.user_mut().nick_graces.push((folded, end));
            cx.state.check_nick_at(end, id);
            end
        }
    };
    if end <= now {
        cx.state.check_nick_at(now, id);
        return;
    }
    let left = end.saturating_duration_since(now).as_secs().max(1);
    nickserv_notice(
        cx,
        &format!(
            "{nick} is a registered account. Log in within {left} seconds \
             (/msg NickServ IDENTIFY <password>, or LOGIN {nick} <password>) \
             or your nick will be changed."
        ),
    );
}

/// Whether the connection in `slot` holds a registered account's nick without being
/// logged in to that account. Messages for that nick then go to the account.
pub fn holds_others_nick(cx: &Cx, slot: usize) -> bool {
    cx.user_of(slot)
        .is_some_and(|user| not_logged_in_to(cx, user, &user.nick))
}

/// Whether `nick` is a registered account that `user` is not logged in to.
fn not_logged_in_to(cx: &Cx, user: &crate::state::User, nick: &str) -> bool {
    let folded = fold(nick);
    cx.state.accounts.contains_key(&folded)
        && user.account.as_deref().map(fold).as_deref() != Some(folded.as_str())
}

/// A nick check came due: rename the sender if it still holds someone's nick and
/// that nick's grace period is over.
pub fn enforce_nick(cx: &mut Cx) {
    if !cx.user().registered || !holds_others_nick(cx, cx.me) {
        return;
    }
    let old = cx.user().nick.clone();
    let folded = fold(&old);
    let grace_end = cx
        .user()
        .nick_graces
        .iter()
        .find(|(n, _)| **n == *folded)
        .map(|(_, end)| *end);
    if grace_end.is_some_and(|end| end > cx.now) {
        // An earlier check for another nick: this one's own check is still to come.
        return;
    }
    let taken = |n: &str| cx.state.slot_of_nick(n).is_some() || cx.state.account(n).is_some();
    let guest = crate::state::names::guest_nick(
        &cx.config.accounts.guest_prefix,
        cx.config.limits.nick_len,
        taken,
    );
    let Some(guest) = guest else {
        // Every guest nick tried was in use: the nick cannot stay with someone who
        // did not log in, so the connection goes.
        cx.close(&format!("{old} belongs to a registered account"));
        return;
    };
    nickserv_notice(
        cx,
        &format!(
            "{old} belongs to a registered account and you did not log in: you are now \
             {guest}. You may take {old} again on this connection only after logging in."
        ),
    );
    change_nick(cx, &guest);
    log::info!(
        "conn={} renamed {old} to {guest}: nick is a registered account",
        cx.me
    );
}

/// Gives the sender nick `new` (checked by the caller) and tells whoever sees it.
pub fn change_nick(cx: &mut Cx, new: &str) {
    let folded = fold(new);
    let old = cx.user().nick.clone();
    let nick = cx.relay_from(cx.me, "NICK", vec![new.to_string()]);
    let me = cx.me;
    if cx.user().registered {
        crate::cmd::history::log_user_event(cx, me, &nick);
    }
    let mut out = Outgoing::new(nick);
    if cx.user().has_nick() {
        let old_folded = fold(&old);
        if cx.state.nicks.get(&old_folded) == Some(&me) {
            cx.state.nicks.remove(&old_folded);
        }
    }
    cx.state.nicks.insert(folded.clone(), me);
    let registered = cx.user().registered;
    if registered {
        cx.send_to_peers(me, &mut out, true, None);
        log::info!("conn={me} nick={old} renamed to {new}");
        crate::cmd::whowas::remember(cx, me);
    }
    cx.user_mut().nick = new.to_string();
    crate::cmd::cluster::nick_changed(cx, &old, new);
    if registered && fold(&old) != folded {
        crate::cmd::monitor::went_offline(cx, &old);
        crate::cmd::monitor::came_online(cx, me);
    }
}
