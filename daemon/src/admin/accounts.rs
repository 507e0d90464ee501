//! The account admin commands (`accounts-delete`, `sessions`, `sessions-revoke`;
//! `docs/admin.md`): deleting an account with everything that is its own, and an
//! account's login tokens.

use super::chanreg;
use super::commands::{done, required, Ctl, Outcome};
use crate::cmd::account;
use crate::store::Request as StoreRequest;
use chatd_admin_proto::{reply, Error};
use chatd_proto::fold;

/// Deletes an account: its sessions are logged out, its read markers, login tokens
/// and access-list entries go, and the store deletes its rows.
pub(super) fn delete(ctl: &mut Ctl, name: &str) -> Outcome {
    let name = required(name, "name")?;
    let folded = fold(name);
    let Some(acct) = ctl.state.accounts.remove(&folded) else {
        return Err(Error::not_found(format!("no such account: {name}")));
    };
    for slot in ctl.state.sessions.get(&folded).cloned().unwrap_or_default() {
        account::force_logout(
            &mut ctl.cx(slot),
            "Your account was deleted by an administrator",
        );
    }
    ctl.state.read_markers.forget(acct.id);
    ctl.state.login_tokens.revoke(acct.id, None);
    ctl.store
        .send(StoreRequest::DeleteAccount { account: acct.id });
    chanreg::forget_account(ctl, acct.id);
    log::info!("account={} deleted by an administrator", acct.name);
    done(reply::AccountDeleted { name: acct.name })
}

/// An account's login tokens, oldest first (never their secrets: chatd has none).
pub(super) fn sessions(ctl: &mut Ctl, name: &str) -> Outcome {
    let name = required(name, "account")?;
    let Some(id) = ctl.state.account_id(name) else {
        return Err(Error::not_found(format!("no such account: {name}")));
    };
    let list: Vec<reply::Session> = ctl
        .state
        .login_tokens
        .of(id)
        .into_iter()
        .map(|t| reply::Session {
            created: t.created,
            id: t.id.clone(),
            label: t.label.clone(),
        })
        .collect();
    done(list)
}

/// Revokes one login token of an account, or all of them.
pub(super) fn sessions_revoke(ctl: &mut Ctl, name: &str, token: Option<String>) -> Outcome {
    let name = required(name, "account")?;
    let Some(id) = ctl.state.account_id(name) else {
        return Err(Error::not_found(format!("no such account: {name}")));
    };
    let revoked = ctl.state.login_tokens.revoke(id, token.as_deref());
    if revoked == 0 {
        if let Some(token) = token {
            return Err(Error::not_found(format!(
                "no login token {token} for {name}"
            )));
        }
    }
    ctl.store.send(StoreRequest::DeleteTokens {
        account: id,
        id: token,
    });
    log::info!("account={name} {revoked} login token(s) revoked by an administrator");
    done(reply::SessionsRevoked { revoked })
}
