//! [`Transport`]: one connection's socket, plain TCP or TLS (rustls), non-blocking
//! under the bot's `mio::Poll`. Bytes in go to a `LineBuffer`; bytes out are
//! buffered and written until `WouldBlock`.

use crate::config::Config;
use crate::proto::LineBuffer;
use crate::Error;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use std::io::{self, ErrorKind, Read, Write};
use std::net::ToSocketAddrs;
use std::sync::Arc;

/// Why a connection could not be made.
pub(crate) enum ConnectError {
    /// Worth trying again later (refused, unreachable, DNS down...).
    Retry(String),
    /// A setup error that retrying cannot fix.
    Fatal(Error),
}

pub(crate) enum Transport {
    Plain {
        sock: TcpStream,
        out: Vec<u8>,
    },
    Tls {
        sock: TcpStream,
        tls: Box<rustls::ClientConnection>,
    },
}

impl Transport {
    /// Resolves and connects (blocking, bounded by the connect timeout), then hands
    /// the socket to mio. The TLS handshake runs later, inside the event loop.
    pub fn connect(config: &Config) -> Result<Transport, ConnectError> {
        let (host, port) = config.host_port().map_err(ConnectError::Fatal)?;
        let tls = if config.tls {
            Some(tls_connection(config, &host).map_err(ConnectError::Fatal)?)
        } else {
            None
        };
        let addrs: Vec<_> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| ConnectError::Retry(format!("cannot resolve {host}: {e}")))?
            .collect();
        let mut last = format!("{host} has no address");
        for addr in addrs {
            match std::net::TcpStream::connect_timeout(&addr, config.connect_timeout) {
                Ok(s) => {
                    // Lines are small and answers matter more than packing.
                    let _ = s.set_nodelay(true);
                    s.set_nonblocking(true)
                        .map_err(|e| ConnectError::Retry(e.to_string()))?;
                    let sock = TcpStream::from_std(s);
                    log::info!("peer={addr} connected");
                    return Ok(match tls {
                        Some(tls) => Transport::Tls {
                            sock,
                            tls: Box::new(tls),
                        },
                        None => Transport::Plain {
                            sock,
                            out: Vec::new(),
                        },
                    });
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(ConnectError::Retry(last))
    }

    fn sock(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain { sock, .. } | Transport::Tls { sock, .. } => sock,
        }
    }

    /// READABLE always; WRITABLE while bytes wait.
    pub fn interest(&self) -> Interest {
        if self.wants_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = self.interest();
        registry.register(self.sock(), token, interest)
    }

    pub fn reregister(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = self.interest();
        registry.reregister(self.sock(), token, interest)
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(self.sock());
    }

    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain { out, .. } => !out.is_empty(),
            Transport::Tls { tls, .. } => tls.wants_write(),
        }
    }

    /// Reads everything available into `lines`. `Ok(false)` when the peer closed.
    pub fn read(&mut self, lines: &mut LineBuffer) -> io::Result<bool> {
        let mut buf = [0u8; 16 * 1024];
        match self {
            Transport::Plain { sock, .. } => loop {
                match sock.read(&mut buf) {
                    Ok(0) => return Ok(false),
                    Ok(n) => lines.push(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(true),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            },
            Transport::Tls { sock, tls } => {
                let mut open = true;
                loop {
                    match tls.read_tls(sock) {
                        Ok(0) => {
                            open = false;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                    tls.process_new_packets()
                        .map_err(|e| io::Error::other(tls_error_in_words(&e)))?;
                    loop {
                        match tls.reader().read(&mut buf) {
                            Ok(0) => {
                                open = false;
                                break;
                            }
                            Ok(n) => lines.push(&buf[..n]),
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(open)
            }
        }
    }

    /// Queues bytes to send.
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Transport::Plain { out, .. } => {
                out.extend_from_slice(bytes);
                Ok(())
            }
            Transport::Tls { tls, .. } => tls.writer().write_all(bytes),
        }
    }

    /// Writes queued bytes until done or `WouldBlock`.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain { sock, out } => {
                let mut written = 0;
                let result = loop {
                    if written == out.len() {
                        break Ok(());
                    }
                    match sock.write(&out[written..]) {
                        Ok(0) => break Err(ErrorKind::WriteZero.into()),
                        Ok(n) => written += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                out.drain(..written);
                result
            }
            Transport::Tls { sock, tls } => {
                while tls.wants_write() {
                    match tls.write_tls(sock) {
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        }
    }
}

fn tls_connection(config: &Config, host: &str) -> Result<rustls::ClientConnection, Error> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in &config.tls_roots {
        roots
            .add(cert.clone())
            .map_err(|e| Error::Tls(format!("bad trusted certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| Error::Tls(format!("{host:?} is not a valid server name")))?;
    rustls::ClientConnection::new(Arc::new(client), name).map_err(|e| Error::Tls(e.to_string()))
}

/// Why a TLS handshake failed, in words a user can act on: an unknown issuer
/// (self-signed or private CA: `--ca FILE`), a name mismatch, an expired
/// certificate, a plaintext port...
pub(crate) fn tls_error_in_words(e: &rustls::Error) -> String {
    use rustls::{CertificateError as C, Error as E};
    let refused = "the server's certificate was refused";
    match e {
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => format!(
                "{refused}: it is not signed by an authority this client trusts \
                 (self-signed, or from a private CA); trust it with --ca FILE"
            ),
            C::NotValidForName => format!("{refused}: it is not valid for this server's name"),
            C::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "{refused}: it is for {}, not for {}",
                if presented.is_empty() {
                    "no name at all".to_string()
                } else {
                    presented
                        .iter()
                        .map(|p| san_name(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                expected.to_str()
            ),
            C::Expired | C::ExpiredContext { .. } => format!("{refused}: it has expired"),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("{refused}: it is not valid yet (is this machine's clock right?)")
            }
            C::Revoked => format!("{refused}: it has been revoked"),
            C::BadSignature => format!("{refused}: its signature does not verify"),
            C::BadEncoding => format!("{refused}: it is not a well-formed certificate"),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                format!("{refused}: it is not meant for a TLS server")
            }
            other => format!("{refused}: {other:?}"),
        },
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "the server did not answer in TLS (is this its plaintext port?)".into()
        }
        E::AlertReceived(alert) => format!("the server ended the TLS handshake ({alert:?})"),
        E::NoCertificatesPresented => "the server sent no certificate".into(),
        other => format!("TLS failed: {other}"),
    }
}

/// `DnsName("chat.example.org")` (how rustls shows a certificate's names) →
/// `chat.example.org`.
fn san_name(presented: &str) -> &str {
    let inner = presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"')
}
