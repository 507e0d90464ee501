//! A WebSocket client for tests (tungstenite, an implementation independent of the
//! server's) as a byte stream: each line written is one message, each message read
//! is a line. So [`Client`] speaks IRC over a web listener as over TCP.

use crate::client::{Client, Transport};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message as WsMessage, WebSocket};

/// A WebSocket whose messages are lines.
pub struct WsStream {
    ws: WebSocket<TcpStream>,
    /// Bytes read and not yet taken by the reader.
    inbox: VecDeque<u8>,
    /// Bytes written that do not end a line yet.
    outbox: Vec<u8>,
    /// Send binary frames (`binary.ircv3.net`) rather than text ones.
    binary: bool,
    /// What the server sent, frame by frame: `(is_text, payload)`.
    pub frames: Vec<(bool, Vec<u8>)>,
}

/// The handshake's outcome: the stream, or the HTTP status it was refused with.
pub fn open(
    addr: SocketAddr,
    protocol: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<(WsStream, Option<String>), u16> {
    let sock = TcpStream::connect(addr).expect("connect to the web listener");
    sock.set_nodelay(true).unwrap();
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    if let Some(p) = protocol {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    for (k, v) in headers {
        let name: tungstenite::http::HeaderName = k.parse().unwrap();
        request.headers_mut().insert(name, v.parse().unwrap());
    }
    match tungstenite::client(request, sock) {
        Ok((ws, response)) => {
            let chosen = response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().unwrap().to_string());
            let binary = chosen.as_deref() == Some("binary.ircv3.net");
            Ok((
                WsStream {
                    ws,
                    inbox: VecDeque::new(),
                    outbox: Vec::new(),
                    binary,
                    frames: Vec::new(),
                },
                chosen,
            ))
        }
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("WebSocket handshake failed: {e}"),
    }
}

/// A [`Client`] over a WebSocket to `addr` offering `protocol`.
pub fn connect(addr: SocketAddr, protocol: Option<&str>) -> Client<WsStream> {
    let (stream, _) = open(addr, protocol, &[]).expect("upgrade accepted");
    Client::over(stream)
}

impl WsStream {
    /// The underlying WebSocket, to send raw frames.
    pub fn socket(&mut self) -> &mut WebSocket<TcpStream> {
        &mut self.ws
    }
}

impl Transport for WsStream {
    fn tcp(&self) -> &TcpStream {
        self.ws.get_ref()
    }
}

impl Read for WsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.inbox.is_empty() {
            match self.ws.read() {
                Ok(WsMessage::Text(t)) => {
                    self.frames.push((true, t.as_bytes().to_vec()));
                    self.inbox.extend(t.as_bytes());
                    self.inbox.extend(b"\r\n");
                }
                Ok(WsMessage::Binary(b)) => {
                    self.frames.push((false, b.to_vec()));
                    self.inbox.extend(b.iter());
                    self.inbox.extend(b"\r\n");
                }
                Ok(WsMessage::Close(_)) => return Ok(0),
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) => return Err(e),
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    return Ok(0)
                }
                Err(e) => return Err(io::Error::other(e.to_string())),
            }
        }
        let n = buf.len().min(self.inbox.len());
        for (slot, b) in buf.iter_mut().zip(self.inbox.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

impl Write for WsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outbox.extend_from_slice(buf);
        while let Some(end) = self.outbox.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.outbox.drain(..=end).collect();
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
            let message = if self.binary {
                WsMessage::Binary(line.into())
            } else {
                WsMessage::Text(String::from_utf8_lossy(&line).into_owned().into())
            };
            self.ws
                .send(message)
                .map_err(|e| io::Error::other(e.to_string()))?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.ws.flush().map_err(|e| io::Error::other(e.to_string()))
    }
}
