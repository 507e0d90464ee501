//! How events look in the terminal: one line each, with the time and colours on a
//! terminal (plain text otherwise), replayed messages with their original date.
//! Also which channel or query the prompt follows.

use crate::Ui;
use chatd_bot::{Event, State};
use chrono::{DateTime, Local, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub time: bool,
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const NICK_COLORS: &[&str] = &[
    "\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[36m", "\x1b[91m", "\x1b[92m",
    "\x1b[93m", "\x1b[94m", "\x1b[95m", "\x1b[96m",
];

fn paint(text: &str, code: &str, style: Style) -> String {
    if style.color {
        format!("{code}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// A nick in its own colour, the same each time.
fn nick(n: &str, style: Style) -> String {
    let hash = n.bytes().fold(5381u32, |h, b| {
        h.wrapping_mul(33) ^ u32::from(b.to_ascii_lowercase())
    });
    paint(n, NICK_COLORS[hash as usize % NICK_COLORS.len()], style)
}

fn stamp(time: DateTime<Utc>, replayed: bool, style: Style) -> String {
    if !style.time {
        return String::new();
    }
    let local = time.with_timezone(&Local);
    let text = if replayed && local.date_naive() != Local::now().date_naive() {
        local.format("%Y-%m-%d %H:%M").to_string()
    } else {
        local.format("%H:%M").to_string()
    };
    format!("{} ", paint(&text, DIM, style))
}

fn now_stamp(style: Style) -> String {
    stamp(Utc::now(), false, style)
}

/// A line from the client itself.
pub fn info_line(text: &str, style: Style) -> String {
    format!(
        "{}{}",
        now_stamp(style),
        paint(&format!("-- {text}"), CYAN, style)
    )
}

pub fn error_line(text: &str, style: Style) -> String {
    format!(
        "{}{}",
        now_stamp(style),
        paint(&format!("!! {text}"), RED, style)
    )
}

/// A rule across the screen: `--- text ---`.
pub fn marker_line(text: &str, style: Style) -> String {
    format!(
        "{}{}",
        now_stamp(style),
        paint(&format!("--- {text} ---"), CYAN, style)
    )
}

/// What the user sent, when the server does not echo it back.
pub fn own_line(target: &str, me: &str, text: &str, style: Style) -> String {
    format!(
        "{}{target} <{}> {text}",
        now_stamp(style),
        paint(me, BOLD, style)
    )
}

/// Keeps the current target sensible: the first channel joined becomes current,
/// and leaving the current channel moves to another one.
pub fn follow(ui: &mut Ui, state: &State, event: &Event) {
    match event {
        Event::Join {
            channel, own: true, ..
        } if ui.current.is_none() => {
            ui.current = Some(channel.clone());
        }
        Event::Part {
            channel, own: true, ..
        }
        | Event::Kick {
            channel, own: true, ..
        } if ui.current.as_deref().is_some_and(|c| state.eq(c, channel)) => {
            ui.current = state
                .channels()
                .map(|c| c.name.clone())
                .find(|c| !state.eq(c, channel));
        }
        Event::Nick {
            old,
            new,
            own: false,
        } if ui.current.as_deref().is_some_and(|c| state.eq(c, old)) => {
            // The query follows its peer's new nick.
            ui.current = Some(new.clone());
        }
        _ => {}
    }
}

/// One event as a line, or `None` for what the user need not see.
pub fn render(event: &Event, state: &State, style: Style) -> Option<String> {
    let now = now_stamp(style);
    let line = match event {
        Event::Message(m) | Event::Notice(m) => {
            let notice = matches!(event, Event::Notice(_));
            let who = if m.from.is_empty() { "server" } else { &m.from };
            let text = if m.replayed {
                paint(&m.text, DIM, style)
            } else {
                m.text.clone()
            };
            let sender = if notice {
                format!("-{}-", nick(who, style))
            } else if m.action {
                format!("* {}", nick(who, style))
            } else {
                format!("<{}>", nick(who, style))
            };
            let prefix = match (m.is_private, m.own) {
                (false, _) => format!("{} {sender}", m.target),
                (true, true) => format!("-> *{}* {sender}", nick(&m.target, style)),
                (true, false) if notice => sender,
                (true, false) if m.action => format!("*{}* *", nick(who, style)),
                (true, false) => format!("*{}*", nick(who, style)),
            };
            return Some(format!(
                "{}{prefix} {text}",
                stamp(m.time, m.replayed, style)
            ));
        }
        Event::Join {
            channel,
            nick: n,
            own,
        } => {
            if *own {
                format!("--> you joined {channel}")
            } else {
                format!("--> {} joined {channel}", nick(n, style))
            }
        }
        Event::Part {
            channel,
            nick: n,
            reason,
            ..
        } => format!("<-- {} left {channel}{}", nick(n, style), paren(reason)),
        Event::Kick {
            channel,
            nick: n,
            by,
            reason,
            ..
        } => format!(
            "<-- {} was kicked from {channel} by {}{}",
            nick(n, style),
            nick(by, style),
            paren(reason)
        ),
        Event::Quit {
            nick: n, reason, ..
        } => {
            format!("<-- {} quit{}", nick(n, style), paren(reason))
        }
        Event::Nick { old, new, own } => {
            if *own {
                format!("--- you are now known as {}", nick(new, style))
            } else {
                format!(
                    "--- {} is now known as {}",
                    nick(old, style),
                    nick(new, style)
                )
            }
        }
        Event::Topic { channel, topic, by } => match by {
            Some(by) => format!(
                "--- {} set the topic of {channel}: {topic}",
                nick(by, style)
            ),
            None => format!("--- topic of {channel}: {topic}"),
        },
        Event::Connected { nick: n, account } => match account {
            Some(a) => format!("--- connected as {n}, logged in as {a}. /help for commands"),
            None => format!("--- connected as {n}. /help for commands"),
        },
        Event::Disconnected {
            reason,
            reconnect_in,
        } => match reconnect_in {
            Some(d) => format!(
                "--- disconnected ({reason}); reconnecting in {:.1}s",
                d.as_secs_f32()
            ),
            None => format!("--- disconnected ({reason})"),
        },
        Event::Raw(m) => return raw(m, state, style).map(|l| format!("{now}{l}")),
    };
    Some(format!("{now}{}", paint(&line, CYAN, style)))
}

fn paren(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(" ({reason})")
    }
}

/// Numerics and other lines without an event of their own.
fn raw(m: &chatd_bot::proto::Message, state: &State, style: Style) -> Option<String> {
    let last = m.params.last().map(String::as_str).unwrap_or("");
    let middle = |from: usize| -> String {
        let end = m.params.len().saturating_sub(1);
        m.params.get(from..end).unwrap_or(&[]).join(" ")
    };
    let info = |t: String| Some(paint(&format!("--- {t}"), CYAN, style));
    match m.command.as_str() {
        // The welcome, the MOTD, logins.
        "001" | "900" | "901" | "381" => info(last.to_string()),
        "372" => info(last.strip_prefix("- ").unwrap_or(last).to_string()),
        "REGISTER" => info(last.to_string()),
        "353" => info(format!("in {}: {}", m.param(2), last)),
        "352" => {
            // 352 me #chan user host server nick flags :hops realname
            let real = last.split_once(' ').map_or("", |(_, r)| r);
            info(format!(
                "{} {} ({}@{}) {} {real}",
                m.param(1),
                nick(m.param(5), style),
                m.param(2),
                m.param(3),
                m.param(6)
            ))
        }
        // IRCv3 bot-mode: RPL_WHOISBOT.
        "335" => info(format!("{} is a bot", nick(m.param(1), style))),
        "317" => {
            let signon = m
                .param(3)
                .parse::<i64>()
                .ok()
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .map(|t| {
                    t.with_timezone(&Local)
                        .format(", signed on %Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default();
            info(format!(
                "{} idle {}s{signon}",
                nick(m.param(1), style),
                m.param(2)
            ))
        }
        "311" | "312" | "319" | "330" | "301" | "378" | "671" => {
            info(format!("{} {last}", middle(1)))
        }
        "324" | "329" | "341" => info(middle(1)),
        // MONITOR: the buddy list.
        "730" => {
            let nicks: Vec<String> = last
                .split(',')
                .map(|t| match t.split_once('!') {
                    Some((n, userhost)) => format!("{} ({userhost})", nick(n, style)),
                    None => nick(t, style),
                })
                .collect();
            info(format!("online: {}", nicks.join(", ")))
        }
        "731" => info(format!(
            "offline: {}",
            last.split(',').collect::<Vec<_>>().join(", ")
        )),
        "734" => Some(paint(
            &format!(
                "!! buddy list full ({} at most): {} not added",
                m.param(1),
                m.param(2)
            ),
            RED,
            style,
        )),
        "MODE" => info(format!(
            "{} sets mode {} on {}",
            m.source_nick().unwrap_or("server"),
            m.params[1..].join(" "),
            m.param(0)
        )),
        "INVITE" => info(format!(
            "{} invites you to {}",
            m.source_nick().unwrap_or("someone"),
            m.param(1)
        )),
        "ERROR" => info(last.to_string()),
        "FAIL" => Some(paint(
            &format!("!! {} {}: {last}", m.param(0), m.param(1)),
            RED,
            style,
        )),
        c if c.len() == 3 && (c.starts_with('4') || c.starts_with('5')) => {
            let subject = middle(1);
            let text = if subject.is_empty() {
                last.to_string()
            } else {
                format!("{subject}: {last}")
            };
            Some(paint(&format!("!! {text}"), RED, style))
        }
        // Everything else is either bookkeeping or shown by its own event.
        _ => {
            let _ = state;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatd_bot::Message;

    const PLAIN: Style = Style {
        color: false,
        time: false,
    };

    fn msg(from: &str, target: &str, text: &str, private: bool) -> Message {
        Message {
            from: from.into(),
            target: target.into(),
            text: text.into(),
            time: Utc::now(),
            account: None,
            tags: Vec::new(),
            is_private: private,
            replayed: false,
            own: false,
            action: false,
        }
    }

    #[test]
    fn plain_lines() {
        let state = State::default();
        let cases = [
            (
                Event::Message(msg("alice", "#rust", "hi", false)),
                "#rust <alice> hi",
            ),
            (
                Event::Message(msg("alice", "me", "psst", true)),
                "*alice* psst",
            ),
            (
                Event::Notice(msg("chatd.local", "me", "welcome", true)),
                "-chatd.local- welcome",
            ),
            (
                Event::Join {
                    channel: "#rust".into(),
                    nick: "bob".into(),
                    own: false,
                },
                "--> bob joined #rust",
            ),
            (
                Event::Raw(chatd_bot::proto::parse(":srv 401 me bob :No such nick").unwrap()),
                "!! bob: No such nick",
            ),
            (
                Event::Raw(
                    chatd_bot::proto::parse(":srv 335 me botty :is a Bot on chatd").unwrap(),
                ),
                "--- botty is a bot",
            ),
        ];
        for (event, want) in cases {
            assert_eq!(render(&event, &state, PLAIN).as_deref(), Some(want));
        }
        let mut own = msg("me", "alice", "hello", true);
        own.own = true;
        assert_eq!(
            render(&Event::Message(own), &state, PLAIN).as_deref(),
            Some("-> *alice* <me> hello")
        );
        assert!(render(
            &Event::Raw(chatd_bot::proto::parse(":srv 005 me A B :are supported").unwrap()),
            &state,
            PLAIN
        )
        .is_none());
    }
}
