//! Accepting: each listener until `WouldBlock`, admission (bans, limits, PROXY
//! senders, reverse proxies of the web listeners), TLS and WebSocket setup, and the
//! new connection's first timer.

use super::Server;
use crate::admin;
use crate::admission;
use crate::conn::{Conn, Sock, Transport};
use crate::ipnet::IpNet;
use crate::state::User;
use mio::{Interest, Token};
use std::cmp::Reverse;
use std::io;
use std::time::Instant;

impl Server {
    pub(super) fn accept(&mut self, index: usize, now: Instant) {
        loop {
            let (mut sock, peer) = match self.listeners[index].accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: log, and let the next readiness event retry.
                    log::warn!("accept failed: {e}");
                    return;
                }
            };
            if let Err(e) = sock.set_nodelay(true) {
                log::debug!("peer={peer} set_nodelay: {e}");
            }
            let id = self.conns.next_id();
            if id.slot >= admin::BASE {
                return;
            }
            // An IPv4 client on a `[::]` listener arrives as ::ffff:a.b.c.d; it is
            // the IPv4 address for bans, limits and its host.
            let peer_ip = peer.ip().to_canonical();
            let host = admission::host_of(peer_ip);
            let limits = &self.config.limits;
            let others = self.conns.slab.len();
            let web = self.listener_web[index];
            let proxied = IpNet::any_contains(&self.config.server.proxy_from, peer_ip);
            // A reverse proxy's WebSocket is admitted as the client its upgrade names.
            let forwarded = web && IpNet::any_contains(&self.config.web.trusted_proxies, peer_ip);
            let admitted = if proxied || forwarded {
                // Admitted as the client its header names, once it has come.
                admission::admit_proxy(limits, others).map(|()| String::new())
            } else {
                admission::admit(&mut self.state, limits, others, peer_ip, now)
            };
            let key = match admitted {
                Ok(key) => key,
                Err(refusal) => {
                    let line = format!("ERROR :Closing Link: {host} ({refusal})\r\n");
                    let _ = std::io::Write::write(&mut sock, line.as_bytes());
                    log::info!("peer={peer} refused: {refusal}");
                    continue;
                }
            };
            if let Err(e) =
                self.poll
                    .registry()
                    .register(&mut sock, Token(id.slot), Interest::READABLE)
            {
                log::warn!("peer={peer} register failed: {e}");
                continue;
            }
            let mut user = User::new(host, chrono::Utc::now().timestamp(), now);
            let session = match (self.listener_tls[index], &self.tls_config) {
                (true, Some(config)) => match rustls::ServerConnection::new(config.clone()) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        log::warn!("peer={peer} TLS setup failed: {e}");
                        continue;
                    }
                },
                _ => None,
            };
            let transport = match (web, session) {
                (true, session) => Transport::ws(
                    self.config.web.clone(),
                    peer_ip,
                    session,
                    self.ready.clone(),
                ),
                (false, Some(session)) => Transport::tls(session),
                (false, None) => Transport::plain(),
            };
            user.tls = transport.is_tls();
            let mut conn = Conn::new(id, Sock::Tcp(sock), peer, user, now);
            conn.transport = transport;
            conn.awaiting_proxy = proxied;
            conn.awaiting_forwarded = forwarded;
            if !proxied && !forwarded {
                *self.state.per_ip.entry(key.clone()).or_insert(0) += 1;
            }
            conn.ip_key = key.into();
            let slot = self.conns.slab.insert(conn);
            self.state.counts.unregistered += 1;
            debug_assert_eq!(slot, id.slot);
            // The first look comes at whichever is sooner: the registration deadline
            // or the first idle check, so a quick registration starts pinging on time.
            let mut first = self
                .config
                .registration_timeout()
                .min(self.config.ping_interval());
            if self.listener_tls[index] || web {
                first = first.min(self.config.handshake_timeout());
            }
            self.timers.push(Reverse((now + first, id.slot, id.serial)));
            log::info!("conn={slot} peer={peer} accepted");
        }
    }
}
