//! Each command's result as people read it: tables for lists, one sentence for an
//! action, `key  value` lines for `stats`. Results are read into their
//! `chatd-admin-proto` reply types; a field an older daemon leaves out takes its
//! default, and an empty or null text shows as `-`.

use crate::cli::{AccountsAction, ChannelsAction, Command};
use crate::client::read_result;
use crate::error::Error;
use crate::human;
use crate::table::Table;
use chatd_admin_proto::{reply, Event, LogLine};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The text (ending in a newline) to show for `command`'s `result`, `now` being the
/// current Unix time. A result that is not the command's reply type is
/// [`Error::Protocol`].
pub fn result(command: &Command, result: &Value, now: i64) -> Result<String, Error> {
    fn read<T: DeserializeOwned>(command: &Command, result: &Value) -> Result<T, Error> {
        read_result(&command.request(), result.clone())
    }
    Ok(match command {
        Command::Users { channel } => users(read(command, result)?, channel.as_deref(), now),
        Command::Accounts { action: None } => accounts(read(command, result)?, now),
        Command::Accounts {
            action: Some(AccountsAction::Delete { name }),
        } => {
            let r: reply::AccountDeleted = read(command, result)?;
            format!("deleted account {}\n", or(&r.name, name))
        }
        Command::Channels { action: None } => channels(read(command, result)?),
        Command::Channels {
            action: Some(ChannelsAction::List),
        } => registered(read(command, result)?, now),
        Command::Channels {
            action: Some(ChannelsAction::Register { .. }),
        } => {
            let r: reply::RegisteredChannel = read(command, result)?;
            format!("registered {} to {}\n", r.name, r.founder)
        }
        Command::Channels {
            action: Some(ChannelsAction::Drop { .. }),
        } => {
            let r: reply::RegisteredChannel = read(command, result)?;
            format!("dropped {}\n", r.name)
        }
        Command::Channels {
            action: Some(ChannelsAction::Access { .. }),
        } => access(read(command, result)?),
        Command::Kick { nick, channel, .. } => {
            let r: reply::Kicked = read(command, result)?;
            let nick = or(&r.nick, nick);
            match channel {
                Some(channel) => format!("kicked {nick} from {channel}\n"),
                None => format!("disconnected {nick}\n"),
            }
        }
        Command::Ban { mask, .. } => {
            let r: reply::Banned = read(command, result)?;
            let mask = or(&r.mask, mask);
            let mut out = match r.expires {
                Some(expires) => format!(
                    "banned {mask} until {} ({})",
                    human::date(expires),
                    human::until(expires, now)
                ),
                None => format!("banned {mask} permanently"),
            };
            match r.disconnected {
                0 => {}
                1 => out.push_str("; 1 user disconnected"),
                n => out.push_str(&format!("; {n} users disconnected")),
            }
            out.push('\n');
            out
        }
        Command::Unban { mask } => {
            let r: reply::Unbanned = read(command, result)?;
            format!("unbanned {}\n", or(&r.mask, mask))
        }
        Command::Bans => bans(read(command, result)?, now),
        Command::Sessions {
            action: crate::cli::SessionsAction::List { account },
        } => {
            let list: Vec<reply::Session> = read(command, result)?;
            if list.is_empty() {
                format!("no login tokens for {account}\n")
            } else {
                let mut out = String::new();
                for t in list {
                    out.push_str(&format!(
                        "{}  {}  created {}\n",
                        cell(&t.id),
                        cell(&t.label),
                        human::date(t.created)
                    ));
                }
                out
            }
        }
        Command::Sessions {
            action: crate::cli::SessionsAction::Revoke { account, .. },
        } => {
            let r: reply::SessionsRevoked = read(command, result)?;
            match r.revoked {
                1 => format!("1 login token of {account} revoked\n"),
                n => format!("{n} login tokens of {account} revoked\n"),
            }
        }
        Command::TailLog { .. } => {
            let messages: Vec<reply::LoggedMessage> = read(command, result)?;
            let mut out = String::new();
            for message in &messages {
                out.push_str(&log_message(message));
                out.push('\n');
            }
            out
        }
        Command::Wall { .. } => {
            let r: reply::Walled = read(command, result)?;
            match r.users {
                1 => "notice sent to 1 user\n".into(),
                n => format!("notice sent to {n} users\n"),
            }
        }
        Command::Stats => stats(&read(command, result)?),
        Command::Reload => reload(&read(command, result)?),
        Command::Backup { path } => {
            let r: reply::BackedUp = read(command, result)?;
            format!(
                "backed up to {} ({})\n",
                path.display(),
                crate::human::size(r.bytes)
            )
        }
        Command::Shutdown { .. } => "chatd is shutting down\n".into(),
    })
}

