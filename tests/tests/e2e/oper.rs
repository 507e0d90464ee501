//! IRC operators (RFC 2812 §3.1.4, §3.7.1): OPER against `[[oper]]` with a hashed
//! password, 381/464, user mode +o, KILL, WALLOPS, kick and mode powers in any
//! channel, WHOIS 313.

use chatd::config::OperConfig;
use chatd::store::password;
use chatd_proto::numeric::*;
use chatd_tests::*;

fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.oper = vec![OperConfig {
            name: "admin".into(),
            password: password::hash("opersecret", 1000).to_string(),
            ..Default::default()
        }];
    })
}

#[test]
fn oper_with_the_right_password_gets_381_and_plus_o() {
    let server = server();
    let mut op = server.connect("op");
    op.send("OPER admin opersecret");
    op.expect_numeric(RPL_YOUREOPER);
    let mode = op.expect_command("MODE");
    assert_eq!(mode.param(1), "+o");
    let mut other = server.connect("other");
    other.send("WHOIS op");
    let w = other.expect_numeric(RPL_WHOISOPERATOR);
    assert_eq!(w.param(1), "op");
}

#[test]
fn wrong_password_and_unknown_name_are_both_464() {
    let server = server();
    let mut c = server.connect("c");
    c.send("OPER admin wrong");
    c.expect_numeric(ERR_PASSWDMISMATCH);
    // The same answer for an unknown name (after the same work): operator names
    // cannot be probed.
    c.send("OPER nobody opersecret");
    c.expect_numeric(ERR_PASSWDMISMATCH);
    c.send("KILL c :no");
    c.expect_numeric(ERR_NOPRIVILEGES);
    c.send("WALLOPS :no");
    c.expect_numeric(ERR_NOPRIVILEGES);
}

#[test]
fn kill_disconnects_and_peers_see_why() {
    let server = server();
    let mut op = server.connect("op");
    let mut victim = server.connect("victim");
    let mut peer = server.connect("peer");
    victim.send("JOIN #c");
    victim.expect_numeric(RPL_ENDOFNAMES);
    peer.send("JOIN #c");
    peer.expect_numeric(RPL_ENDOFNAMES);
    op.send("OPER admin opersecret");
    op.expect_numeric(RPL_YOUREOPER);
    op.send("KILL victim :spamming");
    let lines = victim.expect_closed();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ERROR") && l.contains("Killed (op (spamming))")),
        "{lines:?}"
    );
    let quit = peer.expect_command("QUIT");
    assert_eq!(quit.param(0), "Killed (op (spamming))");
}

#[test]
fn wallops_reaches_operators_only() {
    let server = server();
    let mut op1 = server.connect("op1");
    let mut op2 = server.connect("op2");
    let mut user = server.connect("user");
    for op in [&mut op1, &mut op2] {
        op.send("OPER admin opersecret");
        op.expect_numeric(RPL_YOUREOPER);
    }
    op1.send("WALLOPS :server restart at noon");
    let w = op2.expect_command("WALLOPS");
    assert_eq!(w.param(0), "server restart at noon");
    assert_eq!(w.source_nick(), Some("op1"));
    let got = user.sync();
    assert!(!has(&got, "WALLOPS"), "{got:?}");
}

#[test]
fn an_operator_kicks_and_sets_modes_in_a_channel_it_does_not_run() {
    let server = server();
    let mut owner = server.connect("owner");
    let mut annoying = server.connect("annoying");
    let mut op = server.connect("op");
    owner.send("JOIN #theirs");
    owner.expect_numeric(RPL_ENDOFNAMES);
    annoying.send("JOIN #theirs");
    annoying.expect_numeric(RPL_ENDOFNAMES);
    // Not yet an operator: 442 (not on the channel).
    op.send("KICK #theirs annoying");
    op.expect_numeric(ERR_NOTONCHANNEL);
    op.send("OPER admin opersecret");
    op.expect_numeric(RPL_YOUREOPER);
    op.send("MODE #theirs +m");
    let m = owner.expect_command("MODE");
    assert_eq!(m.param(1), "+m");
    op.send("KICK #theirs annoying :enough");
    let k = annoying.expect_command("KICK");
    assert_eq!((k.param(1), k.param(2)), ("annoying", "enough"));
    owner.expect_command("KICK");
}
