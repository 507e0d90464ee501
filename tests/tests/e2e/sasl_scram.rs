//! SASL SCRAM-SHA-256 — RFC 5802 (https://www.rfc-editor.org/rfc/rfc5802) and RFC 7677
//! (https://www.rfc-editor.org/rfc/rfc7677) over IRCv3 SASL
//! (https://ircv3.net/specs/extensions/sasl-3.1, .../sasl-3.2): the mechanism list,
//! a login computed by a real client (`chatd_tests::scram`, written from the RFCs),
//! wrong proofs, unknown accounts, and accounts from before SCRAM.

use chatd_proto::numeric::*;
use chatd_tests::scram::{self, ScramClient};
use chatd_tests::*;

const PW: &str = "correct-horse-battery";

/// A raw connection that sent `CAP LS 302`, negotiated `sasl` and holds registration
/// open.
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

/// Sends the client-first message for `user` and returns the server-first message.
fn server_first_for(c: &mut Client, client: &ScramClient) -> String {
    c.send("AUTHENTICATE SCRAM-SHA-256");
    assert_eq!(scram::next_challenge(c).unwrap(), "+");
    c.send(&format!(
        "AUTHENTICATE {}",
        scram::encode(&client.client_first())
    ));
    scram::decode(&scram::next_challenge(c).unwrap())
}

/// sasl-3.2 "Mechanism list in CAP LS" and sasl-3.1 "Numerics" (908): both
/// mechanisms are offered.
#[test]
fn cap_ls_and_908_list_plain_and_scram_sha_256() {
    let server = TestServer::start();
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    let ls = c.expect_command("CAP");
    assert!(
        ls.param(2)
            .split(' ')
            .any(|cap| cap == "sasl=PLAIN,SCRAM-SHA-256"),
        "{ls}"
    );
    let mut c = sasl_client(&server);
    c.send("AUTHENTICATE DIGEST-MD5");
    let mechs = c.expect_numeric(RPL_SASLMECHS);
    assert_eq!(mechs.param(1), "PLAIN,SCRAM-SHA-256");
    c.expect_numeric(ERR_SASLFAIL);
}

/// RFC 5802 §5 (the four messages) and §3 (proof and server signature), RFC 7677 §3:
/// a registered account logs in with SCRAM-SHA-256 before registration; the server
/// proves it knows the keys (the client checks `v=`), then 900 and 903.
#[test]
fn scram_login_before_registration() {
    let server = TestServer::start();
    server.create_account("sam", PW);
    let mut c = sasl_client(&server);
    let first = scram::authenticate(&mut c, "sam", PW).expect("SCRAM login");
    let sf = scram::parse_server_first(&first);
    assert_eq!(sf.iterations, TEST_PBKDF2_ITERATIONS);
    assert_eq!(sf.salt.len(), 16);
    c.send("CAP END");
    c.register("sammy");
    c.send("WHOIS sammy");
    let got = c.recv_until(|m| m.command == RPL_ENDOFWHOIS, "318");
    assert_eq!(one(&got, RPL_WHOISACCOUNT).param(2), "sam");
}

/// RFC 5802 §5.1: the server nonce is fresh for every exchange (from a CSPRNG), and
/// it starts with the client's.
#[test]
fn every_exchange_gets_a_new_server_nonce() {
    let server = TestServer::start();
    server.create_account("nina", PW);
    let mut c = sasl_client(&server);
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let client = ScramClient::new("nina", PW);
        let first = scram::parse_server_first(&server_first_for(&mut c, &client));
        nonces.push(first.nonce);
        c.send("AUTHENTICATE *");
        c.expect_numeric(ERR_SASLABORTED);
    }
    assert_ne!(nonces[0], nonces[1]);
}

/// RFC 5802 §5.1 / §9: a proof made with the wrong password ends with 904, and the
/// connection is not logged in; a right one after it works.
#[test]
fn a_wrong_password_fails_with_904() {
    let server = TestServer::start();
    server.create_account("wendy", PW);
    let mut c = sasl_client(&server);
    let end = scram::authenticate(&mut c, "wendy", "not the password");
    assert_eq!(end.unwrap_err().command, ERR_SASLFAIL);
    let got = c.sync();
    assert!(!has(&got, RPL_LOGGEDIN), "{got:?}");
    scram::authenticate(&mut c, "wendy", PW).expect("the right password");
}

