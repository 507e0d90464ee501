//! `HELP` / `HELPOP` (modern.ircdocs.horse HELP: 704, 705, 706; 524) and the help
//! text of every command in `COMMANDS`, kept here as one table (a test checks that
//! no command lacks it).

use super::{CmdError, Cx, COMMANDS};
use chatd_proto::numeric::*;
use chatd_proto::Message;

/// Help per command: the syntax line first, then what it does.
pub static HELP: &[(&str, &[&str])] = &[
    (
        "AUTHENTICATE",
        &[
            "AUTHENTICATE <mechanism> | <base64> | + | *",
            "SASL login (IRCv3 sasl-3.1). Request the sasl capability first.",
        ],
    ),
    (
        "AWAY",
        &[
            "AWAY [:<message>]",
            "Marks you away with <message>; with no message, back again.",
        ],
    ),
    (
        "BATCH",
        &[
            "BATCH +<ref> draft/multiline <target> | BATCH -<ref>",
            "Sends one message of several lines (IRCv3 draft/multiline): PRIVMSG or",
            "NOTICE lines tagged batch=<ref> between the start and the end.",
        ],
    ),
    (
        "CAP",
        &[
            "CAP LS [302] | LIST | REQ :<caps> | END",
            "IRCv3 capability negotiation.",
        ],
    ),
    (
        "CHANNEL",
        &[
            "CHANNEL REGISTER|DROP|INFO|ACCESS|TRANSFER|SET|HELP <#channel> ...",
            "Registered channels and their access lists, as ChanServ does them",
            "(CHANNEL HELP for each; see docs/roles.md).",
        ],
    ),
    (
        "CHATHISTORY",
        &[
            "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN <target> ... <limit>",
            "CHATHISTORY TARGETS <from> <to> <limit>",
            "Reads stored messages (IRCv3 draft/chathistory).",
        ],
    ),
    (
        "HELP",
        &[
            "HELP [<command>]",
            "Shows the list of commands, or help on one of them.",
        ],
    ),
    ("HELPOP", &["HELPOP [<command>]", "The same as HELP."]),
    (
        "HISTORY",
        &[
            "HISTORY <#channel>|<nick> [<count>]",
            "Replays the last <count> messages of a channel or conversation.",
        ],
    ),
    ("INFO", &["INFO", "Shows what this server is and runs."]),
    (
        "INVITE",
        &[
            "INVITE <nick> <#channel>",
            "Invites <nick>, letting them past +i and a ban once.",
        ],
    ),
    (
        "ISON",
        &[
            "ISON <nick>{ <nick>}",
            "Tells which of the nicks are online.",
        ],
    ),
    (
        "JOIN",
        &[
            "JOIN <#channel>{,<#channel>} [<key>{,<key>}]",
            "Joins channels, creating those that do not exist. JOIN 0 leaves them all.",
        ],
    ),
    (
        "KICK",
        &[
            "KICK <#channel> <nick>{,<nick>} [:<reason>]",
            "Removes members from a channel (channel operators).",
        ],
    ),
    (
        "KILL",
        &[
            "KILL <nick> [:<reason>]",
            "Disconnects a user (IRC operators).",
        ],
    ),
    (
        "LIST",
        &[
            "LIST [<#channel>|<mask>|<condition>{,...}]",
            "Lists channels. Conditions (ELIST): >n, <n members; C>m, C<m created more or",
            "less than m minutes ago; T>m, T<m topic set more or less than m minutes ago;",
            "a mask like *chat* and !*chat* to leave names out.",
        ],
    ),
    (
        "LOGIN",
        &["LOGIN <account> <password>", "Logs in to your account."],
    ),
    ("LOGOUT", &["LOGOUT", "Logs out of your account."]),
    (
        "LUSERS",
        &["LUSERS", "Shows how many users and channels there are."],
    ),
    (
        "MARKREAD",
        &[
            "MARKREAD <target> [timestamp=<time>]",
            "Asks for, or moves forward, your read marker of a channel or nick",
            "(IRCv3 draft/read-marker); your other connections are told.",
        ],
    ),
    (
        "MODE",
        &[
            "MODE <#channel> [<modes> [<args>]] | MODE <nick> [+i|-i|+B|-B]",
            "Channel modes: o v b e I k l i m n t s p C; ~a:<account> and ~m:<mask> in +b.",
            "User modes: i (invisible), B (bot).",
        ],
    ),
    (
        "MONITOR",
        &[
            "MONITOR + <nick>{,<nick>} | - <nick>{,<nick>} | C | L | S",
            "Watches nicks: you are told when they come online (730) or leave (731).",
            "- removes, C clears, L lists, S shows who is online now.",
        ],
    ),
    ("MOTD", &["MOTD", "Shows the message of the day."]),
    (
        "NAMES",
        &[
            "NAMES <#channel>{,<#channel>}",
            "Lists the members of channels.",
        ],
    ),
    ("NICK", &["NICK <nick>", "Sets or changes your nick."]),
    (
        "NOTICE",
        &[
            "NOTICE <target>{,<target>} :<text>",
            "Sends a notice: like PRIVMSG, but never answered automatically.",
        ],
    ),
    (
        "OPER",
        &["OPER <name> <password>", "Becomes an IRC operator."],
    ),
    (
        "PART",
        &[
            "PART <#channel>{,<#channel>} [:<reason>]",
            "Leaves channels.",
        ],
    ),
    (
        "PASS",
        &[
            "PASS <password> | PASS <account>:<password>",
            "The server password, or a login, before registration.",
        ],
    ),
    (
        "PING",
        &["PING <token>", "The server answers PONG <token>."],
    ),
    (
        "PONG",
        &["PONG <token>", "The answer to the server's PING."],
    ),
    (
        "PRIVMSG",
        &[
            "PRIVMSG <target>{,<target>} :<text>",
            "Sends a message to channels or nicks.",
        ],
    ),
    ("QUIT", &["QUIT [:<reason>]", "Disconnects."]),
    (
        "REGISTER",
        &[
            "REGISTER <account> <email>|* <password>",
            "Creates an account named after your nick (IRCv3 draft/account-registration).",
        ],
    ),
    (
        "REDACT",
        &[
            "REDACT <target> <msgid> [:<reason>]",
            "Deletes a message from history for everyone (IRCv3",
            "draft/message-redaction): your own, or any in a channel you operate.",
        ],
    ),
    (
        "SESSION",
        &[
            "SESSION CREATE [<label>] | SESSION REVOKE <id>",
            "A login token for this account (a browser's \"keep me logged in\"): give it",
            "as the password to log in; REVOKE drops it.",
        ],
    ),
    (
        "SETNAME",
        &[
            "SETNAME :<realname>",
            "Changes your realname (IRCv3 setname; up to NAMELEN bytes).",
        ],
    ),
    (
        "TAGMSG",
        &[
            "@+tag=value TAGMSG <target>{,<target>}",
            "Sends only tags (typing notices, reactions) to message-tags clients.",
        ],
    ),
    ("TIME", &["TIME", "Shows the server's time."]),
    (
        "TOPIC",
        &[
            "TOPIC <#channel> [:<topic>]",
            "Shows or sets a channel's topic; an empty topic clears it.",
        ],
    ),
    (
        "USER",
        &[
            "USER <user> <mode> <unused> :<realname>",
            "Gives your username and real name at registration.",
        ],
    ),
    (
        "USERHOST",
        &[
            "USERHOST <nick>{ <nick>}",
            "Shows nick=+user@host for up to 5 nicks.",
        ],
    ),
    (
        "VERSION",
        &["VERSION", "Shows the server's version and ISUPPORT tokens."],
    ),
    (
        "WALLOPS",
        &[
            "WALLOPS :<text>",
            "Sends a message to every IRC operator (operators).",
        ],
    ),
    (
        "WHO",
        &[
            "WHO <#channel>|<mask> [%<fields>[,<token>]]",
            "Lists users. With %fields (WHOX) each row holds only the fields asked for:",
            "t token, c channel, u user, i ip, h host, s server, n nick, f flags,",
            "d hops, l idle, a account, o op level, r real name.",
        ],
    ),
    (
        "WHOIS",
        &["WHOIS [<server>] <nick>", "Shows who a user is."],
    ),
    (
        "WHOWAS",
        &[
            "WHOWAS <nick>{,<nick>} [<count>]",
            "Shows who recently used a nick that is gone or changed.",
        ],
    ),
];

