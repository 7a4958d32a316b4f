//! Slack request signing: every HTTP request from Slack carries
//! `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">` keyed with the app's
//! signing secret, and `X-Slack-Request-Timestamp`.
//!
//! [`Verifier::verify`] checks, in this order: both headers present and well formed; the
//! timestamp within [`WINDOW_SECONDS`] of the engine's clock (injected, so tests can run at any
//! time); and the signature, compared in constant time. Replays of a genuine request are
//! refused after this, by the store, across every replica (`inbound::screen` claims the
//! signature with `Prequel::claim_request`): a verifier keeps no memory of its own.
//!
//! The HMAC is computed here over `sha2` rather than with slack-morphism's
//! `SlackEventSignatureVerifier`, because that one reads the system clock for the timestamp
//! check and cannot take ours; the unit tests check both agree on Slack's documented vector.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use prequel_core::domain::SecretString;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use thiserror::Error;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// How far a request's timestamp may be from now, either way (Slack's recommendation).
pub const WINDOW_SECONDS: i64 = 5 * 60;

/// Why a request was refused. Every variant becomes 401; the variant is for the log.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VerifyError {
    /// A header is missing or not text.
    #[error("missing header {0}")]
    Missing(&'static str),
    /// The timestamp is not a number of seconds, or the signature not `v0=<64 hex digits>`.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The timestamp is more than five minutes from now.
    #[error("timestamp {timestamp} is more than {WINDOW_SECONDS} s from now ({now})")]
    Stale {
        /// The request's timestamp.
        timestamp: i64,
        /// The clock's time.
        now: i64,
    },
    /// The signature does not match the body.
    #[error("signature does not match")]
    Forged,
    /// No signing secret is configured (Socket Mode state), so nothing can be trusted: an
    /// empty HMAC key would be one anybody can sign with.
    #[error("no signing secret configured")]
    NoSecret,
}

/// Checks request signatures.
#[derive(Debug)]
pub struct Verifier {
    secret: SecretString,
}

impl Verifier {
    /// A verifier for the app's signing secret.
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }

    /// Checks `headers` against the raw `body` at time `now`; see the module doc.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .ok_or(VerifyError::Missing(name))
        };
        if self.secret.expose().is_empty() {
            return Err(VerifyError::NoSecret);
        }
        let timestamp_text = header(TIMESTAMP_HEADER)?;
        let signature = header(SIGNATURE_HEADER)?;
        let timestamp: i64 = timestamp_text
            .parse()
            .map_err(|_| VerifyError::Malformed(TIMESTAMP_HEADER))?;
        let now = now.timestamp();
        if (now - timestamp).abs() > WINDOW_SECONDS {
            return Err(VerifyError::Stale { timestamp, now });
        }
        if signature.len() != 67 || !signature.starts_with("v0=") {
            return Err(VerifyError::Malformed(SIGNATURE_HEADER));
        }
        let expected = sign(&self.secret, timestamp_text, body);
        if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
            return Err(VerifyError::Forged);
        }
        Ok(())
    }
}

/// The `v0=<hex>` signature of `body` sent at `timestamp`, as Slack computes it. Public so
/// tests (and the benchmark) can sign requests.
pub fn sign(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(body.len() + timestamp.len() + 4);
    message.extend_from_slice(b"v0:");
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b':');
    message.extend_from_slice(body);
    format!(
        "v0={}",
        hex::encode(hmac_sha256(secret.expose().as_bytes(), &message))
    )
}

