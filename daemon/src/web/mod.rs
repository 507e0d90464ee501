//! The web listeners' HTTP side (`docs/web.md`): one request head in, one answer
//! out ([`http`]), and the web client's files compiled into the binary ([`files`]).
//! No I/O here: the WebSocket transport (`conn/transport/ws.rs`) feeds it bytes and
//! writes what it answers.

pub mod files;
pub mod http;
