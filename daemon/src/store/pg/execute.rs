//! One request against PostgreSQL: the same dispatch as SQLite's
//! (`worker/execute.rs`), onto this engine's functions.

use super::{accounts, channels, messages, Pg, R};
use crate::store::worker::{failure_of, new_account, verify};
use crate::store::{Account, Completion, Request, StoreOptions, Ticket};

fn create(pg: &mut Pg, ticket: &Ticket, account: Account) -> R<Completion> {
    let result = accounts::create_account(pg, &account)?.map(|id| Account { id, ..account });
    Ok(Completion::Registered {
        ticket: *ticket,
        result,
    })
}

pub(super) fn execute(
    pg: &mut Pg,
    request: &Request,
    options: &StoreOptions,
    now_ms: i64,
) -> R<Option<Completion>> {
    Ok(match request {
        Request::Log(msgs) => {
            messages::log(pg, msgs)?;
            None
        }
        Request::Queue {
            ticket,
            account,
            msg,
        } => Some(Completion::Queued {
            ticket: *ticket,
            result: messages::queue(
                pg,
                *account,
                msg,
                now_ms,
                options.queue_max_messages,
                options.queue_max_age_secs,
            )?,
        }),
        Request::CreateAccount { ticket, account } => Some(create(pg, ticket, account.clone())?),
        Request::Register {
            ticket,
            name,
            email,
            password,
        } => {
            let account = new_account(name, email, password, options.pbkdf2_iterations);
            Some(create(pg, ticket, account)?)
        }
        Request::Verify { .. } => Some(verify(request)),
        Request::SetScram { account, creds } => {
            accounts::set_scram(pg, *account, creds)?;
            None
        }
        Request::DeleteAccount { account } => {
            accounts::delete_account(pg, *account)?;
            None
        }
        Request::SaveToken(token) => {
            accounts::save_token(pg, token)?;
            None
        }
        Request::DeleteTokens { account, id } => {
            accounts::delete_tokens(pg, *account, id.as_deref())?;
            None
        }
        Request::Seen { account, time } => {
            accounts::seen(pg, account, *time)?;
            None
        }
        Request::FetchQueue { ticket, account } => Some(Completion::Queue {
            ticket: *ticket,
            rows: messages::fetch_queue(pg, *account)?,
        }),
        Request::Dequeue { ids } => {
            messages::dequeue(pg, ids)?;
            None
        }
        Request::Join {
            account,
            channel,
            incarnation,
            last_id,
        } => {
            channels::join(pg, *account, channel, *incarnation, *last_id)?;
            None
        }
        Request::NewChannel {
            name,
            incarnation,
            created_ms,
        } => {
            messages::new_channel(pg, name, *incarnation, *created_ms)?;
            None
        }
        Request::ChannelBan {
            incarnation,
            mask,
            at_id,
        } => {
            messages::channel_ban(pg, *incarnation, mask, *at_id)?;
            None
        }
        Request::Part { account, channel } => {
            channels::part(pg, *account, channel)?;
            None
        }
        Request::Left {
            account,
            channels: names,
            last_id,
        } => {
            channels::left(pg, *account, names, *last_id)?;
            None
        }
        Request::FetchMemberships { ticket, account } => Some(Completion::Memberships {
            ticket: *ticket,
            channels: channels::fetch_memberships(pg, *account, options.missed_per_channel)?,
        }),
        Request::History {
            ticket,
            conv,
            range,
            limit,
            events,
        } => Some(Completion::History {
            ticket: *ticket,
            messages: messages::history(pg, conv, range, *limit, *events)?,
        }),
        Request::SetReadMarker(marker) => {
            accounts::set_read_marker(pg, marker)?;
            None
        }
        Request::DropReadMarker { account, target } => {
            accounts::drop_read_marker(pg, *account, target)?;
            None
        }
        Request::Redact {
            ticket,
            conv,
            id,
            by,
        } => Some(Completion::Redacted {
            ticket: *ticket,
            result: messages::redact(pg, conv, *id, by)?,
        }),
        Request::Targets {
            ticket,
            party,
            channels: chans,
            from,
            to,
            limit,
        } => Some(Completion::Targets {
            ticket: *ticket,
            targets: messages::targets(pg, party, chans, *from, *to, *limit)?,
        }),
        Request::Sync { ticket } => Some(Completion::Synced { ticket: *ticket }),
        Request::AddBan(ban) => {
            accounts::add_ban(pg, ban)?;
            None
        }
        Request::RemoveBan { mask } => {
            accounts::remove_ban(pg, mask)?;
            None
        }
        Request::SaveChannel(record) => {
            channels::save_channel(pg, record)?;
            None
        }
        Request::DropChannel { name } => {
            channels::drop_channel(pg, name)?;
            None
        }
        Request::ListAccounts { ticket } => Some(Completion::Accounts {
            ticket: *ticket,
            accounts: accounts::list_accounts(pg)?,
        }),
        Request::FetchAccount { ticket, name } => Some(Completion::Account {
            ticket: *ticket,
            result: Ok(accounts::fetch_account(pg, name)?),
        }),
        Request::Reload { ticket } => Some(Completion::Reloaded {
            ticket: *ticket,
            loaded: Some(Box::new(pg.reload()?)),
        }),
        Request::Stats { ticket } => Some(Completion::Stats {
            ticket: *ticket,
            queue_total: accounts::queue_total(pg)?,
            store_bytes: u64::try_from(accounts::database_bytes(pg)?).unwrap_or(0),
        }),
        // Taken out of batches by the worker.
        Request::Backup { .. } => failure_of(request, "a backup cannot run inside a batch"),
        Request::Tail { ticket, n, filter } => Some(Completion::History {
            ticket: *ticket,
            messages: messages::tail(pg, *n, filter.as_ref())?,
        }),
    })
}
