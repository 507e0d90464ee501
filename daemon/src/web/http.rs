//! One HTTP/1.1 request head to its answer: a page of the web client (with its
//! security headers), a WebSocket upgrade (RFC 6455 §4.2, IRCv3 `websocket`), or an
//! error status. Parsed with `httparse`, never blocking: the caller keeps the bytes
//! until a whole head has come. The head is capped at [`MAX_HEAD`] bytes.

use super::files;
use crate::config::WebConfig;
use crate::ipnet::IpNet;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};

/// Largest request head (request line and headers) accepted; past it `431`.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most headers in one request; more is `431`.
const MAX_HEADERS: usize = 48;
/// RFC 6455 §1.3: appended to the client's key before hashing.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The Content-Security-Policy of every page: scripts and styles only from chatd
/// itself (never inline), no third-party request of any kind, connections only back
/// to chatd's own WebSocket, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self' ws: wss:; manifest-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The IRCv3 WebSocket subprotocols (<https://ircv3.net/specs/extensions/websocket>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subprotocol {
    /// `text.ircv3.net`: text frames, UTF-8 lines.
    Text,
    /// `binary.ircv3.net`: binary frames, the line's bytes as they are.
    Binary,
}

/// What the connection is and where it comes from, as the answer needs it.
pub struct Context<'a> {
    /// The connection came over TLS (HSTS is sent).
    pub tls: bool,
    /// The address the connection comes from (a proxy's, behind one).
    pub peer: IpAddr,
    pub config: &'a WebConfig,
    /// The node can serve: its database is writable and, in a cluster, its bus is up
    /// (`GET /ready`, for load balancers).
    pub ready: bool,
}

/// What to do with the bytes received so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// The head has not all come yet.
    Partial,
    /// Send `response`; the request took `consumed` bytes; close after it unless
    /// `keep_alive`.
    Page {
        response: Vec<u8>,
        consumed: usize,
        keep_alive: bool,
    },
    /// Send `response` (101) and speak WebSocket from the byte after `consumed`.
    Upgrade {
        response: Vec<u8>,
        consumed: usize,
        protocol: Subprotocol,
        /// From a trusted proxy: the client it names (else the proxy itself).
        forwarded: Option<IpAddr>,
    },
}

/// Answers the request head at the start of `input`.
pub fn answer(input: &[u8], cx: &Context) -> Answer {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let consumed = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() <= MAX_HEAD => return Answer::Partial,
        Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
            return error(cx, 431, "Request Header Fields Too Large", input.len());
        }
        Err(_) => return error(cx, 400, "Bad Request", input.len()),
    };
    if consumed > MAX_HEAD {
        return error(cx, 431, "Request Header Fields Too Large", consumed);
    }
    let method = req.method.unwrap_or("");
    let target = req.path.unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let head = Head(req.headers);
    let header = |name: &str| head.get(name);
    let has_token = |name: &str, token: &str| head.has_token(name, token);
    // A body would be read as the next request: refuse and close instead.
    let has_body =
        header("transfer-encoding").is_some() || header("content-length").is_some_and(|l| l != "0");
    if has_body {
        return error(cx, 413, "Content Too Large", consumed);
    }
    if has_token("upgrade", "websocket") {
        if method != "GET" {
            return error(cx, 405, "Method Not Allowed", consumed);
        }
        return upgrade(cx, consumed, &head);
    }
    if method != "GET" && method != "HEAD" {
        return error(cx, 405, "Method Not Allowed", consumed);
    }
    if path == "/ready" {
        return readiness(cx, method == "HEAD", consumed);
    }
    let Some(file) = files::find(path) else {
        return error(cx, 404, "Not Found", consumed);
    };
    let keep_alive = req.version == Some(1) && !has_token("connection", "close");
    let etag = format!("\"{:016x}\"", file.etag);
    let fresh = header("if-none-match").is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = String::with_capacity(512);
    let (status, body): (&str, &[u8]) = if fresh {
        ("304 Not Modified", &[])
    } else {
        ("200 OK", file.body)
    };
    let _ = write!(response, "HTTP/1.1 {status}\r\n");
    page_headers(&mut response, cx.tls);
    let _ = write!(
        response,
        "Content-Type: {}\r\nETag: {etag}\r\nCache-Control: no-cache\r\n",
        file.content_type
    );
    finish(response, body, method == "HEAD", keep_alive, consumed)
}