/// The help lines of `command` (any case).
pub fn help_for(command: &str) -> Option<&'static [&'static str]> {
    HELP.iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(command))
        .map(|(_, lines)| *lines)
}

/// `HELP [<subject>]` / `HELPOP` — modern.ircdocs.horse HELP: 704 with the first
/// line, 705 for the others, 706 to end; 524 for an unknown subject.
pub fn help(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let subject = msg.param(0);
    let (shown, lines): (String, Vec<String>) = if subject.is_empty() {
        let mut names: Vec<&str> = COMMANDS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        let mut lines = vec!["chatd help: HELP <command> for details. Commands:".to_string()];
        lines.extend(names.chunks(10).map(|c| c.join(" ")));
        ("*".into(), lines)
    } else {
        let upper = super::echoable_command(subject);
        match help_for(subject) {
            Some(lines) => (upper, lines.iter().map(|l| l.to_string()).collect()),
            None => {
                cx.reply(
                    ERR_HELPNOTFOUND,
                    &[upper.as_str(), "No help available on this topic"],
                );
                return Ok(());
            }
        }
    };
    let last = lines.len() - 1;
    for (i, line) in lines.iter().enumerate() {
        let numeric = match i {
            0 => RPL_HELPSTART,
            _ if i == last => RPL_ENDOFHELP,
            _ => RPL_HELPTXT,
        };
        cx.reply(numeric, &[shown.as_str(), line.as_str()]);
    }
    if last == 0 {
        cx.reply(RPL_ENDOFHELP, &[shown.as_str(), "End of /HELP"]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help_and_no_help_is_orphaned() {
        for spec in COMMANDS {
            let lines = help_for(spec.name).unwrap_or_else(|| panic!("no HELP for {}", spec.name));
            assert!(
                lines.len() >= 2,
                "{}: a syntax line and a description",
                spec.name
            );
            assert!(
                lines[0].contains(spec.name),
                "{}: the first line is its syntax",
                spec.name
            );
        }
        for (name, _) in HELP {
            assert!(
                COMMANDS.iter().any(|s| s.name == *name),
                "help for {name}, which is not a command"
            );
        }
    }
}
