//! The command layer driven in process with no sockets (`Server::detached`), as the
//! command fuzzer drives it: what a client is sent comes back from `feed`.

use chatd::{Config, Server};

fn server(dir: &std::path::Path) -> Server {
    let mut config = Config::default();
    config.server.data_dir = dir.join("data");
    config.server.auto_join = Vec::new();
    config.accounts.pbkdf2_iterations = 1000;
    Server::detached(config).expect("a detached server opens its store")
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("the server sends UTF-8")
}

#[test]
fn two_detached_clients_register_join_and_talk() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let a = s.attach();
    let b = s.attach();
    let out = text(s.feed(a, b"NICK alice\r\nUSER a 0 * :A\r\nJOIN #x\r\n"));
    assert!(out.contains(" 001 alice "), "{out}");
    assert!(out.contains(":alice!~a@127.0.0.1 JOIN #x"), "{out}");
    text(s.feed(b, b"NICK bob\nUSER b 0 * :B\nJOIN #x\n"));
    let out = text(s.feed(b, b"PRIVMSG #x :hello alice\r\n"));
    assert!(
        !out.contains("hello alice"),
        "no echo without echo-message: {out}"
    );
    let out = text(s.feed(a, b""));
    assert!(
        out.contains(":bob!~b@127.0.0.1 PRIVMSG #x :hello alice"),
        "{out}"
    );
    // The store answers arrive after a settle: history has the message.
    s.settle();
    let first = text(s.feed(a, b"HISTORY #x\r\n"));
    s.settle();
    let out = first + &text(s.feed(a, b""));
    assert!(out.contains("hello alice"), "{out}");
    s.stop();
}

#[test]
fn garbage_gets_answers_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let a = s.attach();
    for junk in [
        &b"\r\n   \r\n:only.a.prefix\r\n\0\0\r\n"[..],
        b"\xff\xfe NICK\r\n",
        b"PRIVMSG\r\nMODE\r\nJOIN ,,,,\r\n",
        b"@a=b;c TAGMSG\r\n",
        b"CHATHISTORY BETWEEN #x msgid=zz timestamp=nope 0\r\n",
    ] {
        s.feed(a, junk);
    }
    let out = text(s.feed(a, b"NICK ok\r\nUSER u 0 * :u\r\n"));
    assert!(out.contains(" 001 ok "), "{out}");
    s.stop();
}

/// Everything one command sends its own client arrives in the order the command made
/// it, replies and sends to others that include the sender alike (they all pass
/// through the command's reply buffer, `cmd/reply.rs`): RFC 2812 §3.3.1 PRIVMSG to a
/// list of targets, each answered in turn, with IRCv3 echo-message.
#[test]
fn a_commands_replies_and_echoes_keep_command_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = server(dir.path());
    let a = s.attach();
    let out = text(s.feed(
        a,
        b"CAP LS 302\r\nCAP REQ :echo-message\r\nNICK alice\r\nUSER a 0 * :A\r\n",
    ));
    assert!(!out.contains(" 001 "), "no welcome before CAP END: {out}");
    let out = text(s.feed(a, b"CAP END\r\n"));
    assert!(out.contains(" 001 alice "), "welcome at CAP END: {out}");
    let out = text(s.feed(a, b"JOIN #x\r\n"));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].ends_with(" JOIN #x"), "the JOIN first: {out}");
    assert!(lines.iter().any(|l| l.contains(" 366 alice #x ")), "{out}");
    let out = text(s.feed(a, b"PRIVMSG nosuch,#x,nosuch2,alice :hi\r\n"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].contains(" 401 alice nosuch "), "{out}");
    assert!(lines[1].ends_with(" PRIVMSG #x :hi"), "{out}");
    assert!(lines[2].contains(" 401 alice nosuch2 "), "{out}");
    assert!(lines[3].ends_with(" PRIVMSG alice :hi"), "{out}");
    s.stop();
}
