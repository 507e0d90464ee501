//! Each command's result as people read it: tables for lists, one sentence for an
//! action, `key  value` lines for `stats`. Fields follow `docs/admin.md`; a missing
//! or null field shows as `-` rather than failing, so an older or newer daemon still
//! prints something useful.

use crate::cli::{AccountsAction, Command};
use crate::human;
use crate::table::Table;
use serde_json::Value;

/// The text (ending in a newline) to show for `command`'s `result`, `now` being the
/// current Unix time.
pub fn result(command: &Command, result: &Value, now: i64) -> String {
    match command {
        Command::Users { channel } => users(result, channel.as_deref(), now),
        Command::Accounts { action: None } => accounts(result, now),
        Command::Accounts {
            action: Some(AccountsAction::Delete { name }),
        } => format!("deleted account {}\n", field_or(result, "name", name)),
        Command::Channels => channels(result),
        Command::Kick { nick, channel, .. } => {
            let nick = field_or(result, "nick", nick);
            match channel {
                Some(channel) => format!("kicked {nick} from {channel}\n"),
                None => format!("disconnected {nick}\n"),
            }
        }
        Command::Ban { mask, .. } => {
            let mask = field_or(result, "mask", mask);
            let mut out = match result.get("expires").and_then(Value::as_i64) {
                Some(expires) => format!(
                    "banned {mask} until {} ({})",
                    human::date(expires),
                    human::until(expires, now)
                ),
                None => format!("banned {mask} permanently"),
            };
            match result.get("disconnected").and_then(Value::as_u64) {
                Some(0) | None => {}
                Some(1) => out.push_str("; 1 user disconnected"),
                Some(n) => out.push_str(&format!("; {n} users disconnected")),
            }
            out.push('\n');
            out
        }
        Command::Unban { mask } => format!("unbanned {}\n", field_or(result, "mask", mask)),
        Command::Bans => bans(result, now),
        Command::TailLog { .. } => {
            let mut out = String::new();
            for message in result.as_array().into_iter().flatten() {
                out.push_str(&log_message(message));
                out.push('\n');
            }
            out
        }
        Command::Wall { .. } => match result.get("users").and_then(Value::as_u64) {
            Some(1) => "notice sent to 1 user\n".into(),
            Some(n) => format!("notice sent to {n} users\n"),
            None => "notice sent\n".into(),
        },
        Command::Stats => stats(result),
        Command::Reload => reload(result),
        Command::Backup { path } => match result.get("bytes").and_then(Value::as_u64) {
            Some(n) => format!(
                "backed up to {} ({})\n",
                path.display(),
                crate::human::size(n)
            ),
            None => format!("backed up to {}\n", path.display()),
        },
        Command::Shutdown { .. } => "chatd is shutting down\n".into(),
    }
}

/// One stream event as a line (no newline), or `None` for an event kind chatctl
/// does not know.
pub fn event(event: &str, data: &Value) -> Option<String> {
    match event {
        "message" => Some(log_message(data)),
        "log" => Some(format!(
            "{}  {:<5}  {}",
            human::timestamp(&text(data.get("time"))),
            text(data.get("level")),
            text(data.get("text"))
        )),
        _ => None,
    }
}

/// A logged message: `2026-11-22 10:00:00  #rust  <alice> hi`.
pub fn log_message(m: &Value) -> String {
    let from = text(m.get("from"));
    let nick = from.split('!').next().unwrap_or(&from);
    let body = text(m.get("text"));
    let line = match m.get("kind").and_then(Value::as_str).unwrap_or("PRIVMSG") {
        "PRIVMSG" => match body
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
        human::timestamp(&text(m.get("time"))),
        text(m.get("target")),
        line.trim_end()
    )
}

