//! The client side of SASL SCRAM-SHA-256 (RFC 5802 §3, §5; RFC 7677): the
//! client-first message, the proof for the server-first message, and the check of
//! the server's signature. Pure computation; `login.rs` runs the exchange.

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Most PBKDF2 iterations a server may ask for: a hostile server must not make the
/// bot spin for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// One exchange, from the client-first message to the server's signature.
#[derive(Clone)]
pub(crate) struct ScramClient {
    password: String,
    client_nonce: String,
    first_bare: String,
    /// The `v=` the server must answer with, once the final message is made.
    server_final: Option<String>,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramClient")
    }
}

impl ScramClient {
    /// An exchange for `user` with a fresh random nonce.
    pub fn new(user: &str, password: &str) -> ScramClient {
        let mut raw = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut raw);
        ScramClient::with_nonce(user, password, &B64.encode(raw))
    }

    fn with_nonce(user: &str, password: &str, nonce: &str) -> ScramClient {
        // RFC 5802 §5.1 saslname: `,` and `=` are escaped.
        let user = user.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            first_bare: format!("n={user},r={nonce}"),
            server_final: None,
        }
    }

    /// `client-first-message`: no channel binding, no authorization identity.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// `client-final-message` answering `server_first`, or why it cannot be answered.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, String> {
        let (mut nonce, mut salt, mut iterations) = (None, None, None);
        for attr in server_first.split(',') {
            match attr.split_at_checked(2) {
                Some(("r=", v)) => nonce = Some(v),
                Some(("s=", v)) => salt = B64.decode(v).ok(),
                Some(("i=", v)) => iterations = v.parse::<u32>().ok(),
                Some(("m=", _)) => return Err("unknown mandatory extension".into()),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(format!("malformed server-first message {server_first:?}"));
        };
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err("the server's nonce does not extend ours".into());
        }
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(format!("unreasonable iteration count {iterations}"));
        }
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(self.password.as_bytes(), &salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c={},r={nonce}", B64.encode("n,,"));
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(&salted, b"Server Key");
        let server_signature = hmac(&server_key, auth_message.as_bytes());
        self.server_final = Some(format!("v={}", B64.encode(server_signature)));
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Whether `server_final` proves the server knows the password's keys.
    pub fn server_final_ok(&self, server_final: &str) -> bool {
        self.server_final.as_deref() == Some(server_final)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: the example exchange, user "user", password "pencil".
    #[test]
    fn the_rfc7677_example() {
        let mut c = ScramClient::with_nonce("user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let last = c
            .client_final(
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                 s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert_eq!(
            last,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(c.server_final_ok("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
        assert!(!c.server_final_ok("v=AAAA"));
    }

    #[test]
    fn a_server_first_message_that_cannot_be_answered() {
        let mut c = ScramClient::with_nonce("a,b", "pw", "abc");
        assert_eq!(c.client_first(), "n,,n=a=2Cb,r=abc");
        for bad in [
            "r=xyz1,s=AAAA,i=10",
            "r=abc,s=AAAA,i=10",
            "r=abc1,s=AAAA,i=0",
            "r=abc1,s=AAAA,i=4294967295",
            "r=abc1,i=10",
            "m=x,r=abc1,s=AAAA,i=10",
        ] {
            assert!(c.client_final(bad).is_err(), "{bad}");
        }
    }
}
