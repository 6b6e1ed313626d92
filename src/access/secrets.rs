//! Secrets: argon2id hashes of PINs, passwords and tokens; random tokens and ids.
//!
//! Owns the hashing parameters and the randomness. A hash is a PHC string
//! (`$argon2id$v=19$m=…`) carrying its own salt and parameters, so parameters can be
//! raised later without invalidating stored hashes. Hashing is deliberately slow (tens of
//! milliseconds): callers run it off the async workers ([`hash_blocking`],
//! [`verify_blocking`]).

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};

/// Why a secret could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The hasher refused the input (never expected with valid parameters).
    #[error("cannot hash the secret: {0}")]
    Hash(String),
    /// The blocking task was lost.
    #[error("the hashing task failed")]
    Task,
}

/// OWASP's argon2id baseline: 19 MiB, two passes, one lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The argon2id PHC string of `secret` with a fresh random salt.
pub fn hash(secret: &str) -> Result<String, SecretError> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

/// True when `secret` matches the PHC string `phc` (a malformed hash never matches).
pub fn verify(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher().verify_password(secret.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// [`hash`] on a blocking thread.
pub async fn hash_blocking(secret: String) -> Result<String, SecretError> {
    tokio::task::spawn_blocking(move || hash(&secret))
        .await
        .map_err(|_| SecretError::Task)?
}

/// [`verify`] on a blocking thread.
pub async fn verify_blocking(secret: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || verify(&secret, &phc))
        .await
        .unwrap_or(false)
}

/// 256 random bits as 64 lowercase hex digits (session ids, token secrets, CSRF tokens).
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// SHA-256 of `text` in hex: how session ids are kept in memory, so a dump of the session
/// table holds nothing a browser could present.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("1234").expect("hash");
        let b = hash("1234").expect("hash");
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("1234", &a));
        assert!(!verify("1235", &a));
        assert!(!verify("1234", "not a hash"));
    }

    #[test]
    fn random_values_are_256_bits_and_differ() {
        let a = random_hex();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_hex());
    }
}
