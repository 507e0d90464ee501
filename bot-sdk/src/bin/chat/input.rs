//! What a typed line means: text for the current channel or query, or a slash
//! command (`/join`, `/msg`, `/history`...), and doing it on the client's thread.

use crate::view::{self, Style};
use crate::Ui;
use chatd_bot::proto::Message;
use chatd_bot::Context;

/// One typed line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Text for the current channel or query.
    Say(String),
    Me(String),
    Join(String, Option<String>),
    Part(Option<String>, String),
    Msg(String, String),
    Query(Option<String>),
    History(Option<String>, u32),
    /// The page of n messages before the oldest shown in the current buffer.
    More(u32),
    /// Mark a buffer read (the current one without a name).
    Read(Option<String>),
    /// List the buffers with unread messages.
    Unread,
    Register(String, Option<String>),
    Login(Option<String>, String),
    Nick(String),
    Who(Option<String>),
    Whois(String),
    /// The buddy list (MONITOR): show it, add nicks, remove nicks.
    Buddy(BuddyOp),
    Raw(String),
    Quit(String),
    Help,
    /// A mistake, explained.
    Error(String),
}

/// What `/buddy` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuddyOp {
    /// Who of the buddies is online now.
    Show,
    Add(Vec<String>),
    Remove(Vec<String>),
}

pub const HELP: &[&str] = &[
    "Type a line to send it to the current channel or query. Commands:",
    "  /join #channel [key]      join a channel and talk there",
    "  /part [#channel] [reason] leave the current (or named) channel",
    "  /msg nick text            send one private message",
    "  /query nick               talk to nick privately (/query alone: where am I?)",
    "  /me action                an action (/me waves)",
    "  /history [n]              the last n messages here (default 20)",
    "  /more [n]                 the n messages before the oldest shown here",
    "  /read [target]            mark here (or target) read, on all your clients",
    "  /unread                   where unread messages wait",
    "  /register password [email]  register your nick as an account",
    "  /login [account] password   log in to an account",
    "  /nick newnick             change nick",
    "  /who [#channel|nick]      who is there",
    "  /whois nick               who nick is (and whether a bot)",
    "  /buddy [add|del nick...]  your buddy list: who of them is online; you are",
    "                            told when a buddy comes online or leaves (MONITOR)",
    "  /raw LINE                 send a raw IRC line",
    "  /quit [reason]            leave",
    "  /help                     this list",
    "A line starting with // sends the text with one / less.",
];

