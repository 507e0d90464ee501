//! Who may connect, decided in one place: [`admit`] runs when a connection is
//! accepted (or, behind a proxy in `server.proxy_from`, once its PROXY header named the
//! real client: [`read_proxy_header`]), and [`ban_on`] also at registration, when the
//! client has a `nick!user@host`. Server bans, `limits.max_clients`, and the
//! per-address limits with their exempt list (`limits.exempt`).

use crate::config::{Config, LimitsConfig};
use crate::conn::{Conns, Sock};
use crate::ipnet::IpNet;
use crate::proxy::{self, Header, ProxyError};
use crate::state::{self, State};
use crate::store::Ban;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Why a connection is turned away; `Display` is the text of its `ERROR`, which
/// names the setting so that whoever runs into it knows what to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A server ban (`chatctl ban`), with its reason.
    Banned(String),
    /// `limits.max_clients`.
    Full,
    /// `limits.conns_per_ip`, with its value.
    TooMany(usize),
    /// `limits.connects_per_ip_per_minute`, with its value.
    TooFast(u32),
    /// A connection from a configured proxy without a good PROXY header.
    Proxy(ProxyError),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Banned(reason) => write!(f, "Banned: {reason}"),
            Refusal::Full => f.write_str("Server is full; try again later (limits.max_clients)"),
            Refusal::TooMany(n) => write!(
                f,
                "Too many connections from your address (limits.conns_per_ip = {n}; \
                 addresses in limits.exempt are not limited)"
            ),
            Refusal::TooFast(n) => write!(
                f,
                "Connecting too fast; wait a minute (limits.connects_per_ip_per_minute = {n})"
            ),
            Refusal::Proxy(e) => write!(f, "{e}"),
        }
    }
}

/// Whether `ban` covers a client at `ip` with `source` (`nick!user@host`, once it
/// has one) at Unix time `unix_now`. An expired ban covers no one, wherever it is
/// checked; an address ban is compared as an address (`::1` is `0::1`).
pub fn ban_covers(ban: &Ban, ip: Option<IpAddr>, source: Option<&str>, unix_now: i64) -> bool {
    if ban.expires.is_some_and(|e| e <= unix_now) {
        return false;
    }
    if let Ok(banned) = ban.mask.parse::<IpAddr>() {
        return ip.is_some_and(|ip| ip.to_canonical() == banned.to_canonical());
    }
    source.is_some_and(|s| chatd_proto::mask::glob_match(&ban.mask, s))
}

/// The first server ban in force that covers a client at `ip` with `source`.
pub fn ban_on<'a>(bans: &'a [Ban], ip: IpAddr, source: Option<&str>) -> Option<&'a Ban> {
    let now = chrono::Utc::now().timestamp();
    bans.iter().find(|b| ban_covers(b, Some(ip), source, now))
}

/// Whether `ip` is spared the per-address limits (`limits.exempt`).
pub fn is_exempt(limits: &LimitsConfig, ip: IpAddr) -> bool {
    IpNet::any_contains(&limits.exempt, ip)
}

/// Decides on a new client at `ip` while `others` connections are open: server bans,
/// `limits.max_clients`, then (unless `limits.exempt` holds it) connections at once
/// and per minute from its address. `Ok(key)`: admitted; the caller counts it in
/// `state.per_ip` under `key` ([`state::ip_key`]) once it exists.
pub fn admit(
    state: &mut State,
    limits: &LimitsConfig,
    others: usize,
    ip: IpAddr,
    now: Instant,
) -> Result<String, Refusal> {
    let ip = ip.to_canonical();
    if let Some(ban) = ban_on(&state.bans, ip, None) {
        return Err(Refusal::Banned(ban.reason.clone()));
    }
    if others >= limits.max_clients {
        return Err(Refusal::Full);
    }
    let key = state::ip_key(ip);
    if is_exempt(limits, ip) {
        return Ok(key);
    }
    if state.per_ip.get(&key).copied().unwrap_or(0) >= limits.conns_per_ip {
        return Err(Refusal::TooMany(limits.conns_per_ip));
    }
    let per_minute = limits.connects_per_ip_per_minute;
    let window = Duration::from_secs(60);
    if !state::within_rate(&mut state.connects, &key, per_minute, window, now) {
        return Err(Refusal::TooFast(per_minute));
    }
    Ok(key)
}

/// A connection from a configured proxy is only checked against
/// `limits.max_clients` when accepted: its address is the proxy's, and the client's
/// comes with the header.
pub fn admit_proxy(limits: &LimitsConfig, others: usize) -> Result<(), Refusal> {
    if others >= limits.max_clients {
        return Err(Refusal::Full);
    }
    Ok(())
}

/// The host a client at `ip` is shown with (WHOIS, WHO, its messages' source).
pub fn host_of(ip: IpAddr) -> String {
    let mut host = ip.to_canonical().to_string();
    if host.starts_with(':') {
        // "::1" would read as a trailing parameter in WHO replies.
        host.insert(0, '0');
    }
    host
}

