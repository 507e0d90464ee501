//! SASL: the `AUTHENTICATE` exchange (IRCv3 sasl-3.1, with re-authentication per
//! sasl-3.2) for PLAIN (RFC 4616) and SCRAM-SHA-256 (RFC 5802, RFC 7677): chunks and
//! their limits, the mechanism steps, and the login at the end. The SCRAM
//! computation is `state/scram.rs`; PLAIN's password check goes to the hasher like
//! every other login door (`account.rs`).

use super::{begin_login, login_as, login_failed, password_check_done, start_password_check};
use crate::cmd::{err, CmdError, Cx};
use crate::followup::{Door, Secret, Then};
use crate::ids::ConnId;
use crate::state::scram::{self, ScramExchange};
use crate::state::Sasl;
use crate::store::{AccountRows, Request};
use base64::Engine;
use chatd_proto::numeric::*;
use chatd_proto::{fold, Message};
use rand::RngCore;

/// The mechanisms offered: the `sasl` capability's value and `908`'s list.
pub const MECHANISMS: &str = "PLAIN,SCRAM-SHA-256";

/// A full chunk of a response; a longer `AUTHENTICATE` parameter is refused with
/// `905` (sasl-3.1).
const CHUNK: usize = 400;

/// Longest response (base64, all chunks together) accepted; past it, `904`.
const SASL_MAX: usize = 4096;

/// Bytes of randomness in the server's SCRAM nonce.
const NONCE_BYTES: usize = 24;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `AUTHENTICATE <mechanism> | <base64> | + | *` — IRCv3 sasl-3.1 and sasl-3.2.
pub fn authenticate(cx: &mut Cx, msg: &Message) -> Result<(), CmdError> {
    let arg = msg.param(0);
    if arg.len() > CHUNK {
        // sasl-3.1 "Numerics": 905 when the parameter is longer than 400 bytes.
        cx.user_mut().sasl = None;
        return Err(err(ERR_SASLTOOLONG, ["SASL message too long"]));
    }
    let state = cx.user_mut().sasl.take();
    if arg == "*" {
        if state.is_some() {
            return Err(err(ERR_SASLABORTED, ["SASL authentication aborted"]));
        }
        return Err(fail_err());
    }
    let Some(state) = state else {
        return start(cx, arg);
    };
    match *state {
        Sasl::Skipping => {
            if arg.len() == CHUNK {
                cx.user_mut().sasl = Some(Box::new(Sasl::Skipping));
            }
            Ok(())
        }
        Sasl::Plain { mut buf } => match gather(cx, &mut buf, arg) {
            Gathered::More => {
                cx.user_mut().sasl = Some(Box::new(Sasl::Plain { buf }));
                Ok(())
            }
            Gathered::Refused(e) => Err(e),
            Gathered::Done => plain(cx, &buf),
        },
        Sasl::ScramFirst { mut buf } => match gather(cx, &mut buf, arg) {
            Gathered::More => {
                cx.user_mut().sasl = Some(Box::new(Sasl::ScramFirst { buf }));
                Ok(())
            }
            Gathered::Refused(e) => Err(e),
            Gathered::Done => scram_first(cx, &buf),
        },
        Sasl::ScramFinal { mut buf, exchange } => match gather(cx, &mut buf, arg) {
            Gathered::More => {
                cx.user_mut().sasl = Some(Box::new(Sasl::ScramFinal { buf, exchange }));
                Ok(())
            }
            Gathered::Refused(e) => Err(e),
            Gathered::Done => scram_final(cx, &buf, &exchange),
        },
        Sasl::ScramDone { account, id } => {
            // RFC 5802 §5: the client answers the server-final message with an empty
            // response; then the login is complete.
            if arg != "+" || cx.state.account_id(&account) != Some(id) {
                return Err(fail_err());
            }
            login_as(cx, &account, Door::Sasl);
            Ok(())
        }
    }
}

/// Ends an exchange still under way when registration completes: sasl-3.1 says the
/// server SHOULD abort it with `906` and register the client without it.
pub fn abort_at_registration(cx: &mut Cx) {
    if cx.user_mut().sasl.take().is_some() {
        cx.reply(ERR_SASLABORTED, &["SASL authentication aborted"]);
    }
}

