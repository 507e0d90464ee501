//! The types against `docs/admin.md`: every JSON example in the doc reads into the
//! types and writes back the same bytes, the commands table names exactly the
//! commands and reply fields the types have, and every request and reply
//! round-trips.

use chatd_admin_proto::{reply, wire, Error, ErrorCode, Event, Incoming, Request};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

const DOC: &str = include_str!("../../docs/admin.md");

/// Every complete JSON object the doc shows: lines of ```json blocks, inline
/// `{...}` spans, and socat output lines. Examples shortened with `...` are skipped.
fn doc_examples() -> Vec<Value> {
    let mut candidates: Vec<&str> = Vec::new();
    for line in DOC.lines() {
        let line = line.trim();
        if line.starts_with('{') {
            candidates.push(line);
        }
        if let Some(sent) = line.strip_prefix("$ echo '") {
            candidates.push(sent.split('\'').next().unwrap());
        }
        for (i, span) in line.split('`').enumerate() {
            if i % 2 == 1 && span.starts_with("{\"id\"") {
                candidates.push(span);
            }
        }
    }
    candidates
        .into_iter()
        .filter(|c| !c.contains("..."))
        .map(|c| serde_json::from_str(c).unwrap_or_else(|e| panic!("{c}: {e}")))
        .collect()
}

#[test]
fn every_doc_example_reads_and_writes_back_the_same_bytes() {
    let examples = doc_examples();
    let (mut requests, mut replies, mut errors, mut events) = (0, 0, 0, 0);
    for example in &examples {
        // The daemon writes sorted keys; so does `Value`'s Display.
        let line = example.to_string();
        if example.get("cmd").is_some() {
            let (id, request) = wire::parse_request(&line).unwrap();
            assert_eq!(wire::request(&id, &request).to_string(), line);
            requests += 1;
            continue;
        }
        match Incoming::parse(line.as_bytes()).unwrap() {
            Incoming::Reply {
                id,
                outcome: Ok(result),
            } => {
                assert_eq!(wire::reply(&id, &result).to_string(), line);
                replies += 1;
            }
            Incoming::Reply {
                id,
                outcome: Err(error),
            } => {
                assert_ne!(error.code, ErrorCode::Other, "{line}");
                assert_eq!(wire::error(&id, &error).to_string(), line);
                errors += 1;
            }
            Incoming::Event { id, event, data } => {
                let event = Event::from_parts(&event, data).unwrap().unwrap();
                assert_eq!(wire::event(&id, &event).to_string(), line);
                events += 1;
            }
        }
    }
    // The doc shows: users and cancel requests, the socat stats and kick; the cancel
    // and kick replies; not_found and forbidden errors; a message and a log event.
    assert!(requests >= 4, "{examples:?}");
    assert!(replies >= 2, "{examples:?}");
    assert!(errors >= 2, "{examples:?}");
    assert_eq!(events, 2, "{examples:?}");
}

/// Typed replies for the doc's reply examples whose command is known.
#[test]
fn doc_reply_examples_read_as_their_types() {
    let kick: reply::Kicked = serde_json::from_value(json!({"nick": "spammer"})).unwrap();
    assert_eq!(kick.nick, "spammer");
    for example in doc_examples() {
        if example.get("event").and_then(Value::as_str) == Some("message") {
            let m: reply::LoggedMessage = strict(&example["data"]);
            assert_eq!((m.kind.as_str(), m.text.as_str()), ("PRIVMSG", "hi"));
        }
        if let Some(error) = example.get("error") {
            let e: Error = strict(error);
            assert!(e.code != ErrorCode::Other, "{example}");
        }
    }
}

/// Reads `value` as `T` and checks nothing was left over or made up.
fn strict<T: Serialize + DeserializeOwned>(value: &Value) -> T {
    let typed: T = serde_json::from_value(value.clone()).unwrap();
    assert_eq!(&serde_json::to_value(&typed).unwrap(), value);
    typed
}

/// The rows of the "Commands" table: cmd, arguments, result.
fn command_rows() -> Vec<(String, String, String)> {
    let section = DOC
        .split("## Commands")
        .nth(1)
        .expect("a Commands section")
        .split("\n## ")
        .next()
        .unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").collect();
            (
                cells[0].trim().trim_matches('`').to_string(),
                cells[1].to_string(),
                cells[2].to_string(),
            )
        })
        .collect()
}

