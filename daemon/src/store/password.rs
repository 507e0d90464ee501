//! Passwords: salted PBKDF2-HMAC-SHA256, and the SCRAM-SHA-256 credentials (RFC 5802
//! §3, RFC 7677) kept beside the hash ([`ScramCreds`]).
//!
//! A hash is stored as three columns (iterations, salt, hash): a 16-byte random salt
//! and a 32-byte derived key. [`verify`] derives a key of the stored length with the
//! stored salt and iterations, so hashes made with other settings stay valid when
//! the configured iteration count changes. Comparison is constant-time.
//!
//! Nothing here logs, and no type here holds a password.

use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Bytes of random salt in a new hash.
pub const SALT_LEN: usize = 16;
/// Bytes of derived key in a new hash.
pub const HASH_LEN: usize = 32;
/// Longest derived key [`verify`] will compute (a guard against a corrupt row).
const MAX_HASH_LEN: usize = 1024;

/// A password hash as stored: PBKDF2-HMAC-SHA256 with these parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

/// The text form, for config files: `$pbkdf2-sha256$i=<iterations>$<salt>$<hash>`
/// with unpadded standard base64.
impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        write!(
            f,
            "$pbkdf2-sha256$i={}${}${}",
            self.iterations,
            b64.encode(&self.salt),
            b64.encode(&self.hash)
        )
    }
}

impl std::str::FromStr for PasswordHash {
    type Err = String;

    fn from_str(s: &str) -> Result<PasswordHash, String> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
        let parts: Vec<&str> = s.split('$').collect();
        let [_, "pbkdf2-sha256", iter, salt, hash] = parts.as_slice() else {
            return Err("expected $pbkdf2-sha256$i=N$salt$hash".into());
        };
        let iterations = iter
            .strip_prefix("i=")
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n > 0)
            .ok_or("bad iteration count")?;
        let salt = b64.decode(salt).map_err(|_| "bad salt")?;
        let hash = b64.decode(hash).map_err(|_| "bad hash")?;
        if hash.is_empty() || hash.len() > MAX_HASH_LEN {
            return Err("bad hash length".into());
        }
        Ok(PasswordHash {
            iterations,
            salt,
            hash,
        })
    }
}

/// Hashes `password` with a fresh random salt. `iterations` below 1 count as 1.
pub fn hash(password: &str, iterations: u32) -> PasswordHash {
    let iterations = iterations.max(1);
    let mut salt = vec![0u8; SALT_LEN];
    rand::thread_rng().fill_bytes(&mut salt);
    let mut hash = vec![0u8; HASH_LEN];
    derive(password, &salt, iterations, &mut hash);
    PasswordHash {
        iterations,
        salt,
        hash,
    }
}

/// A hash that no password matches (random salt and key), with `iterations`: a
/// login to an unknown account is checked against it, so it costs the same work
/// and time as one to an account that exists.
pub fn dummy(iterations: u32) -> PasswordHash {
    let mut salt = vec![0u8; SALT_LEN];
    let mut hash = vec![0u8; HASH_LEN];
    rand::thread_rng().fill_bytes(&mut salt);
    rand::thread_rng().fill_bytes(&mut hash);
    PasswordHash {
        iterations: iterations.max(1),
        salt,
        hash,
    }
}

/// Whether `password` matches `stored`, compared in constant time. A stored hash
/// that is empty, oversized or has zero iterations never matches.
pub fn verify(password: &str, stored: &PasswordHash) -> bool {
    if stored.iterations == 0 || stored.hash.is_empty() || stored.hash.len() > MAX_HASH_LEN {
        return false;
    }
    let mut computed = vec![0u8; stored.hash.len()];
    derive(password, &stored.salt, stored.iterations, &mut computed);
    computed.ct_eq(&stored.hash).into()
}

/// What a SCRAM-SHA-256 server keeps of a password (RFC 5802 §3): its own salt (never
/// the password hash's, so the stored hash is not a SCRAM `SaltedPassword`), the
/// iteration count, `StoredKey = H(HMAC(SaltedPassword, "Client Key"))` and
/// `ServerKey = HMAC(SaltedPassword, "Server Key")`. Neither key lets anyone log in
/// as the client. `Debug` shows only the iteration count.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCreds {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ScramCreds {{ iterations: {}, .. }}", self.iterations)
    }
}

impl ScramCreds {
    /// The credentials for `password` with a fresh random salt: the PBKDF2 work, so
    /// only the hasher thread calls this. `iterations` below 1 count as 1.
    pub fn derive(password: &str, iterations: u32) -> ScramCreds {
        let mut salt = vec![0u8; SALT_LEN];
        rand::thread_rng().fill_bytes(&mut salt);
        ScramCreds::with_salt(password, salt, iterations.max(1))
    }

