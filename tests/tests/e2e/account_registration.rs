//! IRCv3 draft/account-registration —
//! https://ircv3.net/specs/extensions/account-registration (draft): the capability's
//! keys as configured, `ACCOUNT_EXISTS` for a name someone else has, `NEED_NICK`,
//! `ALREADY_REGISTERED`, and `COMPLETE_CONNECTION_REQUIRED` when REGISTER must wait
//! for the welcome. The everyday REGISTER paths are in `accounts.rs`.

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

const PW: &str = "hunter2hunter2";

fn is_fail(m: &Message, code: &str) -> bool {
    m.command == "FAIL" && m.param(0) == "REGISTER" && m.param(1) == code
}

/// The `draft/account-registration` value in `CAP LS 302`.
fn cap_value(server: &TestServer) -> String {
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    ls.param(2)
        .split(' ')
        .find_map(|cap| cap.strip_prefix("draft/account-registration="))
        .unwrap_or_else(|| panic!("no value for draft/account-registration: {ls}"))
        .to_string()
}

/// "Capability": `before-connect` when REGISTER works before registration;
/// `custom-account-name` because REGISTER may name an account other than the nick;
/// never `email-required` (an email is optional).
#[test]
fn the_capability_value_tells_what_the_server_does() {
    let server = TestServer::start();
    let value = cap_value(&server);
    let keys: Vec<&str> = value.split(',').collect();
    assert_eq!(keys, ["before-connect", "custom-account-name"], "{value}");

    // custom-account-name: an account named otherwise than the nick, with no email.
    let mut c = server.connect_raw();
    c.send("NICK nick1");
    c.send(&format!("REGISTER other1 * {PW}"));
    let ok = c.expect(
        |m| m.command == "REGISTER" || m.command == "FAIL",
        "REGISTER",
    );
    assert_eq!((ok.param(0), ok.param(1)), ("SUCCESS", "other1"), "{ok}");
    assert_eq!(c.expect_numeric(RPL_LOGGEDIN).param(2), "other1");
    // before-connect: that happened before the welcome, which still comes.
    c.send("USER nick1 0 * :Nick One");
    c.expect_numeric(RPL_WELCOME);
}

/// "COMPLETE_CONNECTION_REQUIRED ... The server MUST NOT send these replies if it
/// advertizes the `before-connect` key": with `accounts.register_before_connect =
/// false` the key is gone, an early REGISTER gets that FAIL (with no account
/// parameter), and after the welcome REGISTER works.
#[test]
fn without_before_connect_register_waits_for_the_welcome() {
    let server = TestServer::start_with(|c| c.accounts.register_before_connect = false);
    assert_eq!(cap_value(&server), "custom-account-name");
    let mut c = server.connect_raw();
    c.send("NICK early");
    c.send(&format!("REGISTER early * {PW}"));
    let f = c.expect_command("FAIL");
    assert!(is_fail(&f, "COMPLETE_CONNECTION_REQUIRED"), "{f}");
    assert_eq!(
        f.params.len(),
        3,
        "FAIL REGISTER COMPLETE_CONNECTION_REQUIRED :text: {f}"
    );
    c.send("USER early 0 * :Early");
    c.expect_numeric(RPL_WELCOME);
    c.sync();
    c.register_account("early", PW);
}

/// Server considerations: early REGISTER must not get round a server password. With
/// `server.password` set, `before-connect` is not advertised and an early REGISTER is
/// refused, even though `register_before_connect` is true.
#[test]
fn a_server_password_turns_off_early_register() {
    let server = TestServer::start_with(|c| c.server.password = "letmein".into());
    assert!(server.config.accounts.register_before_connect);
    assert_eq!(cap_value(&server), "custom-account-name");
    let mut c = server.connect_raw();
    c.send("NICK sneaky");
    c.send(&format!("REGISTER sneaky * {PW}"));
    let f = c.expect_command("FAIL");
    assert!(is_fail(&f, "COMPLETE_CONNECTION_REQUIRED"), "{f}");
    c.send("USER sneaky 0 * :Sneaky");
    c.expect_numeric(ERR_PASSWDMISMATCH);
}

/// "ACCOUNT_EXISTS ... a nick that is not available as a new account's name": an
/// account of that name (in any case), someone else's nick while they are connected
/// (logged in to another account or not, registered or still registering), or one's
/// own nick when it is an account.
#[test]
fn account_exists_for_a_name_someone_else_has() {
    let server = TestServer::start();
    server.create_account("acct", PW);
    let _plain = server.connect("online");
    let mut held = server.connect("holder");
    held.login("acct", PW);
    // A connection still registering holds its nick too.
    let mut early = server.connect_raw();
    early.send("NICK halfway");
    early.sync();
    let mut c = server.connect("me");
    for name in ["acct", "ACCT", "online", "ONLINE", "holder", "halfway"] {
        c.send(&format!("REGISTER {name} * {PW}"));
        let f = c.expect_command("FAIL");
        assert!(is_fail(&f, "ACCOUNT_EXISTS"), "{name}: {f}");
        assert_eq!(f.param(2), name, "{f}");
    }
    // REGISTER * with a nick that is an account (held during its grace period).
    c.send("NICK acct");
    c.expect_command("NICK");
    c.send(&format!("REGISTER * * {PW}"));
    let f = c.expect_command("FAIL");
    assert!(is_fail(&f, "ACCOUNT_EXISTS"), "{f}");
    let got = c.sync();
    assert!(!has(&got, RPL_LOGGEDIN), "{got:?}");
}

/// "NEED_NICK ... if the client sends REGISTER before sending a NICK command", and
/// "The server MUST NOT send [ACCOUNT_EXISTS] before the client sent a NICK command",
/// even when REGISTER names an existing account outright.
#[test]
fn need_nick_before_a_nick_even_for_an_existing_name() {
    let server = TestServer::start();
    server.create_account("taken", PW);
    let mut c = server.connect_raw();
    for line in [
        format!("REGISTER taken * {PW}"),
        format!("REGISTER * * {PW}"),
    ] {
        c.send(&line);
        let f = c.expect_command("FAIL");
        assert!(is_fail(&f, "NEED_NICK"), "{line}: {f}");
        assert_eq!(f.param(2), "*", "{f}");
    }
}

/// "ALREADY_REGISTERED ... Sent by the server if the client is already
/// authenticated."
#[test]
fn already_registered_when_logged_in() {
    let server = TestServer::start();
    let mut c = server.connect("first");
    c.register_account("first", PW);
    c.send(&format!("REGISTER second * {PW}"));
    let f = c.expect_command("FAIL");
    assert!(is_fail(&f, "ALREADY_REGISTERED"), "{f}");
}
