//! [`Error`]: everything that can stop a chatctl command, each shown to the operator
//! as one line (`Display`), and the exit code it leads to.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// Nothing listens at the socket path (no such file, or connection refused).
    NotRunning { path: PathBuf },
    /// The daemon answered `forbidden`: this uid may not use the admin socket.
    Forbidden { uid: u32 },
    /// The socket file's permissions keep this uid out before chatd even sees it.
    NoAccess { path: PathBuf, uid: u32 },
    /// The daemon answered with an error object (`not_found`, `bad_request`, ...).
    Daemon {
        code: chatd_admin_proto::ErrorCode,
        message: String,
    },
    /// The daemon closed the connection (before answering, or during a stream).
    Closed,
    /// The daemon did not answer in time.
    Timeout,
    /// Ctrl-C while waiting for an answer.
    Interrupted,
    /// The daemon sent something that is not a reply `docs/admin.md` describes.
    Protocol(String),
    /// Any other I/O error on the socket.
    Io { path: PathBuf, source: io::Error },
    /// The config file named with `--config` cannot be read or parsed.
    Config(String),
    /// Writing the output failed.
    Output(io::Error),
    /// The shell's terminal failed.
    Terminal(String),
}

impl Error {
    /// The process exit code for this error: 130 for Ctrl-C as shells do, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Interrupted => 130,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotRunning { path } => write!(f, "chatd is not running at {}", path.display()),
            Error::Forbidden { uid } => {
                write!(f, "permission denied: your uid {uid} is not allowed")
            }
            Error::NoAccess { path, uid } => write!(
                f,
                "permission denied: your uid {uid} may not open {}",
                path.display()
            ),
            Error::Daemon { message, .. } => f.write_str(message),
            Error::Closed => f.write_str("chatd closed the connection"),
            Error::Timeout => f.write_str("chatd did not answer in time"),
            Error::Interrupted => f.write_str("interrupted"),
            Error::Protocol(what) => write!(f, "unexpected reply from chatd: {what}"),
            Error::Io { path, source } => {
                write!(f, "cannot talk to chatd at {}: {source}", path.display())
            }
            Error::Config(what) => f.write_str(what),
            Error::Output(e) => write!(f, "cannot write the output: {e}"),
            Error::Terminal(e) => write!(f, "terminal error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Output(e) => Some(e),
            _ => None,
        }
    }
}
