//! Real IRC clients — irssi and weechat — run in a detached session of a private
//! tmux server, join a channel and chat both ways with a harness client. They are
//! driven by keystrokes (`tmux send-keys`) and read by screen (`tmux capture-pane`).
//! Marked ignored (and counted so by the test runner) when a tool is missing, unless
//! `CI` is set (`.ci/run` installs them): `tests/build.rs` probes PATH.

use chatd_tests::{Client, TestServer};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a screen may take to show something. Screens are the one place we
/// poll: a terminal has no PING/PONG to synchronise with.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(15);

/// In chatd's RPL_WELCOME, with `<nick>!<user>@<host>` (RFC 2812 §5.1); once it is
/// shown the client accepts `/join`. The nick tells it from weechat's own banner.
const WELCOME: &str = "Welcome to";

/// A harness client in `#channel`, and a real client started by `launch` that
/// joins it; they exchange a message each way, then the real client quits.
/// `launch` gets the server's port and a private home directory.
struct Chat {
    /// Name of the program, for skip messages and panics.
    program: &'static str,
    /// The real client's nick (`launch` must make it use it).
    nick: &'static str,
    channel: &'static str,
    /// Its command line, given the port and the home directory.
    launch: fn(port: u16, home: &Path) -> Vec<String>,
}

impl Chat {
    fn run(&self) {
        let server = TestServer::start();
        let mut harness = server.connect("harness");
        harness.send(&format!("JOIN {}", self.channel));
        harness.expect(|m| m.command == "JOIN", "own JOIN");
        harness.sync();

        let home = tempfile::tempdir().unwrap();
        let argv = (self.launch)(server.addr.port(), home.path());
        let term = Terminal::start(self.program, home, &argv);

        let mask = format!("{}!", self.nick);
        term.wait_for("the welcome", |l| l.contains(WELCOME) && l.contains(&mask));
        term.type_line(&format!("/join {}", self.channel));
        harness.expect(
            |m| {
                m.command == "JOIN"
                    && m.source_nick() == Some(self.nick)
                    && m.param(0) == self.channel
            },
            &format!("JOIN {} from {}", self.channel, self.nick),
        );
        // irssi: "<nick> [~user@host] has joined <channel>"; weechat: the same in ( ).
        let joined = format!("has joined {}", self.channel);
        term.wait_for("its own join", |l| {
            l.contains(self.nick) && l.contains(&joined)
        });

        let typed = format!("hello from {}", self.program);
        term.type_line(&typed);
        let m = harness.expect_privmsg_from(self.nick, &typed);
        assert_eq!(m.param(0), self.channel, "typed text goes to the channel");

        let said = "greetings, real client";
        harness.send(&format!("PRIVMSG {} :{said}", self.channel));
        let screen = term.wait_for("the harness's message", |l| {
            l.contains("harness") && l.contains(said)
        });
        // Any copy of its own line the server wrongly sent back (no echo-message
        // here) was queued before the harness's message, so it is on screen by now.
        let own = screen
            .lines()
            .filter(|l| l.contains(self.nick) && l.contains(&typed))
            .count();
        assert_eq!(
            own, 1,
            "{} shows its own line once:\n{screen}",
            self.program
        );

        term.type_line("/quit see you");
        expect_quit(&mut harness, self.nick);
    }
}

#[test]
#[cfg_attr(not(all(has_irssi, has_tmux)), ignore = "irssi or tmux not installed")]
fn irssi_joins_and_chats_both_ways() {
    Chat {
        program: "irssi",
        nick: "irssiuser",
        channel: "#realtest",
        launch: |port, home| {
            // irssi's default flood control paces queued commands 2.2 s apart,
            // which would hold `/join` back behind its post-welcome queries.
            let config = concat!(
                "settings = {\n",
                "  core = { real_name = \"irssi e2e\"; user_name = \"irssiuser\"; ",
                "nick = \"irssiuser\"; };\n",
                "  \"irc/core\" = { cmd_queue_speed = \"0msec\"; cmds_max_at_once = \"100\"; };\n",
                "  \"fe-common/core\" = { autolog = \"no\"; };\n",
                "};\n",
            );
            std::fs::write(home.join("config"), config).unwrap();
            vec![
                "irssi".into(),
                format!("--home={}", home.display()),
                "-c".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-n".into(),
                "irssiuser".into(),
            ]
        },
    }
    .run();
}

#[test]
#[cfg_attr(
    not(all(has_weechat, has_tmux)),
    ignore = "weechat or tmux not installed"
)]
fn weechat_joins_and_chats_both_ways() {
    Chat {
        program: "weechat",
        nick: "weechatuser",
        channel: "#realweechat",
        launch: |port, home| {
            // Only the irc plugin and no scripts: nothing else to load or fetch.
            vec![
                "weechat".into(),
                "--dir".into(),
                home.display().to_string(),
                "--no-script".into(),
                "--plugins".into(),
                "irc".into(),
                "--run-command".into(),
                format!(
                    "/server add e2e 127.0.0.1/{port} -notls -nicks=weechatuser \
                     -username=weechatuser -realname=weechat_e2e; /connect e2e"
                ),
            ]
        },
    }
    .run();
}

