//! What the bot tests add to the workspace test kit (`chatd_tests`, whose
//! [`TestServer`] runs the real chatd and whose client is the [`Peer`] that talks to
//! the bot): [`RunningBot`] runs a bot on a thread and hands its events to the test.
//! Waits are bounded and synchronise on replies, not on sleeps.

use chatd_bot::{Bot, Config, Error, Event, Flood, Handle, Reconnect};
pub use chatd_tests::{Client as Peer, TestServer};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any single expectation of a bot's event may wait.
pub const TIMEOUT: Duration = Duration::from_secs(15);

/// A bot config for tests: no pacing, quick reconnects.
pub fn bot_config(addr: SocketAddr, nick: &str) -> Config {
    let mut config = Config::new(addr.to_string(), nick).flood(Flood::unlimited());
    config.reconnect = Reconnect {
        enabled: true,
        initial: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    config.connect_timeout = Duration::from_secs(10);
    config
}

/// A bot running on its own thread; its events come to the test.
pub struct RunningBot {
    pub handle: Handle,
    events: mpsc::Receiver<Event>,
    thread: Option<JoinHandle<Result<(), Error>>>,
    seen: Vec<Event>,
}

impl RunningBot {
    /// Builds the bot, lets `setup` add commands and handlers, and runs it.
    pub fn start(config: Config, setup: impl FnOnce(&mut Bot)) -> RunningBot {
        let mut bot = Bot::new(config).expect("bot");
        let (tx, events) = mpsc::channel();
        bot.on(move |_, ev| {
            let _ = tx.send(ev.clone());
        });
        setup(&mut bot);
        let handle = bot.handle();
        let thread = std::thread::spawn(move || bot.run());
        RunningBot {
            handle,
            events,
            thread: Some(thread),
            seen: Vec::new(),
        }
    }

    /// Waits for an event that satisfies `pred`; panics with every event seen.
    pub fn expect(&mut self, pred: impl Fn(&Event) -> bool, what: &str) -> Event {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    self.seen.push(ev.clone());
                    if pred(&ev) {
                        return ev;
                    }
                }
                Err(_) => panic!(
                    "bot: expected {what}; events so far:\n{}",
                    self.transcript()
                ),
            }
        }
    }

    pub fn expect_connected(&mut self) -> (String, Option<String>) {
        match self.expect(|e| matches!(e, Event::Connected { .. }), "Connected") {
            Event::Connected { nick, account } => (nick, account),
            _ => unreachable!(),
        }
    }

    /// Waits for the bot's own JOIN of `channel`.
    pub fn expect_joined(&mut self, channel: &str) {
        self.expect(
            |e| matches!(e, Event::Join { channel: c, own: true, .. } if c.eq_ignore_ascii_case(channel)),
            &format!("own JOIN {channel}"),
        );
    }

    /// Every event so far, one a line.
    pub fn transcript(&self) -> String {
        self.seen
            .iter()
            .map(|e| format!("  {e:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Events seen so far (and any that already arrived).
    pub fn seen(&mut self) -> &[Event] {
        while let Ok(ev) = self.events.try_recv() {
            self.seen.push(ev);
        }
        &self.seen
    }

    /// Waits for the bot's thread to end on its own; returns what `run` returned.
    pub fn join(mut self) -> Result<(), Error> {
        let t = self.thread.take().expect("joined once");
        let deadline = Instant::now() + TIMEOUT;
        // The events channel closes when `run` returns and drops the bot's handlers.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => self.seen.push(ev),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the bot did not stop; events:\n{}", self.transcript())
                }
            }
        }
        t.join().expect("the bot does not panic")
    }

    /// Quits (QUIT sent) and waits for `run` to return.
    pub fn quit(self, reason: &str) -> Result<(), Error> {
        self.handle.quit(reason);
        self.join()
    }
}

impl Drop for RunningBot {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.quit("test over");
            let _ = t.join();
        }
    }
}
