//! Accounts: one login path behind every door — `REGISTER` (IRCv3
//! draft/account-registration), SASL PLAIN (`AUTHENTICATE`), `PASS account:password`,
//! `LOGIN`/`LOGOUT`, and `NickServ` (`IDENTIFY`, `REGISTER`) — plus what follows a
//! login: account-notify, the offline queue, remembered channels with what was missed,
//! and nick ownership.
//!
//! Password work happens off the loop: a handler sends a [`Request`] and returns; the
//! matching `on_*` function runs when the [`Completion`] arrives.

use super::{channel, err, history, CmdError, Cx};
use crate::outgoing::Outgoing;
use crate::state::names::is_valid_nick;
use crate::state::Cap;
use crate::store::{Account, Membership, RegisterError, Request, StoredMessage, Ticket};
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};
use std::time::Duration;

/// The services nick that answers `IDENTIFY` and `REGISTER` for auto-identifying
/// clients.
pub const NICKSERV: &str = "NickServ";
const NICKSERV_SOURCE: &str = "NickServ!NickServ@services";
/// Longest SASL payload (base64) accepted.
const SASL_MAX: usize = 4096;

/// How a login arrived: decides the replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    Sasl,
    Pass,
    Login,
    NickServ,
    Register,
    NickServRegister,
}

impl Door {
    fn as_str(self) -> &'static str {
        match self {
            Door::Sasl => "sasl",
            Door::Pass => "pass",
            Door::Login => "login",
            Door::NickServ => "nickserv",
            Door::Register => "register",
            Door::NickServRegister => "nickserv-register",
        }
    }

    fn parse(s: &str) -> Door {
        match s.split(' ').next().unwrap_or("") {
            "sasl" => Door::Sasl,
            "pass" => Door::Pass,
            "nickserv" => Door::NickServ,
            "register" => Door::Register,
            "nickserv-register" => Door::NickServRegister,
            _ => Door::Login,
        }
    }
}

fn ticket(cx: &Cx, door: Door) -> Ticket {
    Ticket {
        conn: cx.my_id(),
        what: door.as_str().to_string(),
    }
}

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

/// `PRIVMSG NickServ :<command>` — `IDENTIFY [account] <password>`,
/// `REGISTER <password> [email]`, `LOGOUT`, `HELP`.
pub fn nickserv(cx: &mut Cx, text: &str) {
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or("").to_ascii_uppercase();
    let args: Vec<&str> = words.collect();
    match (command.as_str(), args.as_slice()) {
        ("IDENTIFY" | "ID" | "LOGIN", [password]) => {
            let nick = cx.user().nick.clone();
            begin_login(cx, Door::NickServ, &nick, password);
        }
        ("IDENTIFY" | "ID" | "LOGIN", [account, password]) => {
            begin_login(cx, Door::NickServ, account, password);
        }
        ("REGISTER", [password]) => start_register(cx, Door::NickServRegister, "*", "*", password),
        ("REGISTER", [password, email]) => {
            start_register(cx, Door::NickServRegister, "*", email, password)
        }
        ("LOGOUT", []) => {
            let _ = logout(cx, &Message::new("LOGOUT", Vec::<String>::new()));
        }
        ("HELP", _) | ("", _) => {
            for line in [
                "NickServ keeps your nick yours. Commands:",
                "REGISTER <password> [email]  - register your current nick as an account",
                "IDENTIFY [account] <password> - log in",
                "LOGOUT                        - log out",
                "The same without NickServ: REGISTER * * <password>, LOGIN <account> <password>.",
            ] {
                nickserv_notice(cx, line);
            }
        }
        _ => nickserv_notice(
            cx,
            &format!("Unknown command or wrong arguments: {command}. Try HELP."),
        ),
    }
}