fn users(result: &Value, channel: Option<&str>, now: i64) -> String {
    let mut table = Table::new(&[
        "nick",
        "account",
        "address",
        "connected",
        "idle",
        "flags",
        "channels",
    ]);
    for u in result.as_array().into_iter().flatten() {
        let mut flags = Vec::new();
        if u.get("oper").and_then(Value::as_bool) == Some(true) {
            flags.push("oper");
        }
        if u.get("away").is_some_and(|a| !a.is_null()) {
            flags.push("away");
        }
        let channels: Vec<String> = u
            .get("channels")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| text(Some(c)))
            .collect();
        table.row(vec![
            text(u.get("nick")),
            text(u.get("account")),
            format!("{}@{}", text(u.get("user")), text(u.get("host"))),
            time_ago(u.get("connected_since"), now),
            secs(u.get("idle_secs")),
            flags.join(","),
            channels.join(","),
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

fn accounts(result: &Value, now: i64) -> String {
    let mut table = Table::new(&["name", "email", "created", "last seen", "queued"]);
    for a in result.as_array().into_iter().flatten() {
        let last_seen = if a.get("online").and_then(Value::as_bool) == Some(true) {
            "online".into()
        } else if a.get("last_seen").is_none_or(Value::is_null) {
            "never".into()
        } else {
            time_ago(a.get("last_seen"), now)
        };
        table.row(vec![
            text(a.get("name")),
            text(a.get("email")),
            time_ago(a.get("created"), now),
            last_seen,
            text(a.get("queue_depth")),
        ]);
    }
    if table.is_empty() {
        return "no accounts\n".into();
    }
    table.to_string()
}

fn channels(result: &Value) -> String {
    let mut table = Table::new(&["name", "members", "modes", "topic"]);
    for c in result.as_array().into_iter().flatten() {
        let members = match c.get("members") {
            Some(Value::Array(list)) => list.len().to_string(),
            other => text(other),
        };
        table.row(vec![
            text(c.get("name")),
            members,
            text(c.get("modes")),
            text(c.get("topic")),
        ]);
    }
    if table.is_empty() {
        return "no channels\n".into();
    }
    table.to_string()
}

fn bans(result: &Value, now: i64) -> String {
    let mut table = Table::new(&["mask", "expires", "set", "reason"]);
    for b in result.as_array().into_iter().flatten() {
        let expires = match b.get("expires").and_then(Value::as_i64) {
            Some(t) => human::until(t, now),
            None => "never".into(),
        };
        table.row(vec![
            text(b.get("mask")),
            expires,
            time_ago(b.get("set_at"), now),
            text(b.get("reason")),
        ]);
    }
    if table.is_empty() {
        return "no bans\n".into();
    }
    table.to_string()
}

fn stats(s: &Value) -> String {
    let number = |key: &str| text(s.get(key));
    let bytes = |key: &str| match s.get(key).and_then(Value::as_u64) {
        Some(b) => human::size(b),
        None => text(s.get(key)),
    };
    let rate = match s.get("messages_per_sec").and_then(Value::as_f64) {
        Some(r) => format!("{r:.2} (last minute)"),
        None => number("messages_per_sec"),
    };
    let mut rows = vec![
        ("uptime", secs(s.get("uptime_secs"))),
        ("connections", number("connections")),
        ("registered users", number("registered")),
        ("channels", number("channels")),
        ("accounts", number("accounts")),
        ("messages/sec", rate),
        ("offline queue", number("queue_total")),
        ("store size", bytes("store_bytes")),
        ("store backlog", number("store_backlog")),
        ("input paused", number("store_pauses")),
        ("memory (RSS)", bytes("rss_bytes")),
    ];
    if let Some(store) = s.get("store").filter(|v| v.is_object()) {
        let count = |key: &str| store.get(key).and_then(Value::as_u64).unwrap_or(0);
        let writes = if store.get("failing").and_then(Value::as_bool) == Some(true) {
            format!(
                "FAILING: {} delivered messages kept in memory, not saved yet",
                count("unsaved_messages")
            )
        } else {
            "ok".to_string()
        };
        rows.push(("store writes", writes));
        rows.push((
            "store errors",
            format!(
                "{} failed writes, {} failed reads",
                count("write_errors"),
                count("read_errors")
            ),
        ));
        if let Some(last) = store.get("last_error").and_then(|e| e.get("text")) {
            rows.push(("last store error", text(Some(last))));
        }
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

fn reload(r: &Value) -> String {
    let list = |key: &str| -> Vec<String> {
        r.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|v| text(Some(v)))
            .collect()
    };
    let (changed, unchanged) = (list("changed"), list("unchanged"));
    let mut out = if changed.is_empty() {
        "reloaded: nothing changed\n".to_string()
    } else {
        format!("reloaded: {}\n", changed.join(", "))
    };
    for item in unchanged {
        out.push_str(&format!("not applied: {item}\n"));
    }
    out
}

/// A JSON value as a table cell: strings bare, null or missing as `-`.
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The string field `key` of the result, or `fallback` (what was asked for).
fn field_or(result: &Value, key: &str, fallback: &str) -> String {
    result
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or(fallback)
        .to_string()
}

fn time_ago(v: Option<&Value>, now: i64) -> String {
    match v.and_then(Value::as_i64) {
        Some(t) => human::ago(t, now),
        None => text(v),
    }
}

fn secs(v: Option<&Value>) -> String {
    match v.and_then(Value::as_u64) {
        Some(s) => human::span(s),
        None => text(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_000_000;

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
            result(&parse("users"), &r, NOW),
            "NICK   ACCOUNT  ADDRESS          CONNECTED  IDLE   FLAGS  CHANNELS\n\
             alice  alice    ~alice@10.0.0.5  5m ago     3s     oper   #rust,#lobby\n\
             bob    -        bob@127.0.0.1    2h ago     1h 5m  away\n"
        );
        assert_eq!(
            result(&parse("users --channel #x"), &json!([]), NOW),
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
            result(&parse("accounts"), &r, NOW),
            "NAME   EMAIL  CREATED  LAST SEEN  QUEUED\n\
             alice  -      3d ago   online     0\n\
             bob    b@x    1m ago   2m ago     4\n"
        );
        let r = json!([{"name": "#rust", "members": 12, "topic": "Rust talk", "modes": "+nt"},
                       {"name": "#x", "members": ["a"], "topic": null, "modes": ""}]);
        assert_eq!(
            result(&parse("channels"), &r, NOW),
            "NAME   MEMBERS  MODES  TOPIC\n\
             #rust  12       +nt    Rust talk\n\
             #x     1        -      -\n"
        );
        let r = json!([{"mask": "*!*@10.0.0.5", "reason": "spam", "set_at": NOW - 60, "expires": NOW + 3540},
                       {"mask": "troll!*@*", "reason": null, "set_at": NOW - 60, "expires": null}]);
        assert_eq!(
            result(&parse("bans"), &r, NOW),
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
            assert_eq!(result(&parse(line), &json!([]), NOW), empty, "{line}");
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
            assert_eq!(result(&parse(line), &r, NOW), want, "{line}");
        }
        let banned = result(
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
            result(&parse("stats"), &r, NOW),
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
             memory (RSS)      8.1 MiB\n"
        );
    }

    #[test]
    fn stats_show_a_failing_store() {
        let r = json!({"uptime_secs": 60, "store": {"failing": true, "failing_since": NOW,
                       "unsaved_messages": 312, "write_errors": 9, "read_errors": 1,
                       "last_error": {"time": NOW, "text": "database or disk is full"}}});
        let out = result(&parse("stats"), &r, NOW);
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
        let m = |kind: &str, text: &str| {
            json!({"time": "bad time", "msgid": "1", "kind": kind, "from": "alice!~a@h",
                   "account": "alice", "target": "#rust", "text": text})
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
            ),
            Some("t  INFO   conn=4 closed".into())
        );
        assert_eq!(
            event("message", &m("PRIVMSG", "x")),
            Some(log_message(&m("PRIVMSG", "x")))
        );
        assert_eq!(event("mystery", &json!({})), None);
    }
}
