//! [`LoginTokens`]: the login tokens of every account (`SESSION CREATE`, SASL with a
//! token), by the SHA-256 of their secret; the secret itself is never kept. No I/O:
//! the store keeps the same hashes (`Request::SaveToken`).

use crate::ids::AccountId;
use crate::store::LoginToken;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};

/// What every token's secret starts with: a password given to SASL PLAIN (or
/// LOGIN, PASS) that starts with it is checked as a token.
pub const TOKEN_PREFIX: &str = "chatd-token-";
/// Most tokens one account may hold (one per browser or device).
pub const MAX_PER_ACCOUNT: usize = 20;

/// Every account's login tokens.
#[derive(Debug, Default)]
pub struct LoginTokens {
    by_hash: HashMap<[u8; 32], LoginToken>,
}

/// The account has [`MAX_PER_ACCOUNT`] tokens already.
#[derive(Debug, PartialEq, Eq)]
pub struct TooMany;

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl LoginTokens {
    /// The tokens the store had at start.
    pub fn load(tokens: Vec<LoginToken>) -> LoginTokens {
        LoginTokens {
            by_hash: tokens.into_iter().map(|t| (t.hash, t)).collect(),
        }
    }

    /// The tokens as the store has them now (a cluster node's refresh): each is kept,
    /// and one of `before` (what the previous read had) that is gone is revoked. A
    /// token made here since that read is kept.
    pub fn refresh(&mut self, tokens: Vec<LoginToken>, before: &HashSet<[u8; 32]>) {
        let now: HashSet<[u8; 32]> = tokens.iter().map(|t| t.hash).collect();
        self.by_hash
            .retain(|hash, _| now.contains(hash) || !before.contains(hash));
        for t in tokens {
            self.by_hash.insert(t.hash, t);
        }
    }

    /// `account`'s tokens as the store has them now (a cluster node's login).
    pub fn replace_account(&mut self, account: AccountId, tokens: Vec<LoginToken>) {
        self.by_hash.retain(|_, t| t.account != account);
        for t in tokens {
            self.by_hash.insert(t.hash, t);
        }
    }

    /// A new token for `account`: what to store, and the secret (given to the
    /// client once, never kept).
    pub fn create(
        &mut self,
        account: AccountId,
        label: &str,
        now: i64,
    ) -> Result<(LoginToken, String), TooMany> {
        if self.of(account).len() >= MAX_PER_ACCOUNT {
            return Err(TooMany);
        }
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let secret = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        );
        let hash = hash(&secret);
        let id: String = hash[..6].iter().map(|b| format!("{b:02x}")).collect();
        let token = LoginToken {
            id,
            account,
            hash,
            label: label.chars().take(64).collect(),
            created: now,
        };
        self.by_hash.insert(hash, token.clone());
        Ok((token, secret))
    }

    /// The token whose secret is `secret`, if any.
    pub fn check(&self, secret: &str) -> Option<&LoginToken> {
        self.by_hash.get(&hash(secret))
    }

    /// `account`'s tokens, oldest first.
    pub fn of(&self, account: AccountId) -> Vec<&LoginToken> {
        let mut list: Vec<&LoginToken> = self
            .by_hash
            .values()
            .filter(|t| t.account == account)
            .collect();
        list.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        list
    }

    /// Revokes `account`'s token `id`, or all its tokens; returns how many.
    pub fn revoke(&mut self, account: AccountId, id: Option<&str>) -> usize {
        let before = self.by_hash.len();
        self.by_hash
            .retain(|_, t| t.account != account || id.is_some_and(|id| t.id != id));
        before - self.by_hash.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_check_list_and_revoke_per_account() {
        let mut tokens = LoginTokens::default();
        let (a1, s1) = tokens.create(1, "web", 10).unwrap();
        let (_, s2) = tokens.create(1, "phone", 11).unwrap();
        let (_, s3) = tokens.create(2, "web", 12).unwrap();
        assert!(s1.starts_with(TOKEN_PREFIX));
        assert_eq!(tokens.check(&s1).map(|t| t.account), Some(1));
        assert!(tokens.check("chatd-token-guess").is_none());
        assert_eq!(tokens.of(1).len(), 2);
        assert_eq!(tokens.revoke(2, Some(&a1.id)), 0, "not another account's");
        assert_eq!(tokens.revoke(1, Some(&a1.id)), 1);
        assert!(tokens.check(&s1).is_none());
        assert!(tokens.check(&s2).is_some());
        assert_eq!(tokens.revoke(1, None), 1);
        assert!(tokens.check(&s3).is_some());
        for i in 0..MAX_PER_ACCOUNT {
            tokens.create(3, "x", i as i64).unwrap();
        }
        assert_eq!(tokens.create(3, "x", 99), Err(TooMany));
    }
}
