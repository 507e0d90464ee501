//! Accounts — IRCv3 draft/account-registration (`REGISTER`, `FAIL`/`SUCCESS`), IRCv3
//! SASL 3.1 with PLAIN (900–908), `PASS account:password`, `LOGIN`/`LOGOUT`, NickServ
//! compatibility, IRCv3 account-tag and account-notify, WHOIS 330, and ownership of
//! a registered account's nick.

use chatd::Config;
use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

const PW: &str = "hunter2hunter2";
const NICKSERV: &str = "NickServ!NickServ@services";

fn is_fail(m: &Message, command: &str, code: &str) -> bool {
    m.command == "FAIL" && m.param(0) == command && m.param(1) == code
}

fn from_nickserv(m: &Message) -> bool {
    m.command == "NOTICE" && m.source.as_deref() == Some(NICKSERV)
}

/// The WHOIS reply for `nick`, up to and including 318.
fn whois(c: &mut Client, nick: &str) -> Vec<Message> {
    c.send(&format!("WHOIS {nick}"));
    c.recv_until(|m| m.command == RPL_ENDOFWHOIS, "318 end of WHOIS")
}

/// Sends `AUTHENTICATE PLAIN` and waits for the server's `AUTHENTICATE +`.
fn start_plain(c: &mut Client) {
    c.send("AUTHENTICATE PLAIN");
    c.expect(
        |m| m.command == "AUTHENTICATE" && m.param(0) == "+",
        "AUTHENTICATE +",
    );
}

/// A raw connection that negotiated `sasl` and is holding registration open.
fn sasl_client(server: &TestServer) -> Client {
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    c.send("CAP REQ :sasl");
    c.expect(
        |m| m.command == "CAP" && m.param(1) == "ACK" && m.param(2).contains("sasl"),
        "CAP ACK sasl",
    );
    c
}

#[test]
fn cap_ls_advertises_sasl_registration_account_caps_and_chathistory() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    let caps: Vec<&str> = ls.param(2).split(' ').collect();
    for want in [
        "sasl=PLAIN,SCRAM-SHA-256",
        "draft/account-registration=before-connect,custom-account-name",
        "account-tag",
        "account-notify",
        "draft/chathistory",
    ] {
        assert!(caps.contains(&want), "{want} not in {ls}");
    }
    // Before 302 capabilities have no values.
    let mut old = server.connect_raw();
    old.send("CAP LS");
    let ls = old.expect_command("CAP");
    let caps: Vec<&str> = ls.param(2).split(' ').collect();
    assert!(caps.contains(&"sasl"), "{ls}");
    assert!(caps.contains(&"draft/account-registration"), "{ls}");
    assert!(!ls.param(2).contains('='), "values without 302: {ls}");
}

#[test]
fn register_after_connection_registration_logs_in() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send(&format!("REGISTER alice * {PW}"));
    let ok = alice.expect_command("REGISTER");
    assert_eq!((ok.param(0), ok.param(1)), ("SUCCESS", "alice"), "{ok}");
    assert_eq!(
        ok.source.as_deref(),
        Some(server.config.server.name.as_str())
    );
    let m = alice.expect_numeric(RPL_LOGGEDIN);
    assert_eq!(
        (m.param(0), m.param(1), m.param(2)),
        ("alice", "alice!~alice@127.0.0.1", "alice"),
        "{m}"
    );
    assert_eq!(m.param(3), "You are now logged in as alice", "{m}");

    let mut bob = server.connect("bob");
    let got = whois(&mut bob, "alice");
    let acct = one(&got, RPL_WHOISACCOUNT);
    assert_eq!(acct.params, ["bob", "alice", "alice", "is logged in as"]);
    let got = whois(&mut alice, "bob");
    assert!(
        !has(&got, RPL_WHOISACCOUNT),
        "bob is not logged in: {got:?}"
    );
}

