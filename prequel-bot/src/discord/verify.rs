//! Ed25519 verification of requests to the interactions endpoint.
//!
//! Discord signs `X-Signature-Timestamp` + raw body with the application's key and sends the
//! signature hex-encoded in `X-Signature-Ed25519`. It also sends bad signatures on purpose and
//! drops endpoints that accept them, so every check fails closed. Stale timestamps are refused
//! too, so a captured request cannot be replayed later.

use chrono::{DateTime, Utc};
use serenity::interactions_endpoint::Verifier as Ed25519;

/// How far a request's timestamp may be from now, either way.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request was refused (all answered 401; the reason is logged, not shown).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header is absent or not text.
    #[error("missing signature header")]
    Missing,
    /// The timestamp is not a number of seconds.
    #[error("malformed timestamp")]
    BadTimestamp,
    /// The timestamp is more than five minutes from now.
    #[error("stale timestamp")]
    Stale,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
}

/// The configured public key is not 32 bytes of hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PREQUEL_DISCORD_PUBLIC_KEY is not a valid Ed25519 public key (64 hex characters)")]
pub struct InvalidPublicKey;

/// Checks signatures with the application's public key.
pub struct Verifier {
    key: Ed25519,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for the hex public key from the Developer Portal. Checked here, once, because
    /// serenity's own `Verifier::new` panics on a bad key.
    pub fn new(public_key_hex: &str) -> Result<Self, InvalidPublicKey> {
        let bytes: [u8; 32] = hex::decode(public_key_hex.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(InvalidPublicKey)?;
        let key = Ed25519::try_new(bytes).map_err(|_| InvalidPublicKey)?;
        Ok(Self { key })
    }

    /// Verifies one request: the two headers (if present), the raw body, and the current time.
    pub fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(VerifyError::Missing);
        };
        let seconds: i64 = timestamp.parse().map_err(|_| VerifyError::BadTimestamp)?;
        if (now.timestamp() - seconds).abs() > MAX_SKEW_SECS {
            return Err(VerifyError::Stale);
        }
        // Discord sends lowercase hex. Accepting other spellings of the same signature would
        // let a replay pass as a new request (the replay check keys on the header's text).
        if !signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(VerifyError::BadSignature);
        }
        self.key
            .verify(signature, timestamp, body)
            .map_err(|()| VerifyError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn bad_keys_are_refused_without_panicking() {
        assert!(Verifier::new("zz").is_err());
        assert!(Verifier::new(&PUBLIC[..62]).is_err());
        assert!(Verifier::new(PUBLIC).is_ok());
    }

    #[test]
    fn missing_stale_and_bad_signatures_fail() {
        let verifier = Verifier::new(PUBLIC).expect("key");
        let now = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        assert_eq!(
            verifier.verify(None, Some("1700000000"), b"{}", now),
            Err(VerifyError::Missing)
        );
        assert_eq!(
            verifier.verify(Some("00"), Some("1699999000"), b"{}", now),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verifier.verify(Some(&"00".repeat(64)), Some("1700000000"), b"{}", now),
            Err(VerifyError::BadSignature)
        );
    }
}
