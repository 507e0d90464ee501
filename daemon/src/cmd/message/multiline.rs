//! IRCv3 `draft/multiline` (https://ircv3.net/specs/extensions/multiline): the client's
//! `BATCH +<ref> draft/multiline <target>`, its PRIVMSG/NOTICE lines (`batch=<ref>`,
//! `draft/multiline-concat`) and `BATCH -<ref>`; the message is then relayed as one
//! batch with one msgid to clients with the capability and as separate lines to
//! others, echoed, and logged (or queued) as one message whose text has the line
//! feeds. The open batch itself is [`OpenMultiline`] (`state/multiline.rs`).

use super::{client_tags_len, fit_text, line_room, log_message, note, MAX_CLIENT_TAGS};
use crate::cmd::{account, history, no_such_channel, no_such_nick, CmdError, Cx};
use crate::followup::Then;
use crate::ids::Party;
use crate::outgoing::Outgoing;
use crate::state::channel::Who;
use crate::state::multiline::{MultilineError, OpenMultiline, MAX_BYTES, MAX_LINES};
use crate::state::{Cap, Caps};
use crate::store::{self, Conv, Request, StoredMessage};
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message, Tag};

/// The batch type this file handles.
pub const BATCH_TYPE: &str = "draft/multiline";

/// Whether a client with `caps` is sent multiline batches (the spec's "Dependencies":
/// batch must be negotiated too).
pub fn gets_batches(caps: Caps) -> bool {
    caps.has(Cap::Multiline) && caps.has(Cap::Batch)
}

/// `FAIL BATCH <code> [<context>...] :<text>` to the sender.
fn fail(cx: &mut Cx, code: &str, context: &[&str], text: &str) {
    let mut params = vec!["BATCH", code];
    params.extend_from_slice(context);
    params.push(text);
    let server = cx.server_name().to_string();
    cx.send_me(&Message::new("FAIL", params).with_source(server));
}

fn fail_with(cx: &mut Cx, e: &MultilineError, target: &str) {
    match e {
        MultilineError::MaxBytes => fail(
            cx,
            "MULTILINE_MAX_BYTES",
            &[&MAX_BYTES.to_string()],
            "Multiline batch max-bytes exceeded",
        ),
        MultilineError::MaxLines => fail(
            cx,
            "MULTILINE_MAX_LINES",
            &[&MAX_LINES.to_string()],
            "Multiline batch max-lines exceeded",
        ),
        MultilineError::InvalidTarget { given } => fail(
            cx,
            "MULTILINE_INVALID_TARGET",
            &[target, given],
            "Invalid multiline target",
        ),
        MultilineError::Invalid(why) => fail(
            cx,
            "MULTILINE_INVALID",
            &[],
            &format!("Invalid multiline batch: {why}"),
        ),
    }
}

/// `BATCH +<ref> draft/multiline <target>` opens a batch, `BATCH -<ref>` ends it and
/// sends the message (IRCv3 batch, client-initiated batches as multiline adds them).
pub fn batch(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let param = msg.param(0);
    if let Some(reference) = param.strip_prefix('-') {
        end(cx, reference);
        return Ok(());
    }
    let Some(reference) = param.strip_prefix('+') else {
        fail(
            cx,
            "MULTILINE_INVALID",
            &[],
            "A batch reference starts with + or -",
        );
        return Ok(());
    };
    if msg.param(1) != BATCH_TYPE || !gets_batches(cx.user().caps) {
        // The only batch type a client may open here.
        let kind = crate::cmd::echoable_command(msg.param(1));
        fail(cx, "UNKNOWN_TYPE", &[&kind], "Unsupported batch type");
        return Ok(());
    }
    let target = msg.param(2);
    if reference.is_empty() || target.is_empty() || reference.len() > 64 {
        let text = "Invalid multiline batch: BATCH +<ref> draft/multiline <target>";
        fail(cx, "MULTILINE_INVALID", &[], text);
        return Ok(());
    }
    if cx.user().multiline.is_some() {
        let text = "Invalid multiline batch: another one is open";
        fail(cx, "MULTILINE_INVALID", &[], text);
        return Ok(());
    }
    let client_tags: Vec<Tag> = msg
        .tags
        .iter()
        .filter(|t| t.key.starts_with('+'))
        .cloned()
        .collect();
    if client_tags_len(&client_tags) > MAX_CLIENT_TAGS {
        return Err(crate::cmd::err(
            ERR_INPUTTOOLONG,
            ["Input line was too long"],
        ));
    }
    let mut open = OpenMultiline::new(reference, target, cx.now);
    open.client_tags = client_tags;
    // The batch is answered as a whole at its end (labeled-response with multiline:
    // the label goes on the echoed BATCH, or an ACK).
    open.label = cx.replies.take_label();
    cx.user_mut().multiline = Some(Box::new(open));
    Ok(())
}

