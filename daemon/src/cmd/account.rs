//! Accounts: one login path behind every door — `REGISTER` (IRCv3
//! draft/account-registration), SASL PLAIN (`AUTHENTICATE`), `PASS account:password`,
//! `LOGIN`/`LOGOUT`, and `NickServ` (`IDENTIFY`, `REGISTER`) — plus what follows a
//! login: account-notify, the offline queue, remembered channels with what was missed
//! (`account/replay.rs`), and nick ownership (`account/nick.rs`). REGISTER's checks
//! are in `account/register.rs`, the NickServ commands in `account/nickserv.rs`.
//!
//! Password work happens off the loop: a handler sends a [`Request`] and returns; the
//! matching `on_*` function runs when the [`Completion`] arrives.

use super::{err, CmdError, Cx};
use crate::followup::{Door, Then};
use crate::ids::ConnId;
use crate::outgoing::Outgoing;
use crate::state::Cap;
use crate::store::{Request, Ticket};
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};

mod nick;
mod nickserv;
mod register;
mod replay;

pub use nick::{change_nick, check_nick, enforce_nick, holds_others_nick, may_take_nick};
use nickserv::nickserv_notice;
pub use nickserv::{nickserv, NICKSERV};
pub use register::on_registered;
use register::start_register;
pub use replay::{after_login, end_session, finish_replay_if_done, on_memberships, on_queue};

/// Longest SASL payload (base64) accepted.
const SASL_MAX: usize = 4096;

/// `REGISTER <account|*> <email|*> <password>` — IRCv3 draft/account-registration;
/// before or after connection registration.
pub fn register(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let (account, email, password) = (msg.param(0), msg.param(1), msg.param(2));
    start_register(cx, Door::Register, account, email, password);
    Ok(())
}

/// `LOGIN <account> <password>` — a login for people typing by hand.
pub fn login(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    begin_login(cx, Door::Login, msg.param(0), msg.param(1));
    Ok(())
}

/// `LOGOUT` — leaves the account; the connection stays.
pub fn logout(cx: &mut Cx, _msg: &Message) -> Result<(), CmdError> {
    if cx.user().account.is_none() {
        fail(cx, "LOGOUT", "NOT_LOGGED_IN", "", "You are not logged in");
        return Ok(());
    }
    force_logout(cx, "You are now logged out");
    Ok(())
}

/// Logs the sender out of its account (LOGOUT, or the account was deleted).
pub fn force_logout(cx: &mut Cx, text: &str) {
    let Some(account) = cx.user().account.clone() else {
        return;
    };
    end_session(cx, cx.me, &account);
    cx.user_mut().account = None;
    // An operator by this account's login is one no more.
    let by_login = cx
        .config
        .oper_of_account(&account)
        .is_some_and(|o| cx.user().oper.as_deref() == Some(o.name.as_str()));
    if by_login {
        cx.user_mut().oper = None;
        let nick = cx.user().nick.clone();
        let mode = Message::new("MODE", [nick.as_str(), "-o"]).with_source(nick.as_str());
        cx.send_me(&mode);
    }
    let source = cx.user().source();
    cx.reply(RPL_LOGGEDOUT, &[source.as_str(), text]);
    let me = cx.me;
    let mut out = Outgoing::new(cx.relay_from(me, "ACCOUNT", vec!["*".into()]));
    cx.send_to_peers(me, &mut out, false, Some(Cap::AccountNotify));
    log::info!("conn={me} account={account} logged out");
    check_nick(cx);
}

