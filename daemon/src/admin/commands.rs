//! The admin commands (`docs/admin.md`), on the loop thread against the IRC commands'
//! state. [`Ctl`] borrows what they touch; [`run`] answers one request line (a typed
//! `chatd_admin_proto::Request`); [`complete`] finishes those that asked the store.

pub use super::reload::{apply_reload, reload};
use super::{accounts, chanreg};
use super::{Admin, Stream};
use crate::cmd::{channel, history, Cx};
use crate::config::Config;
use crate::conn::Conns;
use crate::state::State;
use crate::store::{
    self, Ban, Completion, Request as StoreRequest, Store, StoredMessage, TailFilter, Ticket,
};
use chatd_admin_proto::{reply, wire, Error, Request};
use chatd_proto::{fold, Message};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// An admin request waiting for the store.
#[derive(Debug, Clone)]
pub enum Pending {
    Accounts { id: Value },
    Stats { id: Value },
    Tail { id: Value, stream: Option<Stream> },
    Backup { id: Value },
}

/// Admin-side state that outlives one request.
#[derive(Default)]
pub struct AdminState {
    pub pending: HashMap<u64, (usize, u64, Pending)>,
    pub next_ticket: u64,
    /// Set by `shutdown`: the reason clients are given.
    pub shutdown: Option<String>,
    /// The config file, for `reload`, and what it said at start (before
    /// command-line overrides), to tell which restart-only keys the file changed.
    pub config_path: Option<PathBuf>,
    pub file_config: Option<Config>,
}

/// Everything an admin command may touch.
pub struct Ctl<'a> {
    pub admin: &'a mut Admin,
    pub st: &'a mut AdminState,
    pub conns: &'a mut Conns,
    pub state: &'a mut State,
    pub config: &'a mut Config,
    pub motd: &'a mut Vec<String>,
    pub store: &'a Store,
    /// The TLS settings new connections get.
    pub tls: &'a mut Option<std::sync::Arc<rustls::ServerConfig>>,
    pub now: Instant,
    /// Unix seconds the server started.
    pub started: i64,
}

impl Ctl<'_> {
    /// An IRC command context acting on `slot`.
    pub(super) fn cx(&mut self, slot: usize) -> Cx<'_> {
        Cx {
            me: slot,
            conns: self.conns,
            state: self.state,
            config: self.config,
            motd: self.motd,
            store: self.store,
            now: self.now,
            replies: Default::default(),
        }
    }

    fn ticket(&mut self, slot: usize, pending: Pending) -> Ticket {
        self.st.next_ticket += 1;
        let n = self.st.next_ticket;
        let conn = &mut self.admin.conns[slot];
        conn.awaiting += 1;
        let conn = conn.id;
        self.st.pending.insert(n, (slot, conn.serial, pending));
        self.state
            .followups
            .open(crate::followup::FollowUp::Admin { request: n })
    }
}

pub(super) type Outcome = Result<Option<Value>, Error>;

/// A command's result, ready to send.
pub(super) fn done(result: impl Serialize) -> Outcome {
    Ok(Some(
        serde_json::to_value(result).expect("admin replies serialize to JSON"),
    ))
}

/// A required string argument must not be empty either.
pub(super) fn required<'a>(value: &'a str, key: &str) -> Result<&'a str, Error> {
    if value.is_empty() {
        Err(Error::bad_request(format!("{key} is required")))
    } else {
        Ok(value)
    }
}

