//! The client side of SASL SCRAM-SHA-256 (RFC 5802 §3, §5, §7; RFC 7677), written
//! here from the RFCs and independent of the daemon's code, so an end-to-end test
//! checks the server against a real client computation.

use crate::Client;
use base64::Engine;
use chatd_proto::numeric::*;
use chatd_proto::Message;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The parts of a server-first message (RFC 5802 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst {
    pub nonce: String,
    pub salt: Vec<u8>,
    pub iterations: u32,
}

/// Reads `r=...,s=...,i=...`.
pub fn parse_server_first(msg: &str) -> ServerFirst {
    let mut nonce = None;
    let mut salt = None;
    let mut iterations = None;
    for attr in msg.split(',') {
        match attr.split_at(2) {
            ("r=", v) => nonce = Some(v.to_string()),
            ("s=", v) => salt = Some(B64.decode(v).expect("salt is base64")),
            ("i=", v) => iterations = Some(v.parse().expect("i= is a number")),
            _ => {}
        }
    }
    ServerFirst {
        nonce: nonce.expect("r="),
        salt: salt.expect("s="),
        iterations: iterations.expect("i="),
    }
}

/// One client exchange.
pub struct ScramClient {
    password: String,
    client_nonce: String,
    first_bare: String,
    /// `v=...` the server must send, once the final message is made.
    expected_server_final: Option<String>,
}

impl ScramClient {
    /// An exchange for `user` (no `,` or `=` in it) with a fresh random nonce.
    pub fn new(user: &str, password: &str) -> ScramClient {
        let mut raw = [0u8; 18];
        rand::thread_rng().fill_bytes(&mut raw);
        let client_nonce = B64.encode(raw);
        ScramClient {
            password: password.to_string(),
            first_bare: format!("n={user},r={client_nonce}"),
            client_nonce,
            expected_server_final: None,
        }
    }

    /// `client-first-message`: no channel binding, no authzid.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// `client-final-message` for the server's first message, with the proof
    /// `ClientKey XOR HMAC(StoredKey, AuthMessage)` (RFC 5802 §3).
    pub fn client_final(&mut self, server_first: &str) -> String {
        let sf = parse_server_first(server_first);
        assert!(
            sf.nonce.starts_with(&self.client_nonce) && sf.nonce.len() > self.client_nonce.len(),
            "the server nonce must extend ours: {server_first}"
        );
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            self.password.as_bytes(),
            &sf.salt,
            sf.iterations,
            &mut salted,
        );
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let without_proof = format!("c={},r={}", B64.encode("n,,"), sf.nonce);
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(&salted, b"Server Key");
        let server_signature = hmac(&server_key, auth_message.as_bytes());
        self.expected_server_final = Some(format!("v={}", B64.encode(server_signature)));
        format!("{without_proof},p={}", B64.encode(proof))
    }

    /// Whether the server-final message proves the server knew the keys.
    pub fn server_final_ok(&self, server_final: &str) -> bool {
        self.expected_server_final.as_deref() == Some(server_final)
    }
}

/// Base64 of `text`, as an AUTHENTICATE payload.
pub fn encode(text: &str) -> String {
    B64.encode(text)
}

/// The text of one AUTHENTICATE payload (a single chunk: ours are short).
pub fn decode(payload: &str) -> String {
    String::from_utf8(B64.decode(payload).expect("AUTHENTICATE payload is base64"))
        .expect("AUTHENTICATE payload is UTF-8")
}

/// Waits for the server's next `AUTHENTICATE` payload (or a SASL numeric, returned as
/// `Err`).
pub fn next_challenge(c: &mut Client) -> Result<String, Message> {
    let m = c.expect(
        |m| {
            m.command == "AUTHENTICATE"
                || [
                    ERR_SASLFAIL,
                    ERR_SASLTOOLONG,
                    ERR_SASLABORTED,
                    ERR_SASLALREADY,
                ]
                .contains(&m.command.as_str())
        },
        "AUTHENTICATE or a SASL error",
    );
    if m.command == "AUTHENTICATE" {
        Ok(m.param(0).to_string())
    } else {
        Err(m)
    }
}

/// A whole SCRAM-SHA-256 exchange on `c` (which negotiated `sasl`): `Ok` with the
/// server-first message once `903` arrives after a verified server signature, or
/// `Err` with the numeric that ended it.
pub fn authenticate(c: &mut Client, user: &str, password: &str) -> Result<String, Message> {
    let mut client = ScramClient::new(user, password);
    c.send("AUTHENTICATE SCRAM-SHA-256");
    let plus = next_challenge(c)?;
    assert_eq!(plus, "+", "SCRAM is client-first: an empty challenge");
    c.send(&format!("AUTHENTICATE {}", encode(&client.client_first())));
    let server_first = decode(&next_challenge(c)?);
    let last = client.client_final(&server_first);
    c.send(&format!("AUTHENTICATE {}", encode(&last)));
    let server_final = decode(&next_challenge(c)?);
    assert!(
        client.server_final_ok(&server_final),
        "server signature {server_final}"
    );
    c.send("AUTHENTICATE +");
    let end = c.expect(
        |m| m.command == RPL_SASLSUCCESS || m.command == ERR_SASLFAIL,
        "903 or 904",
    );
    if end.command == RPL_SASLSUCCESS {
        Ok(server_first)
    } else {
        Err(end)
    }
}