/// HMAC (RFC 2104) over SHA-256, as in prequel-web: a few lines rather than a dependency.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut padded = [0u8; BLOCK];
    if key.len() > BLOCK {
        padded[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        padded[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(padded.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(padded.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize();
    outer.into()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use chrono::TimeZone as _;
    use slack_morphism::SlackSigningSecret;
    use slack_morphism::signature_verifier::{
        SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
    };

    use super::*;

    // Slack's documented example (see NOTES-environment.md, "Chat platforms").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).single().expect("valid time")
    }

    fn headers(timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            TIMESTAMP_HEADER,
            HeaderValue::from_str(timestamp).expect("header"),
        );
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(signature).expect("header"),
        );
        headers
    }

    fn verifier() -> Verifier {
        Verifier::new(SecretString::new(SECRET))
    }

    #[test]
    fn signs_slacks_documented_vector() {
        assert_eq!(
            sign(&SecretString::new(SECRET), TIMESTAMP, BODY.as_bytes()),
            SIGNATURE
        );
    }

    #[test]
    fn slack_morphisms_verifier_agrees_on_the_vector() {
        // Its timestamp check uses the system clock, so the 2018 vector is "expired" — which it
        // reports only after the signature matched; a wrong signature is reported as such.
        let theirs = SlackEventSignatureVerifier::new(&SlackSigningSecret::new(SECRET.into()));
        assert!(matches!(
            theirs.verify(SIGNATURE, BODY, TIMESTAMP),
            Err(SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_))
        ));
        let forged = SIGNATURE.replace("a21", "a22");
        assert!(matches!(
            theirs.verify(&forged, BODY, TIMESTAMP),
            Err(SlackEventSignatureVerifierError::WrongSignatureError(_))
        ));
    }

    #[test]
    fn an_empty_secret_trusts_nothing() {
        let empty = SecretString::new("");
        let ts: i64 = TIMESTAMP.parse().expect("number");
        let signature = sign(&empty, TIMESTAMP, BODY.as_bytes());
        assert_eq!(
            Verifier::new(empty).verify(&headers(TIMESTAMP, &signature), BODY.as_bytes(), at(ts)),
            Err(VerifyError::NoSecret)
        );
    }

    #[test]
    fn accepts_the_vector_at_its_own_time_and_within_the_window() {
        let ts: i64 = TIMESTAMP.parse().expect("number");
        for now in [ts, ts + WINDOW_SECONDS, ts - WINDOW_SECONDS] {
            assert_eq!(
                verifier().verify(&headers(TIMESTAMP, SIGNATURE), BODY.as_bytes(), at(now)),
                Ok(())
            );
        }
    }

    #[test]
    fn refuses_stale_forged_missing_and_malformed_requests() {
        let ts: i64 = TIMESTAMP.parse().expect("number");
        let verifier = verifier();
        let check = |headers: &HeaderMap, body: &str, now: i64| {
            verifier.verify(headers, body.as_bytes(), at(now))
        };
        assert!(matches!(
            check(
                &headers(TIMESTAMP, SIGNATURE),
                BODY,
                ts + WINDOW_SECONDS + 1
            ),
            Err(VerifyError::Stale { .. })
        ));
        assert_eq!(
            check(
                &headers(TIMESTAMP, SIGNATURE),
                &BODY.replace("foobar", "foobaz"),
                ts
            ),
            Err(VerifyError::Forged)
        );
        let mut wrong = SIGNATURE.to_owned();
        wrong.replace_range(66.., "4");
        assert_eq!(
            check(&headers(TIMESTAMP, &wrong), BODY, ts),
            Err(VerifyError::Forged)
        );
        assert_eq!(
            check(&HeaderMap::new(), BODY, ts),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        );
        let mut only_timestamp = HeaderMap::new();
        only_timestamp.insert(TIMESTAMP_HEADER, HeaderValue::from_static(TIMESTAMP));
        assert_eq!(
            check(&only_timestamp, BODY, ts),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            check(&headers("soon", SIGNATURE), BODY, ts),
            Err(VerifyError::Malformed(TIMESTAMP_HEADER))
        );
        assert_eq!(
            check(&headers(TIMESTAMP, "v1=abc"), BODY, ts),
            Err(VerifyError::Malformed(SIGNATURE_HEADER))
        );
        // The genuine request passes; refusing it the second time is the store's work, across
        // replicas (tests/it/slack_inbound.rs and replicas.rs send the same bytes twice).
        assert_eq!(check(&headers(TIMESTAMP, SIGNATURE), BODY, ts), Ok(()));
    }
}
