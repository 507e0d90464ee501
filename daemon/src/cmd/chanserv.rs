//! Registered channels and their access lists: `PRIVMSG ChanServ :<command>` (as
//! existing clients and users expect, answered in NOTICE) and the plain
//! `CHANNEL <command> ...` (errors as `FAIL CHANNEL <code>`), both running the same
//! commands: REGISTER, DROP, INFO, ACCESS, TRANSFER, SET HISTORY, HELP. The records
//! themselves are `state::registered`; who may do what is `docs/roles.md`.

mod lookup;

use super::{CmdError, Cx};
use crate::config::Privilege;
use crate::outgoing::Outgoing;
use crate::state::channel::rank;
use crate::state::registered::{member_for, rank_of, rank_of_role, role_of, snapshot};
use crate::store::{AccessRole, AccountId, ChannelRecord, HistoryScope, Request};
use chatd_proto::{fold, fold_eq, Message};
pub use lookup::on_account_fetched;

/// The services nick that answers channel registration.
pub const CHANSERV: &str = "ChanServ";
const CHANSERV_SOURCE: &str = "ChanServ!ChanServ@services";

/// Most channels one account may found.
pub const MAX_FOUNDED: usize = 20;
/// Most entries on one channel's access list.
pub const MAX_ACCESS: usize = 100;

const HELP: &[&str] = &[
    "ChanServ keeps a channel's settings and roles across empty periods and restarts.",
    "REGISTER <#channel>                 - register a channel you operate (you become founder ~)",
    "DROP <#channel>                     - unregister it (founder)",
    "INFO <#channel>                     - founder, registration time, history setting",
    "ACCESS <#channel> LIST              - the access list (moderators and up)",
    "ACCESS <#channel> ADD <account> <op|moderator|voice> - give a role below your own",
    "ACCESS <#channel> DEL <account>     - take a role below your own (or your own)",
    "TRANSFER <#channel> <account>       - make another account founder (founder)",
    "SET <#channel> HISTORY <members|since-join> - who reads history from before they joined",
    "The same without ChanServ: CHANNEL REGISTER <#channel>, CHANNEL ACCESS ..., and so on.",
    "Roles: founder ~ (+q), operator @ (+o), moderator % (+h), voice + (+v). See docs/roles.md.",
];

/// Where the answers go: NOTICEs from ChanServ, or the `CHANNEL` command's own
/// NOTICEs and `FAIL`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    ChanServ,
    Command,
}

/// A refusal: a `FAIL` code for the command door, and the text.
struct Refusal {
    code: &'static str,
    text: String,
}

fn refuse(code: &'static str, text: impl Into<String>) -> Refusal {
    Refusal {
        code,
        text: text.into(),
    }
}

/// `PRIVMSG ChanServ :<command> [args]`.
pub fn chanserv(cx: &mut Cx, text: &str) {
    let words: Vec<&str> = text.split_whitespace().collect();
    run(cx, Door::ChanServ, &words);
}

/// `CHANNEL <command> [args]`: ChanServ's commands as a command of their own.
pub fn channel(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let words: Vec<&str> = msg
        .params
        .iter()
        .flat_map(|p| p.split_whitespace())
        .collect();
    run(cx, Door::Command, &words);
    Ok(())
}

fn run(cx: &mut Cx, door: Door, words: &[&str]) {
    if lookup::account_first(cx, door, words) {
        return;
    }
    run_now(cx, door, words);
}