pub fn parse(line: &str) -> Action {
    let line = line.trim_end_matches(['\r', '\n']);
    if let Some(text) = line.strip_prefix("//") {
        return Action::Say(format!("/{text}"));
    }
    let Some(command) = line.strip_prefix('/') else {
        return Action::Say(line.to_string());
    };
    let (name, rest) = command.split_once(' ').unwrap_or((command, ""));
    let rest = rest.trim();
    let mut words = rest.split_whitespace();
    let first = words.next().map(str::to_string);
    let second = words.next().map(str::to_string);
    let after_first = || {
        rest.split_once(char::is_whitespace)
            .map(|(_, r)| r.trim().to_string())
            .unwrap_or_default()
    };
    let missing = |usage: &str| Action::Error(format!("Usage: {usage}"));
    match name.to_ascii_lowercase().as_str() {
        "join" | "j" => match first {
            Some(chan) => Action::Join(chan, second),
            None => missing("/join #channel [key]"),
        },
        "part" | "leave" => match first {
            Some(chan) if chan.starts_with(['#', '&']) => Action::Part(Some(chan), after_first()),
            _ => Action::Part(None, rest.to_string()),
        },
        "msg" | "m" => match first {
            Some(nick) if !after_first().is_empty() => Action::Msg(nick, after_first()),
            _ => missing("/msg nick text"),
        },
        "query" | "q" => Action::Query(first),
        "me" if !rest.is_empty() => Action::Me(rest.to_string()),
        "me" => missing("/me action"),
        "history" => match first.as_deref().map(str::parse::<u32>) {
            None => Action::History(None, 20),
            Some(Ok(n)) if n > 0 => Action::History(None, n),
            Some(_) => match second.as_deref().map(str::parse::<u32>) {
                None => Action::History(first, 20),
                Some(Ok(n)) if n > 0 => Action::History(first, n),
                _ => missing("/history [target] [n]"),
            },
        },
        "more" | "older" => match first.as_deref().map(str::parse::<u32>) {
            None => Action::More(20),
            Some(Ok(n)) if n > 0 => Action::More(n),
            Some(_) => missing("/more [n]"),
        },
        "read" => Action::Read(first),
        "unread" => Action::Unread,
        "register" => match first {
            Some(password) => Action::Register(password, second),
            None => missing("/register password [email]"),
        },
        "login" | "identify" => match (first, second) {
            (Some(account), Some(password)) => Action::Login(Some(account), password),
            (Some(password), None) => Action::Login(None, password),
            _ => missing("/login [account] password"),
        },
        "nick" => match first {
            Some(nick) => Action::Nick(nick),
            None => missing("/nick newnick"),
        },
        "who" => Action::Who(first),
        "whois" | "wi" => match first {
            Some(nick) => Action::Whois(nick),
            None => missing("/whois nick"),
        },
        "buddy" | "buddies" | "monitor" => {
            let nicks: Vec<String> = rest
                .split([' ', ','])
                .skip(1)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
            match first.as_deref() {
                None | Some("list") => Action::Buddy(BuddyOp::Show),
                Some("add" | "+") if !nicks.is_empty() => Action::Buddy(BuddyOp::Add(nicks)),
                Some("del" | "rm" | "remove" | "-") if !nicks.is_empty() => {
                    Action::Buddy(BuddyOp::Remove(nicks))
                }
                _ => missing("/buddy [add nick... | del nick...]"),
            }
        }
        "raw" | "quote" if !rest.is_empty() => Action::Raw(rest.to_string()),
        "raw" | "quote" => missing("/raw LINE"),
        "quit" | "exit" => Action::Quit(rest.to_string()),
        "help" | "?" => Action::Help,
        other => Action::Error(format!("Unknown command /{other}. /help lists them.")),
    }
}

/// What an action changes at once, on the prompt's thread, so the next prompt
/// already shows where typed lines go.
pub fn steer(action: &Action, ui: &mut Ui) {
    let next = match action {
        Action::Join(channel, _) => channel,
        Action::Query(Some(nick)) => nick,
        _ => return,
    };
    // What the user saw of the buffer they leave is read, taken now: a message
    // arriving before the client thread acts on the switch stays unread.
    let left = ui.current.replace(next.clone());
    ui.left = left.map(|name| {
        let seen = ui.unread.newest(&name);
        (name, seen)
    });
}

/// Tells the server (read markers) that the user has read `target` up to its
/// newest message, if that is news. Markers are kept per account: not logged
/// in, nothing is sent (chatd would answer `FAIL MARKREAD ACCOUNT_REQUIRED`).
fn mark_read(ctx: &mut Context<'_>, ui: &mut Ui, target: &str) {
    if ctx.state().account().is_none() {
        return;
    }
    if let Some(time) = ui.unread.read(target) {
        ctx.mark_read(target, time);
    }
}

