//! Registration and liveness — RFC 2812 §3.1 (PASS, NICK, USER, QUIT), §3.7.2–3
//! (PING/PONG), modern.ircdocs.horse "Connection Registration", and IRCv3
//! Capability Negotiation (CAP LS 302, REQ, LIST, END).

use chatd_proto::numeric::*;
use chatd_tests::TestServer;

#[test]
fn nick_user_gives_the_welcome_burst() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("NICK alice");
    c.send("USER alice 0 * :Alice Liddell");
    let welcome = c.expect_numeric(RPL_WELCOME);
    assert_eq!(welcome.param(0), "alice");
    assert!(
        welcome.param(1).contains("alice!~alice@127.0.0.1"),
        "{welcome}"
    );
    for code in [RPL_YOURHOST, RPL_CREATED, RPL_MYINFO] {
        c.expect_numeric(code);
    }
    let mut tokens = Vec::new();
    loop {
        let m = c.recv();
        if m.command != RPL_ISUPPORT {
            assert_eq!(m.command, RPL_LUSERCLIENT, "LUSERS follows ISUPPORT: {m}");
            break;
        }
        tokens.extend(m.params[1..m.params.len() - 1].iter().cloned());
    }
    for want in [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "PREFIX=(qohv)~@%+",
        "CHANMODES=beI,k,l,Cimnpst",
        "NETWORK=chatd",
        "NICKLEN=30",
        "UTF8ONLY",
    ] {
        assert!(
            tokens.iter().any(|t| t == want),
            "{want} missing from {tokens:?}"
        );
    }
    c.expect_numeric(RPL_MOTDSTART);
    c.expect_numeric(RPL_ENDOFMOTD);
}

#[test]
fn user_before_nick_also_registers() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("USER bob 0 * :Bob");
    c.send("NICK bob");
    c.expect_numeric(RPL_WELCOME);
}

#[test]
fn cap_negotiation_holds_registration_until_end() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    assert_eq!(ls.param(0), "*");
    assert_eq!(ls.param(1), "LS");
    for cap in [
        "multi-prefix",
        "message-tags",
        "server-time",
        "echo-message",
        "batch",
        "cap-notify",
    ] {
        assert!(
            ls.param(2).split(' ').any(|c| c == cap),
            "{cap} not in {ls}"
        );
    }
    c.send("NICK carol");
    c.send("USER carol 0 * :Carol");
    c.send("CAP REQ :server-time multi-prefix");
    let got = c.sync();
    let ack = got.iter().find(|m| m.command == "CAP").expect("CAP reply");
    assert_eq!(
        (ack.param(1), ack.param(2)),
        ("ACK", "server-time multi-prefix")
    );
    assert!(
        !got.iter().any(|m| m.command == RPL_WELCOME),
        "registered before CAP END: {got:?}"
    );
    c.send("CAP REQ :server-time no-such-cap");
    let nak = c.expect_command("CAP");
    assert_eq!(
        (nak.param(1), nak.param(2)),
        ("NAK", "server-time no-such-cap")
    );
    c.send("CAP LIST");
    let list = c.expect_command("CAP");
    assert_eq!(list.param(1), "LIST");
    let mut enabled: Vec<&str> = list.param(2).split(' ').collect();
    enabled.sort();
    assert_eq!(enabled, ["cap-notify", "multi-prefix", "server-time"]);
    c.send("CAP END");
    c.expect_numeric(RPL_WELCOME);
    c.send("CAP REQ :-server-time");
    let ack = c.expect_command("CAP");
    assert_eq!((ack.param(0), ack.param(1)), ("carol", "ACK"));
    c.send("CAP LIST");
    let list = c.expect_command("CAP");
    assert!(!list.param(2).contains("server-time"), "{list}");
}

#[test]
fn bad_cap_subcommand_is_410() {
    let server = TestServer::start();
    let mut c = server.connect("dave");
    c.send("CAP FROB");
    let m = c.expect_numeric(ERR_INVALIDCAPCMD);
    assert_eq!(m.param(1), "FROB");
}

#[test]
fn nick_errors() {
    let server = TestServer::start();
    let _alice = server.connect("Alice");
    let mut c = server.connect_raw();
    c.send("NICK");
    c.expect_numeric(ERR_NONICKNAMEGIVEN);
    for bad in ["9lives", "-dash", "a!b", "toolong_toolong_toolong_toolong_"] {
        c.send(&format!("NICK {bad}"));
        let m = c.expect_numeric(ERR_ERRONEUSNICKNAME);
        assert_eq!(m.param(1), bad);
    }
    // Nicks collide under the ascii casemapping.
    c.send("NICK aLiCe");
    let m = c.expect_numeric(ERR_NICKNAMEINUSE);
    assert_eq!((m.param(0), m.param(1)), ("*", "aLiCe"));
    c.send("NICK alice2");
    c.send("USER a 0 * :A");
    c.expect_numeric(RPL_WELCOME);
}

#[test]
fn nick_change_is_seen_by_channel_peers_and_frees_the_old_nick() {
    let server = TestServer::start();
    let mut a = server.connect("alice");
    let mut b = server.connect("bob");
    let mut loner = server.connect("loner");
    a.send("JOIN #room");
    a.expect_numeric(RPL_ENDOFNAMES);
    b.send("JOIN #room");
    b.expect_numeric(RPL_ENDOFNAMES);
    a.send("NICK alicia");
    let own = a.expect_command("NICK");
    assert_eq!(own.source_nick(), Some("alice"));
    assert_eq!(own.param(0), "alicia");
    let seen = b.expect_command("NICK");
    assert_eq!(
        (seen.source_nick(), seen.param(0)),
        (Some("alice"), "alicia")
    );
    assert!(
        !loner.sync().iter().any(|m| m.command == "NICK"),
        "no shared channel, no NICK"
    );
    // Case-only change of one's own nick is allowed.
    a.send("NICK ALICIA");
    assert_eq!(a.expect_command("NICK").param(0), "ALICIA");
    // The old nick is free again.
    let mut c = server.connect("alice");
    c.send("PRIVMSG ALICIA :hi");
    a.expect_privmsg_from("alice", "hi");
}