fn run_now(cx: &mut Cx, door: Door, words: &[&str]) {
    let command = words
        .first()
        .map(|c| c.to_ascii_uppercase())
        .unwrap_or_default();
    let args = words.get(1..).unwrap_or(&[]);
    let context = args.first().copied().unwrap_or("*").to_string();
    let result = match (command.as_str(), args) {
        ("REGISTER", [chan]) => register(cx, chan),
        ("DROP", [chan]) => drop_channel(cx, chan),
        ("INFO", [chan]) => info(cx, chan),
        ("ACCESS", [chan, sub, rest @ ..]) => access(cx, chan, sub, rest),
        ("TRANSFER", [chan, account]) => transfer(cx, chan, account),
        ("SET", [chan, what, value]) if what.eq_ignore_ascii_case("HISTORY") => {
            set_history(cx, chan, value)
        }
        ("HELP", _) | ("", _) => Ok(HELP.iter().map(|l| l.to_string()).collect()),
        _ => Err(refuse(
            "INVALID_PARAMS",
            format!("Unknown command or wrong arguments: {command}. Try HELP."),
        )),
    };
    match result {
        Ok(lines) => {
            for line in lines {
                say(cx, door, &line);
            }
        }
        Err(r) => match door {
            Door::ChanServ => say(cx, door, &r.text),
            Door::Command => {
                let server = cx.server_name().to_string();
                let fail = Message::new(
                    "FAIL",
                    ["CHANNEL", r.code, context.as_str(), r.text.as_str()],
                )
                .with_source(server);
                cx.send_me(&fail);
            }
        },
    }
}

fn say(cx: &mut Cx, door: Door, text: &str) {
    let nick = cx.user().nick.clone();
    let source = match door {
        Door::ChanServ => CHANSERV_SOURCE.to_string(),
        Door::Command => cx.server_name().to_string(),
    };
    cx.send_me(&Message::new("NOTICE", [nick.as_str(), text]).with_source(source));
}

type Said = Result<Vec<String>, Refusal>;

/// The sender's account and its id, or a refusal: ChanServ works by account.
fn my_account(cx: &Cx) -> Result<(String, AccountId), Refusal> {
    let name = cx.user().account.clone();
    match name.and_then(|n| cx.state.account_id(&n).map(|id| (n, id))) {
        Some(pair) => Ok(pair),
        None => Err(refuse(
            "ACCOUNT_REQUIRED",
            "You must be logged in to an account (LOGIN or /msg NickServ IDENTIFY)",
        )),
    }
}

fn record<'a>(cx: &'a Cx, chan: &str) -> Result<&'a ChannelRecord, Refusal> {
    cx.state
        .registered
        .get(&fold(chan))
        .ok_or_else(|| refuse("NOT_REGISTERED", format!("{chan} is not registered")))
}

/// The sender's rank on a registered channel: its role there, or above a founder
/// for an operator whose class has the `channels` privilege.
fn my_rank(cx: &Cx, rec: &ChannelRecord) -> u8 {
    if super::oper::can(cx, Privilege::Channels) {
        return rank::OPER;
    }
    let id = cx
        .user()
        .account
        .as_deref()
        .and_then(|a| cx.state.account_id(a));
    rank_of(rec, id)
}

fn account_name(cx: &Cx, id: AccountId) -> String {
    cx.state
        .accounts
        .values()
        .find(|a| a.id == id)
        .map_or_else(|| format!("(deleted account {id})"), |a| a.name.clone())
}

fn moderation(cx: &Cx, what: &str) {
    let who = cx.user().account.clone().unwrap_or_default();
    log::info!(target: "chatd::moderation", "moderation: {} ({who}) {what}", cx.user().nick);
}

