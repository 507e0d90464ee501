//! `SESSION CREATE` / `SESSION REVOKE`: login tokens for "keep me logged in" (the
//! web client), and logging in with one through any password door (SASL PLAIN,
//! LOGIN, PASS). A token is a random secret given to the client once; only its
//! SHA-256 is kept, in memory and in the store. `chatctl sessions` lists and
//! revokes them (`admin/commands.rs`).

use super::{complete_login, fail, login_failed, password_check_done, start_password_check};
use crate::cmd::{CmdError, Cx};
use crate::followup::Door;
use crate::store::Request;
use chatd_proto::Message;

/// `SESSION CREATE [<label>]` — a new login token for the account the client is
/// logged in to: `SESSION CREATED <id> <secret>`. `SESSION REVOKE <id>` — revokes
/// one of its tokens: `SESSION REVOKED <id>`. chatd's own command (`docs/protocol.md`).
pub fn session(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let sub = msg.param(0).to_ascii_uppercase();
    let Some(account) = cx.user().account.clone() else {
        fail(cx, "SESSION", "ACCOUNT_REQUIRED", "*", "Log in first");
        return Ok(());
    };
    let Some(id) = cx.state.account_id(&account) else {
        fail(cx, "SESSION", "ACCOUNT_REQUIRED", "*", "Log in first");
        return Ok(());
    };
    let server = cx.server_name().to_string();
    match sub.as_str() {
        "CREATE" => {
            let label = msg.params.get(1).map(String::as_str).unwrap_or("web");
            let now = chrono::Utc::now().timestamp();
            match cx.state.login_tokens.create(id, label, now) {
                Ok((token, secret)) => {
                    let reply = Message::new("SESSION", ["CREATED", token.id.as_str(), &secret])
                        .with_source(server);
                    log::info!(
                        "conn={} account={account} login token {} created",
                        cx.me,
                        token.id
                    );
                    cx.store.send(Request::SaveToken(token));
                    cx.send_me(&reply);
                }
                Err(_) => fail(
                    cx,
                    "SESSION",
                    "LIMIT",
                    "*",
                    "Too many login tokens; revoke some with SESSION REVOKE or chatctl",
                ),
            }
        }
        "REVOKE" => {
            let token_id = msg.param(1).to_string();
            if cx.state.login_tokens.revoke(id, Some(&token_id)) == 0 {
                fail(cx, "SESSION", "NOT_FOUND", &token_id, "No such login token");
                return Ok(());
            }
            cx.store.send(Request::DeleteTokens {
                account: id,
                id: Some(token_id.clone()),
            });
            let reply = Message::new("SESSION", ["REVOKED", token_id.as_str()]).with_source(server);
            cx.send_me(&reply);
        }
        _ => fail(
            cx,
            "SESSION",
            "UNKNOWN_SUBCOMMAND",
            &sub,
            "Use CREATE or REVOKE",
        ),
    }
    Ok(())
}

/// A login whose password is a token's secret: checked at once (the secret is
/// random, so a hash lookup is enough, with no PBKDF2 work), within the same
/// failure limits as a password.
pub(super) fn token_login(cx: &mut Cx, door: Door, account: &str, secret: &str) {
    if let Err(refusal) = start_password_check(cx) {
        return login_failed(cx, door, refusal);
    }
    let owner = cx.state.login_tokens.check(secret).map(|t| t.account);
    let ok = owner.is_some() && owner == cx.state.account_id(account);
    password_check_done(cx, ok);
    if ok {
        complete_login(cx, account, door);
    } else {
        // A token made on another node since this one's last refresh.
        cx.state.refresh_wanted = true;
        log::info!(
            "conn={} host={} failed token login to account={account}",
            cx.me,
            cx.user().host
        );
        login_failed(cx, door, "Invalid account or password");
    }
}
