//! [`Bot`]: registers handlers, commands and timers, then runs the connection:
//! connect, register and log in, read lines into events, pace what goes out,
//! answer PING, notice a dead link, reconnect with backoff and rejoin.

use crate::config::{Config, Reconnect};
use crate::context::{Context, ControlFn, Core, Handle};
use crate::event::{self, Event, Message};
use crate::flood::Outbox;
use crate::login::{Registration, Step};
use crate::proto::{self, numeric, Limits, LineBuffer};
use crate::router::{self, Command, CommandSpec, Router};
use crate::state::State;
use crate::timer::{Run, TimerId, Timers};
use crate::transport::{ConnectError, Transport};
use crate::Error;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const SOCKET: mio::Token = mio::Token(0);
const WAKER: mio::Token = mio::Token(1);

/// After QUIT, how long to wait for the server to close the connection.
const QUIT_GRACE: Duration = Duration::from_secs(3);

type EventFn = Box<dyn FnMut(&mut Context<'_>, &Event) + Send>;
type CommandFn = Box<dyn FnMut(&mut Context<'_>, &Command) + Send>;

/// A bot: a connection to one server, its handlers, commands and timers.
/// [`Bot::run`] drives it until it quits.
pub struct Bot {
    core: Core,
    handlers: Vec<EventFn>,
    /// In the order of `core.router.specs`.
    commands: Vec<CommandFn>,
    poll: mio::Poll,
    controls: mpsc::Receiver<ControlFn>,
    /// For [`crate::Login::Register`]: learned on the first connection.
    account_exists: bool,
    /// Channels to join on the next connection besides the configured ones: those
    /// the bot was in when it lost the last one.
    rejoin: Vec<String>,
    /// Set by SIGINT/SIGTERM when [`Bot::quit_on_signals`] is on.
    signalled: Arc<AtomicBool>,
}

/// How one connection ended.
enum Outcome {
    /// The bot quit.
    Quit,
    /// Gone; try again. `registered` if it had completed registration.
    Lost {
        reason: String,
        registered: bool,
    },
    Fatal(Error),
}

impl Bot {
    pub fn new(config: Config) -> Result<Bot, Error> {
        let poll = mio::Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        let (tx, controls) = mpsc::channel();
        let outbox = Outbox::new(config.flood, config.clock.clone());
        let state = State::new(&config.nick);
        Ok(Bot {
            core: Core {
                config,
                state,
                outbox,
                router: Router::default(),
                timers: Timers::default(),
                ready: false,
                quitting: false,
                handle: Handle { tx, waker },
            },
            handlers: Vec::new(),
            commands: Vec::new(),
            poll,
            controls,
            account_exists: false,
            rejoin: Vec::new(),
            signalled: Arc::new(AtomicBool::new(false)),
        })
    }

    /// A handle to reach the bot from other threads once it runs.
    pub fn handle(&self) -> Handle {
        self.core.handle.clone()
    }

    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// Calls `f` with every event, in the order the handlers were added. Handlers
    /// run on the bot's thread: one that blocks (on a terminal, a lock, another
    /// thread) holds up everything else, a [`Handle::quit`] included.
    pub fn on(&mut self, f: impl FnMut(&mut Context<'_>, &Event) + Send + 'static) -> &mut Bot {
        self.handlers.push(Box::new(f));
        self
    }

    /// Adds a command: `!name args` in a channel (with the configured prefix),
    /// `botnick: name args`, or `name args` in private. `help` is shown by the
    /// generated `help` command: `"<NdM>: rolls dice"`. [`Context::reply`] answers
    /// where the command came from. Registering a name again replaces it.
    pub fn command(
        &mut self,
        name: &str,
        help: &str,
        f: impl FnMut(&mut Context<'_>, &Command) + Send + 'static,
    ) -> &mut CommandSpec {
        let i = self.core.router.add(name, help);
        if i == self.commands.len() {
            self.commands.push(Box::new(f));
        } else {
            self.commands[i] = Box::new(f);
        }
        &mut self.core.router.specs[i]
    }

    /// Runs `f` every `period`, first after one period.
    pub fn every(
        &mut self,
        period: Duration,
        f: impl FnMut(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        self.core.timers.every(period, f)
    }

    /// Runs `f` once, after `delay`.
    pub fn after(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        self.core.timers.after(delay, f)
    }

    /// Runs `f` once at `when`.
    pub fn at(
        &mut self,
        when: DateTime<Utc>,
        f: impl FnOnce(&mut Context<'_>) + Send + 'static,
    ) -> TimerId {
        self.core.timers.at(when, f)
    }

    /// Makes Ctrl-C (SIGINT) and SIGTERM stop the bot cleanly: it sends QUIT and
    /// [`Bot::run`] returns. A second signal while it quits ends the process at
    /// once (exit status 130).
    pub fn quit_on_signals(&mut self) -> Result<&mut Bot, Error> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for signal in [SIGINT, SIGTERM] {
            // The shutdown hook first: it acts only once the flag is already set.
            signal_hook::flag::register_conditional_shutdown(signal, 130, self.signalled.clone())?;
            signal_hook::flag::register(signal, self.signalled.clone())?;
        }
        Ok(self)
    }

    /// A signal asked the bot to stop: QUIT as if a handler had asked.
    fn check_signals(&mut self) {
        if self.signalled.load(Ordering::Relaxed) && !self.core.quitting {
            log::info!("signal received, quitting");
            Context::new(&mut self.core, None).quit("");
        }
    }

    /// Connects and serves until the bot quits ([`Context::quit`],
    /// [`Handle::quit`]): `Ok(())`. Lost connections are retried with backoff;
    /// an `Err` means retrying cannot help (a refused login, no usable nick), or
    /// reconnecting is off.
    pub fn run(mut self) -> Result<(), Error> {
        let mut backoff = Backoff::new(self.core.config.reconnect);
        loop {
            self.check_signals();
            if self.core.quitting {
                return Ok(());
            }
            let outcome = match Transport::connect(&self.core.config) {
                Ok(transport) => self.session(transport),
                Err(ConnectError::Fatal(e)) => {
                    log::error!("cannot connect: {e}");
                    return Err(e);
                }
                Err(ConnectError::Retry(reason)) => Outcome::Lost {
                    reason,
                    registered: false,
                },
            };
            let (reason, registered) = match outcome {
                Outcome::Quit => return Ok(()),
                Outcome::Fatal(e) => {
                    log::error!("giving up: {e}");
                    self.dispatch(Event::Disconnected {
                        reason: e.to_string(),
                        reconnect_in: None,
                    });
                    return Err(e);
                }
                Outcome::Lost { reason, registered } => (reason, registered),
            };
            log::info!("disconnected: {reason}");
            if registered {
                backoff.reset();
            }
            if !self.core.config.reconnect.enabled {
                self.dispatch(Event::Disconnected {
                    reason: reason.clone(),
                    reconnect_in: None,
                });
                return Err(Error::Disconnected(reason));
            }
            let delay = backoff.next_delay();
            log::info!("reconnecting in {:.1} s", delay.as_secs_f64());
            self.dispatch(Event::Disconnected {
                reason,
                reconnect_in: Some(delay),
            });
            if self.wait(delay) {
                return Ok(());
            }
        }
    }

    /// Waits out a reconnect delay, still running timers and handle calls. True
    /// if the bot quit meanwhile.
    fn wait(&mut self, delay: Duration) -> bool {
        let deadline = Instant::now() + delay;
        let mut events = mio::Events::with_capacity(8);
        loop {
            if self.core.quitting {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let mut until = deadline;
            if let Some(t) = self.core.timers.next_due() {
                until = until.min(t);
            }
            let _ = self
                .poll
                .poll(&mut events, Some(until.saturating_duration_since(now)));
            self.drain_controls();
            self.run_timers();
            self.check_signals();
        }
    }

    /// One connection, from the first line to its end.
    fn session(&mut self, mut transport: Transport) -> Outcome {
        let config = self.core.config.clone();
        let limits = Limits {
            // Servers may send more than 512 bytes; be lenient in what we take.
            max_line: 8192,
            max_tags: 8191,
            max_unterminated: 64 * 1024,
        };
        let mut lines = LineBuffer::new(limits);
        let mut reg = Registration::new(&config, self.account_exists);
        let (ping_interval, ping_timeout) = (config.ping_interval, config.ping_timeout);
        let connect_timeout = config.connect_timeout;
        let start_lines = reg.start(&config.username, &config.realname);
        self.core.state.reset(&config.nick);
        self.core.outbox.reset();
        self.core.ready = false;
        for step in start_lines {
            if let Step::Send(m) = step {
                self.core.outbox.push_urgent(m.to_line());
            }
        }
        let mut interest = transport.interest();
        if let Err(e) = transport.register(self.poll.registry(), SOCKET) {
            return Outcome::Lost {
                reason: e.to_string(),
                registered: false,
            };
        }
        let mut conn = Conn {
            started: Instant::now(),
            last_heard: Instant::now(),
            ping_sent: None,
            quit_deadline: None,
            error: None,
            batches: HashMap::new(),
            replay_before: None,
            bot_mode_sent: false,
        };
        let mut events = mio::Events::with_capacity(64);
        let outcome = loop {
            let written = self.core.outbox.release().into_iter().try_for_each(|line| {
                if log::log_enabled!(log::Level::Trace) {
                    log::trace!("sent: {}", redacted(&line));
                }
                transport.write(&line)
            });
            if let Err(e) = written {
                break self.lost(format!("write error: {e}"));
            }
            if let Err(e) = transport.flush() {
                break self.lost(format!("write error: {e}"));
            }
            // WRITABLE only while bytes wait; epoll is told only of changes.
            if transport.interest() != interest {
                interest = transport.interest();
                if let Err(e) = transport.reregister(self.poll.registry(), SOCKET) {
                    break self.lost(e.to_string());
                }
            }

            let now = Instant::now();
            let mut deadline = match conn.ping_sent {
                None => conn.last_heard + ping_interval,
                Some(sent) => sent + ping_timeout,
            };
            if !reg.is_ready() {
                deadline = deadline.min(conn.started + connect_timeout);
            }
            if let Some(t) = conn.quit_deadline {
                deadline = deadline.min(t);
            }
            if let Some(t) = self.core.timers.next_due() {
                deadline = deadline.min(t);
            }
            let mut timeout = deadline.saturating_duration_since(now);
            if let Some(wait) = self.core.outbox.next_release() {
                // A stopped test clock must not spin the loop.
                timeout = timeout.min(wait.max(Duration::from_millis(1)));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    break Outcome::Fatal(Error::Io(e));
                }
            }
            let readable = events.iter().any(|e| e.token() == SOCKET);
            if readable {
                let open = match transport.read(&mut lines) {
                    Ok(open) => open,
                    Err(e) => break self.lost(format!("read error: {e}")),
                };
                let mut outcome = None;
                while let Some(line) = lines.next_line() {
                    let line = match line {
                        Ok(line) => line,
                        Err(e) => {
                            log::warn!("skipped a line from the server: {e:?}");
                            continue;
                        }
                    };
                    conn.last_heard = Instant::now();
                    conn.ping_sent = None;
                    let text = String::from_utf8_lossy(&line);
                    log::trace!("received: {text}");
                    let Ok(mut msg) = proto::parse(&text) else {
                        log::debug!("unparsable line from the server: {text:?}");
                        continue;
                    };
                    msg.command.make_ascii_uppercase();
                    if let Some(o) = self.on_line(msg, &mut reg, &mut conn) {
                        outcome = Some(o);
                        break;
                    }
                }
                if let Some(o) = outcome {
                    break o;
                }
                if !open {
                    if self.core.quitting {
                        break Outcome::Quit;
                    }
                    let reason = conn
                        .error
                        .take()
                        .unwrap_or_else(|| "connection closed by the server".into());
                    break self.lost(reason);
                }
            }
            self.drain_controls();
            self.run_timers();
            self.check_signals();

            let now = Instant::now();
            if self.core.quitting {
                if !self.core.ready {
                    break Outcome::Quit;
                }
                let drain = self.core.outbox.drain_time().min(Duration::from_secs(30));
                let t = *conn.quit_deadline.get_or_insert(now + drain + QUIT_GRACE);
                if now >= t {
                    break Outcome::Quit;
                }
            }
            match conn.ping_sent {
                None if now >= conn.last_heard + ping_interval => {
                    let token = format!("chatd-bot-{}", Utc::now().timestamp());
                    self.core
                        .outbox
                        .push_urgent(proto::Message::new("PING", [token]).to_line());
                    conn.ping_sent = Some(now);
                }
                Some(sent) if now >= sent + ping_timeout => {
                    break self.lost(format!(
                        "ping timeout: nothing heard for {} seconds",
                        now.duration_since(conn.last_heard).as_secs()
                    ));
                }
                _ => {}
            }
            if !reg.is_ready() && now >= conn.started + connect_timeout {
                break self.lost("registration timed out".into());
            }
        };
        self.account_exists |= reg.account_exists;
        transport.deregister(self.poll.registry());
        outcome
    }

    /// Ends a connection that was lost: remembers its channels for the next one.
    fn lost(&mut self, reason: String) -> Outcome {
        let registered = self.core.ready;
        if registered {
            self.rejoin = self.core.state.channels().map(|c| c.name.clone()).collect();
        }
        self.core.ready = false;
        let nick = self.core.config.nick.clone();
        self.core.state.reset(&nick);
        Outcome::Lost { reason, registered }
    }

    /// One line from the server. `Some` ends the connection.
    fn on_line(
        &mut self,
        msg: proto::Message,
        reg: &mut Registration,
        conn: &mut Conn,
    ) -> Option<Outcome> {
        match msg.command.as_str() {
            "PING" => {
                let pong = proto::Message::new("PONG", msg.params.iter().map(String::as_str));
                self.core.outbox.push_urgent(pong.to_line());
                return None;
            }
            "PONG" => return None,
            "ERROR" => conn.error = Some(msg.param(0).to_string()),
            "BATCH" => {
                let id = msg.param(0);
                if let Some(id) = id.strip_prefix('+') {
                    conn.batches
                        .insert(id.to_string(), msg.param(1).to_string());
                } else if let Some(id) = id.strip_prefix('-') {
                    conn.batches.remove(id);
                }
            }
            // The end of the welcome burst: ISUPPORT has been read.
            numeric::RPL_ENDOFMOTD | numeric::ERR_NOMOTD if !conn.bot_mode_sent => {
                conn.bot_mode_sent = true;
                self.mark_as_bot();
            }
            numeric::RPL_WELCOME => {
                // Anything stamped before this connection is a replay. Server times
                // have whole milliseconds, so this one must too: a live message
                // stamped in the same millisecond is not older.
                let slack =
                    chrono::Duration::from_std(self.core.config.replay_slack).unwrap_or_default();
                let now_ms = Utc::now().timestamp_millis();
                conn.replay_before = DateTime::from_timestamp_millis(now_ms).map(|t| t - slack);
            }
            _ => {}
        }
        let mut became_ready = false;
        if !reg.is_ready() {
            for step in reg.on_message(&msg) {
                match step {
                    Step::Send(m) => self.core.outbox.push_urgent(m.to_line()),
                    Step::Ready => became_ready = true,
                    Step::Fatal(reason, kind) => {
                        self.account_exists |= reg.account_exists;
                        return Some(Outcome::Fatal(Step::into_error(reason, kind)));
                    }
                }
            }
        }
        let event = self.interpret(&msg, conn);
        if became_ready {
            self.core.ready = true;
            self.core.state.set_caps(reg.acked.clone());
            self.account_exists |= reg.account_exists;
            log::info!(
                "nick={} account={} registered",
                self.core.state.nick(),
                self.core.state.account().unwrap_or("-")
            );
        }
        self.dispatch(event);
        if became_ready {
            self.dispatch(Event::Connected {
                nick: self.core.state.nick().to_string(),
                account: self.core.state.account().map(str::to_string),
            });
            self.join_channels();
        }
        None
    }

    fn interpret(&mut self, msg: &proto::Message, conn: &Conn) -> Event {
        if let Some(ev) = self.core.state.apply(msg) {
            return ev;
        }
        let kind = msg.command.as_str();
        if kind == "PRIVMSG" || kind == "NOTICE" {
            let state = &self.core.state;
            let in_history_batch = msg
                .tag("batch")
                .and_then(|id| conn.batches.get(id))
                .is_some_and(|t| t == "chathistory" || t.ends_with("/chathistory"));
            let eq = |a: &str, b: &str| state.eq(a, b);
            let cx = event::Context {
                my_nick: state.nick(),
                chantypes: state.isupport().chantypes(),
                statusmsg: state.isupport().statusmsg(),
                in_history_batch,
                replay_before: conn.replay_before,
                fold_eq: &eq,
            };
            if let Some(m) = event::message(msg, &cx) {
                return if kind == "PRIVMSG" {
                    Event::Message(m)
                } else {
                    Event::Notice(m)
                };
            }
        }
        Event::Raw(msg.clone())
    }

    /// After registration: the configured channels and those the bot was in.
    /// IRCv3 bot-mode: `MODE <nick> +<BOT letter>` when the server has the mode and
    /// [`Config::bot_mode`] is on.
    fn mark_as_bot(&mut self) {
        if !self.core.config.bot_mode {
            return;
        }
        let Some(letter) = self
            .core
            .state
            .isupport()
            .get("BOT")
            .and_then(|v| v.chars().next())
        else {
            return;
        };
        let nick = self.core.state.nick().to_string();
        let mode = proto::Message::new("MODE", [nick, format!("+{letter}")]);
        self.core.outbox.push_urgent(mode.to_line());
    }

    fn join_channels(&mut self) {
        let mut seen = HashSet::new();
        let wanted: Vec<String> = self
            .core
            .config
            .channels
            .iter()
            .chain(self.rejoin.iter())
            .filter(|c| seen.insert(self.core.state.fold(c)))
            .cloned()
            .collect();
        // Several per JOIN, well under the line limit.
        let mut batch: Vec<String> = Vec::new();
        for chan in wanted {
            if batch.iter().map(|c| c.len() + 1).sum::<usize>() + chan.len() > 400 {
                let line = batch.join(",");
                Context::new(&mut self.core, None).join(&line);
                batch.clear();
            }
            batch.push(chan);
        }
        if !batch.is_empty() {
            Context::new(&mut self.core, None).join(&batch.join(","));
        }
    }

    fn dispatch(&mut self, event: Event) {
        let reply_to = match &event {
            Event::Message(m) => Some(m.reply_target().to_string()),
            _ => None,
        };
        for handler in &mut self.handlers {
            let mut ctx = Context::new(&mut self.core, reply_to.clone());
            handler(&mut ctx, &event);
        }
        if let Event::Message(m) = event {
            self.route(m);
        }
    }

    /// Runs the command in `m`, if it is one for this bot.
    fn route(&mut self, m: Message) {
        let core = &mut self.core;
        if m.own || m.action || !core.ready || (m.replayed && !core.config.answer_replayed) {
            return;
        }
        let state = &core.state;
        let eq = |a: &str, b: &str| state.eq(a, b);
        let Some(inv) = router::invocation(
            &m.text,
            &core.config.prefix,
            state.nick(),
            m.is_private,
            &eq,
        ) else {
            return;
        };
        let (name, args) = (inv.name, inv.args.to_string());
        let reply_to = Some(m.reply_target().to_string());
        match core.router.find(&name) {
            Some(i) => {
                let user = m
                    .account
                    .clone()
                    .unwrap_or_else(|| core.state.fold(&m.from));
                if !core.router.admit(i, &user, Instant::now()) {
                    log::debug!("nick={} cmd={name} cooling down", m.from);
                    return;
                }
                log::debug!("nick={} cmd={name}", m.from);
                let cmd = Command {
                    name,
                    args,
                    message: m,
                };
                let mut ctx = Context::new(core, reply_to);
                (self.commands[i])(&mut ctx, &cmd);
            }
            // A bot without commands leaves `help` to the bots that have some.
            None if name == "help" && !core.router.specs.is_empty() => {
                if let Some(text) = core.router.help(&core.config.prefix, &args) {
                    Context::new(core, reply_to).reply(text);
                }
            }
            // Not ours: another bot in the channel may know it. Say nothing.
            None => log::debug!("nick={} cmd={name} not a command of this bot", m.from),
        }
    }

    fn drain_controls(&mut self) {
        while let Ok(f) = self.controls.try_recv() {
            f(&mut Context::new(&mut self.core, None));
        }
    }

    fn run_timers(&mut self) {
        let now = Instant::now();
        while let Some(mut timer) = self.core.timers.take_due(now) {
            let mut ctx = Context::new(&mut self.core, None);
            match timer.run {
                Run::Every(_, ref mut f) => f(&mut ctx),
                Run::Once(f) => {
                    f(&mut ctx);
                    continue;
                }
            }
            self.core.timers.put_back(timer, now);
        }
    }
}

/// A line for the log, with any password in it hidden.
fn redacted(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end();
    let secret = ["PASS ", "AUTHENTICATE ", "REGISTER ", "LOGIN "]
        .iter()
        .any(|c| text.starts_with(c));
    match text.rsplit_once(' ') {
        Some((head, last)) if secret && !matches!(last, "PLAIN" | "+" | "*") => {
            format!("{head} <redacted>")
        }
        _ => text.to_string(),
    }
}

/// Per-connection bookkeeping of the loop.
struct Conn {
    started: Instant,
    last_heard: Instant,
    ping_sent: Option<Instant>,
    quit_deadline: Option<Instant>,
    /// The server's `ERROR` text, the best reason for a close.
    error: Option<String>,
    /// Open batches: id → type.
    batches: HashMap<String, String>,
    replay_before: Option<DateTime<Utc>>,
    /// Bot mode was asked for on this connection (once, after the ISUPPORT lines).
    bot_mode_sent: bool,
}

/// Exponential backoff with jitter.
struct Backoff {
    config: Reconnect,
    next: Duration,
}

impl Backoff {
    fn new(config: Reconnect) -> Backoff {
        Backoff {
            config,
            next: config.initial,
        }
    }

    fn reset(&mut self) {
        self.next = self.config.initial;
    }

    /// The next delay: the current step less up to half of it at random; the step
    /// doubles up to the maximum.
    fn next_delay(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.config.max.max(self.config.initial));
        let jitter = rand::random::<f64>() * 0.5;
        step.mul_f64(1.0 - jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_log() {
        let cases = [
            ("PASS bob:hunter22\r\n", "PASS <redacted>"),
            ("AUTHENTICATE PLAIN\r\n", "AUTHENTICATE PLAIN"),
            (
                "AUTHENTICATE Ym9iAGJvYgBodW50ZXIyMg==\r\n",
                "AUTHENTICATE <redacted>",
            ),
            ("REGISTER bob * hunter22\r\n", "REGISTER bob * <redacted>"),
            ("LOGIN bob hunter22\r\n", "LOGIN bob <redacted>"),
            ("PRIVMSG #c :my PASS is\r\n", "PRIVMSG #c :my PASS is"),
        ];
        for (line, want) in cases {
            assert_eq!(redacted(line.as_bytes()), want);
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_max() {
        let mut b = Backoff::new(Reconnect {
            enabled: true,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(8),
        });
        let steps = [1, 2, 4, 8, 8, 8];
        for step in steps {
            let d = b.next_delay();
            let step = Duration::from_secs(step);
            assert!(
                d <= step && d >= step / 2,
                "{d:?} within [{:?}, {step:?}]",
                step / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }
}
