//! Registration of one connection: CAP negotiation, the login ([`Login`]: SASL
//! SCRAM-SHA-256 when offered, else PLAIN; REGISTER then SASL/LOGIN; or PASS), and
//! nick fallbacks on `433`. A state machine fed with the server's lines; it answers
//! with lines to send. No I/O.

use crate::config::{Config, Login};
use crate::proto::{numeric, Message};
use crate::scram::ScramClient;
use crate::Error;
use base64::Engine;
use std::collections::{BTreeMap, BTreeSet};

/// What the machine asks for after a line.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    Send(Message),
    /// Registration and login are complete.
    Ready,
    Fatal(String, FatalKind),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum FatalKind {
    Login,
    Nick,
}

impl Step {
    pub fn into_error(reason: String, kind: FatalKind) -> Error {
        match kind {
            FatalKind::Login => Error::Login(reason),
            FatalKind::Nick => Error::Nick(reason),
        }
    }
}

#[derive(Debug, Clone)]
enum Sasl {
    Idle,
    /// `AUTHENTICATE PLAIN` sent.
    Plain,
    /// `AUTHENTICATE SCRAM-SHA-256` sent (RFC 5802 §5): the exchange, where it
    /// stands, and the chunks of the server's current message.
    Scram {
        client: Box<ScramClient>,
        step: ScramStep,
        buf: String,
    },
    Done,
}

/// What the SCRAM exchange waits for from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScramStep {
    /// `AUTHENTICATE +`, to send the client-first message.
    Start,
    /// The server-first message, to send the proof.
    ServerFirst,
    /// The server-final message (its signature), to check it.
    ServerFinal,
    /// `903` (the empty response to server-final is sent).
    Outcome,
}

impl Sasl {
    fn started(&self) -> bool {
        matches!(self, Sasl::Plain | Sasl::Scram { .. })
    }
}

#[derive(Debug)]
pub(crate) struct Registration {
    login: Login,
    nicks: Vec<String>,
    next_nick: usize,
    wanted_caps: Vec<String>,
    /// Capabilities the server offers, with their values.
    pub offered: BTreeMap<String, String>,
    pub acked: BTreeSet<String>,
    /// `CAP LS` has been answered in full.
    ls_done: bool,
    cap_ended: bool,
    sasl: Sasl,
    /// SCRAM-SHA-256 failed once on this connection: PLAIN from now on (an account
    /// made before its server kept SCRAM credentials has none until a PLAIN login).
    scram_failed: bool,
    /// `REGISTER` sent, waiting for its answer.
    registering: bool,
    /// A login to do once registered (no SASL): `LOGIN` or `REGISTER`.
    login_after_welcome: bool,
    /// For [`Login::Register`]: the account is known to exist (kept across
    /// reconnects by the caller), so log in rather than register.
    pub account_exists: bool,
    logged_in: bool,
    welcomed: bool,
    ready: bool,
    /// The label of the REGISTER or LOGIN whose answer the login waits for, when
    /// the server does IRCv3 labeled-response: only that answer is taken as it.
    awaiting_label: Option<String>,
    /// The `labeled-response` batch that answer came in, once its start arrived.
    answer_batch: Option<String>,
    labels_sent: u32,
}

impl Registration {
    pub fn new(config: &Config, account_exists: bool) -> Registration {
        let mut nicks = vec![config.nick.clone()];
        nicks.extend(config.alt_nicks.iter().cloned());
        nicks.push(format!("{}_", config.nick));
        nicks.push(format!("{}__", config.nick));
        for _ in 0..3 {
            nicks.push(format!("{}{}", config.nick, rand::random::<u16>() % 1000));
        }
        Registration {
            login: config.login.clone(),
            nicks,
            next_nick: 1,
            wanted_caps: config.caps.clone(),
            offered: BTreeMap::new(),
            acked: BTreeSet::new(),
            ls_done: false,
            cap_ended: false,
            sasl: Sasl::Idle,
            scram_failed: false,
            registering: false,
            login_after_welcome: false,
            account_exists,
            logged_in: false,
            welcomed: false,
            ready: false,
            awaiting_label: None,
            answer_batch: None,
            labels_sent: 0,
        }
    }