/// weechat 3.8 (Debian 12) against chatd's modern features, seen from both ends: a
/// [`Tap`] between them keeps the server-side transcript.
/// - Capabilities: weechat 3.8 requests the ones it knows that chatd offers
///   (IRCv3 capability negotiation, <https://ircv3.net/specs/extensions/capability-negotiation>);
///   it knows neither `batch`, `labeled-response` nor `draft/chathistory`, so it
///   asks for none of them (chathistory paging is shown by `chat`, in bot-sdk tests).
/// - MONITOR (<https://ircv3.net/specs/extensions/monitor>, "MONITOR +" and
///   RPL_MONONLINE/RPL_MONOFFLINE): with ISUPPORT `MONITOR`, `/notify add` sends
///   `MONITOR +`, and weechat says when the nick connects and quits.
/// - Bot mode (<https://ircv3.net/specs/extensions/bot-mode>, "RPL_WHOISBOT"): the
///   WHOIS of a `+B` user shows the 335 line.
#[test]
#[cfg_attr(
    not(all(has_weechat, has_tmux)),
    ignore = "weechat or tmux not installed"
)]
fn weechat_uses_monitor_and_shows_bots() {
    let server = TestServer::start();
    let tap = Tap::start(server.addr);
    let home = tempfile::tempdir().unwrap();
    let argv = vec![
        "weechat".to_string(),
        "--dir".into(),
        home.path().display().to_string(),
        "--no-script".into(),
        "--plugins".into(),
        "irc".into(),
        "--run-command".into(),
        format!(
            "/server add e2e 127.0.0.1/{} -notls -nicks=weechatuser \
             -username=weechatuser -realname=weechat_e2e; /connect e2e",
            tap.port
        ),
    ];
    let term = Terminal::start("weechat", home, &argv);
    term.wait_for("the welcome", |l| {
        l.contains(WELCOME) && l.contains("weechatuser!")
    });

    // What weechat 3.8 asked for and got.
    let req = tap.wait_for("its CAP REQ", |l| l.starts_with(">> CAP REQ"));
    let ack = tap.wait_for("chatd's CAP ACK", |l| {
        l.contains(" CAP weechatuser ACK") || l.contains(" CAP * ACK")
    });
    for cap in [
        "account-notify",
        "away-notify",
        "cap-notify",
        "extended-join",
        "invite-notify",
        "message-tags",
        "multi-prefix",
        "server-time",
        "setname",
        "userhost-in-names",
    ] {
        assert!(
            ack.split([' ', ':']).any(|c| c == cap),
            "{cap} acked: {ack}"
        );
    }
    for cap in ["batch", "labeled-response", "draft/chathistory"] {
        assert!(
            !req.split([' ', ':']).any(|c| c == cap),
            "weechat 3.8 does not know {cap}: {req}"
        );
    }

    // MONITOR: /notify add watches the nick on the server, not by polling ISON.
    term.type_line("/notify add buddy");
    tap.wait_for("MONITOR + buddy", |l| {
        l.starts_with(">> MONITOR + ") && l.contains("buddy")
    });
    // MONITOR + answers RPL_MONOFFLINE (731) for a nick not online; once it is
    // sent the server holds the entry, so buddy's arrival is announced.
    tap.wait_for("RPL_MONOFFLINE for buddy", |l| {
        l.contains(" 731 weechatuser ") && l.contains("buddy")
    });
    let buddy = server.connect("buddy");
    term.wait_for("weechat's notify line for buddy connecting", |l| {
        l.contains("notify: buddy") && l.contains("connected")
    });
    buddy.quit();
    term.wait_for("weechat's notify line for buddy quitting", |l| {
        l.contains("notify: buddy") && l.contains("has quit")
    });

    // Bot mode: the 335 line in WHOIS.
    let mut bot = server.connect("botty");
    bot.send("MODE botty +B");
    bot.expect(|m| m.command == "MODE" && m.param(1) == "+B", "+B set");
    term.type_line("/whois botty");
    term.wait_for("the RPL_WHOISBOT line", |l| {
        l.contains("botty") && l.contains("is a Bot on")
    });
    assert!(
        tap.lines()
            .iter()
            .any(|l| l.starts_with("<< ") && l.contains(" 335 weechatuser botty ")),
        "chatd sent RPL_WHOISBOT"
    );

    term.type_line("/quit see you");
    tap.wait_for("weechat's QUIT", |l| l.starts_with(">> QUIT"));
}