/// Runs one request line from admin connection `slot`.
pub fn run(ctl: &mut Ctl, slot: usize, line: &str) {
    let (id, request) = match wire::parse_request(line) {
        Ok(parsed) => parsed,
        Err((id, error)) => return ctl.admin.error(slot, &id, &error),
    };
    log::info!("admin connection {slot}: {}", request.cmd());
    let outcome = match request {
        Request::Users { channel } => users(ctl, channel.as_deref()),
        Request::Accounts => {
            let ticket = ctl.ticket(slot, Pending::Accounts { id: id.clone() });
            ctl.store.send(StoreRequest::ListAccounts { ticket });
            Ok(None)
        }
        Request::AccountsDelete { name } => accounts::delete(ctl, &name),
        Request::Channels => done(channels(ctl)),
        Request::ChannelsRegistered => done(chanreg::registered(ctl)),
        Request::ChannelsRegister { channel, founder } => {
            chanreg::register(ctl, &channel, &founder)
        }
        Request::ChannelsDrop { channel } => chanreg::drop(ctl, &channel),
        Request::ChannelsAccess { channel } => chanreg::access(ctl, &channel),
        Request::ChannelsAccessAdd {
            channel,
            account,
            role,
        } => chanreg::access_add(ctl, &channel, &account, &role),
        Request::ChannelsAccessDel { channel, account } => {
            chanreg::access_del(ctl, &channel, &account)
        }
        Request::Kick {
            nick,
            reason,
            channel,
        } => kick(ctl, &nick, reason, channel.as_deref()),
        Request::Ban {
            mask,
            duration_secs,
            reason,
        } => ban(ctl, &mask, duration_secs, reason),
        Request::Unban { mask } => unban(ctl, &mask),
        Request::Bans => done(bans(ctl)),
        Request::Sessions { account } => accounts::sessions(ctl, &account),
        Request::SessionsRevoke { account, token } => {
            accounts::sessions_revoke(ctl, &account, token)
        }
        Request::TailLog {
            n,
            follow,
            target,
            level,
        } => tail(ctl, slot, &id, n, follow, target, level.as_deref()),
        Request::Wall { text } => wall(ctl, &text),
        Request::Stats => {
            let ticket = ctl.ticket(slot, Pending::Stats { id: id.clone() });
            ctl.store.send(StoreRequest::Stats { ticket });
            Ok(None)
        }
        Request::Backup { path } => required(&path, "path").and_then(|path| {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(Error::bad_request(
                    "path must be absolute (the daemon's working directory is not yours)",
                ));
            }
            let ticket = ctl.ticket(slot, Pending::Backup { id: id.clone() });
            ctl.store.send(StoreRequest::Backup { ticket, path });
            Ok(None)
        }),
        Request::Reload => match reload(ctl) {
            Ok((changed, unchanged)) => done(reply::Reloaded { changed, unchanged }),
            Err(e) => Err(Error::bad_request(e)),
        },
        Request::Shutdown { message } => {
            let m = message.unwrap_or_else(|| "Server shutting down".to_string());
            log::info!("admin connection {slot}: shutdown ({m})");
            ctl.st.shutdown = Some(m);
            done(reply::ShuttingDown {})
        }
        Request::Cancel { stream } => {
            let conn = &mut ctl.admin.conns[slot];
            let before = conn.streams.len();
            conn.streams.retain(|s| s.id != stream);
            if conn.streams.len() == before {
                Err(Error::not_found("no such stream"))
            } else {
                done(())
            }
        }
    };
    match outcome {
        Ok(Some(result)) => ctl.admin.reply(slot, &id, &result),
        Ok(None) => {}
        Err(error) => ctl.admin.error(slot, &id, &error),
    }
}

fn users(ctl: &mut Ctl, channel: Option<&str>) -> Outcome {
    let filter = channel.map(fold);
    if let Some(f) = &filter {
        if !ctl.state.channels.contains_key(f) {
            return Err(Error::not_found(format!("no such channel: {f}")));
        }
    }
    let mut out = Vec::new();
    for (_, conn) in ctl.conns.slab.iter() {
        let u = &conn.user;
        if !u.registered || filter.as_ref().is_some_and(|f| !u.in_channel(f)) {
            continue;
        }
        let channels: Vec<String> = u
            .channels
            .iter()
            .filter_map(|c| ctl.state.channels.get(c).map(|c| c.name.clone()))
            .collect();
        out.push(reply::User {
            account: u.account.clone(),
            away: u.away.as_deref().map(str::to_string),
            channels,
            connected_since: u.signon,
            host: u
                .address
                .as_deref()
                .map_or_else(|| u.host.clone(), str::to_string),
            idle_secs: ctl.now.saturating_duration_since(u.last_message).as_secs(),
            nick: u.nick.to_string(),
            oper: u.oper.is_some(),
            realname: u.realname.to_string(),
            user: u.user.to_string(),
        });
    }
    out.sort_by(|a, b| a.nick.cmp(&b.nick));
    done(out)
}

