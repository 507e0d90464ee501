//! SCRAM-SHA-256 on the server side (RFC 5802 §3, §5, §7; RFC 7677): reading the
//! client's two messages, writing the server's, and checking the proof. Pure
//! computation, no I/O; the `AUTHENTICATE` exchange around it is
//! `cmd/account/sasl.rs`, the stored credentials `store/password.rs`.

use crate::store::password::{hmac_sha256, sha256, ScramCreds, SALT_LEN};
use base64::Engine;
use subtle::ConstantTimeEq;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Longest client nonce accepted (RFC 5802 sets none; ours bounds memory).
const MAX_NONCE: usize = 256;

/// Why a SCRAM message was refused. Every one ends the exchange with `904`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramError {
    /// Not a message of the RFC 5802 §7 grammar (or not UTF-8).
    Malformed,
    /// The client asked for channel binding (`p=`), which SCRAM-SHA-256 without
    /// `-PLUS` does not offer.
    ChannelBinding,
    /// A mandatory extension (`m=`) we do not know.
    Extension,
    /// The authorization identity is not the authentication identity.
    OtherAuthzid,
    /// The final message's channel binding or nonce is not this exchange's.
    Mismatch,
    /// The proof is wrong, or the account does not exist or has no SCRAM credentials.
    BadProof,
}

/// The client-first message (RFC 5802 §7 `client-first-message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The GS2 header as sent (`n,,`, `y,,`, `n,a=name,`): the final message's
    /// `c=` must be its base64.
    pub gs2_header: String,
    /// The authentication identity (`n=`), decoded.
    pub user: String,
    /// The client's nonce (`r=`).
    pub nonce: String,
    /// `client-first-message-bare`, as sent: part of the AuthMessage.
    pub bare: String,
}

/// Reads a client-first message.
pub fn parse_client_first(msg: &str) -> Result<ClientFirst, ScramError> {
    let mut parts = msg.splitn(3, ',');
    let (flag, authz, bare) = (
        parts.next().ok_or(ScramError::Malformed)?,
        parts.next().ok_or(ScramError::Malformed)?,
        parts.next().ok_or(ScramError::Malformed)?,
    );
    match flag {
        "n" | "y" => {}
        f if f.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => return Err(ScramError::Malformed),
    }
    let authz_raw = authz;
    let authz = match authz {
        "" => None,
        a => Some(saslname(
            a.strip_prefix("a=").ok_or(ScramError::Malformed)?,
        )?),
    };
    let mut attrs = bare.split(',');
    let user = match attrs.next() {
        Some(a) if a.starts_with("m=") => return Err(ScramError::Extension),
        Some(a) => saslname(a.strip_prefix("n=").ok_or(ScramError::Malformed)?)?,
        None => return Err(ScramError::Malformed),
    };
    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix("r="))
        .ok_or(ScramError::Malformed)?;
    if user.is_empty() || nonce.is_empty() || nonce.len() > MAX_NONCE || !printable(nonce) {
        return Err(ScramError::Malformed);
    }
    if authz.is_some_and(|a| chatd_proto::fold(&a) != chatd_proto::fold(&user)) {
        return Err(ScramError::OtherAuthzid);
    }
    Ok(ClientFirst {
        gs2_header: format!("{flag},{authz_raw},"),
        user,
        nonce: nonce.to_string(),
        bare: bare.to_string(),
    })
}

/// RFC 5802 §5.1 `saslname`: `=2C` is a comma, `=3D` an equals sign, and no other
/// `=` may appear.
fn saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// RFC 5802 §7 `printable`: ASCII 0x21–0x7E except the comma.
fn printable(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// The credentials answered for an account that does not exist, or has no SCRAM
/// credentials yet: a salt derived from the server's secret and the name (the same
/// every time, as a real one is) and keys no proof matches.
pub fn fake_creds(secret: &[u8], folded_name: &str, iterations: u32) -> ScramCreds {
    let salt = hmac_sha256(secret, format!("scram-salt\0{folded_name}").as_bytes());
    let key = hmac_sha256(secret, format!("scram-key\0{folded_name}").as_bytes());
    ScramCreds {
        iterations: iterations.max(1),
        salt: salt[..SALT_LEN].to_vec(),
        stored_key: key.to_vec(),
        server_key: key.to_vec(),
    }
}

/// One exchange after the server-first message: what the final message is checked
/// against.
#[derive(Clone)]
pub struct ScramExchange {
    /// The authentication identity the client gave.
    pub user: String,
    gs2_header: String,
    /// Client nonce followed by ours.
    nonce: String,
    /// `client-first-message-bare "," server-first-message`.
    auth_prefix: String,
    creds: ScramCreds,
    /// The credentials are an account's, not [`fake_creds`].
    real: bool,
}

impl std::fmt::Debug for ScramExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScramExchange {{ user: {:?}, .. }}", self.user)
    }
}

