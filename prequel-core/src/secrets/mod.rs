//! Where secrets live: the [`SecretStore`] trait, its local file backend, and the generator of
//! interview passwords.
//!
//! A secret leaves the process only in a DM to the interview's people, in the API's answers to
//! `create` and `creds`, and to the instance itself (ARCHITECTURE.md, invariant 10); everywhere
//! else it is a [`SecretString`], redacted when printed.

pub mod file;
#[cfg(feature = "aws")]
pub mod ssm;

use std::fmt;

use async_trait::async_trait;
use rand::Rng;
use thiserror::Error;

use crate::domain::{InterviewId, SecretString};

/// Why a secret store call failed. Messages never contain the secret.
#[derive(Debug, Error)]
pub enum SecretError {
    /// The backend failed (I/O, permissions, network).
    #[error("secret store error at {location}: {source}")]
    Backend {
        /// The file or parameter concerned (never the secret).
        location: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored secret could not be read back (bad encoding, wrong permissions).
    #[error("secret at {0} is unreadable")]
    Corrupt(String),
}

/// Stores one password per interview.
///
/// Contract: [`password`](Self::password) is idempotent — the first call for an interview
/// generates and keeps a password, every later call (from any process on the same backing
/// store) returns the same one, even when two calls race. [`forget`](Self::forget) of an absent
/// secret succeeds.
#[async_trait]
pub trait SecretStore: Send + Sync + fmt::Debug {
    /// The interview's password, generated with [`generate_password`] on first use.
    async fn password(&self, interview: &InterviewId) -> Result<SecretString, SecretError>;

    /// The interview's password if one was made, without making one.
    async fn existing_password(
        &self,
        interview: &InterviewId,
    ) -> Result<Option<SecretString>, SecretError>;

    /// Deletes the interview's password (after its instance is destroyed).
    async fn forget(&self, interview: &InterviewId) -> Result<(), SecretError>;
}

/// Symbols of generated passwords: lowercase letters and digits without the look-alikes
/// `l`, `o`, `0`, `1` — easy to read aloud and to type. 32 symbols = 5 bits each.
const PASSWORD_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Groups of four, joined by `-`: 7 groups = 28 symbols = 140 bits from a CSPRNG.
const PASSWORD_GROUPS: usize = 7;
const PASSWORD_GROUP_LEN: usize = 4;

/// A new interview password: 140 random bits (`rand::rng()`, a CSPRNG seeded by the OS) written
/// as seven groups of four unambiguous characters, e.g. `k7mq-2xw9-ab3c-defg-hjk2-mnpq-rstu`.
pub fn generate_password() -> SecretString {
    let mut rng = rand::rng();
    let groups: Vec<String> = (0..PASSWORD_GROUPS)
        .map(|_| {
            (0..PASSWORD_GROUP_LEN)
                .map(|_| PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())] as char)
                .collect()
        })
        .collect();
    SecretString::new(groups.join("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_carry_at_least_128_bits_in_typeable_groups() {
        let bits =
            (PASSWORD_GROUPS * PASSWORD_GROUP_LEN) as f64 * (PASSWORD_ALPHABET.len() as f64).log2();
        assert!(bits >= 128.0, "{bits} bits");
        let password = generate_password();
        let groups: Vec<_> = password.expose().split('-').collect();
        assert_eq!(groups.len(), PASSWORD_GROUPS);
        for group in groups {
            assert_eq!(group.len(), PASSWORD_GROUP_LEN);
            assert!(group.bytes().all(|b| PASSWORD_ALPHABET.contains(&b)));
        }
        let distinct: std::collections::HashSet<_> = (0..1000)
            .map(|_| generate_password().expose().to_owned())
            .collect();
        assert_eq!(distinct.len(), 1000);
    }
}
