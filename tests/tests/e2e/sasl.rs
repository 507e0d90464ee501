//! IRCv3 SASL — https://ircv3.net/specs/extensions/sasl-3.1 (chunks, the length rules,
//! abort, 907, an exchange cut by registration) and
//! https://ircv3.net/specs/extensions/sasl-3.2 ("SASL Reauthentication": logging in
//! again after registration, to the same or another account, with account-notify).
//! SCRAM-SHA-256 itself is `sasl_scram.rs`.

use chatd_proto::numeric::*;
use chatd_proto::Message;
use chatd_tests::*;

const PW: &str = "hunter2hunter2";

/// A raw connection that negotiated `sasl` (with `CAP LS 302` when `v302`) and holds
/// registration open.
fn sasl_client(server: &TestServer, v302: bool) -> Client {
    let mut c = server.connect_raw();
    c.send(if v302 { "CAP LS 302" } else { "CAP LS" });
    c.send("CAP REQ :sasl");
    c.expect(
        |m| m.command == "CAP" && m.param(1) == "ACK" && m.param(2).contains("sasl"),
        "CAP ACK sasl",
    );
    c
}

fn start_plain(c: &mut Client) {
    c.send("AUTHENTICATE PLAIN");
    c.expect(
        |m| m.command == "AUTHENTICATE" && m.param(0) == "+",
        "AUTHENTICATE +",
    );
}

fn plain_login(c: &mut Client, account: &str) -> Vec<Message> {
    start_plain(c);
    c.send(&format!("AUTHENTICATE {}", sasl_plain("", account, PW)));
    c.recv_until(
        |m| m.command == RPL_SASLSUCCESS || m.command == ERR_SASLFAIL,
        "903 or 904",
    )
}

/// sasl-3.1 "Numerics": 905 is for an AUTHENTICATE parameter longer than 400 bytes.
/// The exchange ends; the next one starts afresh.
#[test]
fn a_line_over_400_bytes_gets_905() {
    let server = TestServer::start();
    server.create_account("sam", PW);
    let mut c = sasl_client(&server, true);
    start_plain(&mut c);
    c.send(&format!("AUTHENTICATE {}", "A".repeat(401)));
    c.expect_numeric(ERR_SASLTOOLONG);
    let got = plain_login(&mut c, "sam");
    assert!(has(&got, RPL_SASLSUCCESS), "{got:?}");
}

/// sasl-3.1 "The AUTHENTICATE command": a response comes in 400-byte chunks and the
/// server MAY limit its total length. Past the limit the exchange ends with 904 (not
/// 905: no line was too long), and the rest of that response is not read as mechanism
/// names (no 908, no second 904), up to its last chunk.
#[test]
fn a_response_past_the_limit_ends_with_904_and_its_rest_is_skipped() {
    let server = TestServer::start();
    server.create_account("sam", PW);
    let mut c = sasl_client(&server, true);
    start_plain(&mut c);
    let chunk = "QUFB".repeat(100); // 400 bytes of base64
    for _ in 0..11 {
        c.send(&format!("AUTHENTICATE {chunk}"));
    }
    let got = c.recv_until(|m| m.command == ERR_SASLFAIL, "904 past the limit");
    assert!(!has(&got, ERR_SASLTOOLONG), "{got:?}");
    // The client goes on sending its response: two more full chunks and a short last
    // one that would be a mechanism name if read as one.
    c.send(&format!("AUTHENTICATE {chunk}"));
    c.send(&format!("AUTHENTICATE {chunk}"));
    c.send("AUTHENTICATE QUJD");
    let got = c.sync();
    assert!(
        !has(&got, RPL_SASLMECHS) && !has(&got, ERR_SASLFAIL),
        "the rest of the response was read as a new exchange: {got:?}"
    );
    // Then a new exchange works.
    let got = plain_login(&mut c, "sam");
    assert!(has(&got, RPL_SASLSUCCESS), "{got:?}");
}

/// sasl-3.1: "AUTHENTICATE *" aborts with 906; "If the last chunk was exactly 400
/// bytes long, it must also be followed by `AUTHENTICATE +`": a response of exactly
/// 400 bytes is one full chunk, then `+`.
#[test]
fn abort_with_906_and_a_full_chunk_then_plus() {
    let server = TestServer::start();
    // base64 of "\0long\0" (6 bytes) and a 294-byte password: 300 bytes, 400 in base64.
    let long_pw = "p".repeat(294);
    server.create_account("long", &long_pw);
    let mut c = sasl_client(&server, true);
    start_plain(&mut c);
    c.send("AUTHENTICATE *");
    c.expect_numeric(ERR_SASLABORTED);

    start_plain(&mut c);
    let payload = sasl_plain("", "long", &long_pw);
    assert_eq!(payload.len(), 400);
    c.send(&format!("AUTHENTICATE {payload}"));
    let got = c.sync();
    assert!(
        !has(&got, RPL_LOGGEDIN),
        "a full chunk waits for more: {got:?}"
    );
    c.send("AUTHENTICATE +");
    let got = c.recv_until(|m| m.command == RPL_SASLSUCCESS, "903");
    assert_eq!(one(&got, RPL_LOGGEDIN).param(2), "long");
}