fn channels(ctl: &mut Ctl) -> Vec<reply::Channel> {
    let mut out: Vec<reply::Channel> = ctl
        .state
        .channels
        .values()
        .map(|c| reply::Channel {
            members: c.members.len(),
            modes: c.modes.to_params(true).join(" "),
            name: c.name.clone(),
            topic: c.topic.as_ref().map(|t| t.text.clone()),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn kick(ctl: &mut Ctl, nick: &str, reason: Option<String>, channel: Option<&str>) -> Outcome {
    let nick = required(nick, "nick")?;
    let reason = reason.unwrap_or_default();
    let Some(slot) = ctl.state.slot_of_nick(nick) else {
        return Err(Error::not_found(format!("no such nick: {nick}")));
    };
    let shown = ctl
        .conns
        .get(slot)
        .map(|c| c.user.nick.clone())
        .unwrap_or_default();
    match channel {
        None => {
            let why = if reason.is_empty() {
                "Killed by admin".to_string()
            } else {
                format!("Killed by admin ({reason})")
            };
            log::info!("admin kicked {shown} off the server: {reason}");
            ctl.conns.close(slot, &why);
        }
        Some(chan) => {
            let folded = fold(chan);
            let in_chan = ctl
                .state
                .channels
                .get(&folded)
                .is_some_and(|c| c.member(slot).is_some());
            if !in_chan {
                return Err(Error::not_found(format!("{shown} is not on {chan}")));
            }
            let server = ctl.config.server.name.clone();
            let reason = if reason.is_empty() {
                "Removed by an administrator".to_string()
            } else {
                reason
            };
            channel::kick_member(&mut ctl.cx(slot), &folded, slot, &server, &reason);
            log::info!("admin kicked {shown} from {chan}: {reason}");
        }
    }
    done(reply::Kicked { nick: shown })
}

/// `1h`-style durations are parsed by chatctl; the socket takes seconds.
fn ban(ctl: &mut Ctl, raw: &str, duration: Option<u64>, reason: Option<String>) -> Outcome {
    let raw = required(raw, "mask")?;
    let mask = if raw.parse::<std::net::IpAddr>().is_ok() {
        raw.to_string()
    } else if raw.contains(['!', '@']) || raw.contains('*') || raw.contains('?') {
        chatd_proto::mask::normalize_mask(raw)
    } else {
        return Err(Error::bad_request(format!(
            "{raw:?} is neither an IP address nor a nick!user@host mask"
        )));
    };
    let reason = reason.unwrap_or_else(|| "Banned".to_string());
    let now = chrono::Utc::now().timestamp();
    if duration == Some(0) {
        return Err(Error::bad_request(
            "duration_secs must be at least 1 (leave it out for a permanent ban)",
        ));
    }
    let expires = duration.map(|d| now + d.min(i64::MAX as u64 / 2) as i64);
    let ban = Ban {
        mask: mask.clone(),
        reason: reason.clone(),
        set_at: now,
        expires,
    };
    ctl.state
        .bans
        .retain(|b| !b.mask.eq_ignore_ascii_case(&mask));
    ctl.state.bans.push(ban.clone());
    ctl.store.send(StoreRequest::AddBan(ban.clone()));
    let victims: Vec<usize> = ctl
        .conns
        .slab
        .iter()
        .filter(|(_, c)| {
            let (ip, source) = (Some(c.peer.ip()), Some(c.user.source()));
            crate::admission::ban_covers(&ban, ip, source.as_deref(), now)
        })
        .map(|(s, _)| s)
        .collect();
    for slot in &victims {
        ctl.conns.close(*slot, &format!("Banned: {reason}"));
    }
    log::info!(
        "admin banned {mask} ({reason}); {} disconnected",
        victims.len()
    );
    done(reply::Banned {
        disconnected: victims.len(),
        expires,
        mask,
    })
}

fn unban(ctl: &mut Ctl, raw: &str) -> Outcome {
    let raw = required(raw, "mask")?;
    let before = ctl.state.bans.len();
    let normalized = chatd_proto::mask::normalize_mask(raw);
    ctl.state
        .bans
        .retain(|b| !b.mask.eq_ignore_ascii_case(raw) && !b.mask.eq_ignore_ascii_case(&normalized));
    if ctl.state.bans.len() == before {
        return Err(Error::not_found(format!("no ban on {raw}")));
    }
    ctl.store.send(StoreRequest::RemoveBan {
        mask: raw.to_string(),
    });
    if normalized != raw {
        ctl.store.send(StoreRequest::RemoveBan { mask: normalized });
    }
    log::info!("admin removed the ban on {raw}");
    done(reply::Unbanned {
        mask: raw.to_string(),
    })
}

fn bans(ctl: &mut Ctl) -> Vec<reply::Ban> {
    let now = chrono::Utc::now().timestamp();
    ctl.state.bans.retain(|b| b.expires.is_none_or(|e| e > now));
    ctl.state
        .bans
        .iter()
        .map(|b| reply::Ban {
            expires: b.expires,
            mask: b.mask.clone(),
            reason: b.reason.clone(),
            set_at: b.set_at,
        })
        .collect()
}

fn tail(
    ctl: &mut Ctl,
    slot: usize,
    id: &Value,
    n: Option<u64>,
    follow: bool,
    target: Option<String>,
    level: Option<&str>,
) -> Outcome {
    let n = n.unwrap_or(20).min(10_000) as usize;
    let filter = target.map(|t| {
        if t.starts_with('#') {
            TailFilter::Channel(t)
        } else {
            TailFilter::Party {
                account: ctl.state.account_id(&t),
                nick: t,
            }
        }
    });
    let level = match level {
        None => log::LevelFilter::Info,
        Some(l) => crate::config::parse_level(l)
            .ok_or_else(|| Error::bad_request("level must be error, warn, info, debug or trace"))?,
    };
    let stream = follow.then(|| Stream {
        id: id.clone(),
        filter: filter.clone(),
        level,
    });
    let ticket = ctl.ticket(
        slot,
        Pending::Tail {
            id: id.clone(),
            stream,
        },
    );
    ctl.store.send(StoreRequest::Tail { ticket, n, filter });
    Ok(None)
}

fn wall(ctl: &mut Ctl, text: &str) -> Outcome {
    let text = required(text, "text")?;
    let server = ctl.config.server.name.clone();
    let mut count = 0;
    let slots: Vec<usize> = ctl.conns.slab.iter().map(|(s, _)| s).collect();
    for slot in slots {
        let Some(nick) = ctl
            .conns
            .get(slot)
            .filter(|c| c.user.registered)
            .map(|c| c.user.nick.clone())
        else {
            continue;
        };
        let msg = Message::new("NOTICE", [nick, format!("[Server notice] {text}")])
            .with_source(server.as_str());
        ctl.conns.send_msg(slot, &msg);
        count += 1;
    }
    log::info!("admin wall to {count} users: {text}");
    done(reply::Walled { users: count })
}

/// Finishes an admin request the store answered. Returns the stream to add, if any.
pub fn complete(ctl: &mut Ctl, n: u64, done: Completion) {
    let Some((slot, serial, pending)) = ctl.st.pending.remove(&n) else {
        return;
    };
    match ctl.admin.conns.get_mut(slot) {
        Some(c) if c.id.serial == serial => c.awaiting = c.awaiting.saturating_sub(1),
        _ => return,
    }
    match (pending, done) {
        (Pending::Accounts { id }, Completion::Accounts { accounts, .. }) => {
            let rows: Vec<reply::Account> = accounts
                .into_iter()
                .map(|a| reply::Account {
                    online: ctl.state.sessions.contains_key(&fold(&a.name)),
                    created: a.created,
                    email: a.email,
                    last_seen: a.last_seen,
                    name: a.name,
                    queue_depth: a.queue_depth,
                })
                .collect();
            ctl.admin.reply(slot, &id, &rows);
        }
        (
            Pending::Stats { id },
            Completion::Stats {
                queue_total,
                store_bytes,
                ..
            },
        ) => {
            let now = chrono::Utc::now().timestamp();
            let counts = ctl.state.counts;
            let result = reply::Stats {
                uptime_secs: now - ctl.started,
                connections: ctl.conns.slab.len(),
                registered: counts.registered,
                channels: ctl.state.channels.len(),
                accounts: ctl.state.accounts.len(),
                messages_per_sec: ctl.state.rate.per_sec(now),
                queue_total,
                store_bytes,
                store_backlog: ctl.store.backlog(),
                store: store_health(ctl.store.health()),
                store_pauses: ctl.state.store_pauses,
                rss_bytes: rss_bytes(),
            };
            ctl.admin.reply(slot, &id, &result);
        }
        (Pending::Tail { id, stream }, Completion::History { messages, .. }) => {
            let rows: Vec<reply::LoggedMessage> = messages.iter().map(logged_message).collect();
            ctl.admin.reply(slot, &id, &rows);
            if let Some(stream) = stream {
                ctl.admin.conns[slot].streams.push(stream);
            }
        }
        (Pending::Backup { id }, Completion::Backup { result, .. }) => match result {
            Ok(bytes) => ctl.admin.reply(slot, &id, &reply::BackedUp { bytes }),
            Err(e) => ctl.admin.error(slot, &id, &Error::unavailable(e)),
        },
        (pending, Completion::ReadFailed { why, .. }) => {
            let id = match pending {
                Pending::Accounts { id }
                | Pending::Stats { id }
                | Pending::Tail { id, .. }
                | Pending::Backup { id } => id,
            };
            ctl.admin.error(slot, &id, &Error::unavailable(why));
        }
        (pending, _) => {
            let id = match pending {
                Pending::Accounts { id }
                | Pending::Stats { id }
                | Pending::Tail { id, .. }
                | Pending::Backup { id } => id,
            };
            ctl.admin.error(
                slot,
                &id,
                &Error::unavailable("the store gave an unexpected answer"),
            );
        }
    }
}

/// The store's failures as `stats` shows them.
fn store_health(h: &store::StoreHealth) -> reply::StoreHealth {
    use std::sync::atomic::Ordering::Relaxed;
    let since = h.failing_since.load(Relaxed);
    reply::StoreHealth {
        failing: h.is_failing(),
        failing_since: (since != 0).then_some(since),
        unsaved_messages: h.unsaved.load(Relaxed) as u64,
        write_errors: h.write_errors.load(Relaxed),
        read_errors: h.read_errors.load(Relaxed),
        last_error: h
            .last_error()
            .map(|(time, text)| reply::StoreError { time, text }),
    }
}

/// A logged message as the admin protocol shows it.
pub fn logged_message(m: &StoredMessage) -> reply::LoggedMessage {
    reply::LoggedMessage {
        account: m.account.clone(),
        from: m.source.clone(),
        kind: m.kind.command().to_string(),
        msgid: store::msgid_of(m.id),
        target: m.target.clone(),
        text: m.text.clone(),
        time: history::format_time(m.time_ms),
    }
}

/// Whether a stream with `filter` shows `m`.
pub fn stream_shows(filter: &Option<TailFilter>, m: &StoredMessage) -> bool {
    match filter {
        None => true,
        Some(TailFilter::Channel(c)) => {
            matches!(&m.conv, store::Conv::Channel { name, .. } if *name == fold(c))
        }
        Some(TailFilter::Party { nick, account }) => {
            let a = account.map(|id| crate::ids::Party::account(id).into_key());
            let n = crate::ids::Party::nick(nick).into_key();
            let a = a.as_ref().unwrap_or(&n);
            matches!(&m.conv, store::Conv::Direct(x, y)
                if [x, y].iter().any(|id| **id == *a || **id == n))
        }
    }
}

/// The process's resident memory, from `/proc/self/status`.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
