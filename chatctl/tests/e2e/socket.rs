//! The admin socket's protocol edges (`docs/admin.md` "Protocol"), spoken directly
//! over a Unix stream as `socat` or a script would: a client that half-closes after
//! writing gets every answer, those that wait for the store included; a request line
//! over 64 KiB is refused and closes the connection.

use crate::harness::{Daemon, TIMEOUT};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;

/// Everything the daemon writes until it closes the connection, one JSON value a line.
fn read_until_closed(sock: &mut UnixStream) -> Vec<Value> {
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut text = String::new();
    if let Err(e) = sock.read_to_string(&mut text) {
        panic!("the daemon did not close the connection ({e}); it sent:\n{text}");
    }
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn answer_to(got: &[Value], id: i64) -> &Value {
    got.iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no answer to request {id}: {got:?}"))
}

#[test]
fn every_request_before_a_half_close_is_answered() {
    let d = Daemon::start();
    // Something for tail-log to find.
    let mut alice = d.irc("alice");
    alice.send("JOIN #c");
    alice.send("PRIVMSG #c :logged line");
    alice.sync();

    let mut sock = UnixStream::connect(&d.socket).unwrap();
    // Requests answered from the store (tail-log, stats, accounts) and at once (users).
    sock.write_all(
        concat!(
            r#"{"id":1,"cmd":"tail-log","n":5}"#,
            "\n",
            r#"{"id":2,"cmd":"stats"}"#,
            "\n",
            r#"{"id":3,"cmd":"users"}"#,
            "\n",
            r#"{"id":4,"cmd":"accounts"}"#,
            "\n",
        )
        .as_bytes(),
    )
    .unwrap();
    sock.shutdown(Shutdown::Write).unwrap();
    let got = read_until_closed(&mut sock);
    for id in 1..=4 {
        assert_eq!(answer_to(&got, id)["ok"], true, "{got:?}");
    }
    let tail = answer_to(&got, 1)["result"].as_array().unwrap();
    assert!(
        tail.iter().any(|m| m["text"] == "logged line"),
        "tail-log found the message: {tail:?}"
    );
    assert_eq!(got.len(), 4, "one answer each: {got:?}");
}

#[test]
fn a_request_line_over_64_kib_is_refused_and_closes_the_connection() {
    let d = Daemon::start();
    let mut sock = UnixStream::connect(&d.socket).unwrap();
    let long = format!(
        "{{\"id\":2,\"cmd\":\"wall\",\"text\":\"{}\"}}\n",
        "x".repeat(64 * 1024)
    );
    let mut input = String::from("{\"id\":1,\"cmd\":\"channels\"}\n");
    input.push_str(&long);
    input.push_str("{\"id\":3,\"cmd\":\"channels\"}\n");
    sock.write_all(input.as_bytes()).unwrap();
    let got = read_until_closed(&mut sock);
    assert_eq!(answer_to(&got, 1)["ok"], true, "{got:?}");
    assert_eq!(
        got.len(),
        2,
        "the request before, then the refusal: {got:?}"
    );
    assert_eq!(got[1]["error"]["code"], "bad_request", "{got:?}");
    assert!(
        got[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("64 KiB"),
        "{got:?}"
    );

    // The same without a line end: refused as soon as 64 KiB have come.
    let mut sock = UnixStream::connect(&d.socket).unwrap();
    sock.write_all("y".repeat(70 * 1024).as_bytes()).unwrap();
    let got = read_until_closed(&mut sock);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["error"]["code"], "bad_request", "{got:?}");
    // The daemon still serves.
    d.chatctl(&["stats"]).success();
}