/// One stream event as a line (no newline), or `None` for an event kind chatctl
/// does not know.
pub fn event(event: &str, data: &Value) -> Result<Option<String>, Error> {
    let Some(parsed) = Event::from_parts(event, data.clone()) else {
        return Ok(None);
    };
    let line = match parsed.map_err(|e| Error::Protocol(format!("{event} event: {e}")))? {
        Event::Message(m) => log_message(&m),
        Event::Log(LogLine { level, text, time }) => format!(
            "{}  {:<5}  {}",
            human::timestamp(&cell(&time)),
            cell(&level),
            cell(&text)
        ),
    };
    Ok(Some(line))
}

/// A logged message: `2026-11-22 10:00:00  #rust  <alice> hi`.
pub fn log_message(m: &reply::LoggedMessage) -> String {
    let from = cell(&m.from);
    let nick = from.split('!').next().unwrap_or(&from);
    let body = &m.text;
    let line = match m.kind.as_str() {
        "PRIVMSG" | "" => match body
            .strip_prefix("\u{1}ACTION ")
            .map(|a| a.trim_end_matches('\u{1}'))
        {
            Some(action) => format!("* {nick} {action}"),
            None => format!("<{nick}> {body}"),
        },
        "NOTICE" => format!("-{nick}- {body}"),
        kind => format!("{kind} {nick} {body}"),
    };
    format!(
        "{}  {}  {}",
        human::timestamp(&cell(&m.time)),
        cell(&m.target),
        line.trim_end()
    )
}

fn users(users: Vec<reply::User>, channel: Option<&str>, now: i64) -> String {
    let mut table = Table::new(&[
        "nick",
        "account",
        "address",
        "connected",
        "idle",
        "flags",
        "channels",
    ]);
    for u in users {
        let mut flags = Vec::new();
        if u.oper {
            flags.push("oper");
        }
        if u.away.is_some() {
            flags.push("away");
        }
        table.row(vec![
            cell(&u.nick),
            opt(&u.account),
            format!("{}@{}", cell(&u.user), cell(&u.host)),
            human::ago(u.connected_since, now),
            human::span(u.idle_secs),
            flags.join(","),
            u.channels.join(","),
        ]);
    }
    if table.is_empty() {
        return match channel {
            Some(c) => format!("nobody online in {c}\n"),
            None => "nobody online\n".into(),
        };
    }
    table.to_string()
}

fn accounts(accounts: Vec<reply::Account>, now: i64) -> String {
    let mut table = Table::new(&["name", "email", "created", "last seen", "queued"]);
    for a in accounts {
        let last_seen = if a.online {
            "online".into()
        } else {
            human::ago(a.last_seen, now)
        };
        table.row(vec![
            cell(&a.name),
            opt(&a.email),
            human::ago(a.created, now),
            last_seen,
            a.queue_depth.to_string(),
        ]);
    }
    if table.is_empty() {
        return "no accounts\n".into();
    }
    table.to_string()
}

fn channels(channels: Vec<reply::Channel>) -> String {
    let mut table = Table::new(&["name", "members", "modes", "topic"]);
    for c in channels {
        table.row(vec![
            cell(&c.name),
            c.members.to_string(),
            cell(&c.modes),
            opt(&c.topic),
        ]);
    }
    if table.is_empty() {
        return "no channels\n".into();
    }
    table.to_string()
}

