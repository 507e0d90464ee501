//! Input: the read gate for store backpressure, reading a connection within its
//! budget, flood control, and each line to a parsed command for `cmd::dispatch`.

use super::Server;
use crate::admission;
use crate::cmd::{self, Cx};
use chatd_proto::numeric::ERR_INPUTTOOLONG;
use chatd_proto::{parse, LineError, Message, ParseError};
use std::cmp::Reverse;
use std::time::{Duration, Instant};

/// Bytes read from one connection per pass before others get their turn.
pub(super) const READ_BUDGET: usize = 64 * 1024;
/// How often the loop looks at the store's backlog while reading is paused for it.
pub(super) const STORE_BEHIND_POLL: Duration = Duration::from_millis(5);

impl Server {
    /// Pauses or resumes reading from clients as the store falls behind or catches up.
    pub(super) fn check_store_backlog(&mut self, now: Instant) {
        let Some(store) = &self.store else {
            return;
        };
        let backlog = store.backlog();
        let max = self.config.history.log_backlog_max;
        // Reading resumes at three quarters of the limit, so the store always has the
        // next batch waiting while the loop goes on.
        let resume = max / 4 * 3;
        if !self.store_behind && backlog > max {
            self.store_behind = true;
            store.wake_when_backlog_at_most(Some(resume));
            self.state.store_pauses += 1;
            if self
                .behind_since
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(60))
            {
                log::warn!(
                    "the database is {backlog} messages behind (history.log_backlog_max is \
                     {max}); reading from clients is paused until it catches up"
                );
                self.behind_since = Some(now);
            }
        } else if self.store_behind && backlog <= resume {
            self.store_behind = false;
            store.wake_when_backlog_at_most(None);
            let mut paused = std::mem::take(&mut self.paused);
            paused.sort_unstable();
            paused.dedup();
            for slot in paused {
                self.read(slot, now);
            }
        }
    }

    pub(super) fn read(&mut self, slot: usize, now: Instant) {
        if self.store_behind {
            self.paused.push(slot);
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.closing.is_some() || conn.awaiting > 0 {
            // Waiting for the store: the socket is read when the answer came.
            return;
        }
        if conn.awaiting_proxy
            && !admission::read_proxy_header(
                &mut self.conns,
                &mut self.state,
                &self.config,
                slot,
                now,
            )
        {
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let result = conn.read_some(&mut self.scratch, READ_BUDGET);
        let awaiting_forwarded = conn.awaiting_forwarded;
        if conn.read_pending && !conn.throttled {
            self.read_again.push(slot);
        }
        if conn.transport_wants_write() {
            self.conns.mark_dirty(slot);
        }
        if awaiting_forwarded
            && !admission::admit_forwarded(
                &mut self.conns,
                &mut self.state,
                &self.config,
                slot,
                now,
            )
        {
            return;
        }
        self.process_lines(slot, now);
        let recvq = self.config.limits.recvq_bytes;
        if let Some(conn) = self.conns.get_mut(slot) {
            if conn.throttled && conn.lines.pending() > recvq {
                self.conns.close(slot, "Excess Flood");
                return;
            }
        }
        match result {
            Ok((_, true)) => self.conns.close(slot, "Remote host closed the connection"),
            Ok(_) => {}
            Err(e) => self.conns.close(slot, &format!("Read error: {e}")),
        }
    }

    pub(super) fn process_lines(&mut self, slot: usize, now: Instant) {
        loop {
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            if conn.closing.is_some() || conn.throttled || conn.awaiting > 0 {
                return;
            }
            // Only complete lines cost flood budget; a partial one may still have to
            // be reported as an overflow.
            let complete = conn.lines.has_line();
            let limits = &self.config.limits;
            let trusted = conn.user.oper.is_some()
                || conn.user.account.as_deref().is_some_and(|a| {
                    limits
                        .trusted_accounts
                        .iter()
                        .any(|t| chatd_proto::fold(t) == chatd_proto::fold(a))
                });
            let (burst, rate) = if trusted {
                (limits.trusted_flood_burst, limits.trusted_flood_rate)
            } else {
                (limits.flood_burst, limits.flood_rate)
            };
            if !complete {
                match conn.lines.next_line() {
                    Some(Err(LineError::Overflow)) => {
                        self.conns.close(slot, "RecvQ exceeded (no line end)")
                    }
                    Some(Err(LineError::TooLong)) => {
                        self.cx(slot, now)
                            .reply(ERR_INPUTTOOLONG, &["Input line was too long"]);
                        continue;
                    }
                    _ => {}
                }
                return;
            }
            if let Err(wait) = conn.take_flood_token(now, burst, rate) {
                conn.throttled = true;
                let id = conn.id;
                self.resume.push(Reverse((now + wait, id.slot, id.serial)));
                return;
            }
            let Some(line) = conn.lines.next_line() else {
                return;
            };
            conn.last_seen = now;
            conn.ping_sent = None;
            let mut cx = self.cx(slot, now);
            match line {
                Ok(bytes) => handle_line(&mut cx, bytes),
                Err(LineError::TooLong) => cx.reply(ERR_INPUTTOOLONG, &["Input line was too long"]),
                Err(LineError::Overflow) => cx.conns.close(slot, "RecvQ exceeded (no line end)"),
            }
        }
    }
}

/// Decodes, parses and dispatches one line from `cx.me`.
fn handle_line(cx: &mut Cx, bytes: Vec<u8>) {
    let (text, valid_utf8) = match String::from_utf8(bytes) {
        Ok(s) => (s, true),
        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
    };
    log::trace!("conn={} <- {}", cx.me, crate::redact::wire_line(&text));
    let msg = match parse(&text) {
        Ok(m) => m,
        Err(ParseError::Empty) => return,
        Err(e) => {
            // Not `{e}`: the error quotes the whole line, which may carry a password.
            let why = match e {
                ParseError::ForbiddenByte(_) => "a NUL, CR or LF inside",
                _ => "no command",
            };
            log::debug!(
                "conn={} unparsable line ({why}): {}",
                cx.me,
                crate::redact::wire_line(&text)
            );
            return;
        }
    };
    if !cx.user().registered && looks_like_http(&msg) {
        let me = cx.me;
        cx.conns
            .close(me, "This is an IRC server; HTTP is not spoken here");
        return;
    }
    if !cx.user().registered && msg.command.eq_ignore_ascii_case("PROXY") {
        // A PROXY header from someone who is not a configured proxy, that was not
        // in the connection's first bytes (`Conn::read_some` refuses those).
        let me = cx.me;
        cx.conns.close(me, crate::conn::PROXY_NOT_LISTED);
        return;
    }
    if !valid_utf8 {
        // The command is echoed only when it is a plain word: never control bytes
        // or the replacement characters of the invalid bytes themselves.
        let command = cmd::echoable_command(&msg.command);
        let fail = Message::new(
            "FAIL",
            [
                command.as_str(),
                "INVALID_UTF8",
                "Message rejected: your client sent invalid UTF-8",
            ],
        )
        .with_source(cx.server_name());
        cx.send_me(&fail);
        return;
    }
    // The ids this command gives out go with it to the other nodes (`replicate`).
    cx.state.cluster.given.clear();
    cx.state.cluster.created.clear();
    cmd::dispatch(cx, &msg);
    cmd::cluster::replicate(cx, &msg);
}

/// `GET / HTTP/1.1` and friends: a web client (or scanner) on the IRC port.
fn looks_like_http(msg: &Message) -> bool {
    const METHODS: [&str; 8] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH",
    ];
    METHODS.contains(&msg.command.as_str())
        && msg.params.last().is_some_and(|p| p.starts_with("HTTP/"))
}