/// A message tagged `batch=<reference>` from a client (`cmd::dispatch`): one line of
/// its open multiline batch. Anything else so tagged is refused, never run.
pub fn line(cx: &mut Cx, msg: &Message, reference: &str) {
    let now = cx.now;
    let command = match msg.command.to_ascii_uppercase().as_str() {
        "PRIVMSG" => Some("PRIVMSG"),
        "NOTICE" => Some("NOTICE"),
        _ => None,
    };
    let user = cx.user_mut();
    let Some(open) = user
        .multiline
        .as_mut()
        .filter(|o| *o.reference == *reference)
    else {
        let text = "Invalid multiline batch: no such batch is open";
        fail(cx, "MULTILINE_INVALID", &[], text);
        return;
    };
    if open.expired(now) {
        user.multiline = None;
        let text = "Invalid multiline batch: not ended in time, dropped";
        fail(cx, "MULTILINE_INVALID", &[], text);
        return;
    }
    if open.failed {
        return;
    }
    let outcome = match command {
        None => Err(MultilineError::Invalid("only PRIVMSG or NOTICE lines")),
        Some(command) => {
            let concat = msg.tags.iter().any(|t| t.key == "draft/multiline-concat");
            open.add(command, msg.param(0), msg.param(1), concat)
        }
    };
    if let Err(e) = outcome {
        // Read and dropped until its end; its memory goes now.
        open.failed = true;
        open.lines = Vec::new();
        let target = open.target.clone();
        fail_with(cx, &e, &target);
    }
}

/// `BATCH -<reference>`: the batch is complete; send it.
fn end(cx: &mut Cx, reference: &str) {
    let open = cx
        .user()
        .multiline
        .as_ref()
        .is_some_and(|o| *o.reference == *reference);
    if !open {
        let text = "Invalid multiline batch: no such batch is open";
        fail(cx, "MULTILINE_INVALID", &[], text);
        return;
    }
    let open = *cx.user_mut().multiline.take().expect("checked above");
    if let Some(label) = &open.label {
        cx.replies.set_label(label);
    }
    if open.failed {
        return;
    }
    if open.expired(cx.now) {
        let text = "Invalid multiline batch: not ended in time, dropped";
        fail(cx, "MULTILINE_INVALID", &[], text);
        return;
    }
    let (Some(command), Some(text)) = (open.command, open.combined()) else {
        let text = "Invalid multiline batch: no text";
        fail(cx, "MULTILINE_INVALID", &[], text);
        return;
    };
    send(cx, &open, command, text);
}

/// The message, ready to go: the batch form and the fallback form, each as lines
/// shared by every recipient with the same tags.
struct Forms {
    batched: Vec<Outgoing>,
    fallback: Vec<Outgoing>,
}

impl Forms {
    fn for_caps(&mut self, caps: Caps) -> &mut [Outgoing] {
        if gets_batches(caps) {
            &mut self.batched
        } else {
            &mut self.fallback
        }
    }
}

/// Builds both forms for `shown_target`. Server tags (`time`, `msgid`, `account`) and
/// client tags go on the `BATCH +` of the batch form and on the first line of the
/// fallback (multiline, "Fallback" and "Message ids"); blank lines are not sent to
/// clients without the capability.
fn forms(
    open: &OpenMultiline,
    command: &str,
    source: &str,
    shown_target: &str,
    tags: &[Tag],
) -> Forms {
    let reference = format!("{:08x}", rand::random::<u32>());
    let room = line_room(command, source, shown_target);
    let time = tags.iter().find(|t| t.key == "time").cloned();
    let account = tags.iter().find(|t| t.key == "account").cloned();
    let bot = tags.iter().find(|t| t.key == "bot").cloned();
    let mut start = Message::new(
        "BATCH",
        [
            format!("+{reference}"),
            BATCH_TYPE.into(),
            shown_target.into(),
        ],
    )
    .with_source(source);
    start.tags = tags.to_vec();
    let mut batched = vec![Outgoing::new(start)];
    let mut fallback = Vec::new();
    for line in &open.lines {
        let text = fit_text(&line.text, room);
        let mut m = Message::new(command, [shown_target, text])
            .with_source(source)
            .with_trailing()
            .with_tag("batch", reference.as_str());
        if line.concat {
            m = m.with_tag("draft/multiline-concat", "");
        }
        batched.push(Outgoing::new(m));
        if text.is_empty() {
            continue;
        }
        let mut plain = Message::new(command, [shown_target, text])
            .with_source(source)
            .with_trailing();
        if fallback.is_empty() {
            plain.tags = tags.to_vec();
        } else {
            plain.tags.extend(time.clone());
            plain.tags.extend(account.clone());
            plain.tags.extend(bot.clone());
        }
        fallback.push(Outgoing::new(plain));
    }
    batched.push(Outgoing::new(
        Message::new("BATCH", [format!("-{reference}")]).with_source(source),
    ));
    Forms { batched, fallback }
}

fn send_forms(cx: &mut Cx, slot: usize, forms: &mut Forms) {
    let Some(caps) = cx.user_of(slot).map(|u| u.caps) else {
        return;
    };
    for out in forms.for_caps(caps) {
        cx.send_outgoing(slot, out);
    }
}

