//! [`AdminClient`]: one connection to chatd's admin socket speaking the JSON-lines
//! protocol of `docs/admin.md` — requests with an `id`, replies and stream events.
//! What to send for each command is in `cli.rs`; how to show replies in `render.rs`.

use crate::error::Error;
use crate::interrupt;
use serde_json::{Map, Value};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a request may wait for its reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a blocked read wakes up to look at the Ctrl-C flag and the deadline.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The daemon closes a connection whose line exceeds 64 KiB; a reply that long
/// from the daemon is fine, but one without a newline in 64 MiB is not a reply.
const MAX_LINE: usize = 64 << 20;

/// One line from the daemon.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to request `id`: its `result`, or the error object's code and message.
    Reply {
        id: Value,
        outcome: Result<Value, (String, String)>,
    },
    /// A stream event (`message`, `log`) for the stream started by request `id`.
    Event {
        id: Value,
        event: String,
        data: Value,
    },
}

impl Incoming {
    /// Reads one protocol line.
    pub fn parse(line: &[u8]) -> Result<Incoming, Error> {
        let shown = || String::from_utf8_lossy(line).trim_end().to_string();
        let value: Value = serde_json::from_slice(line)
            .map_err(|e| Error::Protocol(format!("{e}: {}", shown())))?;
        let Value::Object(mut obj) = value else {
            return Err(Error::Protocol(format!("not an object: {}", shown())));
        };
        let id = obj.remove("id").unwrap_or(Value::Null);
        if let Some(event) = obj.get("event").and_then(Value::as_str) {
            let event = event.to_string();
            let data = obj.remove("data").unwrap_or(Value::Null);
            return Ok(Incoming::Event { id, event, data });
        }
        match obj.get("ok").and_then(Value::as_bool) {
            Some(true) => Ok(Incoming::Reply {
                id,
                outcome: Ok(obj.remove("result").unwrap_or(Value::Null)),
            }),
            Some(false) => {
                let error = obj.get("error");
                let field = |name: &str| {
                    error
                        .and_then(|e| e.get(name))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                let (code, mut message) = (field("code"), field("message"));
                if message.is_empty() {
                    message = format!("chatd refused the request ({code})");
                }
                Ok(Incoming::Reply {
                    id,
                    outcome: Err((code, message)),
                })
            }
            None => Err(Error::Protocol(format!(
                "neither reply nor event: {}",
                shown()
            ))),
        }
    }
}

/// A connection to the admin socket.
pub struct AdminClient {
    path: PathBuf,
    stream: UnixStream,
    /// Bytes read but not yet split into lines.
    pending: Vec<u8>,
    next_id: u64,
    /// Whether Ctrl-C (see `interrupt.rs`) aborts a wait.
    interruptible: bool,
    /// How long [`AdminClient::request`] waits.
    reply_timeout: Duration,
}

impl AdminClient {
    /// Connects to the socket at `path`. A missing socket or one nobody listens on is
    /// [`Error::NotRunning`].
    pub fn connect(path: &Path) -> Result<AdminClient, Error> {
        let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::ConnectionRefused => Error::NotRunning {
                path: path.to_path_buf(),
            },
            ErrorKind::PermissionDenied => Error::NoAccess {
                path: path.to_path_buf(),
                uid: current_uid(),
            },
            _ => Error::Io {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
        stream
            .set_read_timeout(Some(POLL_INTERVAL))
            .map_err(|e| io_error(path, e))?;
        Ok(AdminClient {
            path: path.to_path_buf(),
            stream,
            pending: Vec::new(),
            next_id: 1,
            interruptible: false,
            reply_timeout: REPLY_TIMEOUT,
        })
    }

    /// Makes waits end with [`Error::Interrupted`] when Ctrl-C is pressed (once
    /// [`interrupt::install`] has run).
    pub fn interruptible(mut self, yes: bool) -> AdminClient {
        self.interruptible = yes;
        self
    }

    /// Makes [`AdminClient::request`] give up after `timeout` instead of
    /// [`REPLY_TIMEOUT`].
    pub fn reply_timeout(mut self, timeout: Duration) -> AdminClient {
        self.reply_timeout = timeout;
        self
    }

    /// The socket path this client is connected to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends `cmd` with `args` and waits for its reply; events of other streams
    /// arriving meanwhile are dropped. A daemon error becomes [`Error::Daemon`] (or
    /// [`Error::Forbidden`]).
    pub fn request(&mut self, cmd: &str, args: Map<String, Value>) -> Result<Value, Error> {
        let id = self.send(cmd, args)?;
        self.wait_reply(id, Some(Instant::now() + self.reply_timeout))
    }

    /// Sends a request without waiting; returns its id.
    pub fn send(&mut self, cmd: &str, mut args: Map<String, Value>) -> Result<u64, Error> {
        let id = self.next_id;
        self.next_id += 1;
        args.insert("id".into(), Value::from(id));
        args.insert("cmd".into(), Value::from(cmd));
        let mut line = serde_json::to_vec(&Value::Object(args)).expect("a JSON map serializes");
        line.push(b'\n');
        if let Err(e) = self.stream.write_all(&line) {
            // A refused peer is sent one error line and closed, which may beat our
            // write: the line explaining why is still there to read.
            if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                let deadline = Some(Instant::now() + Duration::from_secs(1));
                if let Ok(Incoming::Reply {
                    outcome: Err((code, message)),
                    ..
                }) = self.next_incoming(deadline)
                {
                    return Err(daemon_error(code, message));
                }
            }
            return Err(io_error(&self.path, e));
        }
        Ok(id)
    }

