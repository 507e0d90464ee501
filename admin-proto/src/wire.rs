//! The lines themselves (`docs/admin.md`, "Protocol"): a request is
//! `{"id", "cmd", ...}`; a reply `{"id", "ok": true, "result"}` or
//! `{"error": {"code", "message"}, "id", "ok": false}`; a stream event
//! `{"data", "event", "id"}`. Objects are written with their keys sorted, as
//! serde_json's map has always written them.

use crate::reply::LoggedMessage;
use crate::request::Request;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// A request's `id`: any JSON value, echoed in its replies and events.
pub type Id = Value;

/// What an error reply says went wrong.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not an object, no `cmd`, or a missing or wrongly typed argument.
    BadRequest,
    /// The `cmd` does not exist.
    UnknownCommand,
    /// No such nick, channel, account, ban or stream.
    NotFound,
    /// The store failed, or too many admin connections.
    Unavailable,
    /// The peer's uid is not allowed.
    Forbidden,
    /// A code this version does not know (from a newer daemon), or none.
    #[serde(other)]
    #[default]
    Other,
}

/// An error reply's `error` object. A reader takes a missing field as empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::new(ErrorCode::Unavailable, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A `log` event's data: one daemon log line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogLine {
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    pub text: String,
    pub time: String,
}

/// One event of a `tail-log` stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Message(LoggedMessage),
    Log(LogLine),
}

impl Event {
    /// The `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Message(_) => "message",
            Event::Log(_) => "log",
        }
    }

    /// The event named `name` with `data`; `None` for a name this version does not
    /// know (a newer daemon's).
    pub fn from_parts(name: &str, data: Value) -> Option<Result<Event, serde_json::Error>> {
        match name {
            "message" => Some(serde_json::from_value(data).map(Event::Message)),
            "log" => Some(serde_json::from_value(data).map(Event::Log)),
            _ => None,
        }
    }

    /// The `data` field.
    pub fn data(&self) -> Value {
        match self {
            Event::Message(m) => to_value(m),
            Event::Log(l) => to_value(l),
        }
    }
}

fn to_value(v: &impl Serialize) -> Value {
    serde_json::to_value(v).expect("admin protocol types serialize to JSON")
}

/// A reply: `{"id", "ok": true, "result"}`.
pub fn reply(id: &Id, result: &impl Serialize) -> Value {
    let mut obj = Map::new();
    obj.insert("id".into(), id.clone());
    obj.insert("ok".into(), Value::Bool(true));
    obj.insert("result".into(), to_value(result));
    Value::Object(obj)
}

/// An error reply: `{"error": {"code", "message"}, "id", "ok": false}`.
pub fn error(id: &Id, error: &Error) -> Value {
    let mut obj = Map::new();
    obj.insert("error".into(), to_value(error));
    obj.insert("id".into(), id.clone());
    obj.insert("ok".into(), Value::Bool(false));
    Value::Object(obj)
}

/// A stream event: `{"data", "event", "id"}`.
pub fn event(id: &Id, event: &Event) -> Value {
    let mut obj = Map::new();
    obj.insert("data".into(), event.data());
    obj.insert("event".into(), Value::from(event.name()));
    obj.insert("id".into(), id.clone());
    Value::Object(obj)
}

/// A request with its `id`: `{"cmd", "id", ...arguments}`.
pub fn request(id: &Id, request: &Request) -> Value {
    let mut value = to_value(request);
    if let Value::Object(obj) = &mut value {
        obj.insert("id".into(), id.clone());
    }
    value
}

/// `value` as one protocol line, `\n` included.
pub fn line(value: &Value) -> String {
    let mut s = value.to_string();
    s.push('\n');
    s
}

/// Reads one request line, as the daemon does. On error, the `id` to answer with
/// (`null` when the line had none) and why.
pub fn parse_request(line: &str) -> Result<(Id, Request), (Id, Error)> {
    let obj = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(obj)) => obj,
        Ok(_) => {
            return Err((
                Value::Null,
                Error::bad_request("a request is a JSON object"),
            ))
        }
        Err(e) => return Err((Value::Null, Error::bad_request(format!("not JSON: {e}")))),
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let Some(cmd) = obj.get("cmd").and_then(Value::as_str) else {
        return Err((id, Error::bad_request("the request has no \"cmd\"")));
    };
    if !Request::COMMANDS.contains(&cmd) {
        let e = Error::new(ErrorCode::UnknownCommand, format!("unknown command: {cmd}"));
        return Err((id, e));
    }
    let cmd = cmd.to_string();
    match serde_json::from_value::<Request>(Value::Object(obj.clone())) {
        Ok(request) => Ok((id, request)),
        Err(e) => {
            let message = match blame(&obj, &e) {
                Some(key) => format!("{cmd}: {key}: {e}"),
                None => format!("{cmd}: {e}"),
            };
            Err((id, Error::bad_request(message)))
        }
    }
}

/// The argument a wrongly typed request failed on: the one whose removal makes
/// the error go away or become "missing field". serde_json's own errors do not
/// name the field, and a request has a handful of fields at most.
fn blame(obj: &Map<String, Value>, error: &serde_json::Error) -> Option<String> {
    if error.to_string().starts_with("missing field") {
        return None;
    }
    obj.keys()
        .filter(|k| *k != "cmd" && *k != "id")
        .find(|key| {
            let mut without = obj.clone();
            without.remove(*key);
            match serde_json::from_value::<Request>(Value::Object(without)) {
                Ok(_) => true,
                Err(e) => e.to_string() == format!("missing field `{key}`"),
            }
        })
        .cloned()
}

/// One line from the daemon, as chatctl reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to request `id`: its `result`, or the error.
    Reply {
        id: Id,
        outcome: Result<Value, Error>,
    },
    /// An event of the stream started by request `id`. `event` is kept as a name so
    /// that an event kind this version does not know can be skipped
    /// ([`Event::from_parts`]).
    Event { id: Id, event: String, data: Value },
}

impl Incoming {
    /// Reads one line from the daemon; on error, what is wrong with it.
    pub fn parse(line: &[u8]) -> Result<Incoming, String> {
        let Value::Object(mut obj) =
            serde_json::from_slice::<Value>(line).map_err(|e| e.to_string())?
        else {
            return Err("not an object".into());
        };
        let id = obj.remove("id").unwrap_or(Value::Null);
        if let Some(Value::String(event)) = obj.remove("event") {
            let data = obj.remove("data").unwrap_or(Value::Null);
            return Ok(Incoming::Event { id, event, data });
        }
        match obj.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(Incoming::Reply {
                id,
                outcome: Ok(obj.remove("result").unwrap_or(Value::Null)),
            }),
            Some(false) => {
                let error = obj.remove("error").unwrap_or(Value::Null);
                let error = serde_json::from_value::<Error>(error)
                    .map_err(|e| format!("an error reply without a valid error object: {e}"))?;
                Ok(Incoming::Reply {
                    id,
                    outcome: Err(error),
                })
            }
            None => Err("neither reply nor event".into()),
        }
    }
}