#[test]
fn register_before_connection_registration_holds_001_until_cap_end() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    c.expect_command("CAP");
    // `*` means "my nick", and there is none yet.
    c.send(&format!("REGISTER * * {PW}"));
    let f = c.expect_command("FAIL");
    assert!(is_fail(&f, "REGISTER", "NEED_NICK"), "{f}");
    c.send("NICK carol");
    c.send(&format!("REGISTER * * {PW}"));
    let ok = c.expect_command("REGISTER");
    assert_eq!((ok.param(0), ok.param(1)), ("SUCCESS", "carol"), "{ok}");
    let m = c.expect_numeric(RPL_LOGGEDIN);
    assert_eq!((m.param(0), m.param(2)), ("carol", "carol"), "{m}");
    c.send("USER carol 0 * :Carol");
    c.send("CAP END");
    c.nick = "carol".into();
    let got = c.recv_until(|m| m.command == RPL_WELCOME, "001");
    assert!(!has(&got, "FAIL"), "{got:?}");
    c.expect_numeric(RPL_ENDOFMOTD);
    let got = whois(&mut c, "carol");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "carol");
}

#[test]
fn register_with_a_custom_account_name_and_an_email() {
    let server = TestServer::start();
    let mut dave = server.connect("dave");
    dave.send(&format!("REGISTER davidacct dave@example.com {PW}"));
    let ok = dave.expect_command("REGISTER");
    assert_eq!((ok.param(0), ok.param(1)), ("SUCCESS", "davidacct"), "{ok}");
    let m = dave.expect_numeric(RPL_LOGGEDIN);
    assert_eq!((m.param(0), m.param(2)), ("dave", "davidacct"), "{m}");
    let mut eve = server.connect("eve");
    let got = whois(&mut eve, "dave");
    assert_eq!(
        one(&got, RPL_WHOISACCOUNT).params,
        ["eve", "dave", "davidacct", "is logged in as"]
    );
}

#[test]
fn register_failures_name_their_code_and_do_not_log_in() {
    let server = TestServer::start();
    server.create_account("bob", PW);
    let mut alice = server.connect("alice");
    let cases = [
        (
            "REGISTER alice * 1234567".to_string(),
            "WEAK_PASSWORD",
            "alice",
        ),
        (
            format!("REGISTER bad!name * {PW}"),
            "BAD_ACCOUNT_NAME",
            "bad!name",
        ),
        (
            format!("REGISTER #chan * {PW}"),
            "BAD_ACCOUNT_NAME",
            "#chan",
        ),
        (
            format!("REGISTER NickServ * {PW}"),
            "BAD_ACCOUNT_NAME",
            "NickServ",
        ),
        (
            format!("REGISTER alice not-an-email {PW}"),
            "INVALID_EMAIL",
            "alice",
        ),
        (format!("REGISTER bob * {PW}"), "ACCOUNT_EXISTS", "bob"),
        (format!("REGISTER BOB * {PW}"), "ACCOUNT_EXISTS", "BOB"),
    ];
    for (line, code, context) in &cases {
        alice.send(line);
        let f = alice.expect_command("FAIL");
        assert!(is_fail(&f, "REGISTER", code), "{line}: {f}");
        assert_eq!(f.param(2), *context, "{line}: {f}");
        assert!(!f.param(3).is_empty(), "a readable reason: {f}");
    }
    let got = alice.sync();
    assert!(
        !has(&got, RPL_LOGGEDIN) && !has(&got, "REGISTER"),
        "a failed REGISTER logged in: {got:?}"
    );
    // Eight characters are enough (accounts.min_password_len).
    alice.send("REGISTER alice * 12345678");
    let ok = alice.expect_command("REGISTER");
    assert_eq!((ok.param(0), ok.param(1)), ("SUCCESS", "alice"), "{ok}");
    alice.expect_numeric(RPL_LOGGEDIN);
    alice.send(&format!("REGISTER another * {PW}"));
    let f = alice.expect_command("FAIL");
    assert!(is_fail(&f, "REGISTER", "ALREADY_REGISTERED"), "{f}");
}

#[test]
fn two_connections_registering_one_name_at_once_get_one_success() {
    let server = TestServer::start();
    let mut a = server.connect("a1");
    let mut b = server.connect("b1");
    a.send(&format!("REGISTER zed * {PW}"));
    b.send(&format!("REGISTER zed * {PW}"));
    let answer = |c: &mut Client| {
        c.expect(
            |m| m.command == "REGISTER" || m.command == "FAIL",
            "REGISTER SUCCESS or FAIL",
        )
    };
    let (ra, rb) = (answer(&mut a), answer(&mut b));
    let wins = [&ra, &rb]
        .iter()
        .filter(|m| m.command == "REGISTER" && m.param(0) == "SUCCESS")
        .count();
    assert_eq!(wins, 1, "{ra} / {rb}");
    let loser = if ra.command == "FAIL" { &ra } else { &rb };
    assert!(is_fail(loser, "REGISTER", "ACCOUNT_EXISTS"), "{loser}");
}