/// `REGISTER <#channel>`: a logged-in operator of the channel becomes its founder.
fn register(cx: &mut Cx, chan: &str) -> Said {
    let (account, id) = my_account(cx)?;
    let folded = fold(chan);
    let Some(live) = cx.state.channels.get(&folded) else {
        return Err(refuse(
            "NO_SUCH_CHANNEL",
            format!("{chan} does not exist: join it first"),
        ));
    };
    if cx.state.registered.contains_key(&folded) {
        return Err(refuse(
            "ALREADY_REGISTERED",
            format!("{} is already registered", live.name),
        ));
    }
    if !live.is_op(cx.me) {
        return Err(refuse(
            "NEED_OPERATOR",
            format!("You must be an operator of {} to register it", live.name),
        ));
    }
    let founded = cx
        .state
        .registered
        .values()
        .filter(|r| r.founder == id)
        .count();
    if founded >= MAX_FOUNDED {
        return Err(refuse(
            "TOO_MANY_CHANNELS",
            format!("{account} already founded {MAX_FOUNDED} channels"),
        ));
    }
    let now = chrono::Utc::now().timestamp();
    let base = ChannelRecord {
        name: live.name.clone(),
        founder: id,
        registered: now,
        last_used: now,
        incarnation: live.incarnation,
        history: HistoryScope::default(),
        topic: None,
        modes: String::new(),
        key: None,
        limit: None,
        lists: Vec::new(),
        access: Vec::new(),
    };
    let name = live.name.clone();
    let rec = snapshot(live, &base, now);
    cx.state.registered.insert(folded.clone(), rec);
    persist(cx, &folded);
    sync_roles(cx, &folded, &account);
    moderation(cx, &format!("registered {name}"));
    Ok(vec![format!(
        "{name} is registered to {account}: its topic, modes, lists and roles now last"
    )])
}

/// `DROP <#channel>`: the founder (or an operator with `channels`) unregisters it.
fn drop_channel(cx: &mut Cx, chan: &str) -> Said {
    my_account(cx).or_else(|e| {
        if super::oper::can(cx, Privilege::Channels) {
            Ok((String::new(), 0))
        } else {
            Err(e)
        }
    })?;
    let rec = record(cx, chan)?;
    if my_rank(cx, rec) < rank::FOUNDER {
        return Err(refuse(
            "NEED_FOUNDER",
            format!("Only the founder of {} may drop it", rec.name),
        ));
    }
    let name = rec.name.clone();
    drop_record(cx, &fold(chan));
    moderation(cx, &format!("dropped {name}"));
    Ok(vec![format!("{name} is no longer registered")])
}

/// Forgets a registered channel (DROP, expiry); a live channel goes on as an
/// ordinary one.
pub fn drop_record(cx: &mut Cx, folded: &str) {
    if let Some(rec) = cx.state.registered.remove(folded) {
        cx.store.send(Request::DropChannel { name: rec.name });
    }
}

/// Drops the registered channels nobody has used (no member, no change) for more
/// than `days` days at Unix time `now`; a channel with members is in use.
pub fn expire(state: &mut crate::state::State, store: &crate::store::Store, now: i64, days: u32) {
    let cutoff = now - i64::from(days) * 86_400;
    let stale: Vec<String> = state
        .registered
        .iter()
        .filter(|(folded, r)| r.last_used < cutoff && !state.channels.contains_key(*folded))
        .map(|(folded, _)| folded.clone())
        .collect();
    for folded in stale {
        if let Some(rec) = state.registered.remove(&folded) {
            log::info!(
                target: "chatd::moderation",
                "moderation: {} expired: unused for more than {days} days",
                rec.name
            );
            store.send(Request::DropChannel { name: rec.name });
        }
    }
}

/// `INFO <#channel>`.
fn info(cx: &mut Cx, chan: &str) -> Said {
    let rec = record(cx, chan)?;
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    Ok(vec![
        format!("Information on {}:", rec.name),
        format!("Founder: {}", account_name(cx, rec.founder)),
        format!("Registered: {}", when(rec.registered)),
        format!("Last used: {}", when(rec.last_used)),
        format!("History: {}", rec.history.name()),
        format!("Access entries: {}", rec.access.len()),
    ])
}