impl ScramExchange {
    /// Starts an exchange for `first` with `creds` (`real` when they are the
    /// account's) and `server_nonce` (from a CSPRNG, printable). Returns it with the
    /// server-first message to send.
    pub fn start(
        first: ClientFirst,
        creds: ScramCreds,
        real: bool,
        server_nonce: &str,
    ) -> (ScramExchange, String) {
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&creds.salt),
            creds.iterations
        );
        let exchange = ScramExchange {
            user: first.user,
            gs2_header: first.gs2_header,
            nonce,
            auth_prefix: format!("{},{server_first}", first.bare),
            creds,
            real,
        };
        (exchange, server_first)
    }

    /// Checks the client-final message. `Ok` is the server-final message
    /// (`v=<ServerSignature>`). The proof is computed and compared in constant time
    /// whether or not the credentials are real.
    pub fn finish(&self, client_final: &str) -> Result<String, ScramError> {
        let (without_proof, proof) = client_final
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed)?;
        let mut attrs = without_proof.split(',');
        let binding = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed)?;
        let nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed)?;
        if B64.decode(binding).ok().as_deref() != Some(self.gs2_header.as_bytes())
            || nonce != self.nonce
        {
            return Err(ScramError::Mismatch);
        }
        let proof = B64.decode(proof).map_err(|_| ScramError::Malformed)?;
        if proof.len() != 32 {
            return Err(ScramError::Malformed);
        }
        let auth_message = format!("{},{without_proof}", self.auth_prefix);
        let signature = hmac_sha256(&self.creds.stored_key, auth_message.as_bytes());
        let mut client_key = [0u8; 32];
        for (k, (p, s)) in client_key.iter_mut().zip(proof.iter().zip(signature)) {
            *k = p ^ s;
        }
        let matches: bool = sha256(&client_key).ct_eq(&self.creds.stored_key).into();
        if !(matches & self.real) {
            return Err(ScramError::BadProof);
        }
        let server_signature = hmac_sha256(&self.creds.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3, the SCRAM-SHA-256 example exchange.
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn example_creds(password: &str) -> ScramCreds {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        ScramCreds::with_salt(password, salt, 4096)
    }

    #[test]
    fn the_rfc7677_example_exchange() {
        let first = parse_client_first(CLIENT_FIRST).unwrap();
        assert_eq!(
            (first.gs2_header.as_str(), first.user.as_str()),
            ("n,,", "user")
        );
        let (ex, server_first) =
            ScramExchange::start(first, example_creds("pencil"), true, SERVER_NONCE);
        assert_eq!(server_first, SERVER_FIRST);
        assert_eq!(ex.finish(CLIENT_FINAL).unwrap(), SERVER_FINAL);
    }

    #[test]
    fn a_wrong_password_fake_credentials_or_another_nonce_fail() {
        let start = |creds, real| {
            let first = parse_client_first(CLIENT_FIRST).unwrap();
            ScramExchange::start(first, creds, real, SERVER_NONCE).0
        };
        let wrong = start(example_creds("pencil2"), true);
        assert_eq!(wrong.finish(CLIENT_FINAL), Err(ScramError::BadProof));
        // The right keys, but not an account's: still refused.
        let fake = start(example_creds("pencil"), false);
        assert_eq!(fake.finish(CLIENT_FINAL), Err(ScramError::BadProof));
        let ex = start(example_creds("pencil"), true);
        let other_nonce = CLIENT_FINAL.replace("$k0,", "$k1,");
        assert_eq!(ex.finish(&other_nonce), Err(ScramError::Mismatch));
        let other_binding = CLIENT_FINAL.replace("c=biws", "c=eSws");
        assert_eq!(ex.finish(&other_binding), Err(ScramError::Mismatch));
        assert_eq!(ex.finish("c=biws"), Err(ScramError::Malformed));
        let short_proof = CLIENT_FINAL.replace("p=dHzb", "p=");
        assert_eq!(ex.finish(&short_proof), Err(ScramError::Malformed));
    }

    #[test]
    fn client_first_messages_by_the_rfc5802_grammar() {
        /// (GS2 header, user) of a message that is read.
        type Read<'a> = Result<(&'a str, &'a str), ScramError>;
        let cases: &[(&str, Read)] = &[
            ("n,,n=alice,r=abc", Ok(("n,,", "alice"))),
            ("y,,n=alice,r=abc", Ok(("y,,", "alice"))),
            ("n,a=Alice,n=alice,r=abc", Ok(("n,a=Alice,", "alice"))),
            ("n,,n=a=2Cb=3Dc,r=abc", Ok(("n,,", "a,b=c"))),
            ("n,,n=alice,r=abc,x=ext", Ok(("n,,", "alice"))),
            ("n,a=bob,n=alice,r=abc", Err(ScramError::OtherAuthzid)),
            (
                "p=tls-unique,,n=alice,r=abc",
                Err(ScramError::ChannelBinding),
            ),
            ("n,,m=ext,n=alice,r=abc", Err(ScramError::Extension)),
            ("n,,n=a=2Xb,r=abc", Err(ScramError::Malformed)),
            ("n,,n=,r=abc", Err(ScramError::Malformed)),
            ("n,,n=alice,r=", Err(ScramError::Malformed)),
            ("n,,n=alice", Err(ScramError::Malformed)),
            ("n,,r=abc,n=alice", Err(ScramError::Malformed)),
            ("x,,n=alice,r=abc", Err(ScramError::Malformed)),
            ("n,,n=alice,r=a b", Err(ScramError::Malformed)),
            ("", Err(ScramError::Malformed)),
        ];
        for (msg, want) in cases {
            let got = parse_client_first(msg);
            let got = got
                .as_ref()
                .map(|f| (f.gs2_header.as_str(), f.user.as_str()))
                .map_err(|e| *e);
            assert_eq!(got, *want, "{msg}");
        }
        let long = format!("n,,n=alice,r={}", "x".repeat(MAX_NONCE + 1));
        assert_eq!(parse_client_first(&long), Err(ScramError::Malformed));
    }

    #[test]
    fn fake_credentials_are_stable_per_name_and_differ_between_names() {
        let a = fake_creds(b"secret", "alice", 4096);
        assert_eq!(a, fake_creds(b"secret", "alice", 4096));
        assert_ne!(a.salt, fake_creds(b"secret", "bob", 4096).salt);
        assert_ne!(a.salt, fake_creds(b"other", "alice", 4096).salt);
        assert_eq!((a.salt.len(), a.iterations), (SALT_LEN, 4096));
    }
}