#[test]
fn sasl_plain_logs_in_and_registration_waits_for_the_check() {
    let server = TestServer::start();
    server.create_account("sam", PW);
    let mut c = sasl_client(&server);
    c.send("NICK sam");
    c.send("USER sam 0 * :Sam");
    start_plain(&mut c);
    // The response and CAP END in one write: 001 must wait for the password check.
    c.send_bytes(
        format!(
            "AUTHENTICATE {}\r\nCAP END\r\n",
            sasl_plain("sam", "sam", PW)
        )
        .as_bytes(),
    );
    c.nick = "sam".into();
    let got = c.recv_until(|m| m.command == RPL_WELCOME, "001");
    let pos = |code: &str| got.iter().position(|m| m.command == code);
    let (logged_in, success) = (pos(RPL_LOGGEDIN), pos(RPL_SASLSUCCESS));
    assert!(
        logged_in.is_some() && success.is_some() && logged_in < success,
        "900 then 903 before 001: {got:?}"
    );
    let m = &got[logged_in.unwrap()];
    assert_eq!((m.param(0), m.param(2)), ("sam", "sam"), "{m}");
    assert!(m.param(1).starts_with("sam!"), "{m}");
    assert_eq!(
        got[success.unwrap()].param(1),
        "SASL authentication successful"
    );
    c.expect_numeric(RPL_ENDOFMOTD);
    let got = whois(&mut c, "sam");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "sam");
}

#[test]
fn sasl_errors_906_907_908_and_904_then_success() {
    let server = TestServer::start();
    server.create_account("sam", PW);
    let mut c = sasl_client(&server);

    c.send("AUTHENTICATE EXTERNAL");
    let mechs = c.expect_numeric(RPL_SASLMECHS);
    assert_eq!(mechs.param(1), "PLAIN,SCRAM-SHA-256", "{mechs}");
    assert!(
        mechs.param(2).contains("are available SASL mechanisms"),
        "{mechs}"
    );
    c.expect_numeric(ERR_SASLFAIL);

    start_plain(&mut c);
    c.send("AUTHENTICATE *");
    c.expect_numeric(ERR_SASLABORTED);

    start_plain(&mut c);
    c.send(&format!(
        "AUTHENTICATE {}",
        sasl_plain("", "sam", "wrong-password")
    ));
    let got = c.recv_until(|m| m.command == ERR_SASLFAIL, "904 for a wrong password");
    assert!(!has(&got, RPL_LOGGEDIN), "{got:?}");

    // Authorizing as someone else is not allowed.
    start_plain(&mut c);
    c.send(&format!("AUTHENTICATE {}", sasl_plain("bob", "sam", PW)));
    let got = c.recv_until(|m| m.command == ERR_SASLFAIL, "904 for authz != authc");
    assert!(!has(&got, RPL_LOGGEDIN), "{got:?}");

    start_plain(&mut c);
    c.send(&format!("AUTHENTICATE {}", sasl_plain("", "sam", PW)));
    let got = c.recv_until(|m| m.command == RPL_SASLSUCCESS, "903");
    assert_eq!(one(&got, RPL_LOGGEDIN).param(2), "sam");

    // A CAP LS 302 client may authenticate again (sasl-3.2; `sasl.rs` has 907 for
    // a 3.1 client).
    start_plain(&mut c);
    c.send("AUTHENTICATE *");
    c.expect_numeric(ERR_SASLABORTED);
    c.send("CAP END");
    c.register("sammy");
}

