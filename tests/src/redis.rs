//! [`RedisServer`]: a throwaway `redis-server` for the cluster tests, on a free
//! loopback port with no persistence and its own temporary dir; killed on drop.
//! Tests that use it are gated with
//! `#[cfg_attr(not(has_redis), ignore = "redis-server not installed")]`.

use crate::process::{free_port, Running};
use rustls::pki_types::CertificateDer;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Sends PING on `s` and reads whether the answer is PONG.
fn ping(mut s: impl Read + Write) -> bool {
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A running `redis-server`.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Running>,
    /// TLS only (`start_tls`): its self-signed certificate (PEM file, and DER).
    tls: Option<(PathBuf, CertificateDer<'static>)>,
}

impl RedisServer {
    /// Starts one and waits until it answers PING.
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut server = RedisServer {
            port: free_port(),
            dir,
            child: None,
            tls: None,
        };
        server.launch();
        server
    }

    /// Starts one that speaks TLS only (`rediss://`), with a self-signed certificate
    /// for `localhost` and `127.0.0.1` ([`RedisServer::ca_file`]).
    pub fn start_tls() -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .unwrap();
        let (crt, key) = (dir.path().join("redis.crt"), dir.path().join("redis.key"));
        std::fs::write(&crt, cert.cert.pem()).unwrap();
        std::fs::write(&key, cert.key_pair.serialize_pem()).unwrap();
        let mut server = RedisServer {
            port: free_port(),
            dir,
            child: None,
            tls: Some((crt, cert.cert.der().clone())),
        };
        server.launch();
        server
    }

    /// The URL nodes use (`[cluster] redis`).
    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("rediss://127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// The certificate a TLS server presents, as a PEM file (`cluster.redis_ca_file`).
    pub fn ca_file(&self) -> String {
        let (crt, _) = self.tls.as_ref().expect("a TLS server");
        crt.display().to_string()
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("redis-server");
        match &self.tls {
            None => cmd.args(["--port", &self.port.to_string()]),
            Some((crt, _)) => {
                let key = self.dir.path().join("redis.key");
                cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(crt)
                    .arg("--tls-key-file")
                    .arg(key)
                    .arg("--tls-ca-cert-file")
                    .arg(crt)
                    .args(["--tls-auth-clients", "no"])
            }
        };
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(Running::spawn(&mut cmd));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers PING now (over TLS for a TLS server).
    fn answers(&self) -> bool {
        let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        match &self.tls {
            None => ping(s),
            Some((_, der)) => ping(rustls::StreamOwned::new(crate::tls::session(der), s)),
        }
    }

    /// Kills the server (`kill -9`: everything it held is gone).
    pub fn kill(&mut self) {
        if let Some(child) = self.child.take() {
            child.kill9();
        }
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }
}
