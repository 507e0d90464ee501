//! ChanServ on a node sharing its database with others: an account a command names
//! that this node does not know yet (registered on another node since the last
//! refresh) is read from the database first, and the command runs once it is.

use super::{run_now, Door};
use crate::cmd::Cx;
use crate::followup::Then;
use crate::ids::ConnId;
use crate::store::{AccountRows, Request};
use chatd_proto::fold;

/// The account a command of `words` names (ACCESS ADD/DEL, TRANSFER).
fn named_account<'a>(words: &[&'a str]) -> Option<&'a str> {
    match words {
        [command, _, sub, account, ..]
            if command.eq_ignore_ascii_case("ACCESS")
                && (sub.eq_ignore_ascii_case("ADD") || sub.eq_ignore_ascii_case("DEL")) =>
        {
            Some(account)
        }
        [command, _, account] if command.eq_ignore_ascii_case("TRANSFER") => Some(account),
        _ => None,
    }
}

/// Whether the command waits for an account to be read first (asked here). The
/// sender's next lines wait too; a user of another node's do not (they have none
/// here).
pub(super) fn account_first(cx: &mut Cx, door: Door, words: &[&str]) -> bool {
    // Only for a logged-in sender and a registered channel: anyone else is refused
    // without a read (so a flood of made-up names costs no database work).
    let registered = words
        .get(1)
        .is_some_and(|chan| cx.state.registered.contains_key(&fold(chan)));
    if cx.config.cluster.database.is_empty() || cx.user().account.is_none() || !registered {
        return false;
    }
    // The sender's own account first (every command needs it), else the one named.
    let mine = cx.user().account.as_deref().map(str::to_string);
    let unknown = mine
        .as_deref()
        .into_iter()
        .chain(named_account(words))
        .find(|a| cx.state.account(a).is_none());
    let Some(account) = unknown else {
        return false;
    };
    let then = Then::ChanServ {
        as_command: door == Door::Command,
        account: account.to_string(),
        words: words.join(" "),
    };
    let name = account.to_string();
    let remote = cx.conns.get(cx.me).is_some_and(|c| c.is_remote());
    let request = |ticket| Request::FetchAccount { ticket, name };
    if remote {
        cx.tell(then, request);
    } else {
        cx.ask(then, request);
    }
    true
}

/// A ChanServ command that waited for an account it names to be read.
pub fn on_account_fetched(
    cx: &mut Cx,
    asker: ConnId,
    (as_command, account, words): (bool, &str, &str),
    result: Result<Option<Box<AccountRows>>, String>,
) {
    let words: Vec<&str> = words.split(' ').collect();
    crate::cmd::account::take_fetched_rows(cx.state, account, result);
    if cx.alive(asker) {
        let door = if as_command {
            Door::Command
        } else {
            Door::ChanServ
        };
        run_now(cx, door, &words);
    }
}