/// RFC 5802 §7 `client-final-message`: a final message whose nonce or channel
/// binding is not this exchange's, or that asks for channel binding we do not offer
/// (`p=` in the GS2 header), ends with 904.
#[test]
fn tampered_messages_fail_with_904() {
    let server = TestServer::start();
    server.create_account("tom", PW);
    let mut c = sasl_client(&server);

    let mut client = ScramClient::new("tom", PW);
    let first = server_first_for(&mut c, &client);
    let last = client.client_final(&first).replace(",r=", ",r=x");
    c.send(&format!("AUTHENTICATE {}", scram::encode(&last)));
    c.expect_numeric(ERR_SASLFAIL);

    let mut client = ScramClient::new("tom", PW);
    let first = server_first_for(&mut c, &client);
    let last = client.client_final(&first).replace("c=biws", "c=eSws");
    c.send(&format!("AUTHENTICATE {}", scram::encode(&last)));
    c.expect_numeric(ERR_SASLFAIL);

    c.send("AUTHENTICATE SCRAM-SHA-256");
    assert_eq!(scram::next_challenge(&mut c).unwrap(), "+");
    c.send(&format!(
        "AUTHENTICATE {}",
        scram::encode("p=tls-unique,,n=tom,r=abcdef")
    ));
    c.expect_numeric(ERR_SASLFAIL);
    let got = c.sync();
    assert!(!has(&got, RPL_LOGGEDIN), "{got:?}");
}

/// RFC 5802 §9 (do not reveal whether a user exists): an unknown account gets a
/// server-first message of the same shape as a real one, with the same salt each
/// time (as a real account's is), and fails only at the proof, with 904.
#[test]
fn an_unknown_account_looks_like_a_real_one_until_the_proof() {
    let server = TestServer::start();
    server.create_account("real", PW);
    let mut c = sasl_client(&server);
    let real = scram::parse_server_first(&server_first_for(&mut c, &ScramClient::new("real", PW)));
    c.send("AUTHENTICATE *");
    c.expect_numeric(ERR_SASLABORTED);

    let mut salts = Vec::new();
    for _ in 0..2 {
        let mut client = ScramClient::new("ghost", PW);
        let first = server_first_for(&mut c, &client);
        let sf = scram::parse_server_first(&first);
        assert_eq!(
            (sf.iterations, sf.salt.len(), sf.nonce.len()),
            (real.iterations, real.salt.len(), real.nonce.len())
        );
        salts.push(sf.salt);
        c.send(&format!(
            "AUTHENTICATE {}",
            scram::encode(&client.client_final(&first))
        ));
        c.expect_numeric(ERR_SASLFAIL);
    }
    assert_eq!(salts[0], salts[1], "an unknown account's salt is stable");
    assert_ne!(salts[0], real.salt);
}

/// An account registered before chatd kept SCRAM credentials (its columns empty, as
/// migration 7 leaves them): SCRAM fails with 904 (looking like a wrong password), PLAIN
/// works and makes the credentials, and from then on SCRAM works, also after a
/// restart (they are stored).
#[test]
fn an_account_from_before_scram_upgrades_at_its_next_plain_login() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_in(&data, |_| {});
    server.create_account("olga", PW);
    server.stop();
    {
        let db = rusqlite::Connection::open(data.join("chatd.db")).unwrap();
        let n = db
            .execute(
                "UPDATE accounts SET scram_salt = NULL, scram_iterations = NULL, \
                 scram_stored_key = NULL, scram_server_key = NULL",
                [],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let server = TestServer::start_in(&data, |_| {});
    let mut c = sasl_client(&server);
    let end = scram::authenticate(&mut c, "olga", PW);
    assert_eq!(end.unwrap_err().command, ERR_SASLFAIL);

    c.send("AUTHENTICATE PLAIN");
    assert_eq!(scram::next_challenge(&mut c).unwrap(), "+");
    c.send(&format!("AUTHENTICATE {}", sasl_plain("", "olga", PW)));
    c.expect_numeric(RPL_SASLSUCCESS);
    c.send("CAP END");
    c.register("olga");
    c.store_sync();

    let mut d = sasl_client(&server);
    scram::authenticate(&mut d, "olga", PW).expect("SCRAM after the PLAIN login");
    server.stop();

    let server = TestServer::start_in(&data, |_| {});
    let mut e = sasl_client(&server);
    scram::authenticate(&mut e, "olga", PW).expect("SCRAM after a restart");
}

/// Registration makes the SCRAM credentials at once: a REGISTER then a SCRAM login on
/// another connection.
#[test]
fn a_registered_account_logs_in_with_scram_at_once() {
    let server = TestServer::start();
    let mut r = server.connect("rita");
    r.register_account("rita", PW);
    let mut c = sasl_client(&server);
    scram::authenticate(&mut c, "rita", PW).expect("SCRAM login");
}
