//! The PROXY protocol (HAProxy's v1 text and v2 binary headers, as HAProxy, AWS NLB
//! and others send them): the header a proxy puts before a client's bytes to say who
//! the client is. [`parse`] reads one; [`take_header`] takes it off a socket without
//! reading past it. Whom chatd believes is decided in `admission.rs`.
//! Spec: <https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt>.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The v2 signature: `\r\n\r\n\0\r\nQUIT\n`.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A v1 header is at most 107 bytes, CRLF included (spec §2.1).
const V1_MAX: usize = 107;
/// The longest v2 header chatd takes: 16 bytes and 1024 of addresses and TLVs (AWS
/// NLB's VPC endpoint TLV, HAProxy's SSL TLVs fit). A longer one is refused.
pub const V2_MAX: usize = 16 + 1024;

/// What a header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The proxy relays this client (v1 `TCP4`/`TCP6`, v2 `PROXY` over TCP).
    Client(SocketAddr),
    /// The proxy speaks for itself (v2 `LOCAL`: health checks) or does not know
    /// the client (v1 `UNKNOWN`, v2 over UNSPEC or Unix sockets): the connection's own
    /// address stands.
    Local,
}

/// Why a connection's first bytes are not an acceptable header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// The bytes are not a PROXY header at all (a listed proxy sent none).
    Missing,
    /// A header that breaks the spec; the text says where.
    Malformed(&'static str),
    /// Longer than [`V1_MAX`] or [`V2_MAX`].
    TooLong,
    /// The peer closed before the header was complete.
    Closed,
}

impl std::fmt::Display for ProxyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProxyError::Missing => f.write_str("expected a PROXY protocol header"),
            ProxyError::Malformed(why) => write!(f, "malformed PROXY protocol header: {why}"),
            ProxyError::TooLong => f.write_str("PROXY protocol header too long"),
            ProxyError::Closed => f.write_str("closed before its PROXY protocol header"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Whether `bytes` (the first a connection sent) start like a PROXY header, v1 or
/// v2. Used to refuse one from an address that is not a configured proxy.
pub fn starts_like_header(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PROXY ") || bytes.starts_with(&V2_SIGNATURE[..5])
}

/// Parses the header at the start of `buf`: `Ok(None)` while more bytes are needed,
/// else the header and its length in bytes (what follows is the client's).
pub fn parse(buf: &[u8]) -> Result<Option<(Header, usize)>, ProxyError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'P' {
        return parse_v1(buf);
    }
    if buf[0] == b'\r' {
        return parse_v2(buf);
    }
    Err(ProxyError::Missing)
}

/// `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, `PROXY TCP6 ...`, `PROXY UNKNOWN ...`.
fn parse_v1(buf: &[u8]) -> Result<Option<(Header, usize)>, ProxyError> {
    let n = buf.len().min(6);
    if buf[..n] != b"PROXY "[..n] {
        return Err(ProxyError::Missing);
    }
    let Some(end) = buf.windows(2).take(V1_MAX - 1).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::TooLong)
        } else {
            Ok(None)
        };
    };
    let len = end + 2;
    let line = std::str::from_utf8(&buf[6..end]).map_err(|_| ProxyError::Malformed("not ASCII"))?;
    let fields: Vec<&str> = line.split(' ').collect();
    match fields[0] {
        "UNKNOWN" => return Ok(Some((Header::Local, len))),
        "TCP4" | "TCP6" => {}
        _ => {
            return Err(ProxyError::Malformed(
                "protocol is not TCP4, TCP6 or UNKNOWN",
            ))
        }
    }
    let [_, src, dst, sport, dport] = fields[..] else {
        return Err(ProxyError::Malformed(
            "expected two addresses and two ports",
        ));
    };
    let v4 = fields[0] == "TCP4";
    let addr = |s: &str| -> Result<IpAddr, ProxyError> {
        let ip = if v4 {
            s.parse::<Ipv4Addr>().map(IpAddr::V4)
        } else {
            s.parse::<Ipv6Addr>().map(IpAddr::V6)
        };
        ip.map_err(|_| ProxyError::Malformed("an address does not match its protocol"))
    };
    let port = |s: &str| -> Result<u16, ProxyError> {
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let canonical = s == "0" || !s.starts_with('0');
        match s.parse::<u16>() {
            Ok(p) if digits && canonical => Ok(p),
            _ => Err(ProxyError::Malformed(
                "a port is not a number from 0 to 65535",
            )),
        }
    };
    let source = SocketAddr::new(addr(src)?, port(sport)?);
    addr(dst)?;
    port(dport)?;
    Ok(Some((Header::Client(source), len)))
}

