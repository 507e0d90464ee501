//! Logging in: each `Login` method against chatd (IRCv3 SASL 3.1 with SCRAM-SHA-256,
//! RFC 5802, or PLAIN; draft/account-registration, `PASS account:password`), and nick
//! fallbacks.

use crate::support::{bot_config, RunningBot, TestServer};
use chatd_bot::{Error, Event, Login};

fn raw_seen(bot: &mut RunningBot, pred: impl Fn(&chatd_bot::proto::Message) -> bool) -> bool {
    bot.seen()
        .iter()
        .any(|e| matches!(e, Event::Raw(m) if pred(m)))
}

#[test]
fn sasl_plain() {
    let server = TestServer::start();
    server.create_account("saslbot", "sasl-password");
    let mut bot = RunningBot::start(
        bot_config(server.addr, "saslbot").sasl("saslbot", "sasl-password"),
        |_| {},
    );
    let (nick, account) = bot.expect_connected();
    assert_eq!(
        (nick.as_str(), account.as_deref()),
        ("saslbot", Some("saslbot"))
    );
    assert!(
        raw_seen(&mut bot, |m| m.command == "903"),
        "{}",
        bot.transcript()
    );
    // The server agrees.
    let mut peer = server.connect("alice");
    peer.send("WHOIS saslbot");
    let whois = peer.expect(|m| m.command == "330", "330 RPL_WHOISACCOUNT");
    assert_eq!(whois.param(2), "saslbot");
    bot.quit("bye").unwrap();
}

/// Whether the bot got a SCRAM server-first message (RFC 5802 §5.1: `r=...,s=...,i=...`)
/// in an `AUTHENTICATE` line.
fn saw_scram(bot: &mut RunningBot) -> bool {
    use base64::Engine;
    raw_seen(bot, |m| {
        m.command == "AUTHENTICATE"
            && base64::engine::general_purpose::STANDARD
                .decode(m.param(0))
                .is_ok_and(|b| b.starts_with(b"r="))
    })
}

/// chatd offers `sasl=PLAIN,SCRAM-SHA-256`: the bot logs in with SCRAM-SHA-256
/// (RFC 5802 §5). With one failed login allowed per connection, a SCRAM failure
/// followed by PLAIN would be refused, so the login proves SCRAM itself worked.
#[test]
fn sasl_prefers_scram_sha_256() {
    let server = TestServer::start_with(|c| c.accounts.login_failures_per_conn = 1);
    server.create_account("scrambot", "scram-password");
    let mut bot = RunningBot::start(
        bot_config(server.addr, "scrambot").sasl("scrambot", "scram-password"),
        |_| {},
    );
    let (_, account) = bot.expect_connected();
    assert_eq!(account.as_deref(), Some("scrambot"), "{}", bot.transcript());
    assert!(saw_scram(&mut bot), "{}", bot.transcript());
    bot.quit("bye").unwrap();
}

/// An account made before chatd kept SCRAM credentials: SCRAM fails with 904, the
/// bot falls back to PLAIN once and is logged in (and the account gets its SCRAM
/// credentials from that login).
#[test]
fn sasl_falls_back_to_plain_for_an_account_without_scram_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_in(&data, |_| {});
    server.create_account("oldbot", "old-password");
    server.stop();
    rusqlite::Connection::open(data.join("chatd.db"))
        .unwrap()
        .execute(
            "UPDATE accounts SET scram_salt = NULL, scram_iterations = NULL, \
             scram_stored_key = NULL, scram_server_key = NULL",
            [],
        )
        .unwrap();
    let server = TestServer::start_in(&data, |_| {});
    let mut bot = RunningBot::start(
        bot_config(server.addr, "oldbot").sasl("oldbot", "old-password"),
        |_| {},
    );
    let (_, account) = bot.expect_connected();
    assert_eq!(account.as_deref(), Some("oldbot"), "{}", bot.transcript());
    assert!(
        raw_seen(&mut bot, |m| m.command == "904"),
        "{}",
        bot.transcript()
    );
    bot.quit("bye").unwrap();
}

#[test]
fn register_on_first_run_then_sasl() {
    let server = TestServer::start();
    let config = bot_config(server.addr, "newbot").register("newbot", "first-run-password");

    let mut first = RunningBot::start(config.clone(), |_| {});
    let (_, account) = first.expect_connected();
    assert_eq!(account.as_deref(), Some("newbot"));
    assert!(raw_seen(&mut first, |m| m.command == "REGISTER"
        && m.param(0) == "SUCCESS"));
    first.quit("restarting").unwrap();

    // A new process: it does not know the account exists, REGISTER says so, and
    // SASL logs in.
    let mut second = RunningBot::start(config, |_| {});
    let (_, account) = second.expect_connected();
    assert_eq!(account.as_deref(), Some("newbot"));
    assert!(raw_seen(&mut second, |m| m.command == "FAIL"
        && m.param(1) == "ACCOUNT_EXISTS"));
    assert!(
        raw_seen(&mut second, |m| m.command == "903"),
        "{}",
        second.transcript()
    );
    second.quit("bye").unwrap();
}

#[test]
fn server_password_account_colon_password() {
    let server = TestServer::start();
    server.create_account("passbot", "pass-password");
    let config = bot_config(server.addr, "passbot")
        .login(Login::ServerPassword("passbot:pass-password".into()));
    let mut bot = RunningBot::start(config, |_| {});
    let (_, account) = bot.expect_connected();
    assert_eq!(account.as_deref(), Some("passbot"));
    bot.quit("bye").unwrap();
}

#[test]
fn refused_logins_stop_the_bot() {
    let server = TestServer::start();
    server.create_account("lockbot", "right-password");
    let cases = [
        Login::Sasl {
            account: "lockbot".into(),
            password: "wrong-password".into(),
        },
        Login::ServerPassword("lockbot:wrong-password".into()),
        Login::Register {
            account: "lockbot".into(),
            password: "wrong-password".into(),
        },
    ];
    for login in cases {
        let what = format!("{login:?}");
        let bot = RunningBot::start(bot_config(server.addr, "lockbot").login(login), |_| {});
        match bot.join() {
            Err(Error::Login(_)) => {}
            other => panic!("{what}: expected a login error, got {other:?}"),
        }
    }
}

#[test]
fn nick_in_use_falls_back() {
    let server = TestServer::start();
    let _first = server.connect("busy");
    let _second = server.connect("busy2");
    let mut config = bot_config(server.addr, "busy");
    config.alt_nicks = vec!["busy2".into(), "busy3".into()];
    let mut bot = RunningBot::start(config, |_| {});
    let (nick, _) = bot.expect_connected();
    assert_eq!(nick, "busy3");
    bot.quit("bye").unwrap();
}