fn registered(channels: Vec<reply::RegisteredChannel>, now: i64) -> String {
    let mut table = Table::new(&[
        "name",
        "founder",
        "registered",
        "last used",
        "history",
        "access",
    ]);
    for c in channels {
        table.row(vec![
            cell(&c.name),
            cell(&c.founder),
            human::date(c.registered),
            human::ago(c.last_used, now),
            cell(&c.history),
            c.access.len().to_string(),
        ]);
    }
    if table.is_empty() {
        return "no registered channels\n".into();
    }
    table.to_string()
}

fn access(c: reply::RegisteredChannel) -> String {
    let mut table = Table::new(&["account", "role"]);
    table.row(vec![cell(&c.founder), "founder".into()]);
    for a in c.access {
        table.row(vec![cell(&a.account), cell(&a.role)]);
    }
    format!(
        "{} (history: {})\n{table}",
        c.name,
        or(&c.history, "members")
    )
}

fn bans(bans: Vec<reply::Ban>, now: i64) -> String {
    let mut table = Table::new(&["mask", "expires", "set", "reason"]);
    for b in bans {
        let expires = match b.expires {
            Some(t) => human::until(t, now),
            None => "never".into(),
        };
        table.row(vec![
            cell(&b.mask),
            expires,
            human::ago(b.set_at, now),
            cell(&b.reason),
        ]);
    }
    if table.is_empty() {
        return "no bans\n".into();
    }
    table.to_string()
}

