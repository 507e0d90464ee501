//! The `NickServ` services nick: `PRIVMSG NickServ :IDENTIFY|REGISTER|LOGOUT|HELP`,
//! the same doors as `LOGIN` and `REGISTER` for clients that auto-identify.

use super::{begin_login, logout, start_register, Door};
use crate::cmd::Cx;
use chatd_proto::Message;

/// The services nick that answers `IDENTIFY` and `REGISTER` for auto-identifying
/// clients.
pub const NICKSERV: &str = "NickServ";
const NICKSERV_SOURCE: &str = "NickServ!NickServ@services";

/// `PRIVMSG NickServ :<command>` — `IDENTIFY [account] <password>`,
/// `REGISTER <password> [email]`, `LOGOUT`, `HELP`.
pub fn nickserv(cx: &mut Cx, text: &str) {
    let mut words = text.split_whitespace();
    let command = words.next().unwrap_or("").to_ascii_uppercase();
    let args: Vec<&str> = words.collect();
    match (command.as_str(), args.as_slice()) {
        ("IDENTIFY" | "ID" | "LOGIN", [password]) => {
            let nick = cx.user().nick.clone();
            begin_login(cx, Door::NickServ, &nick, password);
        }
        ("IDENTIFY" | "ID" | "LOGIN", [account, password]) => {
            begin_login(cx, Door::NickServ, account, password);
        }
        ("REGISTER", [password]) => start_register(cx, Door::NickServRegister, "*", "*", password),
        ("REGISTER", [password, email]) => {
            start_register(cx, Door::NickServRegister, "*", email, password)
        }
        ("LOGOUT", []) => {
            let _ = logout(cx, &Message::new("LOGOUT", Vec::<String>::new()));
        }
        ("HELP", _) | ("", _) => {
            for line in [
                "NickServ keeps your nick yours. Commands:",
                "REGISTER <password> [email]  - register your current nick as an account",
                "IDENTIFY [account] <password> - log in",
                "LOGOUT                        - log out",
                "The same without NickServ: REGISTER * * <password>, LOGIN <account> <password>.",
            ] {
                nickserv_notice(cx, line);
            }
        }
        _ => nickserv_notice(
            cx,
            &format!("Unknown command or wrong arguments: {command}. Try HELP."),
        ),
    }
}

pub(super) fn nickserv_notice(cx: &mut Cx, text: &str) {
    let nick = cx.user().nick.clone();
    cx.send_me(&Message::new("NOTICE", [nick.as_str(), text]).with_source(NICKSERV_SOURCE));
}