#[test]
fn the_commands_table_lists_exactly_the_request_types() {
    let documented: Vec<String> = command_rows().into_iter().map(|(c, _, _)| c).collect();
    assert_eq!(documented, Request::COMMANDS);
}

/// The field names of the first `{...}` in a result cell: `{"a","b":[...],"c":bool}`.
fn documented_fields(cell: &str) -> Vec<String> {
    let start = cell.find('{').expect("an object");
    let mut depth = 0;
    let mut end = start;
    for (i, c) in cell[start..].char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            end = start + i;
            break;
        }
    }
    let inner = &cell[start + 1..end];
    let mut fields = Vec::new();
    let mut depth = 0;
    for part in inner.split(',') {
        if depth == 0 {
            if let Some(name) = part.trim().strip_prefix('"') {
                fields.push(name.split('"').next().unwrap().to_string());
            }
        }
        depth += part.matches('[').count() as i32 - part.matches(']').count() as i32;
    }
    fields.sort();
    fields
}

fn type_fields<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()).unwrap() {
        Value::Object(obj) => obj.keys().cloned().collect(),
        other => panic!("not an object: {other}"),
    }
}

/// A field added to a reply type and not to the doc (or the other way) fails here.
#[test]
fn documented_result_fields_match_the_reply_types() {
    for (cmd, _, result) in command_rows() {
        let have = match cmd.as_str() {
            "users" => type_fields::<reply::User>(),
            "accounts" => type_fields::<reply::Account>(),
            "accounts-delete" => type_fields::<reply::AccountDeleted>(),
            "sessions" => type_fields::<reply::Session>(),
            "sessions-revoke" => type_fields::<reply::SessionsRevoked>(),
            "channels" => type_fields::<reply::Channel>(),
            "channels-registered"
            | "channels-register"
            | "channels-drop"
            | "channels-access"
            | "channels-access-add"
            | "channels-access-del" => type_fields::<reply::RegisteredChannel>(),
            "kick" => type_fields::<reply::Kicked>(),
            "ban" => type_fields::<reply::Banned>(),
            "unban" => type_fields::<reply::Unbanned>(),
            "bans" => type_fields::<reply::Ban>(),
            "wall" => type_fields::<reply::Walled>(),
            "stats" => type_fields::<reply::Stats>(),
            "reload" => type_fields::<reply::Reloaded>(),
            "shutdown" => type_fields::<reply::ShuttingDown>(),
            "backup" => type_fields::<reply::BackedUp>(),
            // `[{message}...]` points at the message event's fields; `null`.
            "tail-log" | "cancel" => continue,
            other => panic!("no reply type for {other}"),
        };
        assert_eq!(documented_fields(&result), have, "{cmd}: {result}");
    }
    // The `message` event in the doc shows every field of a logged message.
    let example = doc_examples()
        .into_iter()
        .find(|e| e["event"] == "message")
        .unwrap();
    let fields: Vec<String> = example["data"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(fields, type_fields::<reply::LoggedMessage>());
    assert_eq!(
        serde_json::to_value(()).unwrap(),
        Value::Null,
        "cancel's result"
    );
}

/// One of each request, as chatctl sends it, read back as the daemon reads it.
#[test]
fn every_request_round_trips() {
    let all = [
        Request::Users { channel: None },
        Request::Users {
            channel: Some("#rust".into()),
        },
        Request::Accounts,
        Request::AccountsDelete {
            name: "alice".into(),
        },
        Request::Sessions {
            account: "alice".into(),
        },
        Request::SessionsRevoke {
            account: "alice".into(),
            token: Some("0a1b2c3d4e5f".into()),
        },
        Request::Channels,
        Request::ChannelsRegistered,
        Request::ChannelsRegister {
            channel: "#team".into(),
            founder: "alice".into(),
        },
        Request::ChannelsDrop {
            channel: "#team".into(),
        },
        Request::ChannelsAccess {
            channel: "#team".into(),
        },
        Request::ChannelsAccessAdd {
            channel: "#team".into(),
            account: "bob".into(),
            role: "moderator".into(),
        },
        Request::ChannelsAccessDel {
            channel: "#team".into(),
            account: "bob".into(),
        },
        Request::Kick {
            nick: "bob".into(),
            reason: Some("flooding".into()),
            channel: Some("#rust".into()),
        },
        Request::Ban {
            mask: "*!*@10.0.0.9".into(),
            duration_secs: Some(3600),
            reason: None,
        },
        Request::Unban {
            mask: "10.0.0.9".into(),
        },
        Request::Bans,
        Request::TailLog {
            n: Some(5),
            follow: true,
            target: Some("#rust".into()),
            level: Some("debug".into()),
        },
        Request::TailLog {
            n: None,
            follow: false,
            target: None,
            level: None,
        },
        Request::Wall { text: "hi".into() },
        Request::Stats,
        Request::Reload,
        Request::Shutdown {
            message: Some("bye".into()),
        },
        Request::Backup {
            path: "/var/lib/chatd/b.db".into(),
        },
        Request::Cancel { stream: json!(7) },
    ];
    let mut seen: Vec<&str> = Vec::new();
    for request in all {
        let line = wire::request(&json!(3), &request).to_string();
        assert_eq!(wire::parse_request(&line), Ok((json!(3), request.clone())));
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap()["cmd"],
            request.cmd()
        );
        if !seen.contains(&request.cmd()) {
            seen.push(request.cmd());
        }
    }
    assert_eq!(seen, Request::COMMANDS);
}

