//! The admin socket as `socat` and Python users see it (`docs/admin.md`,
//! "Protocol"): exact reply bytes for raw request lines, so the typed protocol
//! (`chatd-admin-proto`) writes what the `json!`-built replies wrote before it.

use crate::harness::{Daemon, TIMEOUT};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

/// One raw connection: a line out, a line back.
struct Raw {
    out: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Raw {
    fn connect(d: &Daemon) -> Raw {
        let out = UnixStream::connect(&d.socket).unwrap();
        out.set_read_timeout(Some(TIMEOUT)).unwrap();
        let reader = BufReader::new(out.try_clone().unwrap());
        Raw { out, reader }
    }

    fn ask(&mut self, request: &str) -> String {
        writeln!(self.out, "{request}").unwrap();
        self.line()
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "one whole line: {line:?}");
        line.trim_end_matches('\n').to_string()
    }
}

#[test]
fn raw_requests_get_the_documented_bytes() {
    let d = Daemon::start();
    let mut bob = d.irc("bob");
    bob.join("#rust");
    let mut raw = Raw::connect(&d);
    let cases = [
        (
            r#"{"id": 1, "cmd": "kick", "nick": "spammer", "reason": "flooding"}"#,
            r#"{"error":{"code":"not_found","message":"no such nick: spammer"},"id":1,"ok":false}"#,
        ),
        (
            r#"{"id":"a","cmd":"wall","text":"hello"}"#,
            r#"{"id":"a","ok":true,"result":{"users":1}}"#,
        ),
        (
            r#"{"id":2,"cmd":"ban","mask":"x!*@*","reason":"spam"}"#,
            r#"{"id":2,"ok":true,"result":{"disconnected":0,"expires":null,"mask":"x!*@*"}}"#,
        ),
        (
            r#"{"id":3,"cmd":"unban","mask":"x!*@*"}"#,
            r#"{"id":3,"ok":true,"result":{"mask":"x!*@*"}}"#,
        ),
        (
            r#"{"id":4,"cmd":"channels"}"#,
            r##"{"id":4,"ok":true,"result":[{"members":1,"modes":"+nt","name":"#rust","topic":null}]}"##,
        ),
        (
            r#"{"id":5,"cmd":"frobnicate"}"#,
            r#"{"error":{"code":"unknown_command","message":"unknown command: frobnicate"},"id":5,"ok":false}"#,
        ),
        (
            r#"{"id":6,"cmd":"kick","nick":""}"#,
            r#"{"error":{"code":"bad_request","message":"nick is required"},"id":6,"ok":false}"#,
        ),
        (
            r#"[1]"#,
            r#"{"error":{"code":"bad_request","message":"a request is a JSON object"},"id":null,"ok":false}"#,
        ),
        (
            r#"{"id":8,"cmd":"cancel","stream":7}"#,
            r#"{"error":{"code":"not_found","message":"no such stream"},"id":8,"ok":false}"#,
        ),
    ];
    for (request, reply) in cases {
        assert_eq!(raw.ask(request), reply, "{request}");
    }
    let kick = raw.ask(r#"{"cmd":"kick","nick":5}"#);
    assert!(
        kick.starts_with(
            r#"{"error":{"code":"bad_request","message":"kick: nick: invalid type: integer `5`"#
        ),
        "{kick}"
    );
}

/// A stream's event and the `cancel` answer, byte for byte apart from the time and
/// msgid (`docs/admin.md`, "Streams").
#[test]
fn raw_stream_events_keep_their_bytes() {
    let d = Daemon::start();
    let mut alice = d.irc("alice");
    alice.join("#rust");
    let mut raw = Raw::connect(&d);
    assert_eq!(
        raw.ask(r##"{"id":7,"cmd":"tail-log","n":0,"follow":true,"target":"#rust"}"##),
        r#"{"id":7,"ok":true,"result":[]}"#
    );
    alice.send("PRIVMSG #rust :hi");
    alice.sync();
    let event = raw.line();
    assert!(
        event.starts_with(r##"{"data":{"account":null,"from":"alice!"##),
        "{event}"
    );
    assert!(
        event.contains(r##","kind":"PRIVMSG","msgid":""##),
        "{event}"
    );
    assert!(
        event.contains(r##"","target":"#rust","text":"hi","time":""##),
        "{event}"
    );
    assert!(
        event.ends_with(r#"Z"},"event":"message","id":7}"#),
        "{event}"
    );
    // Log events may be interleaved; the cancel answer is the first reply.
    writeln!(raw.out, r#"{{"id":8,"cmd":"cancel","stream":7}}"#).unwrap();
    loop {
        let line = raw.line();
        if line.contains(r#""event":"log""#) {
            assert!(line.starts_with(r#"{"data":{"level":""#), "{line}");
            assert!(line.ends_with(r#""},"event":"log","id":7}"#), "{line}");
            continue;
        }
        assert_eq!(line, r#"{"id":8,"ok":true,"result":null}"#);
        break;
    }
}