#[test]
fn pass_account_password_logs_in_during_registration() {
    let server = TestServer::start();
    server.create_account("pat", PW);
    let mut c = server.connect_raw();
    c.send(&format!("PASS pat:{PW}"));
    c.send("NICK patty");
    c.send("USER patty 0 * :Pat");
    c.nick = "patty".into();
    let got = c.recv_until(
        |m| m.command == RPL_ENDOFMOTD || m.command == ERR_NOMOTD,
        "end of MOTD",
    );
    assert!(has(&got, RPL_WELCOME), "{got:?}");
    let m = one(&got, RPL_LOGGEDIN);
    assert_eq!((m.param(0), m.param(2)), ("patty", "pat"), "{m}");
    let got = whois(&mut c, "patty");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "pat");
}

#[test]
fn pass_with_a_wrong_account_password_is_464_and_closes() {
    let server = TestServer::start();
    server.create_account("pat", PW);
    let mut c = server.connect_raw();
    c.send("PASS pat:not-the-password");
    c.send("NICK patty");
    c.send("USER patty 0 * :Pat");
    let lines = c.expect_closed();
    let msgs: Vec<Message> = lines
        .iter()
        .filter_map(|l| chatd_proto::parse(l).ok())
        .collect();
    assert!(has(&msgs, ERR_PASSWDMISMATCH), "{lines:?}");
    assert!(
        !has(&msgs, RPL_WELCOME) && !has(&msgs, RPL_LOGGEDIN),
        "{lines:?}"
    );
}

#[test]
fn login_and_logout() {
    let server = TestServer::start();
    server.create_account("lee", PW);
    let mut c = server.connect("leon");
    let mut w = server.connect("watcher");
    // Account names are case-insensitive; the reply shows the registered spelling.
    let m = c.login("LEE", PW);
    assert_eq!(
        (m.param(0), m.param(1), m.param(2)),
        ("leon", "leon!~leon@127.0.0.1", "lee"),
        "{m}"
    );
    let got = whois(&mut w, "leon");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "lee");

    c.send("LOGOUT");
    let m = c.expect_numeric(RPL_LOGGEDOUT);
    assert_eq!(
        m.params,
        ["leon", "leon!~leon@127.0.0.1", "You are now logged out"]
    );
    let got = whois(&mut w, "leon");
    assert!(!has(&got, RPL_WHOISACCOUNT), "{got:?}");

    // Logging out twice is not a second logout.
    c.send("LOGOUT");
    let got = c.sync();
    assert!(!has(&got, RPL_LOGGEDOUT), "{got:?}");

    c.login("lee", PW);
    let got = whois(&mut w, "leon");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "lee");
}

#[test]
fn failed_logins_are_limited_per_connection() {
    let server = TestServer::start();
    server.create_account("lee", PW);
    let mut c = server.connect("leon");
    let mut reasons = Vec::new();
    for line in [
        "LOGIN nosuchaccount whatever1",
        "LOGIN lee wrong-password-1",
        "LOGIN lee wrong-password-2",
    ] {
        c.send(line);
        let f = c.expect_command("FAIL");
        assert!(is_fail(&f, "LOGIN", "LOGIN_FAILED"), "{line}: {f}");
        assert_eq!(f.param(2), "*", "{f}");
        reasons.push(f.param(3).to_string());
    }
    // An unknown account and a wrong password look the same.
    assert!(
        reasons.iter().all(|r| r == "Invalid account or password"),
        "{reasons:?}"
    );
    // Three failures (accounts.login_failures_per_conn): even the right password is
    // refused now.
    c.send(&format!("LOGIN lee {PW}"));
    let f = c.expect_command("FAIL");
    assert!(is_fail(&f, "LOGIN", "LOGIN_FAILED"), "{f}");
    assert!(f.param(3).contains("Too many failed logins"), "{f}");
    let got = c.sync();
    assert!(!has(&got, RPL_LOGGEDIN), "{got:?}");
    // Another connection may still log in.
    let mut d = server.connect("leo");
    d.login("lee", PW);
}