/// Does `action` on the client's thread; returns lines to show the user.
pub fn apply(action: Action, ctx: &mut Context<'_>, ui: &mut Ui, style: Style) -> Vec<String> {
    let info = |text: &str| vec![view::info_line(text, style)];
    let error = |text: &str| vec![view::error_line(text, style)];
    if !ctx.is_connected() && !matches!(action, Action::Help | Action::Error(_)) {
        return error("Not connected; your line was not sent.");
    }
    let echoes = ctx.state().has_cap("echo-message");
    // Reading: the buffer just left, and the current one when the user acts in it.
    if let Some((left, seen)) = ui.left.take() {
        if let (Some(seen), true) = (seen, ctx.state().account().is_some()) {
            if let Some(time) = ui.unread.read_up_to(&left, seen) {
                ctx.mark_read(&left, time);
            }
        }
    }
    if matches!(
        action,
        Action::Say(_) | Action::Me(_) | Action::Join(..) | Action::Query(Some(_))
    ) {
        if let Some(current) = ui.current.clone() {
            mark_read(ctx, ui, &current);
        }
    }
    match action {
        Action::Say(text) | Action::Me(text) if ui.current.is_none() => {
            let _ = text;
            error("Nowhere to send that: /join #channel or /query nick first.")
        }
        Action::Say(text) => {
            let target = ui.current.clone().expect("checked above");
            ctx.say(&target, &text);
            if echoes {
                Vec::new()
            } else {
                vec![view::own_line(&target, ctx.nick(), &text, style)]
            }
        }
        Action::Me(text) => {
            let target = ui.current.clone().expect("checked above");
            ctx.action(&target, &text);
            if echoes {
                Vec::new()
            } else {
                vec![view::own_line(
                    &target,
                    ctx.nick(),
                    &format!("* {text}"),
                    style,
                )]
            }
        }
        Action::Join(channel, key) => {
            let msg = match key {
                Some(k) => Message::new("JOIN", [channel.as_str(), k.as_str()]),
                None => Message::new("JOIN", [channel.as_str()]),
            };
            ctx.send(msg);
            Vec::new()
        }
        Action::Part(channel, reason) => {
            let Some(channel) =
                channel.or_else(|| ui.current.clone().filter(|c| ctx.state().is_channel(c)))
            else {
                return error("Part which channel? /part #channel");
            };
            ctx.part(&channel, &reason);
            Vec::new()
        }
        Action::Msg(nick, text) => {
            ctx.say(&nick, &text);
            if echoes {
                Vec::new()
            } else {
                vec![view::own_line(&nick, ctx.nick(), &text, style)]
            }
        }
        Action::Query(Some(nick)) => info(&format!(
            "Talking to {nick}; /join a channel or /query someone else to leave."
        )),
        Action::Query(None) => match &ui.current {
            Some(c) => info(&format!("Talking in {c}.")),
            None => info("Not talking anywhere yet: /join #channel or /query nick."),
        },
        Action::History(target, n) => {
            let Some(target) = target.or_else(|| ui.current.clone()) else {
                return error("History of what? /history #channel [n]");
            };
            ctx.send(Message::new("HISTORY", [target, n.to_string()]));
            Vec::new()
        }
        Action::More(n) => {
            let Some(target) = ui.current.clone() else {
                return error("More of what? /join #channel or /query nick first.");
            };
            let state = ctx.state();
            let limit = state.isupport().get("CHATHISTORY");
            if !state.has_cap("draft/chathistory") && limit.is_none() {
                return error("This server keeps no history to page through (no CHATHISTORY).");
            }
            // The server's page limit (ISUPPORT CHATHISTORY=<n>, 0 for none).
            let n = match limit.and_then(|l| l.parse::<u32>().ok()) {
                Some(max) if max > 0 => n.min(max),
                _ => n,
            };
            // labeled-response (it needs batch): the answer is known by its label.
            let labeled = state.has_cap("labeled-response") && state.has_cap("batch");
            let request = ui.paging.request(&target, n, labeled);
            ctx.send(request);
            vec![view::marker_line(
                &format!("older messages in {target}"),
                style,
            )]
        }
        Action::Read(target) => {
            let Some(target) = target.or_else(|| ui.current.clone()) else {
                return error("Read what? /read #channel");
            };
            mark_read(ctx, ui, &target);
            ui.unread.shown(&target);
            info(&format!("{target} marked read."))
        }
        Action::Unread => {
            let counts = ui.unread.counts(None);
            if counts.is_empty() {
                return info("Nothing unread.");
            }
            counts
                .iter()
                .map(|(name, n)| view::info_line(&format!("{name}: {n} unread"), style))
                .collect()
        }
        Action::Register(password, email) => {
            let email = email.unwrap_or_else(|| "*".into());
            ctx.send(Message::new(
                "REGISTER",
                ["*", email.as_str(), password.as_str()],
            ));
            Vec::new()
        }
        Action::Login(account, password) => {
            let account = account.unwrap_or_else(|| ctx.nick().to_string());
            ctx.send(Message::new("LOGIN", [account, password]));
            Vec::new()
        }
        Action::Nick(nick) => {
            ctx.set_nick(&nick);
            Vec::new()
        }
        Action::Who(target) => {
            let Some(target) = target.or_else(|| ui.current.clone()) else {
                return error("Who where? /who #channel");
            };
            ctx.send(Message::new("WHO", [target]));
            Vec::new()
        }
        Action::Whois(nick) => {
            ctx.send(Message::new("WHOIS", [nick]));
            Vec::new()
        }
        Action::Buddy(op) => {
            if ctx.state().isupport().get("MONITOR").is_none() {
                return error("This server has no MONITOR: no buddy list here.");
            }
            match op {
                BuddyOp::Show if ui.buddies.is_empty() => {
                    return info("No buddies yet: /buddy add nick");
                }
                BuddyOp::Show => ctx.send(Message::new("MONITOR", ["S"])),
                BuddyOp::Add(nicks) => {
                    for n in &nicks {
                        if !ui.buddies.iter().any(|b| ctx.state().eq(b, n)) {
                            ui.buddies.push(n.clone());
                        }
                    }
                    ctx.send(Message::new("MONITOR", ["+".to_string(), nicks.join(",")]));
                }
                BuddyOp::Remove(nicks) => {
                    ui.buddies
                        .retain(|b| !nicks.iter().any(|n| ctx.state().eq(b, n)));
                    ctx.send(Message::new("MONITOR", ["-".to_string(), nicks.join(",")]));
                    return info(&format!("No longer watching {}.", nicks.join(", ")));
                }
            }
            Vec::new()
        }
        Action::Raw(line) => {
            if ctx.send_line(&line) {
                Vec::new()
            } else {
                error("That is not an IRC line.")
            }
        }
        Action::Quit(reason) => {
            ctx.quit(&reason);
            Vec::new()
        }
        Action::Help => HELP.iter().map(|l| view::info_line(l, style)).collect(),
        Action::Error(text) => error(&text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases: &[(&str, Action)] = &[
            ("hello", Action::Say("hello".into())),
            ("//etc/passwd", Action::Say("/etc/passwd".into())),
            ("/join #rust", Action::Join("#rust".into(), None)),
            (
                "/JOIN #k secret",
                Action::Join("#k".into(), Some("secret".into())),
            ),
            ("/part", Action::Part(None, String::new())),
            (
                "/part #a gone fishing",
                Action::Part(Some("#a".into()), "gone fishing".into()),
            ),
            (
                "/part gone fishing",
                Action::Part(None, "gone fishing".into()),
            ),
            (
                "/msg bob hi there",
                Action::Msg("bob".into(), "hi there".into()),
            ),
            ("/query bob", Action::Query(Some("bob".into()))),
            ("/history", Action::History(None, 20)),
            ("/history 5", Action::History(None, 5)),
            ("/history #a 5", Action::History(Some("#a".into()), 5)),
            ("/more", Action::More(20)),
            ("/older 5", Action::More(5)),
            (
                "/register hunter22",
                Action::Register("hunter22".into(), None),
            ),
            (
                "/login bob pw",
                Action::Login(Some("bob".into()), "pw".into()),
            ),
            ("/login pw", Action::Login(None, "pw".into())),
            ("/nick zed", Action::Nick("zed".into())),
            ("/who", Action::Who(None)),
            ("/whois botty", Action::Whois("botty".into())),
            ("/buddy", Action::Buddy(BuddyOp::Show)),
            (
                "/buddy add bob,carol dave",
                Action::Buddy(BuddyOp::Add(vec![
                    "bob".into(),
                    "carol".into(),
                    "dave".into(),
                ])),
            ),
            (
                "/monitor del bob",
                Action::Buddy(BuddyOp::Remove(vec!["bob".into()])),
            ),
            ("/quit bye now", Action::Quit("bye now".into())),
            ("/help", Action::Help),
        ];
        for (line, want) in cases {
            assert_eq!(&parse(line), want, "{line}");
        }
        for bad in [
            "/msg bob",
            "/join",
            "/bogus",
            "/history x y",
            "/more x",
            "/me",
            "/buddy add",
            "/whois",
        ] {
            assert!(matches!(parse(bad), Action::Error(_)), "{bad}");
        }
    }
}
