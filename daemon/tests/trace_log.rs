//! The trace log of the real binary (`--log-level trace`, stderr to a file): every
//! door that carries a secret is sent a password, whatever the tags, prefix or
//! leading spaces, and none of them reaches the log; nor does a raw CR, NUL or ESC.

mod common;

use common::{chatd, connect_retry, free_port, Running, RELAXED};
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::Duration;

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
    std::fs::write(&conf, format!("[server]\nauto_join = []\n\n{RELAXED}")).unwrap();
    let log_path = dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let chatd = Running(
        chatd()
            .arg("--config")
            .arg(&conf)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--log-level", "trace"])
            .stdin(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("chatd starts"),
    );

    let sock = connect_retry(port);
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut w = sock.try_clone().unwrap();
    let mut r = BufReader::new(sock);
    // The first lines go in before registration (PASS, AUTHENTICATE), the rest after.
    for (line, _) in &DOORS[..2] {
        write!(w, "{line}\r\n").unwrap();
    }
    write!(w, "NICK tracer\r\nUSER t 0 * :t\r\n").unwrap();
    for (line, _) in &DOORS[2..] {
        write!(w, "{line}\r\n").unwrap();
    }
    // Control bytes inside lines: NUL, a lone CR (a forged log line), ESC.
    w.write_all(b"PRIVMSG #c :nul\0inside\r\n").unwrap();
    // A line that does not parse (a NUL) is logged at debug as unparsable: its
    // password must not ride along in the parse error.
    w.write_all(b"LOGIN a pw-unparsable-17\0tail\r\n").unwrap();
    w.write_all(b"PRIVMSG tracer :cr\rFAKE 00:00:00 [INFO] forged\r\n")
        .unwrap();
    w.write_all(b"PRIVMSG tracer :\x1b[31mred\r\n").unwrap();
    w.write_all(b"PING :synced\r\n").unwrap();
    // Every line before the PING was handled (and logged) before its PONG.
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).expect("a PONG before the timeout");
        assert!(n > 0, "chatd closed the connection");
        if line.contains("PONG") && line.contains("synced") {
            break;
        }
    }
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