#[test]
fn nickserv_register_and_identify() {
    let server = TestServer::start();
    let mut n = server.connect("nina");
    n.send(&format!("PRIVMSG NickServ :REGISTER {PW}"));
    let got = n.recv_until(|m| m.command == RPL_LOGGEDIN, "900 after NickServ REGISTER");
    assert_eq!(got.last().unwrap().param(2), "nina");
    assert!(
        got.iter()
            .any(|m| from_nickserv(m) && m.param(0) == "nina" && m.param(1).contains("registered")),
        "a NickServ notice: {got:?}"
    );
    n.send("LOGOUT");
    n.expect_numeric(RPL_LOGGEDOUT);

    n.send(&format!("PRIVMSG NickServ :IDENTIFY {PW}"));
    let m = n.expect_numeric(RPL_LOGGEDIN);
    assert_eq!(m.param(2), "nina");
    let notice = n.expect(from_nickserv, "NickServ notice");
    assert_eq!(notice.param(1), "You are now identified as nina");

    // The two-argument form, from another nick; a wrong password first.
    let mut o = server.connect("other");
    o.send("PRIVMSG NickServ :IDENTIFY nina wrong-password");
    let notice = o.expect(from_nickserv, "NickServ notice");
    assert!(
        notice.param(1).contains("Invalid account or password"),
        "{notice}"
    );
    let got = o.sync();
    assert!(!has(&got, RPL_LOGGEDIN), "{got:?}");
    o.send(&format!("PRIVMSG nickserv :IDENTIFY nina {PW}"));
    let m = o.expect_numeric(RPL_LOGGEDIN);
    assert_eq!((m.param(0), m.param(2)), ("other", "nina"));
    let notice = o.expect(from_nickserv, "NickServ notice");
    assert_eq!(notice.param(1), "You are now identified as nina");

    // Nobody may take the services nick.
    for nick in ["NickServ", "nickserv"] {
        o.send(&format!("NICK {nick}"));
        let e = o.expect_numeric(ERR_NICKNAMEINUSE);
        assert_eq!(e.param(1), nick, "{e}");
    }
}

#[test]
fn account_tag_and_account_notify_show_who_is_logged_in() {
    let server = TestServer::start();
    server.create_account("acct", PW);
    let mut watcher = server.connect_with_caps("watcher", "account-tag account-notify");
    let mut outsider = server.connect_with_caps("outsider", "account-tag account-notify");
    let mut plain = server.connect("plain");
    let mut u = server.connect("user1");
    for c in [&mut watcher, &mut plain, &mut u] {
        join(c, "#c");
    }
    watcher.sync();
    plain.sync();

    u.login("acct", PW);
    let m = watcher.expect_command("ACCOUNT");
    assert_eq!(m.source.as_deref(), Some("user1!~user1@127.0.0.1"), "{m}");
    assert_eq!(m.params, ["acct"]);

    u.send("PRIVMSG #c :tagged");
    let m = watcher.expect_privmsg_from("user1", "tagged");
    assert_eq!(m.tag("account"), Some("acct"), "{m}");
    let m = plain.expect_privmsg_from("user1", "tagged");
    assert!(m.tags.is_empty(), "no tags without caps: {m}");

    u.send("LOGOUT");
    u.expect_numeric(RPL_LOGGEDOUT);
    let m = watcher.expect_command("ACCOUNT");
    assert_eq!(m.params, ["*"], "{m}");
    u.send("PRIVMSG #c :untagged");
    let m = watcher.expect_privmsg_from("user1", "untagged");
    assert_eq!(m.tag("account"), None, "{m}");

    for c in [&mut plain, &mut outsider] {
        let got = c.sync();
        assert!(
            !has(&got, "ACCOUNT"),
            "{}: ACCOUNT without the cap or a shared channel: {got:?}",
            c.nick
        );
    }
}

#[test]
fn a_registered_nick_is_taken_back_after_the_grace_period() {
    let server = TestServer::start_with(|c| c.accounts.nick_grace_secs = 1);
    server.create_account("owner", PW);
    let mut peer = server.connect("peer");
    join(&mut peer, "#c");
    let mut squatter = server.connect("owner");
    let warning = squatter.expect(from_nickserv, "a NickServ warning");
    assert!(
        warning.param(1).contains("registered"),
        "the warning says why: {warning}"
    );
    join(&mut squatter, "#c");

    let mut got = squatter.recv_until(|m| m.command == "NICK", "the rename");
    let rename = got.last().unwrap().clone();
    assert_eq!(
        rename.source.as_deref(),
        Some("owner!~owner@127.0.0.1"),
        "{rename}"
    );
    let guest = rename.param(0).to_string();
    let digits = guest.strip_prefix("Guest").unwrap_or("");
    assert!(
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        "renamed to Guest<digits>: {rename}"
    );
    squatter.nick = guest.clone();
    got.extend(squatter.sync());
    assert!(
        got.iter()
            .any(|m| from_nickserv(m) && m.param(1).contains(&guest)),
        "a notice says what happened: {got:?}"
    );
    let m = peer.expect_command("NICK");
    assert_eq!(
        (m.source_nick(), m.param(0)),
        (Some("owner"), guest.as_str())
    );
    // The nick is free again: its owner takes it.
    let mut owner = server.connect_sasl("owner", "", "owner", PW);
    let got = whois(&mut owner, "owner");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "owner");
}