/// `AUTHENTICATE <mechanism> | <base64> | + | *` — SASL PLAIN (IRCv3 sasl-3.1).
pub fn authenticate(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let arg = msg.param(0);
    if arg == "*" {
        if cx.user_mut().sasl.take().is_some() {
            return Err(err(ERR_SASLABORTED, ["SASL authentication aborted"]));
        }
        return Err(err(ERR_SASLFAIL, ["SASL authentication failed"]));
    }
    if cx.user().account.is_some() {
        cx.user_mut().sasl = None;
        return Err(err(
            ERR_SASLALREADY,
            ["You have already authenticated using SASL"],
        ));
    }
    let Some(mut buf) = cx.user_mut().sasl.take() else {
        if !arg.eq_ignore_ascii_case("PLAIN") {
            cx.reply(RPL_SASLMECHS, &["PLAIN", "are available SASL mechanisms"]);
            return Err(err(ERR_SASLFAIL, ["SASL authentication failed"]));
        }
        if cx.user().login_pending {
            return Err(err(ERR_SASLFAIL, ["A login is already under way"]));
        }
        cx.user_mut().sasl = Some(Box::default());
        let server = cx.server_name().to_string();
        cx.send_me(&Message::new("AUTHENTICATE", ["+"]).with_source(server));
        return Ok(());
    };
    if arg != "+" {
        buf.push_str(arg);
    }
    if buf.len() > SASL_MAX {
        return Err(err(ERR_SASLTOOLONG, ["SASL message too long"]));
    }
    if arg.len() == 400 {
        // A full chunk: more follows (or a lone "+").
        cx.user_mut().sasl = Some(buf);
        return Ok(());
    }
    let decoded = base64_decode(&buf).and_then(|b| String::from_utf8(b).ok());
    let Some(plain) = decoded else {
        return Err(err(
            ERR_SASLFAIL,
            ["SASL authentication failed: bad encoding"],
        ));
    };
    let mut parts = plain.split('\0');
    let (authz, authc, password) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if authc.is_empty()
        || parts.next().is_some()
        || (!authz.is_empty() && fold(authz) != fold(authc))
    {
        return Err(err(ERR_SASLFAIL, ["SASL authentication failed"]));
    }
    begin_login(cx, Door::Sasl, authc, password);
    Ok(())
}

/// Called by registration with the PASS it got: `account:password` (or
/// `account password`) logs in. Returns true when a check is under way.
pub fn pass_login(cx: &mut Cx, pass: &str) -> bool {
    let Some((account, password)) = pass.split_once([':', ' ']) else {
        return false;
    };
    if cx.state.account(account).is_none() {
        return false;
    }
    begin_login(cx, Door::Pass, account, password);
    cx.user().login_pending
}

/// A FAIL line: `FAIL <command> <code> [<context>] :<text>`.
fn fail(cx: &mut Cx, command: &str, code: &str, context: &str, text: &str) {
    let mut params = vec![command, code];
    if !context.is_empty() {
        params.push(context);
    }
    params.push(text);
    let server = cx.server_name().to_string();
    cx.send_me(&Message::new("FAIL", params).with_source(server));
}

/// Starts a password check for `account`, after the rate limits. An unknown
/// account is checked against a dummy hash, so it costs the same work and time as a
/// known one and counts the same.
fn begin_login(cx: &mut Cx, door: Door, account: &str, password: &str) {
    if cx.user().account.is_some() {
        return login_failed(cx, door, "You are already logged in");
    }
    if cx.user().login_pending {
        return login_failed(cx, door, "A login is already under way");
    }
    if let Err(refusal) = start_password_check(cx) {
        return login_failed(cx, door, refusal);
    }
    let (name, hash, id) = match cx.state.account(account) {
        Some(a) => (a.name.clone(), a.hash.clone(), Some(a.id)),
        None => (
            account.to_string(),
            crate::store::password::dummy(cx.config.accounts.pbkdf2_iterations),
            None,
        ),
    };
    cx.user_mut().login_pending = true;
    cx.user_mut().login_account_id = id;
    ask_hasher(cx, Then::Login { door }, |ticket| Request::Verify {
        ticket,
        account: name,
        password: password.to_string(),
        hash,
    });
}

/// The address key the sender's limits count under (an IPv4 address or an IPv6 /64).
fn my_ip_key(cx: &Cx) -> String {
    cx.conns
        .get(cx.me)
        .map(|c| c.ip_key.to_string())
        .unwrap_or_default()
}

/// The limits every password check (LOGIN, SASL, PASS, NickServ IDENTIFY, OPER)
/// passes before it starts: failures on this connection, and checks from this
/// address this minute, counted from the moment each starts (given back on
/// success, [`password_check_done`]). `Err` is the refusal's text.
pub(super) fn start_password_check(cx: &mut Cx) -> Result<(), &'static str> {
    let accounts = &cx.config.accounts;
    if cx.user().login_failures >= accounts.login_failures_per_conn {
        return Err("Too many failed logins on this connection; reconnect to try again");
    }
    let per_ip = accounts.login_failures_per_ip;
    let key = my_ip_key(cx);
    if !cx.state.login_attempts.start(&key, per_ip, cx.now) {
        log::info!(
            "conn={} host={key} password check refused: address limit",
            cx.me
        );
        return Err("Too many failed logins from your address; wait a minute");
    }
    Ok(())
}

