//! IRCv3 chghost, https://ircv3.net/specs/extensions/chghost: with
//! `accounts.account_host` set, a logged-in user is shown with an account host
//! instead of its address, and a login or logout after registration changes the
//! host: "the server sends CHGHOST ... to clients that have negotiated the
//! capability and share a channel with the user" (and to the user itself).

use chatd_proto::numeric::*;
use chatd_tests::*;

const PW: &str = "correcthorsebattery";

fn server() -> TestServer {
    TestServer::start_with(|c| c.accounts.account_host = "{account}.users.chatd".into())
}

/// https://ircv3.net/specs/core/capability-negotiation: `chghost` is in CAP LS.
#[test]
fn chghost_is_advertised() {
    let server = server();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    assert!(ls.param(2).split(' ').any(|c| c == "chghost"), "{ls}");
}

/// chghost "CHGHOST" message: a login after registration sends
/// `:nick!user@oldhost CHGHOST <user> <newhost>` to the user and to peers with the
/// capability; a peer without it gets nothing, and WHOIS shows the new host. A
/// logout brings the address back the same way.
#[test]
fn a_login_and_a_logout_change_the_host_with_chghost() {
    let server = server();
    server.create_account("Dana", PW);
    let mut dana = server.connect_with_caps("dana", "chghost");
    let mut watcher = server.connect_with_caps("watcher", "chghost");
    let mut plain = server.connect("plain");
    for c in [&mut dana, &mut watcher, &mut plain] {
        c.join("#c");
    }
    dana.sync();
    watcher.sync();
    plain.sync();
    dana.send(&format!("LOGIN Dana {PW}"));
    let own = dana.expect_command("CHGHOST");
    assert_eq!(
        own.source.as_deref().and_then(|s| s.split('@').nth(1)),
        Some("127.0.0.1"),
        "{own}"
    );
    assert_eq!((own.param(0), own.param(1)), ("~dana", "dana.users.chatd"));
    let seen = watcher.expect_command("CHGHOST");
    assert_eq!(seen.source_nick(), Some("dana"));
    assert_eq!(seen.param(1), "dana.users.chatd");
    let logged_in = dana.expect_numeric(RPL_LOGGEDIN);
    assert!(
        logged_in.param(1).ends_with("@dana.users.chatd"),
        "{logged_in}"
    );
    // Without the capability: no CHGHOST, but the new host from now on.
    let got = plain.sync();
    assert!(!got.iter().any(|m| m.command == "CHGHOST"), "{got:?}");
    plain.send("WHOIS dana");
    let whois = plain.expect_numeric(RPL_WHOISUSER);
    assert_eq!(whois.param(3), "dana.users.chatd");

    dana.send("LOGOUT");
    let back = dana.expect_command("CHGHOST");
    assert_eq!(
        back.source.as_deref().and_then(|s| s.split('@').nth(1)),
        Some("dana.users.chatd")
    );
    assert_eq!(back.param(1), "127.0.0.1");
    assert_eq!(watcher.expect_command("CHGHOST").param(1), "127.0.0.1");
}

/// A login before registration (SASL) needs no CHGHOST: 001 already shows the
/// account host. Without `accounts.account_host` the host never changes.
#[test]
fn a_login_before_registration_shows_the_account_host_in_001_and_none_is_set_by_default() {
    let server = server();
    server.create_account("erin", PW);
    let mut erin = server.connect_sasl("erin", "chghost", "erin", PW);
    erin.send("WHOIS erin");
    assert_eq!(
        erin.expect_numeric(RPL_WHOISUSER).param(3),
        "erin.users.chatd"
    );
    let plain = TestServer::start();
    plain.create_account("fay", PW);
    let mut fay = plain.connect_with_caps("fay", "chghost");
    fay.send(&format!("LOGIN fay {PW}"));
    fay.expect_numeric(RPL_LOGGEDIN);
    let got = fay.sync();
    assert!(!got.iter().any(|m| m.command == "CHGHOST"), "{got:?}");
    fay.send("WHOIS fay");
    assert_eq!(fay.expect_numeric(RPL_WHOISUSER).param(3), "127.0.0.1");
}

/// A bad template is refused at start, naming its key.
#[test]
fn a_bad_account_host_is_refused() {
    let mut config = chatd::config::Config::default();
    config.accounts.account_host = "users.chatd".into();
    let err = config.validate().expect_err("no {account}");
    assert!(err.to_string().contains("accounts.account_host"), "{err}");
    config.accounts.account_host = "{account} users".into();
    assert!(config.validate().is_err(), "a space");
}