/// A loopback relay between a real client and chatd that keeps both directions,
/// line by line: `>> ` what the client sent, `<< ` what chatd answered. One
/// connection; its threads end when either side closes.
struct Tap {
    port: u16,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Tap {
    fn start(server: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = lines.clone();
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let upstream = TcpStream::connect(server).expect("chatd accepts the tap");
            let copy = |from: TcpStream, mut to: TcpStream, mark: &'static str| {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(from).split(b'\n') {
                        let Ok(mut line) = line else { break };
                        let text = String::from_utf8_lossy(&line).trim_end().to_string();
                        kept.lock().unwrap().push(format!("{mark}{text}"));
                        line.push(b'\n');
                        if to.write_all(&line).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                })
            };
            copy(
                client.try_clone().unwrap(),
                upstream.try_clone().unwrap(),
                ">> ",
            );
            copy(upstream, client, "<< ");
        });
        Tap { port, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Polls the transcript until a line satisfies `pred` and returns it; panics
    /// (with the transcript) after [`SCREEN_TIMEOUT`].
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            if let Some(l) = self.lines().into_iter().find(|l| pred(l)) {
                return l;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the server never saw {what} within {SCREEN_TIMEOUT:?}:\n{}",
                    self.lines().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits for the QUIT of `nick` (the real client typed `/quit`).
fn expect_quit(harness: &mut Client, nick: &str) {
    harness.expect(
        |m| m.command == "QUIT" && m.source_nick() == Some(nick),
        &format!("QUIT from {nick}"),
    );
}

/// One program in a detached session of a private tmux server (`tmux -L`), its
/// home a temporary directory. Dropping it kills the tmux server, and with it the
/// program, even when the test panics; a panicking test also prints the screen.
struct Terminal {
    program: &'static str,
    /// The `-L` name; unique per test process and terminal.
    socket: String,
    /// Where tmux put the socket: it leaves the file behind on kill-server.
    socket_path: Option<PathBuf>,
    /// Removed after the server is killed: fields drop after `Drop::drop`.
    _home: tempfile::TempDir,
}

impl Terminal {
    const SESSION: &'static str = "chat";

    fn start(program: &'static str, home: tempfile::TempDir, argv: &[String]) -> Terminal {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "chatd-e2e-{program}-{}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        // remain-on-exit keeps a crashed client's last screen for the panic message.
        let tmux_conf = home.path().join("tmux.conf");
        std::fs::write(&tmux_conf, "set -g remain-on-exit on\n").unwrap();
        let mut term = Terminal {
            program,
            socket,
            socket_path: None,
            _home: home,
        };
        let home = term._home.path().display().to_string();
        let mut cmd = term.tmux();
        cmd.arg("-f").arg(&tmux_conf);
        cmd.args(["new-session", "-d", "-s", Self::SESSION]);
        cmd.args(["-x", "200", "-y", "50"]);
        cmd.args(["-e", &format!("HOME={home}"), "-e", "LC_ALL=C.UTF-8"]);
        cmd.arg("--").args(argv);
        term.check(cmd, "new-session");
        let mut cmd = term.tmux();
        cmd.args(["display-message", "-p", "#{socket_path}"]);
        let path = String::from_utf8_lossy(&term.check(cmd, "display-message").stdout)
            .trim_end()
            .to_string();
        term.socket_path = Some(PathBuf::from(path));
        term
    }

    /// A tmux command on this terminal's private server.
    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        // Run from inside tmux, TMUX would point at the developer's own server.
        cmd.env_remove("TMUX").arg("-L").arg(&self.socket);
        cmd
    }

    fn check(&self, mut cmd: Command, what: &str) -> Output {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("tmux {what} for {}: {e}", self.program));
        assert!(
            out.status.success(),
            "tmux {what} for {} failed: {}",
            self.program,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        let mut cmd = self.tmux();
        cmd.args(["send-keys", "-t", Self::SESSION, "-l", text]);
        self.check(cmd, "send-keys");
        let mut cmd = self.tmux();
        cmd.args(["send-keys", "-t", Self::SESSION, "Enter"]);
        self.check(cmd, "send-keys Enter");
    }

    /// The visible screen, wrapped lines joined; panics when tmux fails.
    fn screen(&self) -> String {
        self.capture().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The visible screen without trailing blanks, or what went wrong.
    fn capture(&self) -> Result<String, String> {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-J", "-t", Self::SESSION])
            .output()
            .map_err(|e| format!("tmux capture-pane for {}: {e}", self.program))?;
        if !out.status.success() {
            return Err(format!(
                "tmux capture-pane for {} failed: {}",
                self.program,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        let used = lines
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(0, |i| i + 1);
        Ok(lines[..used].iter().map(|l| format!("{l}\n")).collect())
    }

    /// Polls the screen until one of its lines satisfies `pred` and returns it;
    /// panics after [`SCREEN_TIMEOUT`] (the drop prints the screen).
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.screen();
            if screen.lines().any(&pred) {
                return screen;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} never showed {what} within {SCREEN_TIMEOUT:?}",
                    self.program
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Not `screen()`: a panic while panicking would abort the test binary.
        if std::thread::panicking() {
            let screen = self.capture().unwrap_or_else(|e| format!("({e})\n"));
            eprintln!("--- {} screen at failure ---\n{screen}---", self.program);
        }
        let _ = self.tmux().arg("kill-server").output();
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}
