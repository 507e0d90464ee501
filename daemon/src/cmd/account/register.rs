//! Account registration: `REGISTER` (IRCv3 draft/account-registration) and
//! `NickServ REGISTER`: the checks before the hasher runs, and its outcome.

use super::{ask_hasher, complete_login, fail, nickserv_notice, Door, NICKSERV};
use crate::cmd::Cx;
use crate::followup::Then;
use crate::ids::ConnId;
use crate::state::names::is_valid_nick;
use crate::store::{Account, RegisterError, Request};
use chatd_proto::{fold, Message};
use std::time::Duration;

pub(super) fn start_register(cx: &mut Cx, door: Door, account: &str, email: &str, password: &str) {
    let fail_with = |cx: &mut Cx, code: &str, ctx: &str, text: &str| match door {
        Door::NickServRegister => nickserv_notice(cx, text),
        _ => fail(cx, "REGISTER", code, ctx, text),
    };
    if door == Door::Register && !cx.user().registered && !cx.config.register_before_connect() {
        // draft/account-registration: no `before-connect` key, so REGISTER waits for
        // the welcome. The reply has no account parameter.
        return fail(
            cx,
            "REGISTER",
            "COMPLETE_CONNECTION_REQUIRED",
            "",
            "Complete connection registration before registering an account",
        );
    }
    let nick = cx.user().nick.clone();
    let name = if account == "*" {
        nick.as_str()
    } else {
        account
    };
    // draft/account-registration: NEED_NICK before a NICK, and never ACCOUNT_EXISTS
    // before one, even for a name given outright.
    if !cx.user().has_nick() || name == "*" || name.is_empty() {
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
        return fail_with(cx, "ALREADY_REGISTERED", name, "You are already logged in");
    }
    if cx.user().login_pending {
        return fail_with(
            cx,
            "TEMPORARILY_UNAVAILABLE",
            name,
            "A login or registration is already under way",
        );
    }
    if !is_valid_nick(name, cx.config.limits.nick_len)
        || fold(name) == fold(NICKSERV)
        || fold(name) == fold(crate::cmd::chanserv::CHANSERV)
    {
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
    let then = Then::Register {
        door,
        name: name.to_string(),
    };
    ask_hasher(cx, then, |ticket| Request::Register {
        ticket,
        name: name.to_string(),
        email,
        password: password.to_string(),
    });
}

/// The registration's outcome. Runs whether or not the connection is still there.
pub fn on_registered(
    cx: &mut Cx,
    asker: ConnId,
    (door, asked): (Door, &str),
    result: Result<Account, RegisterError>,
) {
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
    if !cx.alive(asker) {
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
                RegisterError::Exists => {
                    // Registered on another node, perhaps: this one learns it.
                    cx.state.refresh_wanted = true;
                    ("ACCOUNT_EXISTS", "That account is already registered")
                }
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
}
