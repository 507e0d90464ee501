//! The command router: finds `!name args` (any prefix) or `nick: name args` in a
//! message, applies per-user cooldowns, and writes the help text from the
//! registered commands. Running the handlers is `bot.rs`'s job.

use crate::event::Message;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A command someone gave the bot.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The command name, lower-cased, without prefix.
    pub name: String,
    /// Everything after the name, trimmed.
    pub args: String,
    /// The message it came in.
    pub message: Message,
}

impl Command {
    /// The arguments split on whitespace.
    pub fn words(&self) -> Vec<&str> {
        self.args.split_whitespace().collect()
    }

    /// Who gave the command.
    pub fn from(&self) -> &str {
        &self.message.from
    }
}

/// A registered command: its help text and cooldown.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) cooldown: Duration,
}

impl CommandSpec {
    /// How long one user must wait between two uses of this command. Uses in the
    /// meantime are ignored silently, so the cooldown cannot be used to flood.
    pub fn cooldown(&mut self, cooldown: Duration) -> &mut CommandSpec {
        self.cooldown = cooldown;
        self
    }
}

/// Where a message addresses the bot, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation<'a> {
    pub name: String,
    pub args: &'a str,
}

/// Finds a command in `text`: `<prefix>name args`, `<nick>: name args` (or `,`),
/// or in a private message also a bare `name args`.
pub(crate) fn invocation<'a>(
    text: &'a str,
    prefix: &str,
    nick: &str,
    is_private: bool,
    eq: &dyn Fn(&str, &str) -> bool,
) -> Option<Invocation<'a>> {
    let text = text.trim();
    let rest = if let Some(rest) = text.strip_prefix(prefix).filter(|_| !prefix.is_empty()) {
        rest
    } else if let Some((head, rest)) = text.split_once([':', ',']) {
        if !eq(head.trim(), nick) {
            if !is_private {
                return None;
            }
            text
        } else {
            rest.trim_start()
        }
    } else if is_private {
        text
    } else {
        return None;
    };
    let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = name.strip_prefix(prefix).unwrap_or(name);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.?".contains(c))
    {
        return None;
    }
    Some(Invocation {
        name: name.to_lowercase(),
        args: args.trim(),
    })
}

/// The registered commands and who used which when.
#[derive(Debug, Default)]
pub(crate) struct Router {
    pub specs: Vec<CommandSpec>,
    last_use: HashMap<(String, String), Instant>,
}

impl Router {
    /// Adds a command, or replaces the help of one with that name; returns its
    /// index (which stays the same for a replaced one).
    pub fn add(&mut self, name: &str, help: &str) -> usize {
        let name = name.to_lowercase();
        if let Some(i) = self.find(&name) {
            self.specs[i].help = help.to_string();
            return i;
        }
        self.specs.push(CommandSpec {
            name,
            help: help.to_string(),
            cooldown: Duration::ZERO,
        });
        self.specs.len() - 1
    }

    pub fn find(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name == name)
    }

    /// Whether `user` may run command `index` at `now`; records the use if so.
    pub fn admit(&mut self, index: usize, user: &str, now: Instant) -> bool {
        let spec = &self.specs[index];
        if spec.cooldown.is_zero() {
            return true;
        }
        let key = (user.to_string(), spec.name.clone());
        if let Some(last) = self.last_use.get(&key) {
            if now.saturating_duration_since(*last) < spec.cooldown {
                return false;
            }
        }
        if self.last_use.len() > 10_000 {
            let longest = self
                .specs
                .iter()
                .map(|s| s.cooldown)
                .max()
                .unwrap_or_default();
            self.last_use
                .retain(|_, t| now.saturating_duration_since(*t) < longest);
        }
        self.last_use.insert(key, now);
        true
    }

    /// `help` alone lists the commands; `help name` shows one. `None` for a name
    /// this bot does not know: in a channel with several bots, only the one that
    /// has the command answers (another bot may well have it).
    pub fn help(&self, prefix: &str, args: &str) -> Option<String> {
        let wanted = args.split_whitespace().next().map(|w| {
            w.strip_prefix(prefix)
                .filter(|_| !prefix.is_empty())
                .unwrap_or(w)
                .to_lowercase()
        });
        match wanted {
            Some(name) => match self.specs.iter().find(|s| s.name == name) {
                Some(spec) if spec.help.is_empty() => Some(format!("{prefix}{}", spec.name)),
                Some(spec) => Some(format!("{prefix}{} {}", spec.name, spec.help)),
                None => None,
            },
            None => {
                let mut names: Vec<String> = self
                    .specs
                    .iter()
                    .map(|s| format!("{prefix}{}", s.name))
                    .collect();
                if self.find("help").is_none() {
                    names.push(format!("{prefix}help"));
                }
                Some(format!(
                    "Commands: {}. {prefix}help <command> tells more.",
                    names.join(", ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eq(a: &str, b: &str) -> bool {
        a.eq_ignore_ascii_case(b)
    }

    /// Text, private?, the (name, args) found.
    type Case = (&'static str, bool, Option<(&'static str, &'static str)>);

    #[test]
    fn invocations() {
        let cases: &[Case] = &[
            ("!roll 2d6", false, Some(("roll", "2d6"))),
            ("!ROLL   2d6  ", false, Some(("roll", "2d6"))),
            ("!help", false, Some(("help", ""))),
            ("Bot: roll 2d6", false, Some(("roll", "2d6"))),
            ("bot, seen alice", false, Some(("seen", "alice"))),
            ("bot: !roll d20", false, Some(("roll", "d20"))),
            ("hello bot", false, None),
            ("other: roll", false, None),
            ("!", false, None),
            ("! roll", false, None),
            ("roll 2d6", true, Some(("roll", "2d6"))),
            ("!roll 2d6", true, Some(("roll", "2d6"))),
            ("note: this is not a command", false, None),
            ("http://x", true, None),
        ];
        for (text, private, want) in cases {
            let got = invocation(text, "!", "bot", *private, &eq);
            let got = got.as_ref().map(|i| (i.name.as_str(), i.args));
            assert_eq!(got, *want, "{text:?} private={private}");
        }
        let got = invocation(".roll 1", ".", "bot", false, &eq).unwrap();
        assert_eq!(got.name, "roll");
    }

    #[test]
    fn cooldowns_are_per_user_and_command() {
        let mut r = Router::default();
        let roll = r.add("roll", "<NdM>");
        r.specs[roll].cooldown(Duration::from_secs(5));
        let echo = r.add("echo", "");
        let t0 = Instant::now();
        assert!(r.admit(roll, "alice", t0));
        assert!(!r.admit(roll, "alice", t0 + Duration::from_secs(4)));
        assert!(r.admit(roll, "bob", t0 + Duration::from_secs(4)));
        assert!(r.admit(roll, "alice", t0 + Duration::from_secs(5)));
        assert!(r.admit(echo, "alice", t0) && r.admit(echo, "alice", t0));
    }

    #[test]
    fn generated_help() {
        let mut r = Router::default();
        r.add("roll", "<NdM>: rolls N dice of M sides");
        r.add("echo", "");
        assert_eq!(
            r.help("!", "").unwrap(),
            "Commands: !roll, !echo, !help. !help <command> tells more."
        );
        assert_eq!(
            r.help("!", "!roll").unwrap(),
            "!roll <NdM>: rolls N dice of M sides"
        );
        assert_eq!(r.help("!", "ECHO").unwrap(), "!echo");
        assert_eq!(r.help("!", "nope"), None, "another bot may have it");
    }
}
