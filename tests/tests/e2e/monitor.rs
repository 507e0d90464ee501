//! IRCv3 MONITOR (<https://ircv3.net/specs/extensions/monitor>): `MONITOR + - C L S`,
//! 730–734, ISUPPORT `MONITOR=<limit>`, and the notifications when a watched nick
//! registers, quits or changes.

use chatd_proto::numeric::*;
use chatd_tests::*;

const SPEC: &str = "https://ircv3.net/specs/extensions/monitor";

/// The targets of every `numeric` line in `got`, in order.
fn targets(got: &[chatd_proto::Message], numeric: &str) -> Vec<String> {
    all(got, numeric)
        .iter()
        .flat_map(|m| m.param(1).split(','))
        .map(str::to_string)
        .collect()
}

#[test]
fn isupport_advertises_the_per_client_limit() {
    // monitor §"MONITOR Command": "the MONITOR token in RPL_ISUPPORT ... the maximum
    // amount of targets a client may have in their monitor list".
    let server = TestServer::start_with(|c| c.limits.monitor_max = 7);
    let mut c = server.connect_raw();
    c.send("NICK a");
    c.send("USER a 0 * :A");
    let got = c.recv_until(|m| m.command == RPL_LUSERCLIENT, "LUSERS after ISUPPORT");
    let tokens: Vec<&str> = all(&got, RPL_ISUPPORT)
        .iter()
        .flat_map(|m| m.params.iter().map(String::as_str))
        .collect();
    assert!(tokens.contains(&"MONITOR=7"), "{SPEC}: {tokens:?}");
}

#[test]
fn plus_answers_730_with_the_mask_of_those_online_and_731_for_the_rest() {
    // monitor §"MONITOR + target[,target2]*" and §730, §731.
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let _bob = server.connect("bob");
    alice.send("MONITOR + Bob,carol");
    let got = alice.sync();
    assert_eq!(
        targets(&got, RPL_MONONLINE),
        vec!["bob!~bob@127.0.0.1"],
        "{SPEC}"
    );
    assert_eq!(targets(&got, RPL_MONOFFLINE), vec!["carol"], "{SPEC}");
    assert_eq!(one(&got, RPL_MONONLINE).param(0), "alice");
}

#[test]
fn a_watched_nick_that_connects_quits_or_changes_is_announced() {
    // monitor §730 "a target has just become online", §731 "a target has just left
    // the irc network".
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("MONITOR + carol,dave");
    alice.sync();
    let carol = server.connect("carol");
    let on = alice.expect_numeric(RPL_MONONLINE);
    assert_eq!(on.param(1), "carol!~carol@127.0.0.1", "{SPEC}");
    carol.quit();
    let off = alice.expect_numeric(RPL_MONOFFLINE);
    assert_eq!(off.param(1), "carol", "{SPEC}");
    // A nick change is the old nick leaving and the new one arriving.
    let mut eve = server.connect("eve");
    alice.sync();
    eve.send("NICK dave");
    let on = alice.expect_numeric(RPL_MONONLINE);
    assert_eq!(on.param(1), "dave!~eve@127.0.0.1", "{SPEC}");
    eve.send("NICK carol");
    let off = alice.expect_numeric(RPL_MONOFFLINE);
    assert_eq!(off.param(1), "dave");
    let on = alice.expect_numeric(RPL_MONONLINE);
    assert_eq!(on.param(1), "carol!~eve@127.0.0.1");
}

#[test]
fn past_the_limit_734_names_the_refused_targets_which_are_not_added() {
    // monitor §734: "<limit> <targets> :Monitor list is full." — "the list of
    // targets, as the client sent them, that cannot be added".
    let server = TestServer::start_with(|c| c.limits.monitor_max = 2);
    let mut alice = server.connect("alice");
    alice.send("MONITOR + a1,a2,a3,A4");
    let got = alice.sync();
    let full = one(&got, ERR_MONLISTFULL);
    assert_eq!(full.params[1..3], ["2", "a3,A4"], "{SPEC}: {full}");
    assert_eq!(targets(&got, RPL_MONOFFLINE), vec!["a1", "a2"]);
    alice.send("MONITOR L");
    let got = alice.sync();
    assert_eq!(targets(&got, RPL_MONLIST), vec!["a1", "a2"], "{SPEC}");
    // Nobody announces a3 when it arrives.
    let _a3 = server.connect("a3");
    assert!(
        !has(&alice.sync(), RPL_MONONLINE),
        "a refused target is not watched"
    );
}

#[test]
fn minus_c_l_and_s() {
    // monitor §"MONITOR - target", §"MONITOR C", §"MONITOR L", §"MONITOR S".
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let _bob = server.connect("bob");
    alice.send("MONITOR + bob,carol,dave");
    alice.sync();
    alice.send("MONITOR - CAROL");
    assert!(alice.sync().is_empty(), "{SPEC}: MONITOR - has no output");
    alice.send("MONITOR L");
    let got = alice.sync();
    assert_eq!(targets(&got, RPL_MONLIST), vec!["bob", "dave"]);
    assert_eq!(commands(&got).last(), Some(&RPL_ENDOFMONLIST));
    alice.send("MONITOR S");
    let got = alice.sync();
    assert_eq!(targets(&got, RPL_MONONLINE), vec!["bob!~bob@127.0.0.1"]);
    assert_eq!(targets(&got, RPL_MONOFFLINE), vec!["dave"]);
    alice.send("MONITOR C");
    assert!(alice.sync().is_empty(), "{SPEC}: MONITOR C has no output");
    alice.send("MONITOR L");
    let got = alice.sync();
    assert_eq!(commands(&got), vec![RPL_ENDOFMONLIST]);
    // Cleared means cleared: dave arriving is not announced.
    let _dave = server.connect("dave");
    assert!(!has(&alice.sync(), RPL_MONONLINE));
}

#[test]
fn a_watchers_list_ends_with_its_connection() {
    // A client's monitor list belongs to its connection: a later client that is
    // given the same slot must not inherit it.
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let bob = server.connect("bob");
    alice.send("MONITOR + bob");
    alice.sync();
    alice.quit();
    let mut dave = server.connect("dave");
    bob.quit();
    assert!(
        !has(&dave.sync(), RPL_MONOFFLINE),
        "a closed connection's MONITOR list is gone"
    );
}

#[test]
fn an_unknown_subcommand_is_an_error_and_nothing_else() {
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.send("MONITOR X bob");
    let got = alice.sync();
    assert_eq!(commands(&got), vec![ERR_UNKNOWNCOMMAND]);
    alice.send("MONITOR");
    assert_eq!(commands(&alice.sync()), vec![ERR_NEEDMOREPARAMS]);
}