fn nickserv_notice(cx: &mut Cx, text: &str) {
    let nick = cx.user().nick.clone();
    cx.send_me(&Message::new("NOTICE", [nick.as_str(), text]).with_source(NICKSERV_SOURCE));
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

fn start_register(cx: &mut Cx, door: Door, account: &str, email: &str, password: &str) {
    let fail_with = |cx: &mut Cx, code: &str, ctx: &str, text: &str| match door {
        Door::NickServRegister => nickserv_notice(cx, text),
        _ => fail(cx, "REGISTER", code, ctx, text),
    };
    let nick = cx.user().nick.clone();
    let name = if account == "*" {
        nick.as_str()
    } else {
        account
    };
    if name == "*" || name.is_empty() {
        return fail_with(
            cx,
            "NEED_NICK",
            "*",
            "Choose a nick (NICK) before registering",
        );
    }
    if password.is_empty() {
        return fail_with(
            cx,
            "NEED_MORE_PARAMS",
            name,
            "Usage: REGISTER <account|*> <email|*> <password>",
        );
    }
    if cx.user().account.is_some() {
        return fail_with(
            cx,
            "ALREADY_AUTHENTICATED",
            name,
            "You are already logged in",
        );
    }
    if cx.user().login_pending {
        return fail_with(
            cx,
            "TEMPORARILY_UNAVAILABLE",
            name,
            "A login or registration is already under way",
        );
    }
    if !is_valid_nick(name, cx.config.limits.nick_len) || fold(name) == fold(NICKSERV) {
        return fail_with(
            cx,
            "BAD_ACCOUNT_NAME",
            name,
            "Account names follow the rules of nicks",
        );
    }
    let folded = fold(name);
    if cx.state.accounts.contains_key(&folded) || cx.state.registering.contains(&folded) {
        return fail_with(
            cx,
            "ACCOUNT_EXISTS",
            name,
            &format!("The account {name} is already registered"),
        );
    }
    // Someone else online under that nick who is not us: their nick, not ours to take.
    if cx.state.slot_of_nick(name).is_some_and(|s| s != cx.me) {
        return fail_with(
            cx,
            "ACCOUNT_EXISTS",
            name,
            &format!("{name} is in use by someone else right now"),
        );
    }
    let min = cx.config.accounts.min_password_len;
    if password.chars().count() < min {
        return fail_with(
            cx,
            "WEAK_PASSWORD",
            name,
            &format!("Passwords need at least {min} characters"),
        );
    }
    let email = match email {
        "*" | "" => None,
        e if e.contains('@') && !e.starts_with('@') && !e.ends_with('@') => Some(e.to_string()),
        _ => return fail_with(cx, "INVALID_EMAIL", name, "That is not an email address"),
    };
    let (key, ip) = cx
        .conns
        .get(cx.me)
        .map(|c| (c.ip_key.clone(), c.peer.ip()))
        .unwrap_or((Box::default(), std::net::Ipv4Addr::UNSPECIFIED.into()));
    let per_hour = cx.config.limits.registrations_per_ip_per_hour;
    if !crate::admission::is_exempt(&cx.config.limits, ip)
        && !crate::state::within_rate(
            &mut cx.state.registrations,
            &key,
            per_hour,
            Duration::from_secs(3600),
            cx.now,
        )
    {
        return fail_with(
            cx,
            "TEMPORARILY_UNAVAILABLE",
            name,
            &format!("Your address registered {per_hour} accounts this hour; try again later"),
        );
    }
    cx.state.registering.insert(folded);
    cx.user_mut().login_pending = true;
    let mut ticket = ticket(cx, door);
    ticket.what = format!("{} {name}", door.as_str());
    ask_hasher(
        cx,
        Request::Register {
            ticket,
            name: name.to_string(),
            email,
            password: password.to_string(),
        },
    );
}

/// The registration's outcome. Runs whether or not the connection is still there.
pub fn on_registered(cx: &mut Cx, ticket: &Ticket, result: Result<Account, RegisterError>) {
    let door = Door::parse(&ticket.what);
    let asked = ticket.what.split_once(' ').map_or("", |(_, n)| n);
    cx.state.registering.remove(&fold(asked));
    let name = match &result {
        Ok(a) => a.name.clone(),
        Err(_) => asked.to_string(),
    };
    if let Ok(account) = &result {
        cx.state
            .accounts
            .insert(fold(&account.name), account.clone());
        log::info!("account={} registered", account.name);
    }
    if !cx.alive(ticket.conn) {
        return;
    }
    cx.user_mut().login_pending = false;
    match result {
        Ok(_) => {
            if door == Door::NickServRegister {
                nickserv_notice(cx, &format!("Account {name} registered"));
            } else {
                let server = cx.server_name().to_string();
                let text = format!("Account {name} registered; you are logged in");
                cx.send_me(
                    &Message::new("REGISTER", ["SUCCESS", name.as_str(), text.as_str()])
                        .with_source(server),
                );
            }
            complete_login(cx, &name, door);
        }
        Err(e) => {
            let (code, text) = match e {
                RegisterError::Exists => ("ACCOUNT_EXISTS", "That account is already registered"),
                RegisterError::Unavailable(why) => {
                    log::error!("registration failed: {why}");
                    (
                        "TEMPORARILY_UNAVAILABLE",
                        "Registration is not possible right now; try again later",
                    )
                }
            };
            if door == Door::NickServRegister {
                nickserv_notice(cx, text);
            } else {
                fail(cx, "REGISTER", code, &name, text);
            }
        }
    }
    super::registration::try_register(cx);
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
    let ticket = ticket(cx, door);
    ask_hasher(
        cx,
        Request::Verify {
            ticket,
            account: name,
            password: password.to_string(),
            hash,
        },
    );
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
pub(super) fn ask_hasher(cx: &mut Cx, request: Request) {
    let key = my_ip_key(cx);
    let id = cx.my_id();
    if let Some(conn) = cx.conns.get_mut(cx.me) {
        conn.awaiting += 1;
    }
    if let Some(now) = cx.state.hashing.submit(&key, id, request) {
        if !cx.store.send(now) {
            let _ = cx.state.hashing.finished(id);
        }
    }
}

/// The password check's outcome.
pub fn on_verified(cx: &mut Cx, ticket: &Ticket, account: &str, ok: bool) {
    if !cx.alive(ticket.conn) {
        return;
    }
    let door = Door::parse(&ticket.what);
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
    if cx.conns.get(cx.me).is_some_and(|c| c.closing.is_none()) {
        super::registration::try_register(cx);
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
            cx.conns.close(cx.me, "Bad password");
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

/// Once logged in and registered: ask the store for the offline queue and the
/// remembered channels.
pub fn after_login(cx: &mut Cx) {
    let Some(account) = cx.user().account.clone() else {
        return;
    };
    let folded = fold(&account);
    let Some(id) = cx.state.account_id(&account) else {
        return;
    };
    if cx.state.replaying.insert(folded.clone()) {
        cx.user_mut().replaying = true;
        if let Some(conn) = cx.conns.get_mut(cx.me) {
            // Until the queue arrives, the replay is not over however empty it is.
            conn.queue_fetching = true;
        }
        let mut ticket = ticket(cx, Door::Login);
        ticket.what = folded.clone();
        cx.ask(Request::FetchQueue {
            ticket,
            account: id,
        });
    }
    let ticket = ticket(cx, Door::Login);
    cx.ask(Request::FetchMemberships {
        ticket,
        account: id,
    });
}

/// The offline queue arrived: deliver it, oldest first, each row deleted once its
/// line is written. A page fills at most half the SendQ (at least one row); the
/// rows beyond it stay in the store and are fetched once this page is written
/// ([`finish_replay_if_done`]), so a long queue is paced by the client's reading
/// and never trips the SendQ. `ticket.what` is the account, then the rows earlier
/// pages delivered.
pub fn on_queue(cx: &mut Cx, ticket: &Ticket, rows: Vec<(i64, StoredMessage)>) {
    let (account, before) = match ticket.what.split_once(' ') {
        Some((a, n)) => (a, n.parse::<usize>().unwrap_or(0)),
        None => (ticket.what.as_str(), 0),
    };
    if !cx.alive(ticket.conn) || cx.user().account.as_deref().map(fold).as_deref() != Some(account)
    {
        cx.state.replaying.remove(account);
        if cx.alive(ticket.conn) {
            cx.user_mut().replaying = false;
        }
        return;
    }
    let me = cx.me;
    if let Some(conn) = cx.conns.get_mut(me) {
        conn.queue_fetching = false;
    }
    let nick = cx.user().nick.clone();
    let caps = cx.user().caps;
    let mut room = cx.conns.replay_room(me);
    let mut sent = 0;
    let mut more = false;
    for (row, msg) in rows {
        let bytes = history::replay_bytes(&msg, Some(&nick), caps, None);
        if sent > 0 && bytes.len() > room {
            more = true;
            break;
        }
        room = room.saturating_sub(bytes.len());
        cx.conns.send_replay(me, bytes, Some(row));
        sent += 1;
    }
    if more {
        if let Some(conn) = cx.conns.get_mut(me) {
            conn.set_queue_more();
        }
        log::debug!("conn={me} account={account} offline queue: page of {sent} rows");
    }
    let count = before + sent;
    if !more && count > 0 {
        let text = if count == 1 {
            "1 message was delivered while you were away".to_string()
        } else {
            format!("{count} messages were delivered while you were away")
        };
        let notice =
            Message::new("NOTICE", [nick.as_str(), text.as_str()]).with_source(cx.server_name());
        cx.conns.send_replay(me, notice.to_line().into(), None);
        log::info!("conn={me} account={account} offline queue: {count} delivered");
    }
    if let Some(conn) = cx.conns.get_mut(me) {
        conn.queue_delivered = count;
    }
    finish_replay_if_done(cx, me);
}

/// Once the replayed lines are all written: fetches the offline queue's next page
/// if there is one, else releases the account's replay.
pub fn finish_replay_if_done(cx: &mut Cx, slot: usize) {
    let Some(conn) = cx.conns.get_mut(slot) else {
        return;
    };
    if !conn.user.replaying
        || conn.queue_fetching
        || conn.closing.is_some()
        || !conn.replay_written()
    {
        return;
    }
    let account = conn.user.account.as_deref().map(fold);
    let more = conn.take_queue_more();
    if more {
        let id = account.as_deref().and_then(|a| cx.state.account_id(a));
        if let (Some(account), Some(id)) = (account, id) {
            let Some(conn) = cx.conns.get_mut(slot) else {
                return;
            };
            // The rows just written were handed to the store for deletion before
            // this request, and the store runs requests in order.
            let ticket = Ticket {
                conn: conn.id,
                what: format!("{account} {}", conn.queue_delivered),
            };
            conn.queue_fetching = true;
            debug_assert_eq!(cx.me, slot, "called for the connection in cx.me");
            cx.ask(Request::FetchQueue {
                ticket,
                account: id,
            });
            return;
        }
    }
    conn_release_replay(cx, slot);
}

fn conn_release_replay(cx: &mut Cx, slot: usize) {
    let Some(conn) = cx.conns.get_mut(slot) else {
        return;
    };
    conn.user.replaying = false;
    if let Some(account) = conn.user.account.as_deref() {
        let folded = fold(account);
        cx.state.replaying.remove(&folded);
    }
}

/// Remembered channels arrived: rejoin each, then replay what was missed there.
///
/// What was missed is what was said in the incarnation the account is a member of,
/// after it left. If that channel has since emptied (or the server restarted), the
/// name now belongs to a new channel, joined like any other (`+i`, `+k`, `+b` apply):
/// if it refuses the account, the membership of the channel that no longer exists is
/// forgotten; if it lets the account in, its history (which any member may read) is
/// replayed after the old channel's missed messages.
pub fn on_memberships(cx: &mut Cx, ticket: &Ticket, channels: Vec<Membership>) {
    if !cx.alive(ticket.conn) || cx.user().account.is_none() {
        return;
    }
    for m in channels {
        let folded = fold(&m.channel);
        let live = cx.state.channels.get(&folded).map(|c| c.incarnation);
        let newer = live.filter(|inc| *inc != m.incarnation);
        let mut missed = m.missed;
        if live != Some(m.incarnation) {
            // The account's channel is gone, and its bans with it: one set after the
            // account left, and matching it, would have kept it out; nothing said
            // after that ban is its to read.
            let source = cx.user().source();
            let banned_at = m
                .bans
                .iter()
                .filter(|(mask, _)| chatd_proto::mask::glob_match(mask, &source))
                .map(|(_, at)| *at)
                .min();
            if let Some(at) = banned_at {
                missed.retain(|msg| msg.id <= at);
            }
        }
        channel::rejoin(cx, &m.channel, m.incarnation);
        if !cx.user().in_channel(&folded) {
            let current = cx.state.channels.get(&folded).map(|c| c.incarnation);
            let account = cx
                .user()
                .account
                .as_deref()
                .and_then(|a| cx.state.account_id(a));
            if let (Some(current), Some(account)) = (current, account) {
                if current != m.incarnation {
                    cx.store.send(Request::Part {
                        account,
                        channel: folded,
                    });
                }
            }
            continue;
        }
        let shown = cx
            .state
            .channels
            .get(&folded)
            .map(|c| c.name.clone())
            .unwrap_or(m.channel);
        // What was missed counts against the SendQ like any line: replay the newest
        // that fit in half of it and say what was left out, rather than cut the
        // client off at every login.
        let caps = cx.user().caps;
        let mut room = cx.conns.replay_room(cx.me);
        let mut keep = 0;
        for msg in missed.iter().rev() {
            let len = history::replay_bytes(msg, None, caps, Some("0000000000000000")).len();
            if len > room {
                break;
            }
            room -= len;
            keep += 1;
        }
        let skipped = missed.len() - keep;
        if skipped > 0 {
            // HISTORY reads the channel as it is now: an earlier channel of that
            // name is not readable any more.
            let rest = if newer.is_none() {
                format!("; HISTORY {shown} shows them")
            } else {
                String::new()
            };
            cx.notice(&format!(
                "{skipped} older missed messages in {shown} were not replayed{rest}"
            ));
        }
        if keep > 0 {
            history::send_replay_batch(cx, &shown, &missed[skipped..]);
        }
        if let Some(incarnation) = newer {
            history::ask_missed(cx, &shown, incarnation);
        }
    }
}

/// Drops `slot` from the account's sessions; the last one out records where it
/// stopped reading its channels.
pub fn end_session(cx: &mut Cx, slot: usize, account: &str) {
    let folded = fold(account);
    let mut last = false;
    if let Some(slots) = cx.state.sessions.get_mut(&folded) {
        slots.retain(|s| *s != slot);
        if slots.is_empty() {
            cx.state.sessions.remove(&folded);
            last = true;
        }
    }
    if let Some(conn) = cx.conns.get_mut(slot) {
        if conn.user.replaying {
            conn.user.replaying = false;
            cx.state.replaying.remove(&folded);
        }
    }
    if last {
        let channels = cx
            .user_of(slot)
            .map(|u| u.channels.clone())
            .unwrap_or_default();
        if let (false, Some(id)) = (channels.is_empty(), cx.state.account_id(&folded)) {
            cx.store.send(Request::Left {
                account: id,
                channels,
                last_id: cx.state.last_msg_id,
            });
        }
        cx.store.send(Request::Seen {
            account: folded,
            time: chrono::Utc::now().timestamp(),
        });
    }
}

/// Most registered nicks one connection may take without logging in, each for its
/// one grace period; past that it may take none.
const MAX_NICK_GRACES: usize = 8;

/// NICK to `new` by a registered connection: a registered account's nick it is not
/// logged in to is lent for one grace period per connection. Once that period is
/// over (the connection was renamed), taking it again needs a login: 433.
pub fn may_take_nick(cx: &Cx, new: &str) -> Result<(), CmdError> {
    let user = cx.user();
    if !user.registered || !not_logged_in_to(cx, user, new) {
        return Ok(());
    }
    let folded = fold(new);
    let text = match user.nick_graces.iter().find(|(n, _)| **n == *folded) {
        Some((_, end)) if *end > cx.now => return Ok(()),
        Some(_) => format!(
            "{new} belongs to a registered account and your grace period is over: \
             log in first (LOGIN {new} <password>)"
        ),
        None if user.nick_graces.len() >= MAX_NICK_GRACES => format!(
            "{new} belongs to a registered account and you took too many of those: \
             log in first (LOGIN {new} <password>)"
        ),
        None => return Ok(()),
    };
    Err(err(ERR_NICKNAMEINUSE, [new.to_string(), text]))
}

/// After registration, a nick change or a logout: someone holding a registered
/// account's nick without being logged in to it gets a warning and, after the grace
/// period, a new nick. The grace period is one per nick and connection: taking the
/// nick again while it runs does not extend it.
pub fn check_nick(cx: &mut Cx) {
    let user = cx.user();
    if !user.registered || !holds_others_nick(cx, cx.me) {
        return;
    }
    let nick = user.nick.clone();
    let folded: Box<str> = fold(&nick).into();
    let now = cx.now;
    let id = cx.my_id();
    let end = match user.nick_graces.iter().find(|(n, _)| *n == folded) {
        Some((_, end)) => *end,
        None if user.nick_graces.len() >= MAX_NICK_GRACES => now,
        None => {
            let end = now + cx.config.nick_grace();
            cx.user_mut().nick_graces.push((folded, end));
            cx.state.check_nick_at(end, id);
            end
        }
    };
    if end <= now {
        cx.state.check_nick_at(now, id);
        return;
    }
    let left = end.saturating_duration_since(now).as_secs().max(1);
    nickserv_notice(
        cx,
        &format!(
            "{nick} is a registered account. Log in within {left} seconds \
             (/msg NickServ IDENTIFY <password>, or LOGIN {nick} <password>) \
             or your nick will be changed."
        ),
    );
}

/// Whether the connection in `slot` holds a registered account's nick without being
/// logged in to that account. Messages for that nick then go to the account.
pub fn holds_others_nick(cx: &Cx, slot: usize) -> bool {
    cx.user_of(slot)
        .is_some_and(|user| not_logged_in_to(cx, user, &user.nick))
}

/// Whether `nick` is a registered account that `user` is not logged in to.
fn not_logged_in_to(cx: &Cx, user: &crate::state::User, nick: &str) -> bool {
    let folded = fold(nick);
    cx.state.accounts.contains_key(&folded)
        && user.account.as_deref().map(fold).as_deref() != Some(folded.as_str())
}

/// A nick check came due: rename the sender if it still holds someone's nick and
/// that nick's grace period is over.
pub fn enforce_nick(cx: &mut Cx) {
    if !cx.user().registered || !holds_others_nick(cx, cx.me) {
        return;
    }
    let old = cx.user().nick.clone();
    let folded = fold(&old);
    let grace_end = cx
        .user()
        .nick_graces
        .iter()
        .find(|(n, _)| **n == *folded)
        .map(|(_, end)| *end);
    if grace_end.is_some_and(|end| end > cx.now) {
        // An earlier check for another nick: this one's own check is still to come.
        return;
    }
    let taken = |n: &str| cx.state.slot_of_nick(n).is_some() || cx.state.account(n).is_some();
    let guest = crate::state::names::guest_nick(
        &cx.config.accounts.guest_prefix,
        cx.config.limits.nick_len,
        taken,
    );
    let Some(guest) = guest else {
        // Every guest nick tried was in use: the nick cannot stay with someone who
        // did not log in, so the connection goes.
        cx.conns
            .close(cx.me, &format!("{old} belongs to a registered account"));
        return;
    };
    nickserv_notice(
        cx,
        &format!(
            "{old} belongs to a registered account and you did not log in: you are now \
             {guest}. You may take {old} again on this connection only after logging in."
        ),
    );
    super::registration::change_nick(cx, &guest);
    log::info!(
        "conn={} renamed {old} to {guest}: nick is a registered account",
        cx.me
    );
}

/// Standard base64 (RFC 4648, with padding), as SASL uses.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}
