//! IRC operators and their classes: `[[oper]]` (a name and password for `OPER`, or an
//! account whose login is enough) and `[[oper_class]]` (a name and its privileges).
//! The built-in classes `admin` (everything) and `moderator` are used unless the
//! config defines a class of the same name. `docs/roles.md` has the table.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperConfig {
    pub name: String,
    /// A hash from `chatd hash-password`, never the password itself. May be left
    /// out when `account` is set (logging in to that account is then the only way).
    #[serde(default)]
    pub password: String,
    /// The class whose privileges this operator has (default `admin`, so a config
    /// written before classes keeps its meaning).
    #[serde(default = "default_class")]
    pub class: String,
    /// An account that is this operator as soon as it logs in (no OPER needed).
    #[serde(default)]
    pub account: Option<String>,
}

fn default_class() -> String {
    "admin".into()
}

impl Default for OperConfig {
    /// No name or password yet, class `admin`, no account.
    fn default() -> OperConfig {
        OperConfig {
            name: String::new(),
            password: String::new(),
            class: default_class(),
            account: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperClassConfig {
    pub name: String,
    /// Privilege names ([`Privilege::NAMES`]), or `"*"` for all.
    pub privileges: Vec<String>,
}

/// What an operator class may do beyond any user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Privilege {
    /// `KILL`.
    Kill = 1,
    /// `WALLOPS`.
    Wallops = 2,
    /// `KICK` in any channel.
    Kick = 4,
    /// Bans, exceptions and `~m:` mutes (`+b`, `+e`, `+I`) in any channel.
    Ban = 8,
    /// Every other channel mode and member role in any channel.
    Modes = 16,
    /// See secret channels and what members see (WHOIS, LIST).
    SeeHidden = 32,
    /// ChanServ on any channel: DROP, TRANSFER, ACCESS, SET without being founder.
    Channels = 64,
}

impl Privilege {
    /// Each privilege by its config name.
    pub const NAMES: [(&'static str, Privilege); 7] = [
        ("kill", Privilege::Kill),
        ("wallops", Privilege::Wallops),
        ("kick", Privilege::Kick),
        ("ban", Privilege::Ban),
        ("modes", Privilege::Modes),
        ("see_hidden", Privilege::SeeHidden),
        ("channels", Privilege::Channels),
    ];

    pub fn parse(name: &str) -> Option<Privilege> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }
}

/// A set of [`Privilege`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Privileges(u8);

impl Privileges {
    pub const ALL: Privileges = Privileges(127);
    /// The built-in `moderator`: kick, ban and mute, see hidden channels; no KILL,
    /// no WALLOPS, no channel takeover.
    pub const MODERATOR: Privileges =
        Privileges(Privilege::Kick as u8 | Privilege::Ban as u8 | Privilege::SeeHidden as u8);

    pub fn has(self, p: Privilege) -> bool {
        self.0 & p as u8 != 0
    }

    /// From config names; `None` names the first unknown one.
    pub fn from_names(names: &[String]) -> Result<Privileges, String> {
        let mut set = 0;
        for name in names {
            if name == "*" {
                return Ok(Privileges::ALL);
            }
            match Privilege::parse(name) {
                Some(p) => set |= p as u8,
                None => return Err(name.clone()),
            }
        }
        Ok(Privileges(set))
    }
}

impl super::Config {
    /// The privileges of the class named `class`: the config's, else a built-in's.
    pub fn class_privileges(&self, class: &str) -> Option<Privileges> {
        if let Some(c) = self.oper_class.iter().find(|c| c.name == class) {
            return Privileges::from_names(&c.privileges).ok();
        }
        match class {
            "admin" => Some(Privileges::ALL),
            "moderator" => Some(Privileges::MODERATOR),
            _ => None,
        }
    }

    /// The privileges of operator `name` (none if it is gone from the config).
    pub fn oper_privileges(&self, name: &str) -> Privileges {
        self.oper
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| self.class_privileges(&o.class))
            .unwrap_or_default()
    }

    /// The operator an account is as soon as it logs in.
    pub fn oper_of_account(&self, account: &str) -> Option<&OperConfig> {
        self.oper.iter().find(|o| {
            o.account
                .as_deref()
                .is_some_and(|a| chatd_proto::fold_eq(a, account))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_their_privileges() {
        let mut config = super::super::Config::default();
        config.oper_class.push(OperClassConfig {
            name: "helper".into(),
            privileges: vec!["wallops".into()],
        });
        let oper = |name: &str, class: &str| OperConfig {
            name: name.into(),
            password: String::new(),
            class: class.into(),
            account: None,
        };
        config.oper.push(oper("root", "admin"));
        config.oper.push(oper("mod", "moderator"));
        config.oper.push(oper("help", "helper"));
        // (oper, privilege, has it)
        let cases = [
            ("root", Privilege::Kill, true),
            ("root", Privilege::Channels, true),
            ("mod", Privilege::Kill, false),
            ("mod", Privilege::Kick, true),
            ("mod", Privilege::Ban, true),
            ("mod", Privilege::Modes, false),
            ("help", Privilege::Wallops, true),
            ("help", Privilege::Kick, false),
            ("gone", Privilege::Kick, false),
        ];
        for (name, p, want) in cases {
            assert_eq!(config.oper_privileges(name).has(p), want, "{name} {p:?}");
        }
        assert_eq!(
            Privileges::from_names(&["kick".into(), "nope".into()]),
            Err("nope".into())
        );
    }
}