/// A password check started by [`start_password_check`] ended: a success no longer
/// counts against the address; a failure counts against the connection too.
pub(super) fn password_check_done(cx: &mut Cx, ok: bool) {
    if ok {
        let key = my_ip_key(cx);
        cx.state.login_attempts.succeeded(&key);
    } else {
        cx.user_mut().login_failures += 1;
    }
}

/// Sends password work to the hasher through the per-address fair queue
/// ([`HashQueue`](crate::state::hashing::HashQueue)); the sender waits for it as
/// for [`Cx::ask`].
pub(super) fn ask_hasher(cx: &mut Cx, then: Then, request: impl FnOnce(Ticket) -> Request) {
    let key = my_ip_key(cx);
    let id = cx.my_id();
    if let Some(conn) = cx.conns.get_mut(cx.me) {
        conn.awaiting += 1;
    }
    let ticket = cx.state.followups.open(crate::followup::FollowUp::Client {
        id,
        holds_lines: true,
        then,
    });
    if let Some(now) = cx.state.hashing.submit(&key, id, request(ticket)) {
        if !cx.store.send(now) {
            let _ = cx.state.hashing.finished(id);
        }
    }
}

/// The password check's outcome.
pub fn on_verified(cx: &mut Cx, asker: ConnId, door: Door, account: &str, ok: bool) {
    if !cx.alive(asker) {
        return;
    }
    cx.user_mut().login_pending = false;
    let checked = cx.user_mut().login_account_id.take();
    let ok = ok && checked.is_some() && cx.state.account_id(account) == checked;
    password_check_done(cx, ok);
    if ok && cx.user().account.is_none() {
        complete_login(cx, account, door);
    } else if !ok {
        log::info!(
            "conn={} host={} failed login to account={account}",
            cx.me,
            cx.user().host
        );
        login_failed(cx, door, "Invalid account or password");
    }
}

/// Answers a refused or failed login through its door.
fn login_failed(cx: &mut Cx, door: Door, text: &str) {
    match door {
        Door::Sasl => cx.reply(
            ERR_SASLFAIL,
            &[format!("SASL authentication failed: {text}")],
        ),
        Door::Pass => {
            cx.reply(ERR_PASSWDMISMATCH, &[format!("Password incorrect: {text}")]);
            cx.close("Bad password");
        }
        Door::NickServ | Door::NickServRegister => nickserv_notice(cx, text),
        Door::Login | Door::Register => fail(cx, "LOGIN", "LOGIN_FAILED", "*", text),
    }
}

/// Logs the connection in to `account` and tells it, its peers and the store.
fn complete_login(cx: &mut Cx, account: &str, door: Door) {
    let me = cx.me;
    let folded = fold(account);
    let name = cx
        .state
        .accounts
        .get(&folded)
        .map(|a| a.name.clone())
        .unwrap_or_else(|| account.to_string());
    cx.user_mut().account = Some(name.clone());
    cx.state.sessions.entry(folded).or_default().push(me);
    let source = cx.user().source();
    cx.reply(
        RPL_LOGGEDIN,
        &[
            source.as_str(),
            name.as_str(),
            &format!("You are now logged in as {name}"),
        ],
    );
    match door {
        Door::Sasl => cx.reply(RPL_SASLSUCCESS, &["SASL authentication successful"]),
        Door::NickServ => nickserv_notice(cx, &format!("You are now identified as {name}")),
        _ => {}
    }
    log::info!("conn={me} account={name} logged in ({})", door.as_str());
    super::oper::on_login(cx, &name);
    cx.store.send(Request::Seen {
        account: fold(&name),
        time: chrono::Utc::now().timestamp(),
    });
    // Channels joined before logging in are remembered from now on.
    let id = cx.state.account_id(&name);
    for folded in cx.user().channels.clone() {
        if let (Some(chan), Some(account)) = (cx.state.channels.get(&folded), id) {
            cx.store.send(Request::Join {
                account,
                channel: chan.name.clone(),
                incarnation: chan.incarnation,
                last_id: cx.state.last_msg_id,
            });
        }
    }
    if cx.user().registered {
        let mut out = Outgoing::new(cx.relay_from(me, "ACCOUNT", vec![name]));
        cx.send_to_peers(me, &mut out, false, Some(Cap::AccountNotify));
        after_login(cx);
    }
}

/// Standard base64 (RFC 4648, with padding), as SASL uses.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}