/// For a connection from a proxy in `server.proxy_from` that has not sent its header
/// yet: takes the header off the socket and admits the client it names as if it had
/// connected itself (bans, limits; its host and `peer` become the client's). `true`:
/// the connection goes on (read what follows); `false`: wait for more of the header,
/// or it was refused and is closing.
pub fn read_proxy_header(
    conns: &mut Conns,
    state: &mut State,
    config: &Config,
    slot: usize,
    now: Instant,
) -> bool {
    let Some(conn) = conns.get_mut(slot) else {
        return false;
    };
    let Sock::Tcp(sock) = &mut conn.sock else {
        return true;
    };
    let proxy_addr = conn.peer;
    let client: SocketAddr = match proxy::take_header(sock) {
        Ok(None) => return false,
        Ok(Some(Header::Client(addr))) => addr,
        Ok(Some(Header::Local)) => proxy_addr,
        Err(e) => {
            log::info!("conn={slot} peer={proxy_addr} refused: {e}");
            conns.close(slot, &Refusal::Proxy(e).to_string());
            return false;
        }
    };
    conn.awaiting_proxy = false;
    admit_as(conns, state, config, slot, client, now)
}

/// For a web connection from a trusted reverse proxy (`web.trusted_proxies`): once
/// its WebSocket upgrade named the client (`X-Forwarded-For`, `Forwarded`), admits
/// that client as if it had connected itself. `false`: refused and closing.
pub fn admit_forwarded(
    conns: &mut Conns,
    state: &mut State,
    config: &Config,
    slot: usize,
    now: Instant,
) -> bool {
    let Some(conn) = conns.get_mut(slot) else {
        return false;
    };
    let Some(ip) = conn.transport.take_forwarded() else {
        return true;
    };
    conn.awaiting_forwarded = false;
    let client = SocketAddr::new(ip, 0);
    admit_as(conns, state, config, slot, client, now)
}

/// Admits the connection in `slot`, which came through a proxy, as `client`: its
/// host and `peer` become the client's, then bans and limits are checked on it.
fn admit_as(
    conns: &mut Conns,
    state: &mut State,
    config: &Config,
    slot: usize,
    client: SocketAddr,
    now: Instant,
) -> bool {
    let others = conns.slab.len().saturating_sub(1);
    let Some(conn) = conns.get_mut(slot) else {
        return false;
    };
    let proxy_addr = conn.peer;
    let ip = client.ip().to_canonical();
    conn.peer = client;
    conn.user.host = host_of(ip);
    match admit(state, &config.limits, others, ip, now) {
        Ok(key) => {
            *state.per_ip.entry(key.clone()).or_insert(0) += 1;
            conn.ip_key = key.into();
            log::info!("conn={slot} peer={client} accepted through proxy {proxy_addr}");
            true
        }
        Err(refusal) => {
            log::info!("conn={slot} peer={client} (through proxy {proxy_addr}) refused: {refusal}");
            conns.close(slot, &refusal.to_string());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(mask: &str, expires: Option<i64>) -> Ban {
        Ban {
            mask: mask.into(),
            reason: "r".into(),
            set_at: 0,
            expires,
        }
    }

    #[test]
    fn bans_cover_until_they_expire() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let cases = [
            (ban("10.0.0.1", None), ip("10.0.0.1"), None, true),
            (ban("10.0.0.1", None), ip("::ffff:10.0.0.1"), None, true),
            (ban("10.0.0.1", None), ip("10.0.0.2"), None, false),
            (ban("::1", None), ip("::1"), None, true),
            (ban("0::1", None), ip("::1"), None, true),
            (ban("10.0.0.1", Some(100)), ip("10.0.0.1"), None, false),
            (ban("10.0.0.1", Some(101)), ip("10.0.0.1"), None, true),
            (ban("*!*@10.0.0.*", None), ip("10.0.0.1"), None, false),
            (
                ban("*!*@10.0.0.*", None),
                ip("10.0.0.1"),
                Some("a!~a@10.0.0.1"),
                true,
            ),
            (
                ban("*!*@10.0.0.*", Some(100)),
                None,
                Some("a!~a@10.0.0.1"),
                false,
            ),
        ];
        for (b, ip, source, want) in cases {
            assert_eq!(
                ban_covers(&b, ip, source, 100),
                want,
                "{b:?} {ip:?} {source:?}"
            );
        }
    }

    #[test]
    fn exempt_addresses_skip_the_per_address_limits_but_not_bans() {
        let mut limits = LimitsConfig {
            conns_per_ip: 1,
            connects_per_ip_per_minute: 1,
            ..LimitsConfig::default()
        };
        let mut state = State::default();
        let now = Instant::now();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "203.0.113.7".parse().unwrap();
        for _ in 0..20 {
            let key = admit(&mut state, &limits, 0, local, now).unwrap();
            *state.per_ip.entry(key).or_insert(0) += 1;
        }
        assert_eq!(
            admit(&mut state, &limits, 0, remote, now),
            Ok("203.0.113.7".into())
        );
        assert_eq!(
            admit(&mut state, &limits, 0, remote, now),
            Err(Refusal::TooFast(1))
        );
        limits.exempt.clear();
        assert_eq!(
            admit(&mut state, &limits, 0, local, now),
            Err(Refusal::TooMany(1))
        );
        assert!(Refusal::TooMany(1)
            .to_string()
            .contains("limits.conns_per_ip"));
        limits.exempt = vec!["127.0.0.0/8".parse().unwrap()];
        state.bans.push(ban("127.0.0.1", None));
        assert_eq!(
            admit(&mut state, &limits, 0, local, now),
            Err(Refusal::Banned("r".into()))
        );
        assert_eq!(
            admit(&mut state, &limits, 10_000, remote, now),
            Err(Refusal::Full)
        );
    }
}