/// A WebSocket handshake: version 13, a key, an allowed `Origin`, one of the
/// IRCv3 subprotocols (text when the client names none).
fn upgrade(cx: &Context, consumed: usize, head: &Head) -> Answer {
    let header = |name: &str| head.get(name);
    let has_token = |name: &str, token: &str| head.has_token(name, token);
    if !has_token("connection", "upgrade") {
        return error(cx, 400, "Bad Request", consumed);
    }
    if header("sec-websocket-version") != Some("13") {
        let mut response = String::from("HTTP/1.1 426 Upgrade Required\r\n");
        response.push_str("Sec-WebSocket-Version: 13\r\n");
        return finish(response, b"426 Upgrade Required\n", false, false, consumed);
    }
    let Some(key) = header("sec-websocket-key").filter(|k| {
        base64::engine::general_purpose::STANDARD
            .decode(k)
            .is_ok_and(|b| b.len() == 16)
    }) else {
        return error(cx, 400, "Bad Request", consumed);
    };
    if let Some(origin) = header("origin") {
        if !origin_allowed(origin, header("host"), &cx.config.allowed_origins) {
            return error(cx, 403, "Forbidden", consumed);
        }
    }
    let offered: Vec<&str> = header("sec-websocket-protocol")
        .map(|v| v.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let protocol = if offered.is_empty() {
        Subprotocol::Text
    } else {
        match offered.iter().find_map(|p| match *p {
            "text.ircv3.net" => Some(Subprotocol::Text),
            "binary.ircv3.net" => Some(Subprotocol::Binary),
            _ => None,
        }) {
            Some(p) => p,
            None => return error(cx, 400, "Bad Request", consumed),
        }
    };
    let forwarded = IpNet::any_contains(&cx.config.trusted_proxies, cx.peer).then(|| {
        forwarded_client(
            header("forwarded"),
            header("x-forwarded-for"),
            &cx.config.trusted_proxies,
        )
        .unwrap_or(cx.peer)
    });
    let accept = {
        let mut sha = Sha1::new();
        sha.update(key.as_bytes());
        sha.update(WS_GUID.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(sha.finalize())
    };
    let mut response = String::from(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    );
    let _ = write!(response, "Sec-WebSocket-Accept: {accept}\r\n");
    if !offered.is_empty() {
        let name = match protocol {
            Subprotocol::Text => "text.ircv3.net",
            Subprotocol::Binary => "binary.ircv3.net",
        };
        let _ = write!(response, "Sec-WebSocket-Protocol: {name}\r\n");
    }
    response.push_str("\r\n");
    Answer::Upgrade {
        response: response.into_bytes(),
        consumed,
        protocol,
        forwarded,
    }
}

/// A request's headers.
struct Head<'h, 'b>(&'h [httparse::Header<'b>]);

impl<'h, 'b> Head<'h, 'b> {
    /// The first value of header `name`, trimmed, if it is UTF-8.
    fn get(&self, name: &str) -> Option<&'b str> {
        self.0
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    }

    /// Whether a comma-separated header `name` holds `token` (any case).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// Whether a page from `origin` may open a WebSocket: it is listed, or (with no
/// list) it names the host the request went to, as the pages chatd serves do.
fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if !allowed.is_empty() {
        return allowed.iter().any(|a| a.eq_ignore_ascii_case(origin));
    }
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// The client a trusted proxy names: the right-most address of `Forwarded` (RFC
/// 7239 `for=`) or else `X-Forwarded-For` that is not itself a trusted proxy, since
/// only the addresses our own proxies appended can be believed.
fn forwarded_client(
    forwarded: Option<&str>,
    x_forwarded_for: Option<&str>,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let hops: Vec<IpAddr> = if let Some(f) = forwarded {
        f.split(',')
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(v.trim().trim_matches('"')))?
                })
            })
            .collect()
    } else {
        x_forwarded_for?
            .split(',')
            .filter_map(|v| parse_node(v.trim()))
            .collect()
    };
    hops.iter()
        .rev()
        .map(|ip| ip.to_canonical())
        .find(|ip| !IpNet::any_contains(trusted, *ip))
        .or_else(|| hops.first().map(|ip| ip.to_canonical()))
}