/// `ACCESS <#channel> LIST | ADD <account> <role> | DEL <account>`.
fn access(cx: &mut Cx, chan: &str, sub: &str, rest: &[&str]) -> Said {
    let rec = record(cx, chan)?;
    let mine = my_rank(cx, rec);
    let name = rec.name.clone();
    let folded = fold(chan);
    match (sub.to_ascii_uppercase().as_str(), rest) {
        ("LIST", []) => {
            if mine < rank::HALFOP {
                return Err(refuse(
                    "NEED_ROLE",
                    format!("Only moderators and up of {name} may see its access list"),
                ));
            }
            let mut lines = vec![format!("Access list of {name}:")];
            lines.push(format!("founder {}", account_name(cx, rec.founder)));
            for (id, role) in rec.access.clone() {
                lines.push(format!("{} {}", role.name(), account_name(cx, id)));
            }
            lines.push(format!("End of the access list of {name}"));
            Ok(lines)
        }
        ("ADD", [account, role]) => {
            let Some(role) = AccessRole::parse(role) else {
                return Err(refuse(
                    "INVALID_ROLE",
                    format!("No role {role:?}: use op, moderator or voice"),
                ));
            };
            let target = target_account(cx, account)?;
            if target.1 == rec.founder {
                return Err(refuse(
                    "NEED_FOUNDER",
                    format!("{} is the founder of {name}", target.0),
                ));
            }
            let current = role_of(rec, target.1).map_or(rank::MEMBER, rank_of_role);
            if mine <= rank_of_role(role) || mine <= current {
                return Err(refuse(
                    "NEED_ROLE",
                    format!("You may give only roles below your own on {name}"),
                ));
            }
            if role_of(rec, target.1).is_none() && rec.access.len() >= MAX_ACCESS {
                return Err(refuse(
                    "LIST_FULL",
                    format!("The access list of {name} is full ({MAX_ACCESS})"),
                ));
            }
            let rec = cx.state.registered.get_mut(&folded).expect("checked above");
            rec.access.retain(|(id, _)| *id != target.1);
            rec.access.push((target.1, role));
            rec.access.sort();
            persist(cx, &folded);
            sync_roles(cx, &folded, &target.0);
            moderation(
                cx,
                &format!("gave {} the role {} on {name}", target.0, role.name()),
            );
            Ok(vec![format!(
                "{} is now {} on {name}",
                target.0,
                role.name()
            )])
        }
        ("DEL", [account]) => {
            let target = target_account(cx, account)?;
            let Some(role) = role_of(rec, target.1) else {
                return Err(refuse(
                    "NOT_LISTED",
                    format!("{} has no role on {name}", target.0),
                ));
            };
            let own = cx
                .user()
                .account
                .as_deref()
                .is_some_and(|a| fold(a) == fold(&target.0));
            if !own && mine <= rank_of_role(role) {
                return Err(refuse(
                    "NEED_ROLE",
                    format!("You may take only roles below your own on {name}"),
                ));
            }
            let rec = cx.state.registered.get_mut(&folded).expect("checked above");
            rec.access.retain(|(id, _)| *id != target.1);
            persist(cx, &folded);
            sync_roles(cx, &folded, &target.0);
            moderation(cx, &format!("took the role of {} on {name}", target.0));
            Ok(vec![format!("{} has no role on {name} any more", target.0)])
        }
        _ => Err(refuse(
            "INVALID_PARAMS",
            "ACCESS <#channel> LIST | ADD <account> <op|moderator|voice> | DEL <account>",
        )),
    }
}

fn target_account(cx: &Cx, name: &str) -> Result<(String, AccountId), Refusal> {
    cx.state
        .account(name)
        .map(|a| (a.name.clone(), a.id))
        .ok_or_else(|| refuse("NO_SUCH_ACCOUNT", format!("No account {name}")))
}

/// `TRANSFER <#channel> <account>`: the founder hands the channel over; the old
/// founder stays an operator on the access list.
fn transfer(cx: &mut Cx, chan: &str, account: &str) -> Said {
    let rec = record(cx, chan)?;
    if my_rank(cx, rec) < rank::FOUNDER {
        return Err(refuse(
            "NEED_FOUNDER",
            format!("Only the founder of {} may transfer it", rec.name),
        ));
    }
    let (new_name, new_id) = target_account(cx, account)?;
    let name = rec.name.clone();
    let old = rec.founder;
    let old_name = account_name(cx, old);
    let folded = fold(chan);
    let rec = cx.state.registered.get_mut(&folded).expect("checked above");
    rec.founder = new_id;
    rec.access.retain(|(id, _)| *id != new_id && *id != old);
    if old != new_id {
        rec.access.push((old, AccessRole::Op));
        rec.access.sort();
    }
    persist(cx, &folded);
    sync_roles(cx, &folded, &new_name);
    sync_roles(cx, &folded, &old_name);
    moderation(
        cx,
        &format!("transferred {name} from {old_name} to {new_name}"),
    );
    Ok(vec![format!("{new_name} is now the founder of {name}")])
}

