//! The admin socket's messages (`docs/admin.md`), defined once for the daemon and
//! chatctl: [`Request`] (tagged by `cmd`), one reply struct per command in
//! [`reply`], stream [`Event`]s, the typed [`Error`], and the line framing in
//! [`wire`]. No I/O here.

pub mod reply;
pub mod request;
pub mod wire;

pub use reply::*;
pub use request::Request;
pub use wire::{Error, ErrorCode, Event, Id, Incoming, LogLine};
