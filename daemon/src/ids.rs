//! Names that outlive one event, kept apart so every other module may use them:
//! a connection's id ([`ConnId`]) and the party of a private conversation
//! ([`Party`]). Nothing here depends on any other module of the daemon.

/// An account's stable identity: its row id, never reused (the `accounts` table is
/// `AUTOINCREMENT`). Private history, offline queues and remembered channels belong to
/// it, not to the name, so an account registered under a deleted one's name starts
/// empty.
pub type AccountId = i64;

/// Names a connection across events: a slot may be reused, the serial never is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub slot: usize,
    pub serial: u64,
}

/// One side of a private conversation, as the store keys it: `a:<account id>` for a
/// logged-in sender or a registered recipient, `n:<folded nick>` otherwise (a nick
/// never starts with a digit, so the two never meet). Data from before account ids
/// (schema 4) may hold `a:<folded name>` for a deleted account: no one has that
/// identity any more. The key is built once, here, and moved into the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Party(String);

impl Party {
    /// The party of an account: its id, not its name (an account registered later
    /// under a deleted one's name is someone else).
    pub fn account(id: AccountId) -> Party {
        Party(format!("a:{id}"))
    }

    /// The party of a nick with no account (`fold`: casemapping ascii).
    pub fn nick(nick: &str) -> Party {
        let mut key = String::with_capacity(2 + nick.len());
        key.push_str("n:");
        key.push_str(nick);
        key.make_ascii_lowercase();
        Party(key)
    }

    /// The key the store files the conversation under.
    pub fn key(&self) -> &str {
        &self.0
    }

    /// The key, taken.
    pub fn into_key(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_keys_keep_their_stored_form() {
        assert_eq!(Party::account(42).key(), "a:42");
        assert_eq!(Party::nick("Bob[]").key(), "n:bob[]");
        assert_ne!(Party::nick("1"), Party::account(1));
    }
}