    /// `msg` with a fresh `label` when the server does labeled-response (it needs
    /// `batch` too); the answer to it is then recognised by that label.
    fn labeled(&mut self, msg: Message) -> Message {
        if !(self.acked.contains("labeled-response") && self.acked.contains("batch")) {
            return msg;
        }
        self.labels_sent += 1;
        let label = format!("chatd-bot-{}", self.labels_sent);
        self.awaiting_label = Some(label.clone());
        self.answer_batch = None;
        msg.with_tag("label", label)
    }

    /// Whether `msg` is (part of) the answer to the labeled request, or any line
    /// when no request is labeled. Keeps track of the answer's batch.
    fn answers_request(&mut self, msg: &Message) -> bool {
        let Some(label) = &self.awaiting_label else {
            return true;
        };
        if msg.tag("label") == Some(label.as_str()) {
            if msg.command == "BATCH" {
                self.answer_batch = msg.param(0).strip_prefix('+').map(str::to_string);
            }
            return true;
        }
        self.answer_batch.is_some() && msg.tag("batch") == self.answer_batch.as_deref()
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The first lines of a connection.
    pub fn start(&mut self, username: &str, realname: &str) -> Vec<Step> {
        let mut out = Vec::new();
        if let Login::ServerPassword(p) = &self.login {
            out.push(send("PASS", [p.as_str()]));
        }
        out.push(send("CAP", ["LS", "302"]));
        out.push(send("NICK", [self.nicks[0].as_str()]));
        out.push(send("USER", [username, "0", "*", realname]));
        out
    }

    fn credentials(&self) -> Option<(&str, &str)> {
        match &self.login {
            Login::Sasl { account, password } | Login::Register { account, password } => {
                Some((account, password))
            }
            _ => None,
        }
    }

    fn wants_sasl(&self) -> bool {
        matches!(self.login, Login::Sasl { .. } | Login::Register { .. })
    }

    /// The server lets clients register before connecting (draft/account-registration).
    fn can_register_early(&self) -> bool {
        self.offered
            .get("draft/account-registration")
            .is_some_and(|v| v.split(',').any(|f| f == "before-connect"))
    }

    /// Handles one line from the server.
    pub fn on_message(&mut self, msg: &Message) -> Vec<Step> {
        let mut out = Vec::new();
        let answer = self.answers_request(msg);
        match msg.command.as_str() {
            "CAP" => self.on_cap(msg, &mut out),
            "AUTHENTICATE" if msg.param(0) == "+" && matches!(self.sasl, Sasl::Plain) => {
                let (account, password) = self.credentials().expect("SASL has credentials");
                authenticate(&format!("{account}\0{account}\0{password}"), &mut out);
            }
            "AUTHENTICATE" if matches!(self.sasl, Sasl::Scram { .. }) => {
                self.on_scram(msg.param(0), &mut out);
            }
            numeric::RPL_SASLSUCCESS | numeric::ERR_SASLALREADY => {
                self.sasl = Sasl::Done;
                self.logged_in = true;
                self.end_caps(&mut out);
            }
            numeric::ERR_SASLFAIL
                if matches!(self.sasl, Sasl::Scram { .. }) && !self.scram_failed =>
            {
                // Perhaps an account without SCRAM credentials yet: PLAIN once.
                self.scram_failed = true;
                self.sasl = Sasl::Plain;
                out.push(send("AUTHENTICATE", ["PLAIN"]));
            }
            numeric::ERR_SASLFAIL | numeric::ERR_SASLTOOLONG | numeric::ERR_SASLABORTED
                if self.sasl.started() =>
            {
                self.sasl = Sasl::Idle;
                out.push(Step::Fatal(
                    format!("SASL: {}", msg.params.last().map_or("", String::as_str)),
                    FatalKind::Login,
                ));
            }
            numeric::RPL_LOGGEDIN => {
                self.logged_in = true;
            }
            "REGISTER" if msg.param(0) == "SUCCESS" && self.registering && answer => {
                self.registering = false;
                self.account_exists = true;
                self.logged_in = true;
                self.after_login(&mut out);
            }
            "FAIL" if msg.param(0) == "REGISTER" && self.registering && answer => {
                self.registering = false;
                if msg.param(1) == "ACCOUNT_EXISTS" {
                    self.account_exists = true;
                    self.log_in(&mut out);
                } else {
                    out.push(Step::Fatal(
                        format!(
                            "REGISTER {}: {}",
                            msg.param(1),
                            msg.params.last().map_or("", String::as_str)
                        ),
                        FatalKind::Login,
                    ));
                }
            }
            "FAIL" if msg.param(0) == "LOGIN" && answer => {
                out.push(Step::Fatal(
                    format!("LOGIN: {}", msg.params.last().map_or("", String::as_str)),
                    FatalKind::Login,
                ));
            }
            numeric::ERR_PASSWDMISMATCH => {
                out.push(Step::Fatal(
                    format!(
                        "server password: {}",
                        msg.params.last().map_or("", String::as_str)
                    ),
                    FatalKind::Login,
                ));
            }
            numeric::ERR_NICKNAMEINUSE
            | numeric::ERR_ERRONEUSNICKNAME
            | numeric::ERR_NICKLOCKED
                if !self.welcomed =>
            {
                match self.nicks.get(self.next_nick) {
                    Some(nick) => {
                        self.next_nick += 1;
                        out.push(send("NICK", [nick.as_str()]));
                    }
                    None => out.push(Step::Fatal(
                        format!("tried {}", self.nicks.join(", ")),
                        FatalKind::Nick,
                    )),
                }
            }
            numeric::RPL_WELCOME => {
                self.welcomed = true;
                if !self.ls_done {
                    // The server ignored CAP.
                    match self.login {
                        Login::Sasl { .. } => {
                            out.push(Step::Fatal(
                                "the server does not support capability negotiation (SASL)".into(),
                                FatalKind::Login,
                            ));
                            return out;
                        }
                        Login::Register { .. } => self.login_after_welcome = true,
                        _ => {}
                    }
                }
                if self.login_after_welcome {
                    self.login_after_welcome = false;
                    match (&self.login, self.account_exists) {
                        (Login::Register { .. }, false) => self.register(&mut out),
                        _ => self.log_in(&mut out),
                    }
                }
            }
            _ => {}
        }
        if !self.ready && self.welcomed && !self.registering && self.login_done() {
            self.ready = true;
            out.push(Step::Ready);
        }
        out
    }

    fn login_done(&self) -> bool {
        match self.login {
            Login::None | Login::ServerPassword(_) => true,
            Login::Sasl { .. } | Login::Register { .. } => self.logged_in,
        }
    }

    fn on_cap(&mut self, msg: &Message, out: &mut Vec<Step>) {
        match msg.param(1) {
            "LS" => {
                // `CAP * LS * :caps` continues; `CAP * LS :caps` ends.
                let more = msg.params.len() > 3 && msg.param(2) == "*";
                for cap in msg.params.last().into_iter().flat_map(|l| l.split(' ')) {
                    if cap.is_empty() {
                        continue;
                    }
                    let (name, value) = cap.split_once('=').unwrap_or((cap, ""));
                    self.offered.insert(name.to_string(), value.to_string());
                }
                if more || self.ls_done {
                    return;
                }
                self.ls_done = true;
                let mut req: Vec<&str> = self
                    .wanted_caps
                    .iter()
                    .map(String::as_str)
                    .filter(|c| self.offered.contains_key(*c))
                    .collect();
                if self.wants_sasl() && self.offered.contains_key("sasl") {
                    req.push("sasl");
                }
                if req.is_empty() {
                    self.after_caps(out);
                } else {
                    out.push(send("CAP", ["REQ".to_string(), req.join(" ")]));
                }
            }
            "ACK" => {
                for cap in msg.params.last().into_iter().flat_map(|l| l.split(' ')) {
                    match cap.strip_prefix('-') {
                        Some(off) => {
                            self.acked.remove(off);
                        }
                        None if !cap.is_empty() => {
                            self.acked.insert(cap.to_string());
                        }
                        None => {}
                    }
                }
                if !self.cap_ended {
                    self.after_caps(out);
                }
            }
            "NAK" if !self.cap_ended => self.after_caps(out),
            _ => {}
        }
    }

    /// Capabilities are settled: log in if it happens during negotiation.
    fn after_caps(&mut self, out: &mut Vec<Step>) {
        match (&self.login, self.account_exists) {
            (Login::Register { .. }, false) if self.can_register_early() => self.register(out),
            (Login::Register { .. }, false) => {
                self.login_after_welcome = true;
                self.end_caps(out);
            }
            (Login::Sasl { .. } | Login::Register { .. }, _) => self.log_in(out),
            _ => self.end_caps(out),
        }
    }

    fn register(&mut self, out: &mut Vec<Step>) {
        let (account, password) = self.credentials().expect("Register has credentials");
        let line = Message::new("REGISTER", [account, "*", password]);
        let line = self.labeled(line);
        self.registering = true;
        out.push(Step::Send(line));
    }

    /// One `AUTHENTICATE` line of the SCRAM exchange (a chunk of the server's
    /// message, sasl-3.1: 400-byte chunks, the last shorter or `+`).
    fn on_scram(&mut self, chunk: &str, out: &mut Vec<Step>) {
        let Sasl::Scram { client, step, buf } = &mut self.sasl else {
            return;
        };
        if chunk != "+" {
            buf.push_str(chunk);
        }
        if chunk.len() == 400 {
            return;
        }
        let text = base64::engine::general_purpose::STANDARD
            .decode(std::mem::take(buf))
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let refused = match (*step, text) {
            (ScramStep::Start, Some(_)) => {
                authenticate(&client.client_first(), out);
                *step = ScramStep::ServerFirst;
                None
            }
            (ScramStep::ServerFirst, Some(first)) => match client.client_final(&first) {
                Ok(last) => {
                    authenticate(&last, out);
                    *step = ScramStep::ServerFinal;
                    None
                }
                Err(why) => Some(why),
            },
            (ScramStep::ServerFinal, Some(last)) if client.server_final_ok(&last) => {
                out.push(send("AUTHENTICATE", ["+"]));
                *step = ScramStep::Outcome;
                None
            }
            (ScramStep::ServerFinal, _) => Some("the server's SCRAM signature is wrong".into()),
            _ => Some("unexpected SCRAM message from the server".into()),
        };
        if let Some(why) = refused {
            self.sasl = Sasl::Idle;
            out.push(send("AUTHENTICATE", ["*"]));
            out.push(Step::Fatal(format!("SASL: {why}"), FatalKind::Login));
        }
    }

    /// Whether the server offers SASL SCRAM-SHA-256 (the `sasl` value, CAP 302).
    fn offers_scram(&self) -> bool {
        self.offered.get("sasl").is_some_and(|v| {
            v.split(',')
                .any(|m| m.eq_ignore_ascii_case("SCRAM-SHA-256"))
        })
    }

    /// Logs in to an existing account: SASL when negotiated (SCRAM-SHA-256 when
    /// offered, else PLAIN), else `LOGIN` once registered.
    fn log_in(&mut self, out: &mut Vec<Step>) {
        if self.acked.contains("sasl") && !self.welcomed {
            if self.offers_scram() && !self.scram_failed {
                let (account, password) = self.credentials().expect("SASL has credentials");
                self.sasl = Sasl::Scram {
                    client: Box::new(ScramClient::new(account, password)),
                    step: ScramStep::Start,
                    buf: String::new(),
                };
                out.push(send("AUTHENTICATE", ["SCRAM-SHA-256"]));
            } else {
                self.sasl = Sasl::Plain;
                out.push(send("AUTHENTICATE", ["PLAIN"]));
            }
        } else if self.welcomed {
            let (account, password) = self.credentials().expect("a login has credentials");
            let line = Message::new("LOGIN", [account, password]);
            let line = self.labeled(line);
            out.push(Step::Send(line));
        } else if matches!(self.login, Login::Sasl { .. }) && self.ls_done {
            out.push(Step::Fatal(
                "the server does not offer SASL".into(),
                FatalKind::Login,
            ));
        } else {
            self.login_after_welcome = true;
            self.end_caps(out);
        }
    }

    /// Logged in during negotiation (REGISTER SUCCESS).
    fn after_login(&mut self, out: &mut Vec<Step>) {
        if !self.welcomed {
            self.end_caps(out);
        }
    }

    fn end_caps(&mut self, out: &mut Vec<Step>) {
        if !self.cap_ended && !self.welcomed {
            self.cap_ended = true;
            out.push(send("CAP", ["END"]));
        }
    }
}

/// `text` base64-encoded as `AUTHENTICATE` lines: 400-byte pieces, and an exact
/// multiple (or nothing) ends with `+` (sasl-3.1).
fn authenticate(text: &str, out: &mut Vec<Step>) {
    let payload = base64::engine::general_purpose::STANDARD.encode(text);
    let bytes = payload.as_bytes();
    for chunk in bytes.chunks(400) {
        out.push(send(
            "AUTHENTICATE",
            [std::str::from_utf8(chunk).expect("base64 is ASCII")],
        ));
    }
    if bytes.len().is_multiple_of(400) {
        out.push(send("AUTHENTICATE", ["+"]));
    }
}

fn send<I, P>(command: &str, params: I) -> Step
where
    I: IntoIterator<Item = P>,
    P: Into<String>,
{
    Step::Send(Message::new(command, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::parse;

    /// Runs a conversation: each server line and the lines the client answers.
    fn converse(reg: &mut Registration, script: &[(&str, &[&str])]) {
        for (line, want) in script {
            let got: Vec<String> = reg
                .on_message(&parse(line).unwrap())
                .into_iter()
                .map(|s| match s {
                    Step::Send(m) => m.to_string(),
                    Step::Ready => "<ready>".into(),
                    Step::Fatal(r, k) => format!("<fatal {k:?}: {r}>"),
                })
                .collect();
            assert_eq!(&got, want, "after {line}");
        }
    }

    const LS: &str = ":srv CAP * LS :sasl=PLAIN server-time batch draft/account-registration=before-connect,custom-account-name";

    #[test]
    fn sasl_plain() {
        let config = Config::new("h", "bot").sasl("bot", "secret");
        let mut reg = Registration::new(&config, false);
        let start: Vec<String> = reg
            .start("bot", "Bot")
            .into_iter()
            .map(|s| match s {
                Step::Send(m) => m.to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(start, ["CAP LS 302", "NICK bot", "USER bot 0 * Bot"]);
        converse(
            &mut reg,
            &[
                (LS, &["CAP REQ :server-time batch sasl"]),
                (
                    ":srv CAP * ACK :server-time batch sasl",
                    &["AUTHENTICATE PLAIN"],
                ),
                ("AUTHENTICATE +", &["AUTHENTICATE Ym90AGJvdABzZWNyZXQ="]),
                (
                    ":srv 900 bot bot!u@h bot :You are now logged in as bot",
                    &[],
                ),
                (":srv 903 bot :SASL authentication successful", &["CAP END"]),
                (":srv 001 bot :Welcome", &["<ready>"]),
            ],
        );
    }

    /// The lines `reg` answers `line` with, as text.
    fn answer(reg: &mut Registration, line: &str) -> Vec<String> {
        reg.on_message(&parse(line).unwrap())
            .into_iter()
            .map(|s| match s {
                Step::Send(m) => m.to_string(),
                Step::Ready => "<ready>".into(),
                Step::Fatal(r, k) => format!("<fatal {k:?}: {r}>"),
            })
            .collect()
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn unb64(s: &str) -> String {
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
    }

    const LS_SCRAM: &str = ":srv CAP * LS :sasl=PLAIN,SCRAM-SHA-256 server-time";

    /// SCRAM-SHA-256 is preferred when the server offers it (RFC 5802 §5 messages in
    /// sasl-3.1 chunks); a 904 falls back to PLAIN once (an account without SCRAM
    /// credentials yet), and a second 904 is fatal.
    #[test]
    fn scram_when_offered_then_plain_once_after_904() {
        let config = Config::new("h", "bot").sasl("bot", "secret");
        let mut reg = Registration::new(&config, false);
        reg.start("bot", "Bot");
        assert_eq!(answer(&mut reg, LS_SCRAM), ["CAP REQ :server-time sasl"]);
        assert_eq!(
            answer(&mut reg, ":srv CAP * ACK :server-time sasl"),
            ["AUTHENTICATE SCRAM-SHA-256"]
        );
        let first = answer(&mut reg, "AUTHENTICATE +");
        let first = unb64(first[0].strip_prefix("AUTHENTICATE ").unwrap());
        let nonce = first.strip_prefix("n,,n=bot,r=").expect(&first);
        let server_first = format!("r={nonce}srv,s={},i=10", b64("salt"));
        let last = answer(&mut reg, &format!("AUTHENTICATE {}", b64(&server_first)));
        let last = unb64(last[0].strip_prefix("AUTHENTICATE ").unwrap());
        assert!(
            last.starts_with(&format!("c=biws,r={nonce}srv,p=")),
            "{last}"
        );
        // A wrong server signature is refused, even if the server said yes.
        assert_eq!(
            answer(&mut reg, &format!("AUTHENTICATE {}", b64("v=AAAA"))),
            [
                "AUTHENTICATE *",
                "<fatal Login: SASL: the server's SCRAM signature is wrong>"
            ]
        );

        let mut reg = Registration::new(&config, false);
        reg.start("bot", "Bot");
        answer(&mut reg, LS_SCRAM);
        answer(&mut reg, ":srv CAP * ACK :server-time sasl");
        answer(&mut reg, "AUTHENTICATE +");
        assert_eq!(
            answer(&mut reg, ":srv 904 bot :SASL authentication failed"),
            ["AUTHENTICATE PLAIN"]
        );
        assert_eq!(
            answer(&mut reg, "AUTHENTICATE +"),
            ["AUTHENTICATE Ym90AGJvdABzZWNyZXQ="]
        );
        assert_eq!(
            answer(&mut reg, ":srv 904 bot :SASL authentication failed"),
            ["<fatal Login: SASL: SASL authentication failed>"]
        );
    }

    #[test]
    fn sasl_failure_is_fatal() {
        let config = Config::new("h", "bot").sasl("bot", "wrong");
        let mut reg = Registration::new(&config, false);
        converse(
            &mut reg,
            &[
                (LS, &["CAP REQ :server-time batch sasl"]),
                (
                    ":srv CAP * ACK :server-time batch sasl",
                    &["AUTHENTICATE PLAIN"],
                ),
                ("AUTHENTICATE +", &["AUTHENTICATE Ym90AGJvdAB3cm9uZw=="]),
                (
                    ":srv 904 bot :SASL authentication failed",
                    &["<fatal Login: SASL: SASL authentication failed>"],
                ),
            ],
        );
    }

    #[test]
    fn labeled_register_takes_only_its_own_answer() {
        // IRCv3 labeled-response: the REGISTER is labeled, and only the labeled
        // answer (here a labeled-response batch) counts as its answer.
        let config = Config::new("h", "bot").register("bot", "secret");
        let mut reg = Registration::new(&config, false);
        let ls = format!("{LS} labeled-response");
        converse(
            &mut reg,
            &[
                (&ls, &["CAP REQ :server-time batch labeled-response sasl"]),
                (
                    ":srv CAP * ACK :server-time batch labeled-response sasl",
                    &["@label=chatd-bot-1 REGISTER bot * secret"],
                ),
                // Not the answer: no label, no batch of the answer.
                (":srv FAIL REGISTER ACCOUNT_EXISTS bot :someone else's", &[]),
                ("@label=chatd-bot-1 :srv BATCH +b1 labeled-response", &[]),
                (
                    "@batch=b1 :srv REGISTER SUCCESS bot :Account registered",
                    &["CAP END"],
                ),
                ("@batch=b1 :srv 900 * *!u@h bot :You are now logged in", &[]),
                (":srv BATCH -b1", &[]),
                (":srv 001 bot :Welcome", &["<ready>"]),
            ],
        );
    }

    #[test]
    fn register_first_then_sasl_when_it_exists() {
        let config = Config::new("h", "bot").register("bot", "secret");
        let mut reg = Registration::new(&config, false);
        converse(
            &mut reg,
            &[
                (LS, &["CAP REQ :server-time batch sasl"]),
                (
                    ":srv CAP * ACK :server-time batch sasl",
                    &["REGISTER bot * secret"],
                ),
                (
                    ":srv REGISTER SUCCESS bot :Account registered",
                    &["CAP END"],
                ),
                (":srv 900 * *!u@h bot :You are now logged in as bot", &[]),
                (":srv 001 bot :Welcome", &["<ready>"]),
            ],
        );
        assert!(reg.account_exists);

        // It existed already (an earlier run): REGISTER fails, SASL follows.
        let mut reg = Registration::new(&config, false);
        converse(
            &mut reg,
            &[
                (LS, &["CAP REQ :server-time batch sasl"]),
                (
                    ":srv CAP * ACK :server-time batch sasl",
                    &["REGISTER bot * secret"],
                ),
                (
                    ":srv FAIL REGISTER ACCOUNT_EXISTS bot :Account already exists",
                    &["AUTHENTICATE PLAIN"],
                ),
            ],
        );
        // Known to exist: straight to SASL.
        let mut reg = Registration::new(&config, true);
        converse(
            &mut reg,
            &[
                (LS, &["CAP REQ :server-time batch sasl"]),
                (
                    ":srv CAP * ACK :server-time batch sasl",
                    &["AUTHENTICATE PLAIN"],
                ),
            ],
        );
    }

    #[test]
    fn register_after_welcome_without_early_registration() {
        let config = Config::new("h", "bot").register("bot", "secret");
        let mut reg = Registration::new(&config, false);
        converse(
            &mut reg,
            &[
                (":srv CAP * LS :server-time", &["CAP REQ server-time"]),
                (":srv CAP * ACK :server-time", &["CAP END"]),
                (":srv 001 bot :Welcome", &["REGISTER bot * secret"]),
                (
                    ":srv FAIL REGISTER ACCOUNT_EXISTS bot :exists",
                    &["LOGIN bot secret"],
                ),
                (
                    ":srv 900 bot bot!u@h bot :You are now logged in as bot",
                    &["<ready>"],
                ),
            ],
        );
    }

    #[test]
    fn nick_fallbacks_then_give_up() {
        let mut config = Config::new("h", "bot");
        config.alt_nicks = vec!["bot2".into()];
        let mut reg = Registration::new(&config, false);
        let taken = ":srv 433 * bot :Nickname is already in use";
        converse(
            &mut reg,
            &[
                (taken, &["NICK bot2"]),
                (taken, &["NICK bot_"]),
                (taken, &["NICK bot__"]),
            ],
        );
        for _ in 0..3 {
            let steps = reg.on_message(&parse(taken).unwrap());
            assert!(matches!(&steps[0], Step::Send(m) if m.command == "NICK"));
        }
        let steps = reg.on_message(&parse(taken).unwrap());
        assert!(matches!(steps[0], Step::Fatal(_, FatalKind::Nick)));
    }

    #[test]
    fn server_password_and_no_cap_support() {
        let config = Config::new("h", "bot").login(Login::ServerPassword("bot:pw".into()));
        let mut reg = Registration::new(&config, false);
        let first = reg.start("bot", "Bot");
        assert_eq!(first[0], send("PASS", ["bot:pw"]));
        converse(
            &mut reg,
            &[
                (":srv 421 bot CAP :Unknown command", &[]),
                (":srv 001 bot :Welcome", &["<ready>"]),
            ],
        );
    }
}