/// The 16-byte v2 header (signature, version and command, family, length), then the
/// addresses and TLVs.
fn parse_v2(buf: &[u8]) -> Result<Option<(Header, usize)>, ProxyError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] != V2_SIGNATURE[..n] {
        return Err(ProxyError::Missing);
    }
    if buf.len() < 16 {
        return Ok(None);
    }
    if buf[12] >> 4 != 2 {
        return Err(ProxyError::Malformed("version is not 2"));
    }
    let local = match buf[12] & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyError::Malformed("command is neither LOCAL nor PROXY")),
    };
    let family = buf[13];
    let rest = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let len = 16 + rest;
    if len > V2_MAX {
        return Err(ProxyError::TooLong);
    }
    if buf.len() < len {
        return Ok(None);
    }
    if local {
        return Ok(Some((Header::Local, len)));
    }
    let body = &buf[16..len];
    let header = match family {
        // TCP over IPv4: src, dst (4 bytes each), sport, dport.
        0x11 => {
            let b = body
                .get(..12)
                .ok_or(ProxyError::Malformed("IPv4 addresses cut short"))?;
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            Header::Client(SocketAddr::new(ip.into(), u16::from_be_bytes([b[8], b[9]])))
        }
        // TCP over IPv6: src, dst (16 bytes each), sport, dport.
        0x21 => {
            let b = body
                .get(..36)
                .ok_or(ProxyError::Malformed("IPv6 addresses cut short"))?;
            let octets: [u8; 16] = b[..16].try_into().expect("16 bytes");
            let ip = Ipv6Addr::from(octets);
            Header::Client(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([b[32], b[33]]),
            ))
        }
        // UNSPEC, and Unix sockets: no client address to use.
        0x00 | 0x31 => Header::Local,
        _ => return Err(ProxyError::Malformed("not a TCP connection")),
    };
    Ok(Some((header, len)))
}