fn fail_err() -> CmdError {
    err(ERR_SASLFAIL, ["SASL authentication failed"])
}

/// `AUTHENTICATE <mechanism>`: the first line of an exchange.
fn start(cx: &mut Cx, mechanism: &str) -> Result<(), CmdError> {
    // sasl-3.1: after a successful authentication, 907. sasl-3.2 (CAP LS 302) lets
    // the client authenticate again at any time, to the same or another account.
    if cx.user().account.is_some() && cx.user().cap_version < 302 {
        return Err(err(
            ERR_SASLALREADY,
            ["You have already authenticated using SASL"],
        ));
    }
    let next = if mechanism.eq_ignore_ascii_case("PLAIN") {
        Sasl::Plain { buf: String::new() }
    } else if mechanism.eq_ignore_ascii_case("SCRAM-SHA-256") {
        Sasl::ScramFirst { buf: String::new() }
    } else {
        cx.reply(
            RPL_SASLMECHS,
            &[MECHANISMS, "are available SASL mechanisms"],
        );
        return Err(fail_err());
    };
    if cx.user().login_pending {
        return Err(err(ERR_SASLFAIL, ["A login is already under way"]));
    }
    cx.user_mut().sasl = Some(Box::new(next));
    send_authenticate(cx, "");
    Ok(())
}

/// What a chunk did to the response being gathered.
enum Gathered {
    /// A full chunk: more follows (or `+`).
    More,
    /// The response is complete in the buffer.
    Done,
    /// Past [`SASL_MAX`]: the exchange ends with this error, and if more chunks
    /// follow they are skipped.
    Refused(CmdError),
}

/// Adds one chunk (sasl-3.1: 400-byte chunks, the last shorter or `+`).
fn gather(cx: &mut Cx, buf: &mut String, arg: &str) -> Gathered {
    if arg != "+" {
        buf.push_str(arg);
    }
    if buf.len() > SASL_MAX {
        if arg.len() == CHUNK {
            cx.user_mut().sasl = Some(Box::new(Sasl::Skipping));
        }
        return Gathered::Refused(err(
            ERR_SASLFAIL,
            ["SASL authentication failed: response too long"],
        ));
    }
    if arg.len() == CHUNK {
        Gathered::More
    } else {
        Gathered::Done
    }
}

/// The response as text: base64 of UTF-8 (an empty response is `+`).
fn decode(buf: &str) -> Result<String, CmdError> {
    B64.decode(buf)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| err(ERR_SASLFAIL, ["SASL authentication failed: bad encoding"]))
}

/// Sends `payload` (already text) base64-encoded in 400-byte chunks, as sasl-3.1
/// says; an empty payload is `AUTHENTICATE +`.
fn send_authenticate(cx: &mut Cx, payload: &str) {
    let encoded = B64.encode(payload);
    let server = cx.server_name().to_string();
    let mut chunks: Vec<&str> = encoded
        .as_bytes()
        .chunks(CHUNK)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    if encoded.len().is_multiple_of(CHUNK) {
        chunks.push("+");
    }
    for chunk in chunks {
        cx.send_me(&Message::new("AUTHENTICATE", [chunk]).with_source(server.as_str()));
    }
}

/// PLAIN (RFC 4616): `[authzid] NUL authcid NUL password`.
fn plain(cx: &mut Cx, buf: &str) -> Result<(), CmdError> {
    let plain = decode(buf)?;
    let mut parts = plain.split('\0');
    let (authz, authc, password) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if authc.is_empty()
        || parts.next().is_some()
        || (!authz.is_empty() && fold(authz) != fold(authc))
    {
        return Err(fail_err());
    }
    begin_login(cx, Door::Sasl, authc, password);
    Ok(())
}