#[test]
fn commands_before_registration_get_451() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    for line in ["JOIN #x", "PRIVMSG x :y", "WHOIS x", "FROBNICATE"] {
        c.send(line);
        c.expect_numeric(ERR_NOTREGISTERED);
    }
}

#[test]
fn reregistration_is_462() {
    let server = TestServer::start();
    let mut c = server.connect("erin");
    c.send("USER x 0 * :X");
    c.expect_numeric(ERR_ALREADYREGISTERED);
    c.send("PASS secret");
    c.expect_numeric(ERR_ALREADYREGISTERED);
}

#[test]
fn too_few_params_is_461() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("USER onlyone");
    let m = c.expect_numeric(ERR_NEEDMOREPARAMS);
    assert_eq!(m.param(1), "USER");
}

#[test]
fn server_password() {
    let server = TestServer::start_with(|c| c.server.password = "letmein".into());
    let mut wrong = server.connect_raw();
    wrong.send("PASS nope");
    wrong.send("NICK w");
    wrong.send("USER w 0 * :W");
    wrong.expect_numeric(ERR_PASSWDMISMATCH);
    let rest = wrong.expect_closed();
    assert!(rest.iter().any(|l| l.starts_with("ERROR")), "{rest:?}");
    let mut missing = server.connect_raw();
    missing.send("NICK m");
    missing.send("USER m 0 * :M");
    missing.expect_numeric(ERR_PASSWDMISMATCH);
    let mut right = server.connect_raw();
    right.send("PASS letmein");
    right.send("NICK r");
    right.send("USER r 0 * :R");
    right.expect_numeric(RPL_WELCOME);
}

#[test]
fn ping_pong() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("PING :hello there");
    let pong = c.expect_command("PONG");
    assert_eq!(
        pong.params,
        vec![server.config.server.name.clone(), "hello there".to_string()]
    );
    c.send("PING");
    c.expect_numeric(ERR_NOORIGIN);
}

#[test]
fn quit_sends_error_to_the_leaver_and_quit_to_peers() {
    let server = TestServer::start();
    let mut a = server.connect("alice");
    let mut b = server.connect("bob");
    a.send("JOIN #q");
    a.expect_numeric(RPL_ENDOFNAMES);
    b.send("JOIN #q");
    b.expect_numeric(RPL_ENDOFNAMES);
    b.send("QUIT :gone fishing");
    let rest = b.expect_closed();
    assert!(
        rest.iter()
            .any(|l| l.starts_with("ERROR :Closing Link") && l.contains("Quit: gone fishing")),
        "{rest:?}"
    );
    let quit = a.expect_command("QUIT");
    assert_eq!(quit.source_nick(), Some("bob"));
    assert_eq!(quit.param(0), "Quit: gone fishing");
    // The nick is free and the channel shrank.
    a.send("NAMES #q");
    let names = a.expect_numeric(RPL_NAMREPLY);
    assert_eq!(names.param(3), "@alice");
}

#[test]
fn registration_timeout_closes_silent_connections() {
    let server = TestServer::start_with(|c| c.limits.registration_timeout_secs = 1);
    let mut c = server.connect_raw();
    c.send("NICK slow");
    let rest = c.expect_closed();
    assert!(
        rest.iter().any(|l| l.contains("Registration timed out")),
        "{rest:?}"
    );
}

#[test]
fn server_pings_idle_clients_and_drops_the_silent_ones() {
    let server = TestServer::start_with(|c| {
        c.limits.ping_interval_secs = 1;
        c.limits.ping_timeout_secs = 1;
    });
    let mut alive = server.connect("alive");
    let mut dead = server.connect("dead");
    alive.send("JOIN #ping");
    alive.expect_numeric(RPL_ENDOFNAMES);
    dead.send("JOIN #ping");
    dead.expect_numeric(RPL_ENDOFNAMES);
    // "dead" never answers; "alive" answers every PING until it sees dead's QUIT.
    let mut pings_answered = 0;
    let quit = loop {
        let m = alive.recv();
        match m.command.as_str() {
            "PING" => {
                alive.send(&format!("PONG :{}", m.param(0)));
                pings_answered += 1;
            }
            "QUIT" => break m,
            _ => {}
        }
    };
    assert!(pings_answered >= 1, "the idle live client was pinged too");
    assert_eq!(quit.source_nick(), Some("dead"));
    assert!(quit.param(0).starts_with("Ping timeout"), "{quit}");
    let rest = dead.expect_closed();
    assert!(
        rest.iter()
            .any(|l| l == &format!("PING {}", server.config.server.name)),
        "{rest:?}"
    );
    assert!(rest.iter().any(|l| l.contains("Ping timeout")), "{rest:?}");
}

/// RFC 2812 §3.1.3 (and modern.ircdocs.horse USER): the realname is required; an
/// empty one is 461 and registration waits for a proper USER (issue 16).
#[test]
fn user_with_an_empty_realname_gets_461() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("NICK dora");
    c.send("USER dora * * :");
    let e = c.expect_numeric(ERR_NEEDMOREPARAMS);
    assert_eq!(e.param(1), "USER");
    c.send("USER dora * * :Dora");
    c.expect_numeric(RPL_WELCOME);
}
