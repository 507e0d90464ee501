//! [`Error`]: why a bot stopped, or why it could not start. Network trouble is not
//! an error: the bot reconnects and reports it as `Event::Disconnected`.

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum Error {
    /// A bad argument or address, with a message for the user.
    Usage(String),
    /// The server refused the login (wrong password, SASL unavailable, a
    /// registration the server rejected...). Retrying would not help.
    Login(String),
    /// Every nick the bot may use was refused.
    Nick(String),
    /// The TLS setup failed (not a failed handshake, which is a lost connection).
    Tls(String),
    /// Reconnecting is off and the connection was lost, for this reason.
    Disconnected(String),
    /// An I/O error outside any one connection (creating the poller).
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::Login(m) => write!(f, "login failed: {m}"),
            Error::Nick(m) => write!(f, "no usable nick: {m}"),
            Error::Tls(m) => write!(f, "TLS: {m}"),
            Error::Disconnected(m) => write!(f, "disconnected: {m}"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}