/// SCRAM-SHA-256, the client-first message (RFC 5802 §5.1): answers the
/// server-first message with the account's salt and iteration count, or for an
/// account that does not exist (or has no SCRAM credentials yet) a fake salt that is
/// the same every time, so the answer does not tell which.
fn scram_first(cx: &mut Cx, buf: &str) -> Result<(), CmdError> {
    let text = decode(buf)?;
    let first = scram::parse_client_first(&text)
        .map_err(|e| err(ERR_SASLFAIL, [format!("SASL authentication failed: {e:?}")]))?;
    if cx.user().login_pending {
        return Err(err(ERR_SASLFAIL, ["A login is already under way"]));
    }
    if let Err(refusal) = start_password_check(cx) {
        return Err(err(
            ERR_SASLFAIL,
            [format!("SASL authentication failed: {refusal}")],
        ));
    }
    if !cx.config.cluster.database.is_empty() {
        // Another node may have registered the account or changed its password: the
        // database's rows first (the client's next lines wait), as for a PLAIN login.
        cx.user_mut().login_pending = true;
        let name = first.user.clone();
        let then = Then::ScramLookup {
            first: Secret(text),
        };
        cx.ask(then, |ticket| Request::FetchAccount { ticket, name });
        return Ok(());
    }
    scram_server_first(cx, first);
    Ok(())
}

/// A cluster node read the account of a SCRAM login from the database: the
/// exchange goes on with what it read (`client_first`, the decoded client-first
/// message).
pub fn on_scram_account_fetched(
    cx: &mut Cx,
    asker: ConnId,
    client_first: &str,
    result: Result<Option<Box<AccountRows>>, String>,
) {
    let Ok(first) = scram::parse_client_first(client_first) else {
        return;
    };
    super::take_fetched_rows(cx.state, &first.user, result);
    if !cx.alive(asker) {
        return;
    }
    cx.user_mut().login_pending = false;
    scram_server_first(cx, first);
}

/// The server-first message, with the account's salt and iterations (or fake ones).
fn scram_server_first(cx: &mut Cx, first: scram::ClientFirst) {
    let folded = fold(&first.user);
    let (creds, id) = match cx.state.accounts.get(&folded) {
        Some(a) if a.scram.is_some() => (a.scram.clone(), Some(a.id)),
        _ => {
            // Perhaps registered on another node since this one's last refresh.
            cx.state.refresh_wanted = true;
            (None, None)
        }
    };
    let real = creds.is_some();
    let creds = creds.unwrap_or_else(|| {
        scram::fake_creds(
            &cx.state.scram_secret,
            &folded,
            cx.config.accounts.pbkdf2_iterations,
        )
    });
    let mut nonce = [0u8; NONCE_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let (exchange, server_first) = ScramExchange::start(first, creds, real, &B64.encode(nonce));
    cx.user_mut().login_account_id = id;
    cx.user_mut().sasl = Some(Box::new(Sasl::ScramFinal {
        buf: String::new(),
        exchange: Box::new(exchange),
    }));
    send_authenticate(cx, &server_first);
}

/// SCRAM-SHA-256, the client-final message (RFC 5802 §5.1): the proof is checked;
/// if right, the server-final message proves the server knew the keys, and the
/// client's empty answer to it completes the login.
fn scram_final(cx: &mut Cx, buf: &str, exchange: &ScramExchange) -> Result<(), CmdError> {
    let checked = cx.user_mut().login_account_id.take();
    let verdict = match decode(buf) {
        Ok(text) => exchange.finish(&text),
        Err(_) => Err(scram::ScramError::Malformed),
    };
    let account = cx
        .state
        .accounts
        .get(&fold(&exchange.user))
        .filter(|a| Some(a.id) == checked)
        .map(|a| (a.name.clone(), a.id));
    match (verdict, account) {
        (Ok(server_final), Some((account, id))) => {
            password_check_done(cx, true);
            cx.user_mut().sasl = Some(Box::new(Sasl::ScramDone { account, id }));
            send_authenticate(cx, &server_final);
        }
        (verdict, _) => {
            password_check_done(cx, false);
            log::info!(
                "conn={} host={} failed SCRAM login to account={} ({:?})",
                cx.me,
                cx.user().host,
                exchange.user,
                verdict.err()
            );
            login_failed(cx, Door::Sasl, "Invalid account or password");
        }
    }
    Ok(())
}