    /// Waits for the reply to request `id` until `deadline` (forever with `None`),
    /// dropping events and replies to other requests.
    pub fn wait_reply(&mut self, id: u64, deadline: Option<Instant>) -> Result<Value, Error> {
        loop {
            match self.next_incoming(deadline)? {
                Incoming::Reply { id: got, outcome } if got == id || got.is_null() => {
                    return outcome.map_err(|(code, message)| daemon_error(code, message));
                }
                _ => {}
            }
        }
    }

    /// Reads the next line from the daemon.
    pub fn next_incoming(&mut self, deadline: Option<Instant>) -> Result<Incoming, Error> {
        let line = self.read_line(deadline)?;
        Incoming::parse(&line)
    }

    /// Stops stream `stream` with a `cancel` request and waits (briefly) for its
    /// answer, dropping the stream's last events.
    pub fn cancel(&mut self, stream: u64) -> Result<(), Error> {
        let mut args = Map::new();
        args.insert("stream".into(), Value::from(stream));
        let id = self.send("cancel", args)?;
        let was = std::mem::replace(&mut self.interruptible, false);
        let answer = self.wait_reply(id, Some(Instant::now() + Duration::from_secs(5)));
        self.interruptible = was;
        answer.map(drop)
    }

    fn read_line(&mut self, deadline: Option<Instant>) -> Result<Vec<u8>, Error> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(line);
            }
            if self.pending.len() > MAX_LINE {
                return Err(Error::Protocol("a line longer than 64 MiB".into()));
            }
            if self.interruptible && interrupt::is_set() {
                return Err(Error::Interrupted);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(Error::Closed),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Err(Error::Closed),
                Err(e) => return Err(io_error(&self.path, e)),
            }
        }
    }
}

/// The error for a daemon's error object; `forbidden` gets the operator's wording.
fn daemon_error(code: String, message: String) -> Error {
    if code == "forbidden" {
        Error::Forbidden { uid: current_uid() }
    } else {
        Error::Daemon { code, message }
    }
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// This process's real uid, as chatd sees it through `SO_PEERCRED`.
pub fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_each_kind_of_line() {
        let cases: &[(&str, Incoming)] = &[
            (
                r#"{"id":1,"ok":true,"result":[1,2]}"#,
                Incoming::Reply {
                    id: json!(1),
                    outcome: Ok(json!([1, 2])),
                },
            ),
            (
                r#"{"id":1,"ok":true,"result":null}"#,
                Incoming::Reply {
                    id: json!(1),
                    outcome: Ok(Value::Null),
                },
            ),
            (
                r#"{"id":2,"ok":false,"error":{"code":"not_found","message":"no such nick: bob"}}"#,
                Incoming::Reply {
                    id: json!(2),
                    outcome: Err(("not_found".into(), "no such nick: bob".into())),
                },
            ),
            (
                r#"{"id":null,"ok":false,"error":{"code":"forbidden","message":"x"}}"#,
                Incoming::Reply {
                    id: Value::Null,
                    outcome: Err(("forbidden".into(), "x".into())),
                },
            ),
            (
                r#"{"id":7,"event":"log","data":{"level":"INFO","text":"hi"}}"#,
                Incoming::Event {
                    id: json!(7),
                    event: "log".into(),
                    data: json!({"level": "INFO", "text": "hi"}),
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(&Incoming::parse(line.as_bytes()).unwrap(), want, "{line}");
        }
    }

    #[test]
    fn rejects_lines_that_are_not_replies() {
        for line in ["", "[1]", "{\"id\":1}", "{nope"] {
            assert!(
                matches!(Incoming::parse(line.as_bytes()), Err(Error::Protocol(_))),
                "{line:?}"
            );
        }
    }

    #[test]
    fn forbidden_names_our_uid() {
        let e = daemon_error("forbidden".into(), "permission denied: uid 5".into());
        assert_eq!(
            e.to_string(),
            format!(
                "permission denied: your uid {} is not allowed",
                current_uid()
            )
        );
        let e = daemon_error("not_found".into(), "no such nick: bob".into());
        assert_eq!(e.to_string(), "no such nick: bob");
    }

    #[test]
    fn missing_socket_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.sock");
        let e = AdminClient::connect(&path).err().unwrap();
        assert_eq!(
            e.to_string(),
            format!("chatd is not running at {}", path.display())
        );
    }

    #[test]
    fn stale_socket_file_is_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(matches!(
            AdminClient::connect(&path),
            Err(Error::NotRunning { .. })
        ));
    }

    /// A fake daemon on a socket pair: replies out of order, an event for another
    /// stream, and a reply split across writes still end in the right answer.
    #[test]
    fn request_waits_for_its_own_reply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let fake = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            let req: Value = serde_json::from_slice(&buf[..n]).unwrap();
            assert_eq!(req["cmd"], "users");
            assert_eq!(req["channel"], "#rust");
            s.write_all(b"{\"id\":99,\"event\":\"log\",\"data\":{}}\n{\"id\":98,\"ok\":true,\"result\":1}\n{\"id\":")
                .unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s.write_all(format!("{},\"ok\":true,\"result\":[\"x\"]}}\n", req["id"]).as_bytes())
                .unwrap();
        });
        let mut client = AdminClient::connect(&path).unwrap();
        let mut args = Map::new();
        args.insert("channel".into(), json!("#rust"));
        assert_eq!(client.request("users", args).unwrap(), json!(["x"]));
        fake.join().unwrap();
    }
}