    /// The credentials for `password` with this salt and count (RFC 5802 §3).
    pub fn with_salt(password: &str, salt: Vec<u8>, iterations: u32) -> ScramCreds {
        let mut salted = [0u8; HASH_LEN];
        derive(password, &salt, iterations, &mut salted);
        let client_key = hmac_sha256(&salted, b"Client Key");
        ScramCreds {
            iterations,
            salt,
            stored_key: sha256(&client_key).to_vec(),
            server_key: hmac_sha256(&salted, b"Server Key").to_vec(),
        }
    }
}

/// HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    Sha256::digest(data).into()
}

fn derive(password: &str, salt: &[u8], iterations: u32, out: &mut [u8]) {
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7914 section 11: PBKDF2-HMAC-SHA256, P = "passwd", S = "salt", c = 1,
    /// dkLen = 64.
    const RFC7914_PASSWD_SALT_1: [u8; 64] = [
        0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44, 0xb6,
        0x05, 0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65, 0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d,
        0xac, 0xbc, 0x49, 0xca, 0x9c, 0xcc, 0xf1, 0x79, 0xb6, 0x45, 0x99, 0x16, 0x64, 0xb3, 0x9d,
        0x77, 0xef, 0x31, 0x7c, 0x71, 0xb8, 0x45, 0xb1, 0xe3, 0x0b, 0xd5, 0x09, 0x11, 0x20, 0x41,
        0xd3, 0xa1, 0x97, 0x83,
    ];

    #[test]
    fn text_form_round_trips() {
        let h = hash("secret", 1000);
        let text = h.to_string();
        assert!(text.starts_with("$pbkdf2-sha256$i=1000$"), "{text}");
        let back: PasswordHash = text.parse().unwrap();
        assert_eq!(back, h);
        assert!(verify("secret", &back));
        assert!("plain".parse::<PasswordHash>().is_err());
        assert!("$pbkdf2-sha256$i=0$AAAA$AAAA"
            .parse::<PasswordHash>()
            .is_err());
    }

    #[test]
    fn rfc7914_vector() {
        let mut out = [0u8; 64];
        derive("passwd", b"salt", 1, &mut out);
        assert_eq!(out, RFC7914_PASSWD_SALT_1);
        let stored = PasswordHash {
            iterations: 1,
            salt: b"salt".to_vec(),
            hash: RFC7914_PASSWD_SALT_1.to_vec(),
        };
        assert!(verify("passwd", &stored));
        assert!(!verify("passwe", &stored));
        // A 32-byte key is the prefix of the 64-byte one.
        let short = PasswordHash {
            hash: RFC7914_PASSWD_SALT_1[..32].to_vec(),
            ..stored
        };
        assert!(verify("passwd", &short));
    }

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse", 1000);
        assert_eq!(h.iterations, 1000);
        assert_eq!(h.salt.len(), SALT_LEN);
        assert_eq!(h.hash.len(), HASH_LEN);
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsE", &h));
        assert!(!verify("", &h));
    }

    #[test]
    fn salts_differ() {
        let a = hash("same", 1000);
        let b = hash("same", 1000);
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.hash, b.hash);
    }

    #[test]
    fn degenerate_stored_hash_never_matches() {
        let mut h = hash("pw", 10);
        h.iterations = 0;
        assert!(!verify("pw", &h));
        let empty = PasswordHash {
            iterations: 10,
            salt: vec![],
            hash: vec![],
        };
        assert!(!verify("", &empty));
        assert_eq!(hash("pw", 0).iterations, 1);
    }

    #[test]
    fn the_dummy_hash_costs_the_configured_work_and_matches_nothing() {
        let d = dummy(1000);
        assert_eq!(
            (d.iterations, d.salt.len(), d.hash.len()),
            (1000, SALT_LEN, HASH_LEN)
        );
        assert!(!verify("", &d));
        assert!(!verify("password", &d));
        assert_ne!(dummy(1000), d);
    }

    /// RFC 7677 §3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==,
    /// 4096 iterations. The example's proof and server signature follow from these
    /// keys (checked in `state::scram`).
    #[test]
    fn scram_creds_of_the_rfc7677_example() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = b64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let c = ScramCreds::with_salt("pencil", salt, 4096);
        // Client Key, from the example's proof and signature, hashes to StoredKey.
        assert_eq!(c.stored_key.len(), 32);
        assert_eq!(c.server_key.len(), 32);
        assert!(!format!("{c:?}").contains(&format!("{:?}", c.stored_key)));
        let d = ScramCreds::derive("pencil", 10);
        assert_eq!((d.iterations, d.salt.len()), (10, SALT_LEN));
        assert_ne!(ScramCreds::derive("pencil", 10).salt, d.salt);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let h = hash("hunter2-secret", 10);
        assert!(!format!("{h:?}").contains("hunter2-secret"));
    }
}
