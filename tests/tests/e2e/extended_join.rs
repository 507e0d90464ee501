//! IRCv3 extended-join, https://ircv3.net/specs/extensions/extended-join: a JOIN
//! carries the joiner's account (`*` when logged out) and realname to clients that
//! negotiated it, and stays plain for the others.

use chatd_tests::*;

/// https://ircv3.net/specs/extensions/extended-join ("JOIN ... accountname :realname").
#[test]
fn join_carries_account_and_realname_to_those_who_asked() {
    let server = TestServer::start();
    server.create_account("alice", "hunter22");
    let mut ext = server.connect_with_caps("ext", "extended-join");
    let mut plain = server.connect("plain");
    ext.join("#c");
    plain.join("#c");
    ext.sync();
    plain.sync();
    let mut alice = server.connect_sasl("alice", "", "alice", "hunter22");
    alice.join("#c");
    let got = ext.sync();
    let j = one(&got, "JOIN");
    assert_eq!(j.params, vec!["#c", "alice", "Test user alice"]);
    let got = plain.sync();
    assert_eq!(
        one(&got, "JOIN").params,
        vec!["#c"],
        "plain JOIN without the cap"
    );
}

/// https://ircv3.net/specs/extensions/extended-join: "`*` ... if the user is not
/// logged in"; the joiner's own echo has the extended form when it asked for it.
#[test]
fn logged_out_joiner_shows_star_and_sees_its_own_extended_join() {
    let server = TestServer::start();
    let mut ext = server.connect_with_caps("ext", "extended-join");
    ext.send("JOIN #c");
    let j = ext.expect_command("JOIN");
    assert_eq!(j.params, vec!["#c", "*", "Test user ext"]);
}

/// The capability is in CAP LS (https://ircv3.net/specs/extensions/extended-join).
#[test]
fn extended_join_is_advertised() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    assert!(ls.param(2).split(' ').any(|c| c == "extended-join"), "{ls}");
}