/// Takes the header off the front of `sock` without reading a byte past it: it
/// peeks, and reads only the header's length once it is all there. `Ok(None)`: not
/// all arrived yet (the next readable event tries again).
pub fn take_header(sock: &mut mio::net::TcpStream) -> Result<Option<Header>, ProxyError> {
    let mut buf = [0u8; V2_MAX];
    let n = loop {
        match sock.peek(&mut buf) {
            Ok(0) => return Err(ProxyError::Closed),
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(ProxyError::Closed),
        }
    };
    let Some((header, len)) = parse(&buf[..n])? else {
        return Ok(None);
    };
    let mut taken = 0;
    while taken < len {
        match sock.read(&mut buf[taken..len]) {
            Ok(0) => return Err(ProxyError::Closed),
            Ok(k) => taken += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Peeked bytes are there to read; anything else is a broken socket.
            Err(_) => return Err(ProxyError::Closed),
        }
    }
    Ok(Some(header))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(cmd: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.push(0x20 | cmd);
        h.push(family);
        h.extend_from_slice(&(body.len() as u16).to_be_bytes());
        h.extend_from_slice(body);
        h
    }

    #[test]
    fn v1_headers() {
        let client = |s: &str| Header::Client(s.parse().unwrap());
        let ok: &[(&[u8], Header, usize)] = &[
            (
                b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 6667\r\nNICK a\r\n",
                client("203.0.113.7:51234"),
                44,
            ),
            (
                b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 6697\r\n",
                client("[2001:db8::7]:4000"),
                46,
            ),
            (b"PROXY UNKNOWN\r\n", Header::Local, 15),
            (b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", Header::Local, 35),
        ];
        for (bytes, want, len) in ok {
            assert_eq!(
                parse(bytes),
                Ok(Some((*want, *len))),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        // Cut short: wait for more.
        for bytes in [
            &b"PRO"[..],
            b"PROXY TCP4 1.2.3.4",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",
        ] {
            assert_eq!(parse(bytes), Ok(None), "{bytes:?}");
        }
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            b"PROXY TCP4 ::1 ::2 1 2\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY \xff\r\n",
        ];
        for bytes in bad {
            assert!(
                matches!(parse(bytes), Err(ProxyError::Malformed(_))),
                "{bytes:?}"
            );
        }
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(120));
        assert_eq!(parse(long.as_bytes()), Err(ProxyError::TooLong));
        assert_eq!(parse(b"NICK alice\r\n"), Err(ProxyError::Missing));
        assert_eq!(parse(b"PRIVMSG"), Err(ProxyError::Missing));
    }

    #[test]
    fn v2_headers() {
        let mut v4 = vec![203, 0, 113, 7, 10, 0, 0, 1];
        v4.extend_from_slice(&51234u16.to_be_bytes());
        v4.extend_from_slice(&6667u16.to_be_bytes());
        let h = v2(1, 0x11, &v4);
        assert_eq!(
            parse(&h),
            Ok(Some((
                Header::Client("203.0.113.7:51234".parse().unwrap()),
                28
            )))
        );
        // Cut anywhere: wait for more.
        for cut in 1..h.len() {
            assert_eq!(parse(&h[..cut]), Ok(None), "cut at {cut}");
        }
        // With a TLV after the addresses (AWS NLB's VPC endpoint id).
        let mut with_tlv = v4.clone();
        with_tlv.extend_from_slice(&[0xea, 0x00, 0x04, 1, b'v', b'p', b'c']);
        assert_eq!(parse(&v2(1, 0x11, &with_tlv)).unwrap().unwrap().1, 16 + 19);
        let mut v6 = Vec::new();
        v6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&[0x0f, 0xa0, 0x1a, 0x29]);
        assert_eq!(
            parse(&v2(1, 0x21, &v6)),
            Ok(Some((
                Header::Client("[2001:db8::7]:4000".parse().unwrap()),
                52
            )))
        );
        assert_eq!(parse(&v2(0, 0x00, &[])), Ok(Some((Header::Local, 16))));
        assert_eq!(parse(&v2(0, 0x11, &v4)), Ok(Some((Header::Local, 28))));
        assert_eq!(parse(&v2(1, 0x00, &[])), Ok(Some((Header::Local, 16))));
        // Broken ones.
        let mut bad_version = h.clone();
        bad_version[12] = 0x11;
        assert!(matches!(parse(&bad_version), Err(ProxyError::Malformed(_))));
        assert!(matches!(
            parse(&v2(2, 0x11, &v4)),
            Err(ProxyError::Malformed(_))
        ));
        assert!(matches!(
            parse(&v2(1, 0x12, &v4)),
            Err(ProxyError::Malformed(_))
        ));
        assert!(matches!(
            parse(&v2(1, 0x11, &v4[..8])),
            Err(ProxyError::Malformed(_))
        ));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(parse(&huge), Err(ProxyError::TooLong));
        assert_eq!(parse(b"\r\n\r\nX"), Err(ProxyError::Missing));
    }

    #[test]
    fn headers_are_recognised_by_their_first_bytes() {
        assert!(starts_like_header(b"PROXY TCP4 1.2.3.4"));
        assert!(
            !starts_like_header(b"PROX"),
            "maybe, but a client may send that too"
        );
        assert!(starts_like_header(V2_SIGNATURE));
        assert!(!starts_like_header(b"NICK alice\r\n"));
        assert!(!starts_like_header(b"PASS x\r\n"));
        assert!(!starts_like_header(b"\r\n"));
    }
}
