//! Accounts: one login path behind every door — `REGISTER` (IRCv3
//! draft/account-registration), SASL (`AUTHENTICATE`, `account/sasl.rs`: PLAIN and
//! SCRAM-SHA-256), `PASS account:password`,
//! `LOGIN`/`LOGOUT`, and `NickServ` (`IDENTIFY`, `REGISTER`) — plus what follows a
//! login: account-notify, the offline queue, remembered channels with what was missed
//! (`account/replay.rs`), and nick ownership (`account/nick.rs`). REGISTER's checks
//! are in `account/register.rs`, the NickServ commands in `account/nickserv.rs`.
//!
//! Password work happens off the loop: a handler sends a [`Request`] and returns; the
//! matching `on_*` function runs when the [`Completion`] arrives.

use super::{CmdError, Cx};
use crate::followup::{Door, Secret, Then};
use crate::ids::ConnId;
use crate::outgoing::Outgoing;
use crate::state::Cap;
use crate::store::{AccountRows, Request, ScramCreds, Ticket};
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};

mod nick;
mod nickserv;
mod register;
mod replay;
pub(crate) mod sasl;
mod session;

pub use nick::{change_nick, check_nick, enforce_nick, holds_others_nick, may_take_nick};
use nickserv::nickserv_notice;
pub use nickserv::{nickserv, NICKSERV};
pub use register::on_registered;
use register::start_register;
pub use replay::{after_login, end_session, finish_replay_if_done, on_memberships, on_queue};
pub use sasl::{abort_at_registration, authenticate, MECHANISMS as SASL_MECHANISMS};
pub use session::session;

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
    crate::cmd::cluster::account_changed(cx);
    show_host(cx, None);
    // An operator by this account's login is one no more.
    let by_login = cx
        .config
        .oper_of_account(&account)
        .is_some_and(|o| cx.user().oper.as_deref() == Some(o.name.as_str()));
    if by_login {
        cx.user_mut().oper = None;
        crate::cmd::cluster::oper_changed(cx);
        let nick = cx.user().nick.clone();
        let mode = Message::new("MODE", [nick.as_str(), "-o"]).with_source(nick.as_str());
        cx.send_me(&mode);
    }
    let source = cx.user().source();
    cx.reply(RPL_LOGGEDOUT, &[source.as_str(), text]);
    let me = cx.me;
    let mut out = Outgoing::new(cx.relay_from(me, "ACCOUNT", vec!["*".into()]));
    cx.send_to_peers(me, &mut out, false, Some(Cap::AccountNotify));
    super::monitor::notify_watchers(cx, me, &mut out, Cap::AccountNotify);
    log::info!("conn={me} account={account} logged out");
    check_nick(cx);
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

/// Starts a password (or token) check for `account`, after the rate limits; on a
/// cluster node, after reading the account's rows from the database. An unknown
/// account is checked against a dummy hash, so it costs the same work and time as a
/// known one and counts the same.
fn begin_login(cx: &mut Cx, door: Door, account: &str, password: &str) {
    // SASL may log in again (sasl-3.2); `authenticate` decides when.
    if cx.user().account.is_some() && door != Door::Sasl {
        return login_failed(cx, door, "You are already logged in");
    }
    if cx.user().login_pending {
        return login_failed(cx, door, "A login is already under way");
    }
    if !cx.config.cluster.database.is_empty() {
        // Another node may have registered the account, changed its password,
        // made or revoked a token, or deleted it: the database's rows first.
        cx.user_mut().login_pending = true;
        let then = Then::Lookup {
            door,
            account: account.to_string(),
            password: Secret(password.to_string()),
        };
        let name = account.to_string();
        return cx.ask(then, |ticket| Request::FetchAccount { ticket, name });
    }
    check_login(cx, door, account, password);
}

/// The account's rows as the database has them now, for a cluster node's login:
/// kept (or, gone from the database, forgotten), then the password or token check.
pub fn on_account_fetched(
    cx: &mut Cx,
    asker: ConnId,
    (door, account): (Door, &str),
    password: Secret,
    result: Result<Option<Box<AccountRows>>, String>,
) {
    take_fetched_rows(cx.state, account, result);
    if !cx.alive(asker) {
        return;
    }
    cx.user_mut().login_pending = false;
    check_login(cx, door, account, &password.0);
}

/// The rows of `account` a cluster node read from the database at a login: kept,
/// or, gone from the database, forgotten (its sessions here are logged out). Also
/// for the account of another node's user (`FollowUp::Prefetch`).
pub fn take_fetched_rows(
    state: &mut crate::state::State,
    account: &str,
    result: Result<Option<Box<AccountRows>>, String>,
) {
    if result.is_ok() {
        state.fetched_since_refresh.insert(fold(account));
    }
    let held = state.account_id(account);
    let now_id = match &result {
        Ok(rows) => rows.as_ref().map(|r| r.account.id),
        Err(_) => held,
    };
    if held.is_some() && held != now_id && state.sessions.contains_key(&fold(account)) {
        // Deleted (perhaps registered again) on another node.
        state.accounts_gone.push(fold(account));
    }
    match result {
        Ok(Some(rows)) => {
            let AccountRows {
                account: row,
                tokens,
                read_markers,
            } = *rows;
            state.login_tokens.replace_account(row.id, tokens);
            for m in read_markers {
                state.read_markers.advance(m.account, &m.target, m.time_ms);
            }
            state.accounts.insert(fold(&row.name), row);
        }
        Ok(None) => {
            state.accounts.remove(&fold(account));
        }
        // The copy this node has is checked instead.
        Err(why) => log::warn!("store: cannot read an account at a login: {why}"),
    }
}

