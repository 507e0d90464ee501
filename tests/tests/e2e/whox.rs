//! IRCv3 WHOX (<https://ircv3.net/specs/extensions/whox>): `WHO <mask> %<fields>[,<token>]`
//! answered with 354 RPL_WHOSPCRPL, ISUPPORT `WHOX`; and the RPL_WHOREPLY flags of
//! modern.ircdocs.horse (<https://modern.ircdocs.horse/#rplwhoreply-352>): `H`/`G`,
//! `*` for an IRC operator, then the channel prefix.

use chatd::config::OperConfig;
use chatd::store::password;
use chatd_proto::numeric::*;
use chatd_tests::*;

const SPEC: &str = "https://ircv3.net/specs/extensions/whox";

fn isupport_tokens(c: &mut Client) -> Vec<String> {
    c.send("VERSION");
    let got = c.sync();
    all(&got, RPL_ISUPPORT)
        .iter()
        .flat_map(|m| m.params.iter().cloned())
        .collect()
}

#[test]
fn whox_is_advertised() {
    // whox §"ISUPPORT": the WHOX token.
    let server = TestServer::start();
    let mut c = server.connect("c");
    assert!(
        isupport_tokens(&mut c).iter().any(|t| t == "WHOX"),
        "{SPEC}"
    );
}

#[test]
fn fields_come_in_spec_order_with_the_token() {
    // whox §"Fields": the reply holds the requested fields in the order
    // t, c, u, i, h, s, n, f, d, l, a, o, r, whatever order they were asked in.
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    alice.register_account("alice", "hunter2hunter2");
    alice.join("#c");
    let mut bob = server.connect("bob");
    bob.join("#c");
    bob.send("WHO #c %rafncuhsdilot,42");
    let got = bob.sync();
    let rows = all(&got, RPL_WHOSPCRPL);
    assert_eq!(rows.len(), 2, "{SPEC}: {got:?}");
    assert!(!has(&got, RPL_WHOREPLY), "no 352 with WHOX");
    assert_eq!(commands(&got).last(), Some(&RPL_ENDOFWHO));
    let alice_row = rows.iter().find(|m| m.param(7) == "alice").unwrap();
    assert_eq!(
        alice_row.params,
        [
            "bob",
            "42",
            "#c",
            "~alice",
            "127.0.0.1",
            "127.0.0.1",
            "chatd.local",
            "alice",
            "H@",
            "0",
            alice_row.param(10), // idle seconds
            "alice",
            "999",
            "Test user alice"
        ],
        "{SPEC}"
    );
    assert!(
        alice_row.param(10).parse::<u64>().is_ok(),
        "idle is a number"
    );
    let bob_row = rows.iter().find(|m| m.param(7) == "bob").unwrap();
    assert_eq!(bob_row.param(11), "0", "{SPEC}: no account is 0");
    assert_eq!(bob_row.param(12), "n/a");
}

#[test]
fn a_subset_and_a_mask_and_a_bad_token() {
    // whox §"Token": at most 3 digits; chatd answers 0 for anything else.
    let server = TestServer::start();
    let mut alice = server.connect("alice");
    let _bob = server.connect("bob");
    alice.send("WHO b* %nt,1234");
    let got = alice.sync();
    let row = one(&got, RPL_WHOSPCRPL);
    assert_eq!(row.params, ["alice", "0", "bob"], "{SPEC}");
    alice.send("WHO bob %n,7");
    let got = alice.sync();
    assert_eq!(one(&got, RPL_WHOSPCRPL).params, ["alice", "bob"]);
}

#[test]
fn an_irc_operator_is_flagged_with_a_star() {
    // modern.ircdocs.horse RPL_WHOREPLY: "<flags> ... `*` if the user is an IRC
    // operator", after H/G and before the channel prefix.
    let server = TestServer::start_with(|c| {
        c.oper = vec![OperConfig {
            name: "admin".into(),
            password: password::hash("opersecret", 1000).to_string(),
            ..Default::default()
        }];
    });
    let mut op = server.connect("op");
    op.join("#c");
    op.send("OPER admin opersecret");
    op.expect_numeric(RPL_YOUREOPER);
    let mut other = server.connect("other");
    other.send("WHO #c");
    let got = other.sync();
    assert_eq!(one(&got, RPL_WHOREPLY).param(6), "H*@");
    other.send("WHO op %f");
    let got = other.sync();
    assert_eq!(one(&got, RPL_WHOSPCRPL).param(1), "H*@", "{SPEC}");
    other.send("WHO other");
    let got = other.sync();
    assert_eq!(one(&got, RPL_WHOREPLY).param(6), "H", "not an operator");
}
