//! `REDACT` (IRCv3 draft/message-redaction,
//! <https://ircv3.net/specs/extensions/message-redaction>): deletes a message from
//! history for everyone (HISTORY, CHATHISTORY and an offline queue not yet
//! delivered) and tells the conversation's clients that negotiated the capability.
//!
//! Who may: the sender (by its account, or in a private conversation the nick that
//! sent it on this connection), a channel operator of the channel, an IRC operator
//! in a channel. A message is looked for only in the conversation the target names
//! for the asker, so another channel's message, or a private conversation the asker
//! is not a party of, answers `UNKNOWN_MSGID` like a message that never existed.

use super::history::{my_party, party_of_nick};
use super::{CmdError, Cx};
use crate::followup::Then;
use crate::ids::ConnId;
use crate::outgoing::Outgoing;
use crate::state::names::is_valid_nick;
use crate::state::Cap;
use crate::store::StoredMessage;
use crate::store::{id_at_ms, id_of_msgid, msgid_of, Conv, RedactRefusal, Redactor, Request};
use chatd_proto::{fold, Message};

/// `REDACT <target> <msgid> [:<reason>]` — draft/message-redaction, "Command".
pub fn redact(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let (target, msgid, reason) = (msg.param(0), msg.param(1), msg.param(2));
    let me = cx.me;
    let oper = cx.user().oper.is_some();
    let (conv, any) = if target.starts_with('#') {
        let chan = cx.state.channels.get(&fold(target));
        match chan {
            Some(c) if c.member(me).is_some() || oper => (
                Conv::Channel {
                    name: fold(target),
                    incarnation: c.incarnation,
                },
                oper || c.is_op(me),
            ),
            _ => {
                return fail_target(cx, target);
            }
        }
    } else if is_valid_nick(target, 400) {
        let conv = Conv::Direct(
            my_party(cx).into_key(),
            party_of_nick(cx, target).into_key(),
        );
        (conv, false)
    } else {
        return fail_target(cx, target);
    };
    let Some(id) = id_of_msgid(msgid) else {
        fail(cx, "UNKNOWN_MSGID", &[target, msgid], UNKNOWN);
        return Ok(());
    };
    let user = cx.user();
    let account = user
        .account
        .as_deref()
        .and_then(|a| cx.state.account(a))
        .map(|a| (a.name.clone(), a.created.saturating_mul(1000)));
    // A nick is this user's only since this connection began.
    let since = if account.is_some() {
        0
    } else {
        id_at_ms(user.signon.saturating_mul(1000))
    };
    let by = Redactor {
        any,
        account,
        party: Some((my_party(cx).into_key(), since)),
    };
    // Messages of this pass are still in the loop's log batch: hand them over first,
    // so one sent just before is found.
    if !cx.state.log_batch.is_empty() {
        let batch = std::mem::take(&mut cx.state.log_batch);
        cx.store.send(Request::Log(batch));
    }
    let then = Then::Redact {
        target: target.to_string(),
        msgid: msgid.to_string(),
        reason: reason.to_string(),
    };
    cx.ask(then, |ticket| Request::Redact {
        ticket,
        conv,
        id,
        by,
    });
    Ok(())
}

const UNKNOWN: &str = "This message does not exist or is too old";

/// The store's answer: relay the `REDACT` to the conversation's clients with the
/// capability, or say why not.
pub fn on_redacted(
    cx: &mut Cx,
    asker: ConnId,
    (target, msgid, reason): (&str, &str, &str),
    result: Result<StoredMessage, RedactRefusal>,
) {
    if !cx.alive(asker) {
        return;
    }
    let removed = match result {
        Ok(m) => m,
        Err(RedactRefusal::UnknownMsgid) => {
            fail(cx, "UNKNOWN_MSGID", &[target, msgid], UNKNOWN);
            return;
        }
        Err(RedactRefusal::Forbidden) => {
            fail(
                cx,
                "REDACT_FORBIDDEN",
                &[target, msgid],
                "You are not authorised to delete this message",
            );
            return;
        }
    };
    let me = cx.me;
    log::info!(
        "conn={me} nick={} redacted {} in {target}",
        cx.user().nick,
        msgid_of(removed.id)
    );
    let mut params = vec![target.to_string(), msgid.to_string()];
    if !reason.is_empty() {
        params.push(reason.to_string());
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let id = cx.state.next_msg_id(now_ms);
    let mut relay = cx
        .relay_from(me, "REDACT", params)
        .with_tag("msgid", msgid_of(id));
    if !reason.is_empty() {
        relay = relay.with_trailing();
    }
    let mut out = Outgoing::new(relay);
    let needs = Some(Cap::MessageRedaction);
    if target.starts_with('#') {
        let folded = fold(target);
        if cx.state.channels.contains_key(&folded) {
            cx.send_to_channel(&folded, &mut out, None, needs);
            return;
        }
    } else {
        // Both parties, with every connection of their accounts.
        let peer_account = match cx.state.slot_of_nick(target) {
            Some(peer) => cx.user_of(peer).and_then(|u| u.account.clone()),
            None => cx.state.account(target).map(|a| a.name.clone()),
        };
        let mut slots: Vec<usize> = cx.state.slot_of_nick(target).into_iter().collect();
        for account in [peer_account, cx.user().account.clone()]
            .into_iter()
            .flatten()
        {
            if let Some(sessions) = cx.state.sessions.get(&fold(&account)) {
                slots.extend(sessions);
            }
        }
        slots.sort_unstable();
        slots.dedup();
        for slot in slots.into_iter().filter(|s| *s != me) {
            if cx
                .user_of(slot)
                .is_some_and(|u| u.caps.has(Cap::MessageRedaction))
            {
                cx.send_outgoing(slot, &mut out);
            }
        }
    }
    if cx.user().caps.has(Cap::MessageRedaction) {
        cx.send_outgoing(me, &mut out);
    }
}

/// The redaction could not be written (a storage error).
pub fn on_failed(cx: &mut Cx, asker: ConnId, (target, msgid): (&str, &str), why: &str) {
    if !cx.alive(asker) {
        return;
    }
    log::warn!("conn={} redaction failed: {why}", cx.me);
    fail(
        cx,
        "INTERNAL_ERROR",
        &[target, msgid],
        "The message could not be deleted (a storage error; the operator is told)",
    );
}

fn fail_target(cx: &mut Cx, target: &str) -> Result<(), CmdError> {
    let text = format!("You cannot delete messages from {target}");
    fail(cx, "INVALID_TARGET", &[target], &text);
    Ok(())
}

fn fail(cx: &mut Cx, code: &str, context: &[&str], text: &str) {
    let mut params = vec!["REDACT", code];
    params.extend_from_slice(context);
    params.push(text);
    let server = cx.server_name().to_string();
    cx.send_me(&Message::new("FAIL", params).with_source(server));
}
