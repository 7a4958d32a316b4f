//! Personal API tokens: a person's own key to the JSON API, so the CLI (or a script) acts as
//! them rather than as the admin.
//!
//! A token reads `pqt_<id>_<secret>`: `pqt_` says what it is (a secret scanner can match it),
//! `<id>` is 12 lowercase letters and digits that name the record, `<secret>` 43 letters and
//! digits (≈ 256 random bits from a CSPRNG). The store keeps the id and the SHA-256 of the
//! secret, never the secret: a copy of the database opens nothing. A plain hash is enough
//! because the secret is random and long, not a password a person chose.
//!
//! Only admins make, list and revoke tokens. A token acts as a [member](crate::access::Role) of
//! platform `cli` with the user name it was made for: the ownership rule applies to it as to
//! anyone, so it reaches that person's interviews and the ones they were named on, nothing else.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Prequel, PrequelError};
use crate::access::Actor;
use crate::domain::{Platform, Requester, SecretString};
use crate::store::{ApiToken, StoreError};

/// How every personal API token begins.
pub const API_TOKEN_PREFIX: &str = "pqt_";

/// The longest user name a token may be made for.
pub const MAX_TOKEN_USER_CHARS: usize = 64;

const ID_LEN: usize = 12;
const ID_ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// 43 symbols of 62 ≈ 256 bits.
const SECRET_LEN: usize = 43;

/// How stale a token's `last_used_at` may grow before a use writes it again: one write a minute
/// at most, however busy the token.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// A token just made: its record, and the token itself — shown this once, kept nowhere.
#[derive(Debug, Clone)]
pub struct IssuedApiToken {
    /// What the store keeps (no secret).
    pub record: ApiToken,
    /// `pqt_<id>_<secret>`, for the person it was made for.
    pub token: SecretString,
}

