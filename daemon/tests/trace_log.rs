//! The trace log of the real binary (`--log-level trace`, stderr to a file): every
//! door that carries a secret is sent a password, whatever the tags, prefix or
//! leading spaces, and none of them reaches the log; nor does a raw CR, NUL or ESC.

use chatd_tests::process::{chatd_command, connect_retry, free_port, Running};
use chatd_tests::{Client, RELAXED_TOML};
use std::process::Stdio;

/// (line sent, the secret in it). Each secret is unique so a leak names its door.
const DOORS: &[(&str, &str)] = &[
    ("PASS nosuchaccount:pw-pass-1", "pw-pass-1"),
    ("AUTHENTICATE cHctc2FzbC0y", "cHctc2FzbC0y"),
    ("PRIVMSG NickServ :IDENTIFY pw-identify-3", "pw-identify-3"),
    (
        "PRIVMSG NickServ :IDENTIFY bob pw-identify-4",
        "pw-identify-4",
    ),
    (
        "PRIVMSG NickServ@services :IDENTIFY pw-identify-5",
        "pw-identify-5",
    ),
    ("@tag LOGIN a pw-login-6", "pw-login-6"),
    ("@a=1;+b=2 :prefix LOGIN a :pw-login-7", "pw-login-7"),
    (":prefix OPER a pw-oper-8", "pw-oper-8"),
    ("  OPER a pw-oper-9", "pw-oper-9"),
    ("@x=y   OPER a pw-oper-10", "pw-oper-10"),
    (
        "PRIVMSG NickServ :REGISTER pw-nsregister-11 a@example.com",
        "pw-nsregister-11",
    ),
    ("NOTICE nickserv :GHOST bob pw-ghost-12", "pw-ghost-12"),
    (
        "PRIVMSG NickServ :SET PASSWORD pw-setpass-13",
        "pw-setpass-13",
    ),
    ("REGISTER * * pw-register-14", "pw-register-14"),
    (
        "register carl carl@example.com :pw-register-15",
        "pw-register-15",
    ),
    ("JOIN #locked pw-key-16", "pw-key-16"),
];

#[test]
fn trace_logging_shows_no_password_and_no_raw_control_byte() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("chatd.toml");
    std::fs::write(&conf, format!("[server]\nauto_join = []\n\n{RELAXED_TOML}")).unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let chatd = Running::spawn(
        chatd_command(
            env!("CARGO_BIN_EXE_chatd"),
            &conf,
            port,
            &dir.path().join("data"),
        )
        .args(["--log-level", "trace"])
        .stderr(Stdio::from(log)),
    );

    let mut c = Client::from_stream(connect_retry(port));
    // The first lines go in before registration (PASS, AUTHENTICATE), the rest after.
    for (line, _) in &DOORS[..2] {
        c.send(line);
    }
    c.send("NICK tracer");
    c.send("USER t 0 * :t");
    for (line, _) in &DOORS[2..] {
        c.send(line);
    }
    // Control bytes inside lines: NUL, a lone CR (a forged log line), ESC.
    c.send_bytes(b"PRIVMSG #c :nul\0inside\r\n");
    // A line that does not parse (a NUL) is logged at debug as unparsable: its
    // password must not ride along in the parse error.
    c.send_bytes(b"LOGIN a pw-unparsable-17\0tail\r\n");
    c.send_bytes(b"PRIVMSG tracer :cr\rFAKE 00:00:00 [INFO] forged\r\n");
    c.send_bytes(b"PRIVMSG tracer :\x1b[31mred\r\n");
    c.send_bytes(b"PING :synced\r\n");
    // Every line before the PING was handled (and logged) before its PONG.
    c.expect_line("PONG synced", |l| {
        l.contains("PONG") && l.contains("synced")
    });
    chatd.signal(libc::SIGTERM);
    assert_eq!(chatd.wait(), 0);

    let bytes = std::fs::read(&log_path).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("<redacted>"),
        "the trace log shows the redacted lines:\n{text}"
    );
    for (line, secret) in DOORS {
        assert!(
            !text.contains(secret),
            "{line:?} leaked {secret:?} into the trace log:\n{text}"
        );
    }
    assert!(
        !text.contains("pw-unparsable-17"),
        "an unparsable line leaked its password:\n{text}"
    );
    assert!(!bytes.contains(&0), "a raw NUL in the log:\n{text}");
    assert!(!bytes.contains(&b'\r'), "a raw CR in the log:\n{text}");
    assert!(!bytes.contains(&0x1b), "a raw ESC in the log:\n{text}");
    assert!(
        text.lines().all(|l| !l.starts_with("FAKE")),
        "a forged log line:\n{text}"
    );
    assert!(
        text.contains("\\x1b[31mred"),
        "the ESC is shown escaped:\n{text}"
    );
}