/// `1.2.3.4`, `1.2.3.4:5`, `[2001:db8::1]`, `[2001:db8::1]:5`, `2001:db8::1`.
fn parse_node(v: &str) -> Option<IpAddr> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = v.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    v.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The headers every page and error carries.
fn page_headers(response: &mut String, tls: bool) {
    let _ = write!(
        response,
        "Content-Security-Policy: {CSP}\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n\
         Cross-Origin-Opener-Policy: same-origin\r\n"
    );
    if tls {
        response.push_str("Strict-Transport-Security: max-age=31536000\r\n");
    }
}

/// An error status with a one-line text body; the connection closes after it.
fn error(cx: &Context, code: u16, reason: &str, consumed: usize) -> Answer {
    let mut response = format!("HTTP/1.1 {code} {reason}\r\n");
    page_headers(&mut response, cx.tls);
    if code == 405 {
        response.push_str("Allow: GET, HEAD\r\n");
    }
    response.push_str("Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n");
    let body = format!("{code} {reason}\n");
    finish(response, body.as_bytes(), false, false, consumed)
}

/// `GET /ready`: 200 when the node can serve (database writable, cluster bus up),
/// else 503, for a load balancer's health check.
fn readiness(cx: &Context, head_only: bool, consumed: usize) -> Answer {
    let (status, body): (&str, &[u8]) = if cx.ready {
        ("200 OK", b"ready\n")
    } else {
        ("503 Service Unavailable", b"not ready\n")
    };
    let mut response = format!("HTTP/1.1 {status}\r\n");
    page_headers(&mut response, cx.tls);
    response.push_str("Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n");
    finish(response, body, head_only, false, consumed)
}

fn finish(
    mut head: String,
    body: &[u8],
    head_only: bool,
    keep_alive: bool,
    consumed: usize,
) -> Answer {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let _ = write!(
        head,
        "Content-Length: {}\r\nConnection: {connection}\r\n\r\n",
        body.len()
    );
    let mut response = head.into_bytes();
    if !head_only {
        response.extend_from_slice(body);
    }
    Answer::Page {
        response,
        consumed,
        keep_alive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_client_is_the_rightmost_untrusted_hop() {
        let trusted = [net("10.0.0.0/8")];
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let cases = [
            (None, Some("203.0.113.7"), ip("203.0.113.7")),
            (
                None,
                Some("1.1.1.1, 203.0.113.7, 10.0.0.2"),
                ip("203.0.113.7"),
            ),
            (None, Some("garbage"), None),
            (Some("for=192.0.2.60;proto=https"), None, ip("192.0.2.60")),
            (
                Some("for=\"[2001:db8::1]:4711\", for=10.0.0.3"),
                Some("198.51.100.1"),
                ip("2001:db8::1"),
            ),
            (None, Some("10.0.0.9"), ip("10.0.0.9")),
            (None, None, None),
        ];
        for (fwd, xff, want) in cases {
            assert_eq!(
                forwarded_client(fwd, xff, &trusted),
                want,
                "{fwd:?} {xff:?}"
            );
        }
    }

    #[test]
    fn origins_are_checked() {
        let list = ["https://chat.example.com".to_string()];
        assert!(origin_allowed("https://chat.example.com", None, &list));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("chat.example.com"),
            &list
        ));
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:8080"), &[]));
    }
}
