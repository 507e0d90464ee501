//! The WebSocket transport (RFC 6455, IRCv3 `websocket`): first an HTTP/1.1 request
//! head (a page of the web client, or the upgrade; `web/http.rs` answers it), then
//! frames, one IRC line per message. Under it the socket's bytes, plain or TLS
//! (the [`Tls`] transport's rustls code). The framing is written here rather than
//! taken from a WebSocket crate: the loop needs it over byte buffers it owns, fed by
//! readiness events, with its own caps, and the server side of RFC 6455 is small.

use super::tls::Tls;
use super::ReadOutcome;
use crate::config::WebConfig;
use crate::conn::queue::OutQueue;
use crate::conn::sock::Sock;
use crate::web::http::{self, Answer, Subprotocol};
use chatd_proto::LineBuffer;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Largest WebSocket message taken (a whole IRC line, tags and all, is 8,703 bytes
/// at most); a larger one closes the connection with status 1009.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Bytes of frames (or HTTP responses) held for the socket. Lines move from the
/// output queue only below this, so the SendQ still sees the rest; past twice
/// this (pipelined requests, pings not read) the peer is dropped.
const WIRE_HIGH: usize = 64 * 1024;
const WIRE_MAX: usize = 1024 * 1024;

/// The bytes under the WebSocket.
enum Layer {
    Raw,
    Tls(Box<Tls>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading HTTP request heads (pages, then perhaps the upgrade).
    Http,
    /// Speaking WebSocket.
    Open(Subprotocol),
    /// A close frame went out (or a response that ends the connection).
    Closed,
}

/// One WebSocket (or not yet upgraded HTTP) connection.
pub struct Ws {
    layer: Layer,
    phase: Phase,
    config: Box<WebConfig>,
    peer: IpAddr,
    /// Bytes read and not yet taken as a request head or whole frames.
    input: Vec<u8>,
    /// A fragmented message being put together.
    message: Vec<u8>,
    fragmenting: bool,
    /// Bytes for the socket (responses, frames), from `wire_at`.
    wire: Vec<u8>,
    wire_at: usize,
    /// Output-queue bytes framed into `wire` and not yet on the socket.
    pending: u64,
    /// The end of a line the output queue has not finished yet.
    partial: Vec<u8>,
    /// Set once a trusted proxy's upgrade named the client, until the loop took it.
    forwarded: Option<IpAddr>,
    /// Whether the node is ready (`GET /ready`), kept up to date by the loop.
    ready: Arc<AtomicBool>,
}

impl Ws {
    pub(super) fn new(
        config: WebConfig,
        peer: IpAddr,
        tls: Option<rustls::ServerConnection>,
        ready: Arc<AtomicBool>,
    ) -> Ws {
        Ws {
            ready,
            layer: match tls {
                Some(t) => Layer::Tls(Box::new(Tls::new(t))),
                None => Layer::Raw,
            },
            phase: Phase::Http,
            config: Box::new(config),
            peer,
            input: Vec::new(),
            message: Vec::new(),
            fragmenting: false,
            wire: Vec::new(),
            wire_at: 0,
            pending: 0,
            partial: Vec::new(),
            forwarded: None,
        }
    }

    pub(super) fn is_tls(&self) -> bool {
        matches!(self.layer, Layer::Tls(_))
    }

    /// Not yet speaking WebSocket (or the TLS under it still shaking hands).
    pub(super) fn handshaking(&self) -> bool {
        self.phase == Phase::Http || matches!(&self.layer, Layer::Tls(t) if t.handshaking())
    }

    pub(super) fn wants_write(&self) -> bool {
        self.wire.len() > self.wire_at || matches!(&self.layer, Layer::Tls(t) if t.wants_write())
    }

    /// The client a trusted proxy named in the upgrade, once (`admission`).
    pub(super) fn take_forwarded(&mut self) -> Option<IpAddr> {
        self.forwarded.take()
    }

    pub(super) fn read(
        &mut self,
        sock: &mut Sock,
        lines: &mut LineBuffer,
        scratch: &mut [u8],
        budget: usize,
    ) -> io::Result<ReadOutcome> {
        let input = &mut self.input;
        let cap = budget + http::MAX_HEAD + MAX_MESSAGE;
        let outcome = match &mut self.layer {
            Layer::Tls(t) => t.read_plain(sock, scratch, budget, |b| {
                input.extend_from_slice(b);
                input.len() > cap
            })?,
            Layer::Raw => read_raw(sock, scratch, budget, input)?,
        };
        let bytes_before = lines.pending();
        let closed = self.take_input(lines)?;
        Ok(ReadOutcome {
            bytes: outcome
                .bytes
                .max(lines.pending().saturating_sub(bytes_before)),
            eof: outcome.eof || closed,
            more: outcome.more,
        })
    }

    /// Takes request heads or whole frames off `input`. `Ok(true)`: the connection
    /// is over (a close frame, or an HTTP answer that ends it).
    fn take_input(&mut self, lines: &mut LineBuffer) -> io::Result<bool> {
        let input = std::mem::take(&mut self.input);
        let mut at = 0;
        let result = loop {
            match self.phase {
                Phase::Closed => break Ok(true),
                Phase::Http => {
                    if at == input.len() {
                        break Ok(false);
                    }
                    let cx = http::Context {
                        tls: self.is_tls(),
                        peer: self.peer,
                        config: &self.config,
                        ready: self.ready.load(Ordering::Relaxed),
                    };
                    match http::answer(&input[at..], &cx) {
                        Answer::Partial => break Ok(false),
                        Answer::Page {
                            response,
                            consumed,
                            keep_alive,
                        } => {
                            self.wire.extend_from_slice(&response);
                            at += consumed;
                            if !keep_alive {
                                self.phase = Phase::Closed;
                            }
                        }
                        Answer::Upgrade {
                            response,
                            consumed,
                            protocol,
                            forwarded,
                        } => {
                            self.wire.extend_from_slice(&response);
                            at += consumed;
                            self.forwarded = forwarded;
                            self.phase = Phase::Open(protocol);
                        }
                    }
                }
                Phase::Open(_) => match self.take_frame(&input[at..], lines) {
                    Ok(Some(n)) => at += n,
                    Ok(None) => break Ok(false),
                    Err(e) => break Err(e),
                },
            }
            if self.wire.len() - self.wire_at > WIRE_MAX {
                break Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "WebSocket peer does not read what it asks for",
                ));
            }
        };
        self.input = input;
        self.input.drain(..at);
        if self.phase == Phase::Closed || self.input.is_empty() && self.input.capacity() > WIRE_HIGH
        {
            self.input = Vec::new();
        }
        result
    }

    /// One frame at the start of `buf`: `Some(len)` taken, `None` not all here.
    fn take_frame(&mut self, buf: &[u8], lines: &mut LineBuffer) -> io::Result<Option<usize>> {
        let frame = match Frame::parse(buf) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(None),
            Err((status, why)) => return Err(self.fail(status, why)),
        };
        let payload = frame.unmasked(buf);
        match frame.opcode {
            OP_TEXT | OP_BINARY | OP_CONTINUATION => {
                if (frame.opcode == OP_CONTINUATION) != self.fragmenting {
                    return Err(self.fail(1002, "WebSocket fragments out of order"));
                }
                if self.message.len() + payload.len() > MAX_MESSAGE {
                    return Err(self.fail(1009, "WebSocket message too large"));
                }
                if frame.fin && !self.fragmenting {
                    push_line(lines, &payload);
                } else {
                    self.message.extend_from_slice(&payload);
                    self.fragmenting = !frame.fin;
                    if frame.fin {
                        let message = std::mem::take(&mut self.message);
                        push_line(lines, &message);
                    }
                }
            }
            OP_PING => {
                encode(&mut self.wire, OP_PONG, &payload);
            }
            OP_PONG => {}
            OP_CLOSE => {
                encode(&mut self.wire, OP_CLOSE, payload.get(..2).unwrap_or(&[]));
                self.phase = Phase::Closed;
            }
            _ => return Err(self.fail(1002, "unknown WebSocket opcode")),
        }
        Ok(Some(frame.len))
    }

    /// Queues a close frame with `status` and gives the error that ends the
    /// connection (its last flush sends the frame).
    fn fail(&mut self, status: u16, why: &str) -> io::Error {
        encode(&mut self.wire, OP_CLOSE, &status.to_be_bytes());
        self.phase = Phase::Closed;
        io::Error::new(io::ErrorKind::InvalidData, why.to_string())
    }

    /// Frames queued lines (one message each) and writes what the socket takes.
    pub(super) fn flush(&mut self, sock: &mut Sock, out: &mut OutQueue) -> io::Result<bool> {
        loop {
            match self.phase {
                Phase::Open(protocol) => {
                    let opcode = match protocol {
                        Subprotocol::Text => OP_TEXT,
                        Subprotocol::Binary => OP_BINARY,
                    };
                    while self.wire.len() - self.wire_at < WIRE_HIGH {
                        let Some(front) = out.front() else { break };
                        let n = front.len();
                        let mut start = 0;
                        for (i, _) in front.iter().enumerate().filter(|(_, b)| **b == b'\n') {
                            let line = &front[start..i];
                            if self.partial.is_empty() {
                                encode_line(&mut self.wire, opcode, line);
                            } else {
                                self.partial.extend_from_slice(line);
                                encode_line(&mut self.wire, opcode, &self.partial);
                                self.partial.clear();
                            }
                            start = i + 1;
                        }
                        self.partial.extend_from_slice(&front[start..]);
                        out.consume(n, false);
                        self.pending += n as u64;
                    }
                }
                // IRC lines (an ERROR at close) have no place in an HTTP exchange.
                Phase::Http | Phase::Closed => {
                    let n = out.bytes();
                    out.consume(n, true);
                }
            }
            if !self.write_wire(sock)? {
                return Ok(false);
            }
            out.count_written(std::mem::take(&mut self.pending));
            if out.is_empty() {
                out.emptied();
                return Ok(true);
            }
        }
    }

    /// Writes `wire` to the socket (through TLS if under it); `true` when all is out.
    fn write_wire(&mut self, sock: &mut Sock) -> io::Result<bool> {
        match &mut self.layer {
            Layer::Raw => {
                while self.wire_at < self.wire.len() {
                    match sock.write(&self.wire[self.wire_at..]) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => self.wire_at += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Layer::Tls(t) => loop {
                while self.wire_at < self.wire.len() {
                    let n = t.take_plain(&self.wire[self.wire_at..])?;
                    if n == 0 {
                        break;
                    }
                    self.wire_at += n;
                }
                if !t.send_records(sock)? {
                    return Ok(false);
                }
                if self.wire_at == self.wire.len() {
                    break;
                }
                if t.handshaking() {
                    return Ok(false);
                }
            },
        }
        self.wire.clear();
        self.wire_at = 0;
        if self.wire.capacity() > WIRE_HIGH {
            self.wire = Vec::new();
        }
        Ok(true)
    }

    /// A close frame (1000, or 1001 when the server goes away), best effort, and
    /// TLS's close_notify under it.
    pub(super) fn close(&mut self, sock: &mut Sock) {
        if let Phase::Open(_) = self.phase {
            encode(&mut self.wire, OP_CLOSE, &1000u16.to_be_bytes());
            self.phase = Phase::Closed;
        }
        let _ = self.write_wire(sock);
        if let Layer::Tls(t) = &mut self.layer {
            t.close(sock);
        }
    }
}

fn read_raw(
    sock: &mut Sock,
    scratch: &mut [u8],
    budget: usize,
    input: &mut Vec<u8>,
) -> io::Result<ReadOutcome> {
    let mut total = 0;
    while total < budget {
        match sock.read(scratch) {
            Ok(0) => {
                return Ok(ReadOutcome {
                    bytes: total,
                    eof: true,
                    more: None,
                })
            }
            Ok(n) => {
                input.extend_from_slice(&scratch[..n]);
                total += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(ReadOutcome {
                    bytes: total,
                    eof: false,
                    more: Some(false),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ReadOutcome {
        bytes: total,
        eof: false,
        more: Some(true),
    })
}

/// One message is one line; a trailing CR LF the client may add is not doubled.
fn push_line(lines: &mut LineBuffer, message: &[u8]) {
    let message = message.strip_suffix(b"\n").unwrap_or(message);
    let message = message.strip_suffix(b"\r").unwrap_or(message);
    lines.push(message);
    lines.push(b"\r\n");
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// A client frame's header (RFC 6455 §5.2).
struct Frame {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Where the payload starts and how long it is; `len` is the whole frame.
    start: usize,
    payload: usize,
    len: usize,
}

impl Frame {
    /// `Err((status, why))`: a frame the connection is closed for (RFC 6455 §7.4.1).
    fn parse(buf: &[u8]) -> Result<Option<Frame>, (u16, &'static str)> {
        let bad = |why: &'static str| Err((1002, why));
        if buf.len() < 2 {
            return Ok(None);
        }
        let fin = buf[0] & 0x80 != 0;
        if buf[0] & 0x70 != 0 {
            return bad("WebSocket frame with reserved bits (no extension was agreed)");
        }
        let opcode = buf[0] & 0x0F;
        if buf[1] & 0x80 == 0 {
            return bad("unmasked WebSocket frame from a client");
        }
        let (payload, mut start) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
            127 if buf.len() >= 10 => (
                u64::from_be_bytes(buf[2..10].try_into().expect("eight bytes")),
                10,
            ),
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        if opcode & 0x8 != 0 && (payload > 125 || !fin) {
            return bad("bad WebSocket control frame");
        }
        if payload > MAX_MESSAGE as u64 {
            return Err((1009, "WebSocket message too large"));
        }
        let payload = payload as usize;
        if buf.len() < start + 4 + payload {
            return Ok(None);
        }
        let mask = buf[start..start + 4].try_into().expect("four bytes");
        start += 4;
        Ok(Some(Frame {
            fin,
            opcode,
            mask,
            start,
            payload,
            len: start + payload,
        }))
    }

    fn unmasked(&self, buf: &[u8]) -> Vec<u8> {
        buf[self.start..self.start + self.payload]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ self.mask[i % 4])
            .collect()
    }
}

/// A server frame (unmasked, unfragmented) of `payload`.
fn encode(wire: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    wire.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => wire.push(n as u8),
        n if n <= 0xFFFF => {
            wire.push(126);
            wire.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            wire.push(127);
            wire.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    wire.extend_from_slice(payload);
}

/// A queued line as one message, without its CR LF (IRCv3 `websocket`).
fn encode_line(wire: &mut Vec<u8>, opcode: u8, line: &[u8]) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !line.is_empty() {
        encode(wire, opcode, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
        assert!(payload.len() < 126);
        f.push(0x80 | payload.len() as u8);
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    fn open() -> Ws {
        let mut ws = Ws::new(
            WebConfig::default(),
            "127.0.0.1".parse().unwrap(),
            None,
            Arc::default(),
        );
        ws.phase = Phase::Open(Subprotocol::Text);
        ws
    }

    #[test]
    fn frames_become_lines_and_fragments_join() {
        let mut ws = open();
        let mut lines = LineBuffer::default();
        ws.input.extend(masked(OP_TEXT, true, b"PING :a"));
        ws.input.extend(masked(OP_TEXT, false, b"PING"));
        ws.input.extend(masked(OP_PING, true, b"x"));
        ws.input.extend(masked(OP_CONTINUATION, true, b" :b\r\n"));
        ws.input.extend(&masked(OP_TEXT, true, b"PING :c")[..5]);
        assert!(!ws.take_input(&mut lines).unwrap());
        assert_eq!(lines.next_line().unwrap().unwrap(), b"PING :a");
        assert_eq!(lines.next_line().unwrap().unwrap(), b"PING :b");
        assert!(lines.next_line().is_none());
        assert_eq!(ws.input.len(), 5, "the partial frame waits");
        assert_eq!(ws.wire, [0x8A, 1, b'x'], "a ping is answered");
    }

    #[test]
    fn bad_frames_close() {
        let cases: [(Vec<u8>, &str); 4] = [
            (vec![0x81, 0x01, b'a'], "unmasked"),
            (masked(OP_CONTINUATION, true, b"x"), "order"),
            (masked(0x3, true, b""), "opcode"),
            (vec![0x81, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0], "too large"),
        ];
        for (bytes, why) in cases {
            let mut ws = open();
            ws.input = bytes;
            let err = ws.take_input(&mut LineBuffer::default()).unwrap_err();
            assert!(err.to_string().contains(why), "{why}: {err}");
        }
    }
}
