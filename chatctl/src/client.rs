//! [`AdminClient`]: one connection to chatd's admin socket speaking the JSON-lines
//! protocol of `docs/admin.md` — requests with an `id`, replies and stream events,
//! as `chatd-admin-proto` types them. What to send for each command is in `cli.rs`;
//! how to show replies in `render.rs`.

use crate::error::Error;
use crate::interrupt;
use chatd_admin_proto::{wire, ErrorCode, Request};
use serde::de::DeserializeOwned;
use serde_json::Value;
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

pub use chatd_admin_proto::Incoming;

/// Reads one protocol line; what is wrong with a bad one becomes [`Error::Protocol`].
pub fn parse_incoming(line: &[u8]) -> Result<Incoming, Error> {
    Incoming::parse(line).map_err(|why| {
        let shown = String::from_utf8_lossy(line).trim_end().to_string();
        Error::Protocol(format!("{why}: {shown}"))
    })
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

    /// Sends `request` and waits for its reply; events of other streams arriving
    /// meanwhile are dropped. A daemon error becomes [`Error::Daemon`] (or
    /// [`Error::Forbidden`]).
    pub fn request(&mut self, request: &Request) -> Result<Value, Error> {
        let id = self.send(request)?;
        self.wait_reply(id, Some(Instant::now() + self.reply_timeout))
    }

    /// [`AdminClient::request`], with the result read as its reply type `T`.
    pub fn call<T: DeserializeOwned>(&mut self, request: &Request) -> Result<T, Error> {
        let result = self.request(request)?;
        read_result(request, result)
    }

    /// Sends a request without waiting; returns its id.
    pub fn send(&mut self, request: &Request) -> Result<u64, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let line = wire::line(&wire::request(&Value::from(id), request));
        if let Err(e) = self.stream.write_all(line.as_bytes()) {
            // A refused peer is sent one error line and closed, which may beat our
            // write: the line explaining why is still there to read.
            if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) {
                let deadline = Some(Instant::now() + Duration::from_secs(1));
                if let Ok(Incoming::Reply {
                    outcome: Err(error),
                    ..
                }) = self.next_incoming(deadline)
                {
                    return Err(daemon_error(error));
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
                    return outcome.map_err(daemon_error);
                }
                _ => {}
            }
        }
    }

    /// Reads the next line from the daemon.
    pub fn next_incoming(&mut self, deadline: Option<Instant>) -> Result<Incoming, Error> {
        let line = self.read_line(deadline)?;
        parse_incoming(&line)
    }

    /// Stops stream `stream` with a `cancel` request and waits (briefly) for its
    /// answer, dropping the stream's last events.
    pub fn cancel(&mut self, stream: u64) -> Result<(), Error> {
        let id = self.send(&Request::Cancel {
            stream: Value::from(stream),
        })?;
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

/// `result` read as `request`'s reply type `T`.
pub fn read_result<T: DeserializeOwned>(request: &Request, result: Value) -> Result<T, Error> {
    serde_json::from_value(result)
        .map_err(|e| Error::Protocol(format!("{} result: {e}", request.cmd())))
}

/// The error for a daemon's error object; `forbidden` gets the operator's wording.
fn daemon_error(error: chatd_admin_proto::Error) -> Error {
    let chatd_admin_proto::Error { code, mut message } = error;
    if code == ErrorCode::Forbidden {
        return Error::Forbidden { uid: current_uid() };
    }
    if message.is_empty() {
        let shown = serde_json::to_value(code).expect("an error code serializes");
        message = format!(
            "chatd refused the request ({})",
            shown.as_str().unwrap_or("?")
        );
    }
    Error::Daemon { code, message }
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
                    outcome: Err(chatd_admin_proto::Error::not_found("no such nick: bob")),
                },
            ),
            (
                r#"{"id":null,"ok":false,"error":{"code":"forbidden","message":"x"}}"#,
                Incoming::Reply {
                    id: Value::Null,
                    outcome: Err(chatd_admin_proto::Error::new(ErrorCode::Forbidden, "x")),
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
                matches!(parse_incoming(line.as_bytes()), Err(Error::Protocol(_))),
                "{line:?}"
            );
        }
    }

    #[test]
    fn forbidden_names_our_uid() {
        let e = daemon_error(chatd_admin_proto::Error::new(
            ErrorCode::Forbidden,
            "permission denied: uid 5",
        ));
        assert_eq!(
            e.to_string(),
            format!(
                "permission denied: your uid {} is not allowed",
                current_uid()
            )
        );
        let e = daemon_error(chatd_admin_proto::Error::not_found("no such nick: bob"));
        assert_eq!(e.to_string(), "no such nick: bob");
        let e = daemon_error(chatd_admin_proto::Error::default());
        assert_eq!(e.to_string(), "chatd refused the request (other)");
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
        let users = Request::Users {
            channel: Some("#rust".into()),
        };
        assert_eq!(client.request(&users).unwrap(), json!(["x"]));
        fake.join().unwrap();
    }
}
