//! TLS (rustls) end to end against chatd's own TLS listener, with a test
//! certificate (`tests/data/`: a test CA, and a certificate for localhost and
//! 127.0.0.1 signed by it, with its key). The bot trusts the test CA through
//! `Config::tls_roots`; without it, the handshake fails.

use crate::support::{bot_config, RunningBot, TestServer};
use chatd_bot::{CertificateDer, Error};
use rustls::pki_types::pem::PemObject;
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn tls_server() -> TestServer {
    TestServer::start_with(|c| {
        c.tls.listen = vec!["127.0.0.1:0".parse().unwrap()];
        c.tls.cert = Some(data("cert.pem"));
        c.tls.key = Some(data("key.pem"));
    })
}

fn test_ca() -> CertificateDer<'static> {
    CertificateDer::from_pem_file(data("ca.pem")).unwrap()
}

#[test]
fn connects_and_answers_over_tls() {
    let server = tls_server();
    let tls_addr = server.tls_addr.expect("a TLS listener");
    let mut config = bot_config(tls_addr, "tlsbot").tls(true).channel("#tls");
    config.tls_roots = vec![test_ca()];
    let mut bot = RunningBot::start(config, |bot| {
        bot.command("echo", "", |ctx, cmd| ctx.reply(&cmd.args));
    });
    bot.expect_connected();
    bot.expect_joined("#tls");
    let mut alice = server.peer("alice");
    alice.join("#tls");
    alice.send("PRIVMSG #tls :!echo over TLS");
    assert_eq!(alice.expect_privmsg("tlsbot", "#tls"), "over TLS");
    // The server agrees the bot is on TLS (671 RPL_WHOISSECURE).
    alice.send("WHOIS tlsbot");
    alice.expect(|m| m.command == "671", "671 RPL_WHOISSECURE");
}

#[test]
fn an_untrusted_certificate_is_refused() {
    let server = tls_server();
    let mut config = bot_config(server.tls_addr.expect("a TLS listener"), "tlsbot").tls(true);
    config.reconnect.enabled = false;
    let bot = RunningBot::start(config, |_| {});
    match bot.join() {
        Err(Error::Disconnected(reason)) => {
            assert!(reason.contains("certificate"), "{reason}")
        }
        other => panic!("expected a refused certificate, got {other:?}"),
    }
}
