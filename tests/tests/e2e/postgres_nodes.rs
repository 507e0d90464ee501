//! Two nodes on one PostgreSQL database (`cluster.database`, docs/cluster.md "What
//! each node loads, and when it sees another node's changes"): an account
//! registered, deleted or registered again on one node is what a login on the other
//! finds (SASL PLAIN, LOGIN); a read marker set on one is what a login on the other
//! reads; a login token made on one logs in on the other, and once revoked no
//! longer does; a channel registered on one keeps its founder and access list on
//! the other after its refresh (`cluster.refresh_secs`, brought due with the test
//! clock); a failed SCRAM login, or REGISTER finding a name another node took,
//! refreshes at once; with PostgreSQL down, a login checks the node's own copy.
//! Two in-process nodes, a fresh database per test (`chatd_tests::postgres`).

use chatd_proto::numeric;
use chatd_tests::*;
use chatd_tests::{postgres, scram};
use std::path::Path;
use std::time::{Duration, Instant};

const PW: &str = "hunter2hunter2";
const NEW_PW: &str = "correct-horse-battery";
const CAPS: &str = "draft/read-marker server-time message-tags";

/// Node `node` on the database at `url`, with its admin socket beside `dir`.
fn node(dir: &Path, url: &str, node: u16) -> TestServer {
    node_refreshing(dir, url, node, 5)
}

/// Node `node`, refreshing every `refresh_secs`.
fn node_refreshing(dir: &Path, url: &str, node: u16, refresh_secs: u64) -> TestServer {
    let url = url.to_string();
    let socket = dir.join("admin.sock");
    TestServer::start_in(&dir.join("data"), move |c| {
        c.cluster.node_id = node;
        c.cluster.database = url;
        c.cluster.refresh_secs = refresh_secs;
        c.admin.socket = Some(socket);
    })
}

fn two_nodes() -> (TestServer, TestServer, [tempfile::TempDir; 2]) {
    let url = postgres::database();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let one = node(dirs[0].path(), &url, 1);
    let two = node(dirs[1].path(), &url, 2);
    (one, two, dirs)
}

/// SASL PLAIN as `account`: whether 903 came (else 904).
fn sasl_ok(server: &TestServer, account: &str, password: &str) -> bool {
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    c.send("CAP REQ :sasl");
    c.expect(|m| m.command == "CAP" && m.param(1) == "ACK", "CAP ACK");
    c.send("AUTHENTICATE PLAIN");
    c.expect(|m| m.command == "AUTHENTICATE", "AUTHENTICATE +");
    c.send(&format!(
        "AUTHENTICATE {}",
        sasl_plain("", account, password)
    ));
    let m = c.expect(
        |m| m.command == numeric::RPL_SASLSUCCESS || m.command == numeric::ERR_SASLFAIL,
        "903 or 904",
    );
    m.command == numeric::RPL_SASLSUCCESS
}

