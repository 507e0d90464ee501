//! Messaging: `PRIVMSG`, `NOTICE`, `TAGMSG` to channels and nicks (several targets),
//! and `AWAY`. Live messages carry `time` (server-time) and relayed client-only tags
//! (message-tags); echo-message sends the sender its own copy.

use super::{err, no_such_channel, no_such_nick, CmdError, Cx};
use crate::outgoing::Outgoing;
use crate::state::Cap;
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message, Tag};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Privmsg,
    Notice,
    Tagmsg,
}

impl Kind {
    fn command(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
        }
    }
}

/// `PRIVMSG <target>{,<target>} :<text>` — RFC 2812 §3.3.1.
pub fn privmsg(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    deliver(cx, msg, Kind::Privmsg)
}

/// `NOTICE <target>{,<target>} :<text>` — RFC 2812 §3.3.2: never answered with an error.
pub fn notice(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let _ = deliver(cx, msg, Kind::Notice);
    Ok(())
}

/// `TAGMSG <target>{,<target>}` — IRCv3 message-tags; only reaches clients with that cap.
pub fn tagmsg(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    deliver(cx, msg, Kind::Tagmsg)
}

fn deliver(cx: &mut Cx, msg: &Message, kind: Kind) -> Result<(), CmdError> {
    let cmd = kind.command();
    let quiet = kind == Kind::Notice;
    let targets_param = msg.param(0);
    if targets_param.is_empty() {
        return Err(err(
            ERR_NORECIPIENT,
            [format!("No recipient given ({cmd})")],
        ));
    }
    let text = msg.param(1);
    if kind != Kind::Tagmsg && text.is_empty() {
        return Err(err(ERR_NOTEXTTOSEND, ["No text to send"]));
    }
    let mut targets: Vec<&str> = Vec::new();
    for t in targets_param.split(',').filter(|t| !t.is_empty()) {
        if !targets.iter().any(|seen| fold(seen) == fold(t)) {
            targets.push(t);
        }
    }
    if targets.len() > cx.config.limits.targets_per_message {
        let max = cx.config.limits.targets_per_message;
        return Err(err(
            ERR_TOOMANYTARGETS,
            [
                targets_param.to_string(),
                format!("Too many targets, the maximum is {max}. No message delivered"),
            ],
        ));
    }
    let me = cx.me;
    let client_tags: Vec<Tag> = msg
        .tags
        .iter()
        .filter(|t| t.key.starts_with('+'))
        .cloned()
        .collect();
    let echo = cx.user().caps.has(Cap::EchoMessage);
    let needs = (kind == Kind::Tagmsg).then_some(Cap::MessageTags);
    if kind != Kind::Tagmsg {
        cx.user_mut().last_message = cx.now;
    }
    for target in targets {
        let build = |cx: &Cx, shown_target: String| {
            let mut params = vec![shown_target];
            if kind != Kind::Tagmsg {
                params.push(text.to_string());
            }
            let mut m = cx.relay_from(me, cmd, params);
            m.tags.extend(client_tags.iter().cloned());
            Outgoing::new(m)
        };
        if target.starts_with('#') {
            let folded = fold(target);
            let source = cx.user().source();
            let Some(chan) = cx.state.channels.get(&folded) else {
                if !quiet {
                    cx.send_err(no_such_channel(target));
                }
                continue;
            };
            if !chan.can_send(me, &source) {
                if !quiet {
                    let name = chan.name.clone();
                    cx.reply(
                        ERR_CANNOTSENDTOCHAN,
                        &[name.as_str(), "Cannot send to channel"],
                    );
                }
                continue;
            }
            let mut out = build(cx, chan.name.clone());
            cx.send_to_channel(&folded, &mut out, Some(me), needs);
            if echo {
                cx.send_outgoing(me, &mut out);
            }
        } else {
            let Some(slot) = cx.state.slot_of_nick(target) else {
                if !quiet {
                    cx.send_err(no_such_nick(target));
                }
                continue;
            };
            let Some(recipient) = cx.user_of(slot) else {
                continue;
            };
            let (nick, away, caps) = (
                recipient.nick.clone(),
                recipient.away.clone(),
                recipient.caps,
            );
            let mut out = build(cx, nick.clone());
            if needs.is_none_or(|c| caps.has(c)) {
                cx.send_outgoing(slot, &mut out);
            }
            // A message to yourself is already your echo: one copy, not two.
            if echo && slot != me {
                cx.send_outgoing(me, &mut out);
            }
            if let (Kind::Privmsg, Some(away)) = (kind, away) {
                cx.reply(RPL_AWAY, &[nick, away]);
            }
        }
    }
    Ok(())
}

/// `AWAY [:<message>]` — RFC 2812 §4.1; away-notify tells channel peers.
pub fn away(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let text = super::channel::truncate(msg.param(0), cx.config.limits.away_len).to_string();
    let me = cx.me;
    let params = if text.is_empty() {
        cx.user_mut().away = None;
        cx.reply(RPL_UNAWAY, &["You are no longer marked as being away"]);
        vec![]
    } else {
        cx.user_mut().away = Some(text.clone());
        cx.reply(RPL_NOWAWAY, &["You have been marked as being away"]);
        vec![text]
    };
    let mut out = Outgoing::new(cx.relay_from(me, "AWAY", params));
    cx.send_to_peers(me, &mut out, false, Some(Cap::AwayNotify));
    Ok(())
}
