//! TLS for tests: a self-signed certificate made at test time ([`make_cert`]) and a
//! rustls client that trusts only it ([`connect`], [`handshake_ok`]).

use crate::client::{Client, TlsStream};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A self-signed certificate for `localhost`, written as PEM into `dir` as
/// `<name>.crt` and `<name>.key`; returns both paths and the certificate.
pub fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    (cert_path, key_path, cert.cert.der().clone())
}

/// A client session for `localhost` that trusts `root` alone.
pub fn session(root: &CertificateDer<'static>) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
        .unwrap()
}

/// A TLS client of `addr` that trusts `root`; the handshake runs with the first
/// line sent or read.
pub fn connect(addr: SocketAddr, root: &CertificateDer<'static>) -> Client<TlsStream> {
    let sock = TcpStream::connect(addr).expect("connect to the TLS listener");
    sock.set_nodelay(true).unwrap();
    Client::over(rustls::StreamOwned::new(session(root), sock))
}

/// Whether a full TLS handshake with `root` as the only trusted root succeeds.
pub fn handshake_ok(addr: SocketAddr, root: &CertificateDer<'static>) -> bool {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(crate::TIMEOUT)).unwrap();
    let mut conn = session(root);
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            return false;
        }
    }
    true
}