/// `LOGIN` from a fresh connection: whether 900 came (else `FAIL LOGIN`).
fn login_ok(server: &TestServer, nick: &str, account: &str, password: &str) -> bool {
    let mut c = server.connect(nick);
    c.send(&format!("LOGIN {account} {password}"));
    let m = c.expect(
        |m| m.command == numeric::RPL_LOGGEDIN || m.command == "FAIL",
        "900 or FAIL",
    );
    m.command == numeric::RPL_LOGGEDIN
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn an_account_registered_deleted_or_registered_again_on_one_node_is_what_the_other_finds() {
    let (one, two, _dirs) = two_nodes();
    // Registered on node one after node two started: node two knows it at once.
    one.create_account("alice", PW);
    assert!(sasl_ok(&two, "alice", PW), "SASL PLAIN on node two");
    assert!(login_ok(&two, "al", "alice", PW), "LOGIN on node two");
    assert!(!sasl_ok(&two, "alice", NEW_PW), "a wrong password");
    // Deleted on node one: refused on node two.
    let deleted = one.admin(r#"{"id":1,"cmd":"accounts-delete","name":"alice"}"#);
    assert_eq!(deleted["result"]["name"], "alice", "{deleted}");
    let mut sync = one.connect("syncer");
    sync.store_sync();
    assert!(!sasl_ok(&two, "alice", PW), "a deleted account on node two");
    assert!(
        !login_ok(&two, "al2", "alice", PW),
        "LOGIN to a deleted account"
    );
    // Registered again with another password (the way a password changes without a
    // command for it): the old one is refused on node two, the new one works.
    let mut again = one.connect("alice");
    again.register_account("alice", NEW_PW);
    assert!(!sasl_ok(&two, "alice", PW), "the old password on node two");
    assert!(
        sasl_ok(&two, "alice", NEW_PW),
        "the new password on node two"
    );
    assert!(
        login_ok(&two, "al3", "alice", NEW_PW),
        "LOGIN, new password"
    );
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn a_read_marker_set_on_one_node_is_read_by_a_login_on_the_other() {
    let (one, two, _dirs) = two_nodes();
    one.create_account("alice", PW);
    // Node two learns alice (and her markers, none yet) at this login.
    let early = two.connect_sasl("early", CAPS, "alice", PW);
    early.quit();
    let mut phone = one.connect_sasl("phone", CAPS, "alice", PW);
    phone.send("MARKREAD #chan timestamp=2026-01-04T14:33:26.123Z");
    phone.expect(|m| m.command == "MARKREAD", "MARKREAD answer");
    phone.store_sync();
    let mut laptop = two.connect_sasl("laptop", CAPS, "alice", PW);
    laptop.send("MARKREAD #chan");
    let m = laptop.expect(|m| m.command == "MARKREAD", "MARKREAD #chan");
    assert_eq!(m.param(1), "timestamp=2026-01-04T14:33:26.123Z", "{m}");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn a_token_made_on_one_node_logs_in_on_the_other_until_revoked() {
    let (one, two, _dirs) = two_nodes();
    one.create_account("wade", PW);
    let mut c = one.connect_sasl("wade", "", "wade", PW);
    c.send("SESSION CREATE web");
    let m = c.expect(
        |m| m.command == "SESSION" && m.param(0) == "CREATED",
        "SESSION CREATED",
    );
    let (id, secret) = (m.param(1).to_string(), m.param(2).to_string());
    c.store_sync();
    assert!(sasl_ok(&two, "wade", &secret), "the token on node two");
    c.send(&format!("SESSION REVOKE {id}"));
    c.expect(
        |m| m.command == "SESSION" && m.param(0) == "REVOKED",
        "SESSION REVOKED",
    );
    c.store_sync();
    assert!(
        !sasl_ok(&two, "wade", &secret),
        "a revoked token on node two"
    );
    assert!(sasl_ok(&two, "wade", PW), "the password still works");
}

/// ChanServ's notices to `c` for `INFO #c`, joined.
fn info(c: &mut Client, chan: &str) -> String {
    c.send(&format!("PRIVMSG ChanServ :INFO {chan}"));
    c.sync()
        .iter()
        .filter(|m| m.command == "NOTICE" && m.source_nick() == Some("ChanServ"))
        .map(|m| m.param(1).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn a_channel_registered_on_one_node_keeps_its_roles_on_the_other_after_a_refresh() {
    let (one, two, _dirs) = two_nodes();
    one.create_account("alice", PW);
    one.create_account("bob", PW);
    one.create_account("carol", PW);
    let mut alice = one.connect_sasl("alice", "", "alice", PW);
    alice.join("#c");
    alice.send("CHANNEL REGISTER #c");
    alice.expect_command("NOTICE");
    alice.send("PRIVMSG ChanServ :ACCESS #c ADD bob voice");
    alice.sync();
    alice.store_sync();
    let mut carol = two.connect_sasl("carol", "multi-prefix", "carol", PW);
    assert!(info(&mut carol, "#c").contains("is not registered"));
    // The refresh comes due on node two's clock; wait for its answer.
    two.advance_clock(Duration::from_secs(6));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let said = info(&mut carol, "#c");
        if said.contains("Founder: alice") {
            break;
        }
        assert!(Instant::now() < deadline, "node two never saw #c: {said}");
    }
    // The first to join a registered channel on node two is not made operator, and
    // bob gets his voice there.
    carol.send("JOIN #c");
    let names = carol.expect_numeric(numeric::RPL_NAMREPLY);
    assert_eq!(names.param(3), "carol", "{names}");
    let mut bob = two.connect_sasl("bob", "multi-prefix", "bob", PW);
    bob.send("JOIN #c");
    let names = bob.expect_numeric(numeric::RPL_NAMREPLY);
    assert!(names.param(3).split(' ').any(|n| n == "+bob"), "{names}");
    // Dropped on node one: node two forgets it at its next refresh.
    alice.send("PRIVMSG ChanServ :DROP #c");
    alice.sync();
    alice.store_sync();
    two.advance_clock(Duration::from_secs(6));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let said = info(&mut carol, "#c");
        if said.contains("is not registered") {
            break;
        }
        assert!(Instant::now() < deadline, "node two kept #c: {said}");
    }
}

/// SASL SCRAM-SHA-256 as `account`: whether it succeeded.
fn scram_ok(server: &TestServer, account: &str, password: &str) -> bool {
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    c.send("CAP REQ :sasl");
    c.expect(|m| m.command == "CAP" && m.param(1) == "ACK", "CAP ACK");
    scram::authenticate(&mut c, account, password).is_ok()
}

/// SASL SCRAM-SHA-256 (RFC 7677) on a node reads the account from the database
/// before it answers the client-first message (RFC 5802 §5.1), so an account
/// registered on another node a moment ago logs in at the first try; a REGISTER of a
/// name the other node took answers "exists".
#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn scram_and_register_see_an_account_made_on_another_node_at_once() {
    let url = postgres::database();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let one = node(dirs[0].path(), &url, 1);
    // Node two's timer alone would not refresh within the test.
    let two = node_refreshing(dirs[1].path(), &url, 2, 3600);
    one.create_account("sam", PW);
    assert!(scram_ok(&two, "sam", PW), "SCRAM as sam on node two");
    assert!(!scram_ok(&two, "sam", "wrong-password"), "a wrong password");
    // REGISTER of a name node one took: "exists", and node two knows the account.
    one.create_account("rita", PW);
    let mut rita = two.connect("rita");
    rita.send(&format!("REGISTER rita * {PW}"));
    let fail = rita.expect_command("FAIL");
    assert_eq!(fail.param(1), "ACCOUNT_EXISTS", "{fail}");
    assert!(scram_ok(&two, "rita", PW), "SCRAM as rita on node two");
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn a_login_while_postgresql_is_down_checks_the_nodes_own_copy() {
    let pg = postgres::PgServer::start();
    let url = pg.create_database();
    let dir = tempfile::tempdir().unwrap();
    let server = node(dir.path(), &url, 1);
    server.create_account("bob", PW);
    pg.stop();
    // The lookup of bob's row fails: the node's copy is checked instead.
    assert!(
        sasl_ok(&server, "bob", PW),
        "SASL PLAIN while PostgreSQL is down"
    );
    assert!(
        !sasl_ok(&server, "bob", NEW_PW),
        "a wrong password is still wrong"
    );
    pg.run();
}

#[test]
#[cfg_attr(not(has_postgres), ignore = "PostgreSQL not installed")]
fn a_session_of_an_account_deleted_on_another_node_is_logged_out() {
    let (one, two, _dirs) = two_nodes();
    one.create_account("bob", PW);
    one.create_account("dan", PW);
    let mut bob = two.connect_sasl("bob", "", "bob", PW);
    let mut dan = two.connect_sasl("dan", "", "dan", PW);
    for name in ["bob", "dan"] {
        let deleted = one.admin(format!(
            r#"{{"id":1,"cmd":"accounts-delete","name":"{name}"}}"#
        ));
        assert_eq!(deleted["result"]["name"], name, "{deleted}");
    }
    let mut sync = one.connect("syncer");
    sync.store_sync();
    // A login to dan on node two finds the account gone: dan's session ends.
    assert!(!sasl_ok(&two, "dan", PW));
    let out = dan.expect_numeric(numeric::RPL_LOGGEDOUT);
    assert!(out.param(2).contains("deleted"), "{out}");
    // Node two's refresh finds bob gone: bob's session ends.
    two.advance_clock(Duration::from_secs(6));
    let out = bob.expect_numeric(numeric::RPL_LOGGEDOUT);
    assert!(out.param(2).contains("deleted"), "{out}");
}