fn stats(s: &reply::Stats) -> String {
    let mut rows = vec![
        ("uptime", human::span(s.uptime_secs.max(0) as u64)),
        ("connections", s.connections.to_string()),
        ("registered users", s.registered.to_string()),
        ("channels", s.channels.to_string()),
        ("accounts", s.accounts.to_string()),
        (
            "messages/sec",
            format!("{:.2} (last minute)", s.messages_per_sec),
        ),
        ("offline queue", s.queue_total.to_string()),
        ("store size", human::size(s.store_bytes)),
        ("store backlog", s.store_backlog.to_string()),
        ("input paused", s.store_pauses.to_string()),
        ("memory (RSS)", human::size(s.rss_bytes)),
    ];
    let store = &s.store;
    let writes = if store.failing {
        format!(
            "FAILING: {} delivered messages kept in memory, not saved yet",
            store.unsaved_messages
        )
    } else {
        "ok".to_string()
    };
    rows.push(("store writes", writes));
    rows.push((
        "store errors",
        format!(
            "{} failed writes, {} failed reads",
            store.write_errors, store.read_errors
        ),
    ));
    if let Some(last) = &store.last_error {
        rows.push(("last store error", last.text.clone()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

fn reload(r: &reply::Reloaded) -> String {
    let mut out = if r.changed.is_empty() {
        "reloaded: nothing changed\n".to_string()
    } else {
        format!("reloaded: {}\n", r.changed.join(", "))
    };
    for item in &r.unchanged {
        out.push_str(&format!("not applied: {item}\n"));
    }
    out
}

/// A text as a table cell: empty shows as `-`.
fn cell(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_string()
    }
}

/// An optional text as a table cell: missing or empty shows as `-`.
fn opt(text: &Option<String>) -> String {
    cell(text.as_deref().unwrap_or(""))
}

/// What the daemon answered, or else what was asked for.
fn or<'a>(answered: &'a str, asked: &'a str) -> &'a str {
    if answered.is_empty() {
        asked
    } else {
        answered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_000_000;

    fn show(command: &Command, r: &Value, now: i64) -> String {
        result(command, r, now).unwrap()
    }

    fn parse(line: &str) -> Command {
        use clap::Parser;
        match crate::cli::ShellLine::try_parse_from(crate::words::split(line).unwrap())
            .unwrap()
            .command
        {
            crate::cli::ShellCommand::Admin(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn users_table() {
        let r = json!([
            {"nick": "alice", "user": "~alice", "host": "10.0.0.5", "realname": "A",
             "account": "alice", "connected_since": NOW - 300, "idle_secs": 3,
             "channels": ["#rust", "#lobby"], "oper": true, "away": null},
            {"nick": "bob", "user": "bob", "host": "127.0.0.1", "realname": "B",
             "account": null, "connected_since": NOW - 7200, "idle_secs": 3900,
             "channels": [], "oper": false, "away": "lunch"},
        ]);
        assert_eq!(
            show(&parse("users"), &r, NOW),
            "NICK   ACCOUNT  ADDRESS          CONNECTED  IDLE   FLAGS  CHANNELS\n\
             alice  alice    ~alice@10.0.0.5  5m ago     3s     oper   #rust,#lobby\n\
             bob    -        bob@127.0.0.1    2h ago     1h 5m  away\n"
        );
        assert_eq!(
            show(&parse("users --channel #x"), &json!([]), NOW),
            "nobody online in #x\n"
        );
    }

    #[test]
    fn accounts_channels_bans() {
        let r = json!([
            {"name": "alice", "email": null, "created": NOW - 86400 * 3, "last_seen": NOW - 60,
             "queue_depth": 0, "online": true},
            {"name": "bob", "email": "b@x", "created": NOW - 60, "last_seen": NOW - 120,
             "queue_depth": 4, "online": false},
        ]);
        assert_eq!(
            show(&parse("accounts"), &r, NOW),
            "NAME   EMAIL  CREATED  LAST SEEN  QUEUED\n\
             alice  -      3d ago   online     0\n\
             bob    b@x    1m ago   2m ago     4\n"
        );
        let r = json!([{"name": "#rust", "members": 12, "topic": "Rust talk", "modes": "+nt"},
                       {"name": "#x", "members": 1, "topic": null, "modes": ""}]);
        assert_eq!(
            show(&parse("channels"), &r, NOW),
            "NAME   MEMBERS  MODES  TOPIC\n\
             #rust  12       +nt    Rust talk\n\
             #x     1        -      -\n"
        );
        let r = json!([{"mask": "*!*@10.0.0.5", "reason": "spam", "set_at": NOW - 60, "expires": NOW + 3540},
                       {"mask": "troll!*@*", "reason": "", "set_at": NOW - 60, "expires": null}]);
        assert_eq!(
            show(&parse("bans"), &r, NOW),
            "MASK          EXPIRES  SET     REASON\n\
             *!*@10.0.0.5  in 59m   1m ago  spam\n\
             troll!*@*     never    1m ago  -\n"
        );
        for (line, empty) in [
            ("accounts", "no accounts\n"),
            ("channels", "no channels\n"),
            ("bans", "no bans\n"),
            ("users", "nobody online\n"),
            ("tail-log", ""),
        ] {
            assert_eq!(show(&parse(line), &json!([]), NOW), empty, "{line}");
        }
    }

    #[test]
    fn actions() {
        let cases = [
            ("kick bob", json!({"nick": "bob"}), "disconnected bob\n"),
            (
                "kick bob --channel #r",
                json!({"nick": "bob"}),
                "kicked bob from #r\n",
            ),
            (
                "ban x!*@*",
                json!({"mask": "x!*@*", "expires": null}),
                "banned x!*@* permanently\n",
            ),
            (
                "ban x!*@*",
                json!({"mask": "x!*@*", "expires": null, "disconnected": 2}),
                "banned x!*@* permanently; 2 users disconnected\n",
            ),
            ("unban x!*@*", json!({"mask": "x!*@*"}), "unbanned x!*@*\n"),
            (
                "accounts delete al",
                json!({"name": "al"}),
                "deleted account al\n",
            ),
            ("wall hi", json!({"users": 3}), "notice sent to 3 users\n"),
            ("wall hi", json!({"users": 1}), "notice sent to 1 user\n"),
            ("shutdown", json!({}), "chatd is shutting down\n"),
            (
                "reload",
                json!({"changed": ["motd", "limits"], "unchanged": ["listen", "data_dir"]}),
                "reloaded: motd, limits\nnot applied: listen\nnot applied: data_dir\n",
            ),
            (
                "reload",
                json!({"changed": [], "unchanged": []}),
                "reloaded: nothing changed\n",
            ),
        ];
        for (line, r, want) in cases {
            assert_eq!(show(&parse(line), &r, NOW), want, "{line}");
        }
        let banned = show(
            &parse("ban 1.2.3.4 --duration 1h"),
            &json!({"mask": "1.2.3.4", "expires": NOW + 3600}),
            NOW,
        );
        assert!(banned.starts_with("banned 1.2.3.4 until "), "{banned}");
        assert!(banned.ends_with(" (in 1h)\n"), "{banned}");
    }

    #[test]
    fn stats_lines() {
        let r = json!({"uptime_secs": 3900, "connections": 12, "registered": 10, "channels": 4,
                       "accounts": 25, "messages_per_sec": 0.35, "queue_total": 7,
                       "store_bytes": 12_897_484, "store_backlog": 0, "store_pauses": 2,
                       "rss_bytes": 8_493_465});
        assert_eq!(
            show(&parse("stats"), &r, NOW),
            "uptime            1h 5m\n\
             connections       12\n\
             registered users  10\n\
             channels          4\n\
             accounts          25\n\
             messages/sec      0.35 (last minute)\n\
             offline queue     7\n\
             store size        12.3 MiB\n\
             store backlog     0\n\
             input paused      2\n\
             memory (RSS)      8.1 MiB\n\
             store writes      ok\n\
             store errors      0 failed writes, 0 failed reads\n"
        );
    }

    /// An older daemon's reply lacking a field still shows; a reply of the wrong
    /// shape is an error, not a table of dashes.
    #[test]
    fn missing_fields_default_and_wrong_shapes_fail() {
        let older = json!({"uptime_secs": 60, "connections": 1});
        assert!(show(&parse("stats"), &older, NOW).contains("input paused      0\n"));
        for (line, r) in [
            ("users", json!({"nick": "x"})),
            ("wall hi", json!({"users": "many"})),
            ("bans", json!([{"mask": 5}])),
        ] {
            assert!(
                matches!(result(&parse(line), &r, NOW), Err(Error::Protocol(_))),
                "{line}"
            );
        }
    }

    #[test]
    fn stats_show_a_failing_store() {
        let r = json!({"uptime_secs": 60, "store": {"failing": true, "failing_since": NOW,
                       "unsaved_messages": 312, "write_errors": 9, "read_errors": 1,
                       "last_error": {"time": NOW, "text": "database or disk is full"}}});
        let out = show(&parse("stats"), &r, NOW);
        assert!(
            out.contains("store writes      FAILING: 312 delivered messages kept in memory"),
            "{out}"
        );
        assert!(
            out.contains("store errors      9 failed writes, 1 failed reads\n"),
            "{out}"
        );
        assert!(
            out.contains("last store error  database or disk is full\n"),
            "{out}"
        );
    }

    #[test]
    fn messages_and_events() {
        let m = |kind: &str, text: &str| reply::LoggedMessage {
            time: "bad time".into(),
            msgid: "1".into(),
            kind: kind.into(),
            from: "alice!~a@h".into(),
            account: Some("alice".into()),
            target: "#rust".into(),
            text: text.into(),
        };
        assert_eq!(
            log_message(&m("PRIVMSG", "hi")),
            "bad time  #rust  <alice> hi"
        );
        assert_eq!(
            log_message(&m("NOTICE", "hi")),
            "bad time  #rust  -alice- hi"
        );
        assert_eq!(
            log_message(&m("PRIVMSG", "\u{1}ACTION waves\u{1}")),
            "bad time  #rust  * alice waves"
        );
        assert_eq!(
            event(
                "log",
                &json!({"time": "t", "level": "INFO", "text": "conn=4 closed"})
            )
            .unwrap(),
            Some("t  INFO   conn=4 closed".into())
        );
        assert_eq!(
            event("message", &serde_json::to_value(m("PRIVMSG", "x")).unwrap()).unwrap(),
            Some(log_message(&m("PRIVMSG", "x")))
        );
        assert_eq!(event("mystery", &json!({})).unwrap(), None);
        assert!(matches!(
            event("log", &json!({"level": 5})),
            Err(Error::Protocol(_))
        ));
    }
}
