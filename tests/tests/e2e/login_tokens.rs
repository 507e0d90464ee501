//! Login tokens (chatd's `SESSION` command, `docs/protocol.md` "Login tokens"): a
//! logged-in client gets a revocable token and logs in with it through SASL PLAIN
//! (IRCv3 sasl-3.1, <https://ircv3.net/specs/extensions/sasl-3.1>) instead of the
//! password; tokens survive a restart, and revoked ones stop working.

use chatd_proto::numeric::*;
use chatd_tests::*;

const PASSWORD: &str = "hunter2hunter2";

/// `SESSION CREATE` answers `SESSION CREATED <id> <secret>`.
fn create_token(c: &mut Client, label: &str) -> (String, String) {
    c.send(&format!("SESSION CREATE {label}"));
    let m = c.expect(
        |m| m.command == "SESSION" && m.param(0) == "CREATED",
        "SESSION CREATED",
    );
    (m.param(1).to_string(), m.param(2).to_string())
}

/// SASL PLAIN with `secret` as the password; whether 903 came (else 904).
fn sasl_ok(server: &TestServer, account: &str, secret: &str) -> bool {
    let mut c = server.connect_raw();
    c.send("CAP LS 302");
    c.send("CAP REQ :sasl");
    c.expect(|m| m.command == "CAP" && m.param(1) == "ACK", "CAP ACK");
    c.send("AUTHENTICATE PLAIN");
    c.expect(|m| m.command == "AUTHENTICATE", "AUTHENTICATE +");
    c.send(&format!("AUTHENTICATE {}", sasl_plain("", account, secret)));
    let m = c.expect(
        |m| m.command == RPL_SASLSUCCESS || m.command == ERR_SASLFAIL,
        "903 or 904",
    );
    m.command == RPL_SASLSUCCESS
}

#[test]
fn a_token_logs_in_instead_of_the_password_until_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {});
    server.create_account("tess", PASSWORD);
    server.create_account("uma", PASSWORD);
    let mut c = server.connect_sasl("tess", "", "tess", PASSWORD);
    let (id1, secret1) = create_token(&mut c, "laptop");
    let (_, secret2) = create_token(&mut c, "phone");
    assert!(
        secret1.starts_with("chatd-token-") && secret1.len() > 40,
        "{secret1}"
    );
    assert!(sasl_ok(&server, "tess", &secret1));
    assert!(
        !sasl_ok(&server, "uma", &secret1),
        "only for its own account"
    );
    assert!(!sasl_ok(&server, "tess", "chatd-token-guessed"));

    // The tokens outlive a restart (kept hashed in the store).
    c.store_sync();
    server.stop();
    let server = TestServer::start_in(dir.path(), |_| {});
    assert!(sasl_ok(&server, "tess", &secret1));
    let db = rusqlite::Connection::open(dir.path().join("chatd.db")).unwrap();
    let stored: Vec<u8> = db
        .query_row("SELECT hash FROM login_tokens WHERE id = ?1", [&id1], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored.len(), 32);
    let raw = std::fs::read(dir.path().join("chatd.db")).unwrap();
    assert!(
        !raw.windows(secret1.len()).any(|w| w == secret1.as_bytes()),
        "the secret itself is never stored"
    );

    // Revoked: the token no longer logs in; the other still does.
    let mut c = server.connect_sasl("tess", "", "tess", &secret2);
    c.send(&format!("SESSION REVOKE {id1}"));
    c.expect(
        |m| m.command == "SESSION" && m.param(0) == "REVOKED",
        "SESSION REVOKED",
    );
    assert!(!sasl_ok(&server, "tess", &secret1));
    assert!(sasl_ok(&server, "tess", &secret2));
    c.send(&format!("SESSION REVOKE {id1}"));
    c.expect(
        |m| m.command == "FAIL" && m.param(1) == "NOT_FOUND",
        "FAIL NOT_FOUND",
    );
}

/// `chatctl sessions` through the admin socket: lists an account's tokens (never a
/// secret) and revokes them.
#[test]
fn the_admin_lists_and_revokes_tokens() {
    let server = TestServer::start();
    server.create_account("wade", PASSWORD);
    let mut c = server.connect_sasl("wade", "", "wade", PASSWORD);
    let (id, secret) = create_token(&mut c, "web");
    create_token(&mut c, "phone");
    let list = server.admin(r#"{"id":1,"cmd":"sessions","account":"wade"}"#);
    let tokens = list["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(tokens.len(), 2, "{list}");
    let web = tokens.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert_eq!(web["label"], "web");
    assert!(!list.to_string().contains(&secret), "no secret in {list}");
    let one = server.admin(format!(
        r#"{{"id":2,"cmd":"sessions-revoke","account":"wade","token":"{id}"}}"#
    ));
    assert_eq!(one["result"]["revoked"], 1, "{one}");
    assert!(!sasl_ok(&server, "wade", &secret));
    let all = server.admin(r#"{"id":3,"cmd":"sessions-revoke","account":"wade"}"#);
    assert_eq!(all["result"]["revoked"], 1, "{all}");
    let none = server.admin(r#"{"id":4,"cmd":"sessions","account":"nobody"}"#);
    assert_eq!(none["error"]["code"], "not_found", "{none}");
}

#[test]
fn tokens_need_a_login_and_are_bounded() {
    let server = TestServer::start();
    let mut guest = server.connect("guest");
    guest.send("SESSION CREATE web");
    guest.expect(
        |m| m.command == "FAIL" && m.param(1) == "ACCOUNT_REQUIRED",
        "FAIL ACCOUNT_REQUIRED",
    );
    server.create_account("vera", PASSWORD);
    let mut c = server.connect_sasl("vera", "", "vera", PASSWORD);
    for i in 0..20 {
        create_token(&mut c, &format!("d{i}"));
    }
    c.send("SESSION CREATE one-too-many");
    c.expect(
        |m| m.command == "FAIL" && m.param(1) == "LIMIT",
        "FAIL LIMIT",
    );
}
