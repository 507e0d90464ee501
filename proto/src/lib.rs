//! The IRC wire protocol as chatd speaks it: the [`Message`] type, its parser and
//! serializer, line framing ([`LineBuffer`]), named numerics, casemapping and
//! source/mask helpers. No I/O lives here; the daemon, chatctl and the bot SDK share it.

pub mod casemap;
pub mod lines;
pub mod mask;
pub mod message;
pub mod numeric;
pub mod parse;

pub use casemap::{fold, fold_eq};
pub use lines::{Limits, LineBuffer, LineError};
pub use message::{Message, Tag};
pub use parse::{parse, ParseError};
