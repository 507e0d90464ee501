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
