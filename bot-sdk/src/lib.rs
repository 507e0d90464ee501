//! `chatd-bot`: a client library for bots that talk to chatd or any IRC server.
//! Today it re-exports the protocol crate; the client, events and router come next.

pub use chatd_proto as proto;
