//! The hasher thread: PBKDF2 for `Verify` (answered here) and `Register` (handed
//! to the store thread as `CreateAccount`).

use super::*;

pub(super) fn run_hasher(
    requests: Receiver<Request>,
    store: Sender<Request>,
    completions: Sender<Completion>,
    wake: Wake,
    iterations: u32,
) {
    for request in requests {
        match request {
            Request::Verify {
                ticket,
                account,
                password,
                hash,
            } => {
                let ok = password::verify(&password, &hash);
                let _ = completions.send(Completion::Verified {
                    ticket,
                    account,
                    ok,
                });
                wake();
            }
            Request::Register {
                ticket,
                name,
                email,
                password,
            } => {
                let account = new_account(&name, &email, &password, iterations);
                if let Err(mpsc::SendError(Request::CreateAccount { ticket, .. })) =
                    store.send(Request::CreateAccount { ticket, account })
                {
                    let _ = completions.send(Completion::Registered {
                        ticket,
                        result: Err(RegisterError::Unavailable(
                            "the store has stopped".to_string(),
                        )),
                    });
                    wake();
                }
            }
            other => {
                // Not routed here by `Store::send`; pass it on.
                if store.send(other).is_err() {
                    log::error!("store: the store thread has stopped; a request was dropped");
                }
            }
        }
    }
}
