//! WHOWAS (<https://modern.ircdocs.horse/#whowas-message>): 314 RPL_WHOWASUSER,
//! 312 RPL_WHOISSERVER, 369 RPL_ENDOFWHOWAS, 406 ERR_WASNOSUCHNICK, 461; a bounded
//! history of the nicks left by quits and nick changes (`limits.whowas_entries`).

use chatd_proto::numeric::*;
use chatd_tests::*;

const SPEC: &str = "https://modern.ircdocs.horse/#whowas-message";

#[test]
fn a_nick_that_quit_is_remembered() {
    let server = TestServer::start();
    let bob = server.connect("bob");
    bob.quit();
    let mut alice = server.connect("alice");
    alice.send("WHOWAS Bob");
    let got = alice.sync();
    assert_eq!(
        commands(&got),
        vec![RPL_WHOWASUSER, RPL_WHOISSERVER, RPL_ENDOFWHOWAS],
        "{SPEC}"
    );
    let user = one(&got, RPL_WHOWASUSER);
    assert_eq!(
        user.params,
        ["alice", "bob", "~bob", "127.0.0.1", "*", "Test user bob"],
        "{SPEC}: <client> <nick> <username> <host> * :<realname>"
    );
    assert_eq!(one(&got, RPL_WHOISSERVER).param(2), "chatd.local");
    assert_eq!(one(&got, RPL_ENDOFWHOWAS).param(1), "Bob");
}

#[test]
fn nick_changes_newest_first_and_the_count() {
    // WHOWAS "<count>": at most that many entries, the most recent first.
    let server = TestServer::start();
    let mut a = server.connect("x");
    a.send("NICK tmp");
    a.send("NICK x");
    a.send("NICK tmp");
    a.sync();
    let mut b = server.connect("b");
    // "x" was left twice: by the first user's "x" twice.
    b.send("WHOWAS x");
    let got = b.sync();
    assert_eq!(all(&got, RPL_WHOWASUSER).len(), 2, "{SPEC}: {got:?}");
    b.send("WHOWAS x 1");
    let got = b.sync();
    assert_eq!(all(&got, RPL_WHOWASUSER).len(), 1, "{SPEC}: count");
    // Two nicks at once, each with its own 369.
    b.send("WHOWAS tmp,nobody");
    let got = b.sync();
    assert_eq!(
        commands(&got),
        vec![
            RPL_WHOWASUSER,
            RPL_WHOISSERVER,
            RPL_ENDOFWHOWAS,
            ERR_WASNOSUCHNICK,
            RPL_ENDOFWHOWAS
        ]
    );
}

#[test]
fn unknown_nick_is_406_and_no_nick_is_461() {
    let server = TestServer::start();
    let mut c = server.connect("c");
    c.send("WHOWAS ghost");
    let got = c.sync();
    assert_eq!(
        commands(&got),
        vec![ERR_WASNOSUCHNICK, RPL_ENDOFWHOWAS],
        "{SPEC}"
    );
    c.send("WHOWAS");
    assert_eq!(commands(&c.sync()), vec![ERR_NEEDMOREPARAMS], "{SPEC}");
}

#[test]
fn the_history_is_bounded() {
    let server = TestServer::start_with(|c| c.limits.whowas_entries = 2);
    for nick in ["n1", "n2", "n3"] {
        server.connect(nick).quit();
    }
    let mut c = server.connect("c");
    c.send("WHOWAS n1,n2,n3");
    let got = c.sync();
    let remembered: Vec<&str> = all(&got, RPL_WHOWASUSER)
        .iter()
        .map(|m| m.param(1))
        .collect();
    assert_eq!(remembered, vec!["n2", "n3"], "the oldest is forgotten");
}