#[test]
fn logging_in_within_the_grace_period_keeps_the_nick() {
    let server = TestServer::start_with(|c| c.accounts.nick_grace_secs = 1);
    server.create_account("keeper", PW);
    server.create_account("control", PW);
    // Warned at registration...
    let mut keeper = server.connect("keeper");
    keeper.expect(from_nickserv, "a NickServ warning");
    // ...and on a nick change, later: this one's grace period ends after keeper's.
    let mut control = server.connect("ctl");
    control.send("NICK control");
    control.expect(
        |m| m.command == "NICK" && m.param(0) == "control",
        "NICK control",
    );
    control.nick = "control".into();
    control.expect(from_nickserv, "a NickServ warning");
    keeper.login("keeper", PW);

    let renamed = control.expect_command("NICK");
    assert!(renamed.param(0).starts_with("Guest"), "{renamed}");
    // keeper's grace period ended before control's: any rename would be here.
    let got = keeper.sync();
    assert!(!has(&got, "NICK"), "renamed despite logging in: {got:?}");
    let got = whois(&mut keeper, "keeper");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(1), "keeper");
}

#[test]
fn login_works_with_the_default_pbkdf2_iterations() {
    let default = Config::default().accounts.pbkdf2_iterations;
    assert!(default >= 100_000, "default iterations {default}");
    let server = TestServer::start_with(|c| c.accounts.pbkdf2_iterations = default);
    assert_eq!(server.config.accounts.pbkdf2_iterations, default);
    server.create_account("deft", PW);
    let mut c = server.connect("deftly");
    c.send("LOGIN deft wrong-password");
    let f = c.expect_command("FAIL");
    assert!(is_fail(&f, "LOGIN", "LOGIN_FAILED"), "{f}");
    c.login("deft", PW);
}

#[test]
fn password_hashing_does_not_stall_the_server() {
    // Some tenths of a second of PBKDF2 in a debug build (REGISTER derives the
    // password hash and the SCRAM keys, each at this count): long against a loopback
    // round trip, short against the 10 s expectation timeout on a loaded machine.
    let server = TestServer::start_with(|c| c.accounts.pbkdf2_iterations = 60_000);
    let mut slow = server.connect("slow");
    let mut other = server.connect("other");
    slow.send(&format!("REGISTER slow * {PW}"));
    // Another client is served while the password is hashed...
    other.sync();
    // ...and slow's answer is not there yet: the hash is not done on the loop (its
    // own next lines wait for the answer, so replies keep the order of commands).
    let early = slow.recv_line(std::time::Instant::now() + std::time::Duration::from_millis(50));
    assert!(
        matches!(early, Ok(None)),
        "REGISTER answered before another client's PING: was the hash done on the loop? {early:?}"
    );
    slow.expect(
        |m| m.command == "REGISTER" && m.param(0) == "SUCCESS",
        "REGISTER SUCCESS",
    );
}

#[test]
fn a_command_right_after_login_runs_once_the_login_is_done() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    let mut alice = server.connect("alice");
    // The password check runs on another thread; WHOIS in the same write must still
    // see its outcome, as it would on a server that checks inline.
    alice.send_bytes(format!("LOGIN alice {PW}\r\nWHOIS alice\r\n").as_bytes());
    let got = alice.recv_until(|m| m.command == RPL_ENDOFWHOIS, "318 end of WHOIS");
    let logged_in = got.iter().position(|m| m.command == RPL_LOGGEDIN);
    let whois_account = got.iter().position(|m| m.command == RPL_WHOISACCOUNT);
    assert!(
        matches!((logged_in, whois_account), (Some(l), Some(w)) if l < w),
        "900, then WHOIS with 330: {got:#?}"
    );
}