impl Prequel {
    /// Makes a personal API token acting as `user` (admins only). `user` is a login: 1 to
    /// [`MAX_TOKEN_USER_CHARS`] letters, digits and `.` `_` `-` `@`.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        user: &str,
    ) -> Result<IssuedApiToken, PrequelError> {
        require_admin(actor, "make")?;
        let user = token_user(user)?;
        let now = self.now();
        // Twelve symbols of 36 collide once in ~10^18 ids; one retry is more than enough.
        let mut attempts = 0;
        loop {
            let (id, secret) = (random(ID_LEN, ID_ALPHABET), random(SECRET_LEN, BASE62));
            let record = ApiToken {
                id: id.clone(),
                user: user.clone(),
                secret_hash: secret_hash(&secret),
                created_at: now,
                created_by: actor.requester.display_name.clone(),
                last_used_at: None,
                revoked_at: None,
            };
            match self.inner.store.insert_api_token(&record).await {
                Ok(()) => {
                    tracing::info!(token = %id, user = %user, "API token made");
                    return Ok(IssuedApiToken {
                        record,
                        token: SecretString::new(format!("{API_TOKEN_PREFIX}{id}_{secret}")),
                    });
                }
                Err(StoreError::Conflict(_)) if attempts < 3 => attempts += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Every API token, revoked ones too, oldest first (admins only).
    pub async fn api_tokens(&self, actor: &Actor) -> Result<Vec<ApiToken>, PrequelError> {
        require_admin(actor, "list")?;
        Ok(self.inner.store.api_tokens().await?)
    }

    /// Revokes a token by its id (admins only): from now on it opens nothing. Revoking twice
    /// keeps the first time. An unknown id is [`PrequelError::Invalid`] when malformed and a
    /// store `NotFound` otherwise.
    pub async fn revoke_api_token(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<ApiToken, PrequelError> {
        require_admin(actor, "revoke")?;
        if !valid_id(id) {
            return Err(PrequelError::Invalid(format!(
                "`{id}` is not an API token id (12 lowercase letters and digits, as `prequel token list` shows)"
            )));
        }
        match self.inner.store.revoke_api_token(id, self.now()).await? {
            Some(token) => {
                tracing::info!(token = %id, user = %token.user, "API token revoked");
                Ok(token)
            }
            None => Err(StoreError::NotFound {
                what: format!("API token {id}"),
            }
            .into()),
        }
    }

    /// Who `presented` speaks for: `Some(member)` for a valid, unrevoked personal token,
    /// `None` for anything else (malformed, unknown, wrong secret, revoked — the caller cannot
    /// tell which). Records the use, at most once a minute.
    pub async fn authenticate_api_token(
        &self,
        presented: &str,
    ) -> Result<Option<Actor>, PrequelError> {
        let Some((id, secret)) = split_token(presented) else {
            return Ok(None);
        };
        let Some(token) = self.inner.store.api_token(id).await? else {
            return Ok(None);
        };
        let matches: bool = secret_hash(secret)
            .as_bytes()
            .ct_eq(token.secret_hash.as_bytes())
            .into();
        if !matches || token.revoked_at.is_some() {
            return Ok(None);
        }
        let now = self.now();
        if is_stale(token.last_used_at, now) {
            // A missed touch costs only precision of "last used"; the request goes on.
            if let Err(error) = self.inner.store.touch_api_token(id, now).await {
                tracing::warn!(token = %id, %error, "could not record an API token's use");
            }
        }
        Ok(Some(Actor::member(Requester {
            platform: Platform::Cli,
            display_name: token.user.clone(),
            user_id: token.user,
        })))
    }
}

/// Whether `text` has the shape of a personal API token (not whether it is valid).
pub fn looks_like_api_token(text: &str) -> bool {
    split_token(text).is_some()
}

const BASE62: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random(len: usize, alphabet: &[u8]) -> String {
    // `rand::rng()` is a CSPRNG (ChaCha, seeded from the OS).
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn valid_id(id: &str) -> bool {
    id.len() == ID_LEN && id.bytes().all(|b| ID_ALPHABET.contains(&b))
}

/// `pqt_<id>_<secret>` → `(id, secret)`, when every part has its shape.
fn split_token(text: &str) -> Option<(&str, &str)> {
    let (id, secret) = text.strip_prefix(API_TOKEN_PREFIX)?.split_once('_')?;
    let secret_ok = secret.len() == SECRET_LEN && secret.bytes().all(|b| BASE62.contains(&b));
    (valid_id(id) && secret_ok).then_some((id, secret))
}

fn is_stale(last_used_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY)
}

fn require_admin(actor: &Actor, what: &str) -> Result<(), PrequelError> {
    if actor.is_admin() {
        return Ok(());
    }
    Err(PrequelError::Forbidden(format!(
        "only Prequel admins can {what} API tokens"
    )))
}

/// The user name a token acts as, trimmed, or why it cannot be one.
fn token_user(user: &str) -> Result<String, PrequelError> {
    let user = user.trim();
    let fits = (1..=MAX_TOKEN_USER_CHARS).contains(&user.chars().count())
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if fits {
        Ok(user.to_owned())
    } else {
        Err(PrequelError::Invalid(format!(
            "a token's user must be a login: 1 to {MAX_TOKEN_USER_CHARS} letters, digits, `.`, `_`, `-` or `@` (got `{}`)",
            user.escape_default()
        )))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_made_token_has_its_shape_and_only_its_shape_splits() {
        let (id, secret) = (random(ID_LEN, ID_ALPHABET), random(SECRET_LEN, BASE62));
        let token = format!("pqt_{id}_{secret}");
        assert_eq!(split_token(&token), Some((id.as_str(), secret.as_str())));
        assert!(looks_like_api_token(&token));
        for wrong in [
            String::new(),
            format!("pqx_{id}_{secret}"),
            format!("pqt_{id}{secret}"),
            format!("pqt_{}_{secret}", id.to_uppercase()),
            format!("pqt_{id}_{}", &secret[1..]),
            format!("pqt_{id}_{secret}x"),
            format!("pqt_{id}_{}-", &secret[1..]),
            format!("pqt_{}_{secret}", &id[1..]),
        ] {
            assert_eq!(split_token(&wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn the_hash_is_sha256_hex_and_not_the_secret() {
        let hash = secret_hash("abc");
        assert_eq!(
            hash,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn users_are_logins() {
        for good in ["alice", " bob ", "a.b-c_d@example.com", &"x".repeat(64)] {
            assert!(token_user(good).is_ok(), "{good:?}");
        }
        assert_eq!(token_user(" bob ").expect("ok"), "bob");
        for bad in [
            "",
            "  ",
            "ali ce",
            "ev\u{202e}il",
            "bo\nb",
            "émile",
            &"x".repeat(65),
        ] {
            let error = token_user(bad).expect_err(bad);
            assert!(
                error.user_message().contains("must be a login"),
                "{bad:?}: {}",
                error.user_message()
            );
        }
    }

    #[test]
    fn a_use_is_recorded_at_most_once_a_minute() {
        let at = |s| Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, s).unwrap();
        assert!(is_stale(None, at(0)));
        assert!(!is_stale(Some(at(0)), at(59)));
        assert!(is_stale(Some(at(0)), at(0) + TOUCH_EVERY));
    }
}
