//! TLS (rustls) end to end against chatd's own TLS listener, with a test
//! certificate (`tests/data/`: a test CA, and a certificate for localhost and
//! 127.0.0.1 signed by it, with its key). The bot trusts the test CA through
//! `Config::tls_roots`; without it, the handshake fails. Certificates made here
//! with rcgen (self-signed, for another name, expired) check `--ca FILE` and that a
//! refusal says why in words.

use crate::support::{bot_config, RunningBot, TestServer};
use chatd_bot::{CertificateDer, Error, Event};
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
    let mut alice = server.connect("alice");
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

/// A self-signed certificate for `names` (valid until `not_after`, a year, if
/// `None`), as PEM files in `dir`: (cert, key).
fn self_signed(
    dir: &std::path::Path,
    names: &[&str],
    not_after: Option<(i32, u8, u8)>,
) -> (PathBuf, PathBuf) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .unwrap();
    if let Some((y, m, d)) = not_after {
        params.not_before = rcgen::date_time_ymd(y - 1, m, d);
        params.not_after = rcgen::date_time_ymd(y, m, d);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn server_with(cert: &std::path::Path, key: &std::path::Path) -> TestServer {
    let (cert, key) = (cert.to_path_buf(), key.to_path_buf());
    TestServer::start_with(move |c| {
        c.tls.listen = vec!["127.0.0.1:0".parse().unwrap()];
        c.tls.cert = Some(cert);
        c.tls.key = Some(key);
    })
}

/// Why the bot (built from the examples' arguments) could not get in, or `None`
/// when it connected.
fn refusal(server: &TestServer, extra: &[&str]) -> Option<String> {
    let addr = server.tls_addr.expect("a TLS listener").to_string();
    let mut args = vec![addr.as_str(), "--tls", "--nick", "cabot"];
    args.extend_from_slice(extra);
    let mut config = chatd_bot::Config::try_from_args(args, "cabot").unwrap();
    config.reconnect.enabled = false;
    config.flood = bot_config(server.addr, "cabot").flood;
    let mut bot = RunningBot::start(config, |_| {});
    match bot.expect(
        |e| matches!(e, Event::Connected { .. } | Event::Disconnected { .. }),
        "Connected or Disconnected",
    ) {
        Event::Disconnected { reason, .. } => Some(reason),
        _ => None,
    }
}

#[test]
fn ca_file_trusts_a_self_signed_certificate_and_refusals_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), &["127.0.0.1", "localhost"], None);
    let server = server_with(&cert, &key);
    let why = refusal(&server, &[]).expect("refused without --ca");
    assert!(
        why.contains("not signed by an authority this client trusts") && why.contains("--ca"),
        "{why}"
    );
    assert_eq!(refusal(&server, &["--ca", cert.to_str().unwrap()]), None);
}

#[test]
fn a_certificate_for_another_name_or_expired_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), &["chat.example.org"], None);
    let server = server_with(&cert, &key);
    let why = refusal(&server, &["--ca", cert.to_str().unwrap()]).expect("wrong name");
    assert!(
        why.contains("it is for chat.example.org, not for 127.0.0.1"),
        "{why}"
    );
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), &["127.0.0.1"], Some((2001, 1, 1)));
    let server = server_with(&cert, &key);
    let why = refusal(&server, &["--ca", cert.to_str().unwrap()]).expect("expired");
    assert!(why.contains("it has expired"), "{why}");
}

#[test]
fn ca_file_errors_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    for (args, words) in [
        (
            vec!["h", "--tls", "--ca", "/nonexistent.pem"],
            "cannot read it",
        ),
        (
            vec!["h", "--tls", "--ca", not_pem.to_str().unwrap()],
            "no certificate in it",
        ),
        (
            vec!["h", "--ca", not_pem.to_str().unwrap()],
            "--ca needs --tls",
        ),
    ] {
        match chatd_bot::Config::try_from_args(args.clone(), "n") {
            Err(Error::Usage(m)) => assert!(m.contains(words), "{args:?}: {m}"),
            other => panic!("{args:?}: {other:?}"),
        }
    }
}

/// The `chat` client: `--ca FILE` trusts a self-signed server, and without it the
/// refusal is shown in words.
#[test]
fn chat_trusts_a_ca_file_and_says_why_a_certificate_is_refused() {
    use expectrl::{Expect, Session};
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), &["127.0.0.1"], None);
    let server = server_with(&cert, &key);
    let addr = server.tls_addr.expect("a TLS listener").to_string();
    let spawn = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_chat"));
        cmd.args(["--tls", "--nick", "tlschat"])
            .args(extra)
            .arg(&addr)
            .env("TERM", "dumb")
            .env("NO_COLOR", "1");
        let mut chat = Session::spawn(cmd).expect("chat starts in a pty");
        chat.set_expect_timeout(Some(crate::support::TIMEOUT));
        chat
    };
    let mut chat = spawn(&[]);
    chat.expect("not signed by an authority this client trusts")
        .expect("the refusal in words");
    drop(chat);
    let mut chat = spawn(&["--ca", cert.to_str().unwrap()]);
    chat.expect("connected as tlschat")
        .expect("connected with --ca");
    chat.send_line("/quit").unwrap();
}