/// What the daemon has always accepted: `null` for a left-out argument, unknown
/// fields ignored, no `id`.
#[test]
fn lenient_requests_still_parse() {
    let cases = [
        (
            r#"{"cmd":"users","channel":null}"#,
            Value::Null,
            Request::Users { channel: None },
        ),
        (
            r#"{"id":"a","cmd":"tail-log","follow":null,"extra":1}"#,
            json!("a"),
            Request::TailLog {
                n: None,
                follow: false,
                target: None,
                level: None,
            },
        ),
        (
            r#"{"id":2,"cmd":"stats","verbose":true}"#,
            json!(2),
            Request::Stats,
        ),
        (
            r#"{"id":8,"cmd":"cancel"}"#,
            json!(8),
            Request::Cancel {
                stream: Value::Null,
            },
        ),
    ];
    for (line, id, want) in cases {
        assert_eq!(wire::parse_request(line), Ok((id, want)), "{line}");
    }
}

#[test]
fn bad_requests_get_their_error_codes() {
    let cases = [
        ("{nope", Value::Null, ErrorCode::BadRequest),
        ("[1]", Value::Null, ErrorCode::BadRequest),
        (r#"{"id":1}"#, json!(1), ErrorCode::BadRequest),
        (r#"{"id":1,"cmd":5}"#, json!(1), ErrorCode::BadRequest),
        (
            r#"{"id":2,"cmd":"frob"}"#,
            json!(2),
            ErrorCode::UnknownCommand,
        ),
        (r#"{"id":3,"cmd":"kick"}"#, json!(3), ErrorCode::BadRequest),
        (
            r#"{"id":4,"cmd":"kick","nick":5}"#,
            json!(4),
            ErrorCode::BadRequest,
        ),
        (
            r#"{"id":5,"cmd":"ban","mask":"x!*@*","duration_secs":-1}"#,
            json!(5),
            ErrorCode::BadRequest,
        ),
        (
            r#"{"id":6,"cmd":"tail-log","follow":"yes"}"#,
            json!(6),
            ErrorCode::BadRequest,
        ),
    ];
    for (line, id, code) in cases {
        let (got_id, error) = wire::parse_request(line).unwrap_err();
        assert_eq!((got_id, error.code), (id, code), "{line}: {error}");
    }
    let (_, e) = wire::parse_request(r#"{"cmd":"kick"}"#).unwrap_err();
    assert_eq!(e.message, "kick: missing field `nick`");
    let (_, e) = wire::parse_request(r#"{"cmd":"kick","nick":"bob","reason":5}"#).unwrap_err();
    assert_eq!(
        e.message,
        "kick: reason: invalid type: integer `5`, expected a string"
    );
    let (_, e) = wire::parse_request(r#"{"cmd":"kick","nick":5}"#).unwrap_err();
    assert_eq!(
        e.message,
        "kick: nick: invalid type: integer `5`, expected a string"
    );
    let (_, e) = wire::parse_request(r#"{"cmd":"frob"}"#).unwrap_err();
    assert_eq!(e.message, "unknown command: frob");
}

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
    let json = serde_json::to_value(&value).unwrap();
    assert_eq!(serde_json::from_value::<T>(json.clone()).unwrap(), value);
    let line = wire::reply(&json!(1), &value).to_string();
    match Incoming::parse(line.as_bytes()).unwrap() {
        Incoming::Reply {
            outcome: Ok(result),
            ..
        } => assert_eq!(result, json),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_reply_round_trips() {
    round_trip(vec![reply::User {
        account: Some("alice".into()),
        away: None,
        channels: vec!["#rust".into()],
        connected_since: 1_700_000_000,
        host: "10.0.0.5".into(),
        idle_secs: 3,
        nick: "alice".into(),
        oper: true,
        realname: "Alice".into(),
        user: "~alice".into(),
    }]);
    round_trip(vec![reply::Account {
        created: 1,
        email: None,
        last_seen: 2,
        name: "bob".into(),
        online: false,
        queue_depth: 4,
    }]);
    round_trip(reply::AccountDeleted { name: "bob".into() });
    round_trip(vec![reply::Channel {
        members: 2,
        modes: "+nt".into(),
        name: "#rust".into(),
        topic: Some("Rust".into()),
    }]);
    round_trip(reply::Kicked { nick: "bob".into() });
    round_trip(reply::Banned {
        disconnected: 2,
        expires: Some(5),
        mask: "*!*@h".into(),
    });
    round_trip(reply::Unbanned {
        mask: "*!*@h".into(),
    });
    round_trip(vec![reply::Ban {
        expires: None,
        mask: "*!*@h".into(),
        reason: "spam".into(),
        set_at: 9,
    }]);
    round_trip(vec![reply::LoggedMessage {
        account: None,
        from: "a!b@c".into(),
        kind: "NOTICE".into(),
        msgid: "0001".into(),
        target: "#rust".into(),
        text: "hi".into(),
        time: "2026-11-22T10:00:00.000Z".into(),
    }]);
    round_trip(reply::Walled { users: 3 });
    round_trip(reply::Stats {
        messages_per_sec: 0.5,
        uptime_secs: 60,
        ..Default::default()
    });
    round_trip(reply::Reloaded {
        changed: vec!["motd".into()],
        unchanged: vec![],
    });
    round_trip(reply::ShuttingDown {});
    round_trip(reply::BackedUp { bytes: 4096 });
    round_trip(());
}

/// The exact bytes the daemon wrote with `json!` before the types existed.
#[test]
fn replies_keep_their_bytes() {
    assert_eq!(
        wire::line(&wire::reply(&json!(1), &reply::ShuttingDown {})),
        "{\"id\":1,\"ok\":true,\"result\":{}}\n"
    );
    assert_eq!(
        wire::reply(&json!(8), &()).to_string(),
        r#"{"id":8,"ok":true,"result":null}"#
    );
    assert_eq!(
        wire::error(&Value::Null, &Error::new(ErrorCode::Unavailable, "x")).to_string(),
        r#"{"error":{"code":"unavailable","message":"x"},"id":null,"ok":false}"#
    );
    assert_eq!(
        wire::reply(
            &json!(1),
            &reply::Banned {
                disconnected: 0,
                expires: None,
                mask: "m".into()
            }
        )
        .to_string(),
        r#"{"id":1,"ok":true,"result":{"disconnected":0,"expires":null,"mask":"m"}}"#
    );
    // Field order in the structs is the sorted order, so writing a struct directly
    // gives the same bytes as going through a map.
    let stats = reply::Stats::default();
    assert_eq!(
        serde_json::to_string(&stats).unwrap(),
        serde_json::to_value(&stats).unwrap().to_string()
    );
    let user = reply::User::default();
    assert_eq!(
        serde_json::to_string(&user).unwrap(),
        serde_json::to_value(&user).unwrap().to_string()
    );
}

#[test]
fn unknown_codes_and_events_from_a_newer_daemon_are_tolerated() {
    let line = br#"{"error":{"code":"teapot","message":"no"},"id":1,"ok":false}"#;
    match Incoming::parse(line).unwrap() {
        Incoming::Reply {
            outcome: Err(e), ..
        } => assert_eq!((e.code, e.message.as_str()), (ErrorCode::Other, "no")),
        other => panic!("{other:?}"),
    }
    assert!(Event::from_parts("mystery", json!({})).is_none());
    for line in ["", "[1]", "{\"id\":1}", "{nope"] {
        assert!(Incoming::parse(line.as_bytes()).is_err(), "{line:?}");
    }
}