/// The sender's echo (echo-message); with a label, the label goes on the echoed
/// `BATCH +` itself (multiline, "Labeled response with echo-message").
fn echo(cx: &mut Cx, forms: &mut Forms) {
    let me = cx.me;
    let lines = forms.for_caps(cx.user().caps).len();
    send_forms(cx, me, forms);
    cx.replies.last_lines_are_one_batch(lines);
}

fn send(cx: &mut Cx, open: &OpenMultiline, command: &'static str, text: String) {
    let me = cx.me;
    let target = open.target.as_str();
    let quiet = command == "NOTICE";
    let source = cx.user().source();
    let account = cx.user().account.clone();
    let echo_on = cx.user().caps.has(Cap::EchoMessage);
    let kind = if quiet {
        store::Kind::Notice
    } else {
        store::Kind::Privmsg
    };
    let time_ms = chrono::Utc::now().timestamp_millis();
    let id = cx.state.next_msg_id(time_ms);
    let mut tags = vec![
        Tag::new("time", history::format_time(time_ms)),
        Tag::new("msgid", store::msgid_of(id)),
    ];
    if let Some(a) = &account {
        tags.push(Tag::new("account", a.as_str()));
    }
    // IRCv3 bot-mode: everything a bot sends carries the `bot` tag.
    if cx.user().bot {
        tags.push(Tag::new("bot", ""));
    }
    tags.extend(open.client_tags.iter().cloned());
    cx.user_mut().last_message = cx.now;
    let stored = |target: String, conv: Conv| StoredMessage {
        id,
        time_ms,
        kind,
        source: source.clone(),
        account: account.clone(),
        target,
        conv,
        text: text.clone(),
    };
    if target.starts_with('#') {
        let folded = fold(target);
        let Some(chan) = cx.state.channels.get(&folded) else {
            if !quiet {
                cx.send_err(no_such_channel(target));
            }
            return;
        };
        let who = Who {
            source: &source,
            account: account.as_deref(),
        };
        let ctcp = open.lines.iter().any(|l| super::is_ctcp(&l.text));
        if let Some(refusal) = super::refusal(chan, me, &who, ctcp) {
            if !quiet {
                let name = chan.name.clone();
                cx.reply(ERR_CANNOTSENDTOCHAN, &[name.as_str(), refusal]);
            }
            return;
        }
        let (name, incarnation) = (chan.name.clone(), chan.incarnation);
        let members: Vec<usize> = chan.members.keys().copied().filter(|&s| s != me).collect();
        let mut forms = forms(open, command, &source, &name, &tags);
        for slot in members {
            send_forms(cx, slot, &mut forms);
        }
        if echo_on {
            echo(cx, &mut forms);
        }
        let conv = Conv::Channel {
            name: folded,
            incarnation,
        };
        log_message(cx, stored(name, conv));
        return;
    }
    let holder = cx.state.slot_of_nick(target);
    let Some(slot) = holder.filter(|&s| !account::holds_others_nick(cx, s)) else {
        let Some((name, account_id)) = cx.state.account(target).map(|a| (a.name.clone(), a.id))
        else {
            if !quiet {
                cx.send_err(no_such_nick(target));
            }
            return;
        };
        // A registered account not online under its nick: its other sessions, or its
        // offline queue, as for one line.
        let conv = Conv::Direct(
            history::my_party(cx).into_key(),
            Party::account(account_id).into_key(),
        );
        let m = stored(name.clone(), conv);
        let mut forms = forms(open, command, &source, &name, &tags);
        let sessions = cx
            .state
            .sessions
            .get(&fold(&name))
            .cloned()
            .unwrap_or_default();
        if echo_on {
            echo(cx, &mut forms);
        }
        if sessions.is_empty() {
            note(cx, &m);
            let then = Then::Queued {
                command,
                target: name,
            };
            cx.tell(then, |ticket| Request::Queue {
                ticket,
                account: account_id,
                msg: m,
            });
        } else {
            for s in sessions {
                send_forms(cx, s, &mut forms);
            }
            log_message(cx, m);
        }
        return;
    };
    let Some(recipient) = cx.user_of(slot) else {
        return;
    };
    let (nick, away) = (recipient.nick.clone(), recipient.away.clone());
    let their_party = history::party_of_user(cx.state, recipient);
    let mut forms = forms(open, command, &source, &nick, &tags);
    send_forms(cx, slot, &mut forms);
    // A message to yourself is already your echo: one copy, not two.
    if echo_on && slot != me {
        echo(cx, &mut forms);
    } else if slot == me {
        cx.replies
            .last_lines_are_one_batch(forms.for_caps(cx.user().caps).len());
    }
    let conv = Conv::Direct(history::my_party(cx).into_key(), their_party.into_key());
    log_message(cx, stored(nick.clone(), conv));
    if let (false, Some(away)) = (quiet, away) {
        cx.reply(RPL_AWAY, &[nick, away.to_string()]);
    }
}