/// sasl-3.1: "If the client attempts to issue the AUTHENTICATE command after already
/// authenticating successfully, the server MUST reject it with a 907 numeric." A
/// client that did not ask for CAP 302 gets the 3.1 rule.
#[test]
fn a_3_1_client_gets_907_after_authenticating() {
    let server = TestServer::start();
    server.create_account("sam", PW);
    let mut c = sasl_client(&server, false);
    let got = plain_login(&mut c, "sam");
    assert!(has(&got, RPL_SASLSUCCESS), "{got:?}");
    c.send("AUTHENTICATE PLAIN");
    c.expect_numeric(ERR_SASLALREADY);
    c.send("CAP END");
    c.register("sam");
    c.send("AUTHENTICATE PLAIN");
    c.expect_numeric(ERR_SASLALREADY);
}

/// sasl-3.1: "If the client completes registration ... while the SASL authentication
/// is still in progress, the server SHOULD abort it and send a 906 numeric, then
/// register the client without authentication."
#[test]
fn registration_during_an_exchange_aborts_it_with_906() {
    let server = TestServer::start();
    let mut c = sasl_client(&server, true);
    start_plain(&mut c);
    c.send("NICK early");
    c.send("USER early 0 * :Early");
    c.send("CAP END");
    let got = c.recv_until(|m| m.command == RPL_WELCOME, "001");
    assert!(has(&got, ERR_SASLABORTED), "{got:?}");
    assert!(!has(&got, RPL_LOGGEDIN), "{got:?}");
}

/// sasl-3.2 "SASL Reauthentication": after registration a client authenticates again
/// to another account; it gets 900 and 903, WHOIS shows the new account, and peers
/// with account-notify see `ACCOUNT` with the new name.
#[test]
fn reauthentication_after_registration_switches_account() {
    let server = TestServer::start();
    server.create_account("alice", PW);
    server.create_account("bob", PW);
    let mut c = sasl_client(&server, true);
    plain_login(&mut c, "alice");
    c.send("CAP END");
    c.register("alice");
    c.join("#room");
    let mut peer = server.connect_with_caps("peer", "account-notify");
    peer.join("#room");
    c.sync();

    let got = plain_login(&mut c, "bob");
    assert_eq!(one(&got, RPL_LOGGEDIN).param(2), "bob", "{got:?}");
    assert!(has(&got, RPL_SASLSUCCESS), "{got:?}");
    let notify = peer.expect_command("ACCOUNT");
    assert_eq!(
        notify.source.as_deref().map(|s| s.starts_with("alice!")),
        Some(true)
    );
    assert_eq!(notify.param(0), "bob");
    c.send("WHOIS alice");
    let got = c.recv_until(|m| m.command == RPL_ENDOFWHOIS, "318");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "bob");
}

/// sasl-3.2: a registered client that never logged in authenticates (with SCRAM this
/// time); peers see account-notify. Authenticating again to the same account is
/// confirmed (900, 903) with no second ACCOUNT.
#[test]
fn authentication_after_registration_with_scram_then_again_to_the_same_account() {
    let server = TestServer::start();
    server.create_account("carol", PW);
    let mut c = server.connect_with_caps("carol", "sasl");
    c.join("#room");
    let mut peer = server.connect_with_caps("peer", "account-notify");
    peer.join("#room");
    c.sync();

    chatd_tests::scram::authenticate(&mut c, "carol", PW).expect("SCRAM after 001");
    assert_eq!(peer.expect_command("ACCOUNT").param(0), "carol");

    let got = plain_login(&mut c, "carol");
    assert!(has(&got, RPL_SASLSUCCESS), "{got:?}");
    assert_eq!(one(&got, RPL_LOGGEDIN).param(2), "carol");
    let got = peer.sync();
    assert!(!has(&got, "ACCOUNT"), "{got:?}");
}

/// sasl-3.2: a failed re-authentication leaves the client logged in as before.
#[test]
fn a_failed_reauthentication_keeps_the_account() {
    let server = TestServer::start();
    server.create_account("dave", PW);
    server.create_account("erin", PW);
    let mut c = server.connect_sasl("dave", "", "dave", PW);
    start_plain(&mut c);
    c.send(&format!("AUTHENTICATE {}", sasl_plain("", "erin", "wrong")));
    c.expect_numeric(ERR_SASLFAIL);
    c.send("WHOIS dave");
    let got = c.recv_until(|m| m.command == RPL_ENDOFWHOIS, "318");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "dave");
}