/// A token login, or a password check after the rate limits.
fn check_login(cx: &mut Cx, door: Door, account: &str, password: &str) {
    if password.starts_with(crate::state::tokens::TOKEN_PREFIX) {
        return session::token_login(cx, door, account, password);
    }
    if let Err(refusal) = start_password_check(cx) {
        return login_failed(cx, door, refusal);
    }
    verify(cx, door, account, password);
}

/// The password check of a login: against the account's hash, or a dummy one.
fn verify(cx: &mut Cx, door: Door, account: &str, password: &str) {
    let iterations = cx.config.accounts.pbkdf2_iterations;
    let (name, hash, id, scram_iterations) = match cx.state.account(account) {
        // An account from before SCRAM gets its credentials made at this login.
        Some(a) => (
            a.name.clone(),
            a.hash.clone(),
            Some(a.id),
            a.scram.is_none().then_some(iterations),
        ),
        None => (
            account.to_string(),
            crate::store::password::dummy(iterations),
            None,
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
        scram_iterations,
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
    let label = then
        .answers_command()
        .then(|| cx.hand_off_label())
        .flatten();
    let ticket = cx.state.followups.open(crate::followup::FollowUp::Client {
        id,
        holds_lines: true,
        then,
        label,
    });
    if let Some(now) = cx.state.hashing.submit(&key, id, request(ticket)) {
        if !cx.store.send(now) {
            let _ = cx.state.hashing.finished(id);
        }
    }
}

/// The password check's outcome, with the SCRAM credentials made for an account that
/// had none: kept whether or not the asker is still connected.
pub fn on_verified(
    cx: &mut Cx,
    asker: ConnId,
    (door, account): (Door, &str),
    ok: bool,
    scram: Option<ScramCreds>,
) {
    if let (true, Some(creds)) = (ok, scram) {
        upgrade_scram(cx, account, creds);
    }
    if !cx.alive(asker) {
        return;
    }
    cx.user_mut().login_pending = false;
    let checked = cx.user_mut().login_account_id.take();
    let ok = ok && checked.is_some() && cx.state.account_id(account) == checked;
    password_check_done(cx, ok);
    if ok && (cx.user().account.is_none() || door == Door::Sasl) {
        login_as(cx, account, door);
    } else if !ok {
        log::info!(
            "conn={} host={} failed login to account={account}",
            cx.me,
            cx.user().host
        );
        login_failed(cx, door, "Invalid account or password");
    }
}

/// Keeps SCRAM credentials made at a login for an account that had none (in memory
/// and in the store), unless the account was deleted or got some meanwhile.
fn upgrade_scram(cx: &mut Cx, account: &str, creds: ScramCreds) {
    let Some(a) = cx.state.accounts.get_mut(&fold(account)) else {
        return;
    };
    if a.scram.is_some() {
        return;
    }
    a.scram = Some(creds.clone());
    let id = a.id;
    log::info!("account={} SCRAM-SHA-256 credentials made", a.name);
    cx.store.send(Request::SetScram { account: id, creds });
}

/// Logs in to `account` after a successful check: a first login, or through SASL
/// again (sasl-3.2), to the same account (confirmed) or another one (the old session
/// ends and the new one begins, with account-notify).
fn login_as(cx: &mut Cx, account: &str, door: Door) {
    match cx.user().account.clone() {
        None => complete_login(cx, account, door),
        Some(old) if fold(&old) == fold(account) => {
            let source = cx.user().source();
            let text = format!("You are now logged in as {old}");
            cx.reply(
                RPL_LOGGEDIN,
                &[source.as_str(), old.as_str(), text.as_str()],
            );
            if door == Door::Sasl {
                cx.reply(RPL_SASLSUCCESS, &["SASL authentication successful"]);
            }
        }
        Some(old) => {
            let me = cx.me;
            end_session(cx, me, &old);
            cx.user_mut().account = None;
            log::info!("conn={me} account={old} left for account={account}");
            complete_login(cx, account, door);
            check_nick(cx);
        }
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
    crate::cmd::cluster::account_changed(cx);
    show_host(cx, Some(&name));
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
        super::monitor::notify_watchers(cx, me, &mut out, Cap::AccountNotify);
        after_login(cx);
    }
}

/// Shows the sender with its account host (`accounts.account_host`, for `account`)
/// or, with `None`, with its address again. After registration the change goes
/// out as `CHGHOST` to the sender and to its peers and watchers that negotiated
/// chghost (https://ircv3.net/specs/extensions/chghost); before it, 001 shows it.
pub fn show_host(cx: &mut Cx, account: Option<&str>) {
    let template = &cx.config.accounts.account_host;
    let user = cx.user();
    let new_host = match account {
        Some(name) if !template.is_empty() => template.replace("{account}", &fold(name)),
        Some(_) => return,
        None => match &user.address {
            Some(address) => address.to_string(),
            None => return,
        },
    };
    if new_host == user.host {
        return;
    }
    let me = cx.me;
    let chghost = cx.relay_from(me, "CHGHOST", vec![user.user.to_string(), new_host.clone()]);
    let u = cx.user_mut();
    if account.is_some() && u.address.is_none() {
        u.address = Some(std::mem::take(&mut u.host).into());
    } else if account.is_none() {
        u.address = None;
    }
    u.host = new_host;
    if cx.user().registered {
        let mut out = Outgoing::new(chghost);
        cx.send_identity_change(me, &mut out, true, Cap::Chghost);
    }
}