/// `SET <#channel> HISTORY members|since-join` (founder).
fn set_history(cx: &mut Cx, chan: &str, value: &str) -> Said {
    let rec = record(cx, chan)?;
    if my_rank(cx, rec) < rank::FOUNDER {
        return Err(refuse(
            "NEED_FOUNDER",
            format!("Only the founder of {} may change its settings", rec.name),
        ));
    }
    let Some(scope) = HistoryScope::parse(value) else {
        return Err(refuse(
            "INVALID_PARAMS",
            "HISTORY is members (any member reads all) or since-join",
        ));
    };
    let folded = fold(chan);
    let rec = cx.state.registered.get_mut(&folded).expect("checked above");
    rec.history = scope;
    let name = rec.name.clone();
    persist(cx, &folded);
    Ok(vec![format!("History of {name} is now {}", scope.name())])
}

/// Writes a registered channel's record (taking the live channel's settings and
/// lists when it has members). Called after every change to a registered channel's
/// topic, modes, lists or access list; a channel that is not registered costs a
/// map lookup.
pub fn persist(cx: &mut Cx, folded: &str) {
    let Some(base) = cx.state.registered.get(folded) else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let rec = match cx.state.channels.get(folded) {
        Some(chan) => snapshot(chan, base, now),
        None => base.clone(),
    };
    cx.state.registered.insert(folded.to_string(), rec.clone());
    cx.store.send(Request::SaveChannel(Box::new(rec)));
}

/// Gives the members logged in to `account` in a live registered channel (this
/// node's and, in a cluster, the other nodes' users as this node sees them) the role
/// its record says, telling the channel with a MODE from ChanServ.
pub fn sync_roles(cx: &mut Cx, folded: &str, account: &str) {
    let Some(rec) = cx.state.registered.get(folded) else {
        return;
    };
    let id = cx.state.account_id(account);
    let Some(chan) = cx.state.channels.get_mut(folded) else {
        return;
    };
    let conns = &cx.conns;
    let slots: Vec<usize> = chan
        .members
        .keys()
        .copied()
        .filter(|&slot| {
            conns
                .get(slot)
                .and_then(|c| c.user.account.as_deref())
                .is_some_and(|a| fold_eq(a, account))
        })
        .collect();
    let mut changes: Vec<(bool, char, usize)> = Vec::new();
    for slot in slots {
        let Some(member) = chan.members.get_mut(&slot) else {
            continue;
        };
        let want = member_for(rec, id, member.joined);
        for letter in ['q', 'o', 'h', 'v'] {
            let mut wanted = want;
            let on = *wanted.flag_mut(letter).expect("a member letter");
            let flag = member.flag_mut(letter).expect("a member letter");
            if *flag != on {
                *flag = on;
                changes.push((on, letter, slot));
            }
        }
    }
    if changes.is_empty() {
        return;
    }
    let name = chan.name.clone();
    let mut modes = String::new();
    let mut params = vec![name];
    let mut sign = None;
    for (on, letter, slot) in changes {
        if sign != Some(on) {
            modes.push(if on { '+' } else { '-' });
            sign = Some(on);
        }
        modes.push(letter);
        params.push(cx.user_of(slot).map(|u| u.nick.clone()).unwrap_or_default());
    }
    params.insert(1, modes);
    let mode = Message::new("MODE", params)
        .with_source(CHANSERV_SOURCE)
        .with_tag("time", crate::outgoing::server_time_now());
    let mut out = Outgoing::new(mode);
    cx.send_to_channel(folded, &mut out, None, None);
}
