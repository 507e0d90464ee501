//! The hasher thread: PBKDF2 for `Verify` (answered here, with SCRAM credentials
//! made for an account that has none yet) and `Register` (handed to the store thread
//! as `CreateAccount`).

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
            request @ Request::Verify { .. } => {
                let _ = completions.send(verify(&request));
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

/// Answers a [`Request::Verify`]: whether the password matches and, when asked and it
/// does, the SCRAM-SHA-256 credentials made from it.
pub(in crate::store) fn verify(request: &Request) -> Completion {
    let Request::Verify {
        ticket,
        account,
        password,
        hash,
        scram_iterations,
    } = request
    else {
        unreachable!("verify is given only Verify requests");
    };
    let ok = password::verify(password, hash);
    let scram = scram_iterations
        .filter(|_| ok)
        .map(|i| password::ScramCreds::derive(password, i));
    Completion::Verified {
        ticket: *ticket,
        account: account.clone(),
        ok,
        scram,
    }
}
