//! Who may call what.
//!
//! - The admin token, `Authorization: Bearer <token>`, opens every `/api` route and acts as an
//!   admin.
//! - A personal API token (`pqt_…`, made by an admin with `POST /api/tokens`) opens
//!   `POST /api/commands` only, acting as its user: a member, under the same ownership rule as
//!   in chat. On every other route it is refused with 403 (its holder has no business with
//!   everyone's listings), so a script learns at once which key it holds.
//! - The status page's session cookie, [`SESSION_COOKIE`], opens the read-only routes: the page,
//!   the event stream and the interview listings. A person gets it by typing the admin token into
//!   the page's sign-in form once. Its value is `<issued at>.<mac>`: the Unix second it was
//!   issued, and `HMAC-SHA256(admin token, "prequel status page v2\n<issued at>")` in hex — not
//!   the token: the browser never holds the key to the write API, so a leaked cookie cannot be
//!   replayed against it. It works for [`SESSION_LIFETIME`] (12 h) from when it was issued, and
//!   rotating the token ends every session at once. Because it is derived rather than stored,
//!   every replica behind a load balancer accepts the same cookie.
//! - The `Bearer` scheme is matched without regard to case, as HTTP schemes are (RFC 9110).
//! - With [`WebConfig::open_on_loopback`](crate::WebConfig), the read-only routes need nothing at
//!   all from a loopback peer (a single-machine setup). The peer is read from axum's
//!   `ConnectInfo<SocketAddr>`; without it (an embedder's own server, a test's `oneshot`) the
//!   peer is unknown, which is not loopback.
//!
//! Every comparison with a secret runs in constant time.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use prequel_core::access::Actor;
use prequel_core::domain::SecretString;
use prequel_core::looks_like_api_token;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiState;
use crate::error::ApiError;

/// The name of the status page's session cookie.
pub(crate) const SESSION_COOKIE: &str = "prequel_session";

/// What the session cookie's HMAC signs, before the issue time. Versioned, so a cookie of
/// another format (v1 had no issue time and never expired) can never be taken for this one.
const SESSION_CONTEXT: &str = "prequel status page v2";

/// How long a status page session lasts from sign-in.
pub(crate) const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// How far in the future an issue time may be (clocks of replicas differ a little).
const CLOCK_SKEW_SECONDS: i64 = 60;

/// Why a read-only request was let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadAccess {
    /// It carried the admin token.
    Token,
    /// It carried the status page's session cookie.
    Session,
    /// It came from a loopback address and the server is open there.
    Loopback,
}

/// Who is calling `POST /api/commands`, as its credential says (put in the request's
/// extensions by [`require_caller`]).
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The admin token.
    Admin,
    /// A personal API token, acting as its user.
    Person(Actor),
}

const NEEDS_ADMIN: &str = "this needs the admin token: send `Authorization: Bearer <token>` \
                           (the server keeps it in <data dir>/admin-token)";

/// Lets the request through only with `Authorization: Bearer <admin token>`.
pub(crate) async fn require_admin(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(NEEDS_ADMIN.to_owned()));
    };
    check_admin(value, &state.admin_token)?;
    Ok(next.run(request).await)
}

/// Lets the request through with the admin token or a valid personal API token, and records
/// which in the request's extensions as a [`Caller`].
pub(crate) async fn require_caller(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(
            "this needs a token: send `Authorization: Bearer <token>` with the admin token \
             (kept in <data dir>/admin-token) or your personal API token"
                .to_owned(),
        ));
    };
    let presented = bearer(value)?;
    let caller = if token_matches(presented, &state.admin_token) {
        Caller::Admin
    } else if looks_like_api_token(presented) {
        match state.prequel.authenticate_api_token(presented).await? {
            Some(actor) => Caller::Person(actor),
            None => {
                return Err(ApiError::Unauthorized(
                    "this API token is not valid: unknown, revoked or mistyped; ask a Prequel \
                     admin for a new one (`prequel token create --user NAME`)"
                        .to_owned(),
                ));
            }
        }
    } else {
        return Err(wrong_admin_token());
    };
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Lets a read-only request through with the admin token, the session cookie, or from loopback
/// when the server is open there (see the module documentation).
pub(crate) async fn require_reader(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match read_access(&state, request.headers(), request.extensions())? {
        Some(_) => Ok(next.run(request).await),
        None => Err(ApiError::Unauthorized(
            "this needs the admin token (`Authorization: Bearer <token>`, kept in \
             <data dir>/admin-token) or a status page session (sign in at /)"
                .to_owned(),
        )),
    }
}

/// How a read-only request may be let in, if at all. A request that presents an
/// `Authorization` header is judged by it alone: a wrong token is an error even when a cookie
/// would have done, so a script with a stale token hears about it.
pub(crate) fn read_access(
    state: &ApiState,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<Option<ReadAccess>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        check_admin(value, &state.admin_token)?;
        return Ok(Some(ReadAccess::Token));
    }
    if has_session(headers, &state.admin_token, state.prequel.now().timestamp()) {
        return Ok(Some(ReadAccess::Session));
    }
    if state.config.open_on_loopback && peer_is_loopback(extensions) {
        return Ok(Some(ReadAccess::Loopback));
    }
    Ok(None)
}

/// The token of an `Authorization: Bearer <token>` header (any case of `Bearer`).
fn bearer(value: &axum::http::HeaderValue) -> Result<&str, ApiError> {
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".to_owned())
        })
}

/// Accepts the admin token only; a personal API token is told it is the wrong kind of key.
fn check_admin(
    value: &axum::http::HeaderValue,
    admin_token: &SecretString,
) -> Result<(), ApiError> {
    let presented = bearer(value)?;
    if token_matches(presented, admin_token) {
        Ok(())
    } else if looks_like_api_token(presented) {
        Err(ApiError::Forbidden(
            "a personal API token opens `POST /api/commands` only (use `list` and `status` \
             there); this route needs the admin token"
                .to_owned(),
        ))
    } else {
        Err(wrong_admin_token())
    }
}

fn wrong_admin_token() -> ApiError {
    ApiError::Unauthorized(
        "the admin token is wrong; use the one in the server's <data dir>/admin-token".to_owned(),
    )
}

/// Whether `presented` is the admin token, compared in constant time.
pub(crate) fn token_matches(presented: &str, expected: &SecretString) -> bool {
    secrets_match(presented, expected.expose())
}

/// Compares in constant time. Both sides are hashed first so that neither the length of the
/// secret nor the position of the first differing byte shows in the timing.
fn secrets_match(presented: &str, expected: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    presented[..].ct_eq(&expected[..]).into()
}

/// The session cookie's value for this admin token, issued at `issued_at` (Unix seconds):
/// `<issued_at>.<HMAC-SHA256(token, context + issued_at) in lowercase hex>`. It is itself a
/// (read-only) credential: never log it.
pub(crate) fn session_value(admin_token: &SecretString, issued_at: i64) -> String {
    let signed = format!("{SESSION_CONTEXT}\n{issued_at}");
    let mac = hmac_sha256(admin_token.expose().as_bytes(), signed.as_bytes());
    let mac: String = mac.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{issued_at}.{mac}")
}

/// Whether `value` is a session cookie for this token that is still valid at `now`.
fn session_valid(value: &str, admin_token: &SecretString, now: i64) -> bool {
    let Some(issued_at) = value
        .split_once('.')
        .and_then(|(issued_at, _)| issued_at.parse::<i64>().ok())
    else {
        return false;
    };
    let lifetime = i64::try_from(SESSION_LIFETIME.as_secs()).unwrap_or(i64::MAX);
    let fresh = issued_at <= now.saturating_add(CLOCK_SKEW_SECONDS)
        && now.saturating_sub(issued_at) < lifetime;
    // The MAC is compared whether or not the time is right, so timing says nothing of either.
    secrets_match(value, &session_value(admin_token, issued_at)) & fresh
}

/// Whether any `Cookie` header carries a session cookie valid at `now` (Unix seconds).
fn has_session(headers: &HeaderMap, admin_token: &SecretString, now: i64) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == SESSION_COOKIE)
        // Every candidate is compared (no short cut), though only the match matters.
        .fold(false, |found, (_, value)| {
            session_valid(value.trim_matches('"'), admin_token, now) | found
        })
}

/// Whether the connection's peer is a loopback address (`127.0.0.0/8`, `::1`, or IPv4 loopback
/// mapped into IPv6). Unknown peers are not.
fn peer_is_loopback(extensions: &Extensions) -> bool {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().to_canonical().is_loopback())
}

/// HMAC (RFC 2104) over SHA-256. Ten lines here rather than a dependency for one call.
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
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let token = SecretString::new("3f2a9c");
        assert!(token_matches("3f2a9c", &token));
        for wrong in ["", "3f2a9", "3f2a9c0", "3F2A9C", "xxxxxx"] {
            assert!(!token_matches(wrong, &token), "{wrong:?} matched");
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        // Test case 2: a short key.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn the_session_value_is_derived_from_the_token_and_is_not_the_token() {
        let token = SecretString::new("test-admin-token-0123456789abcdef");
        let value = session_value(&token, NOW);
        assert_eq!(value.len(), "1800000000.".len() + 64);
        assert!(!value.contains(token.expose()));
        assert_eq!(value, session_value(&token, NOW), "stable across calls");
        assert_ne!(
            value,
            session_value(&SecretString::new("another-token"), NOW)
        );
    }

    fn cookie(text: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, text.parse().expect("header value"));
        headers
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let token = SecretString::new("t0ken");
        let value = session_value(&token, NOW);
        assert!(has_session(
            &cookie(&format!("theme=dark; {SESSION_COOKIE}={value}; x=1")),
            &token,
            NOW
        ));
        assert!(!has_session(
            &cookie(&format!("{SESSION_COOKIE}=t0ken")),
            &token,
            NOW
        ));
        assert!(!has_session(
            &cookie(&format!("other={value}")),
            &token,
            NOW
        ));
        assert!(!has_session(&HeaderMap::new(), &token, NOW));
    }

    #[test]
    fn a_session_lasts_twelve_hours_and_cannot_be_moved_in_time() {
        let token = SecretString::new("t0ken");
        let lifetime = i64::try_from(SESSION_LIFETIME.as_secs()).expect("small");
        assert_eq!(lifetime, 12 * 3600);
        let value = session_value(&token, NOW);
        let at = |now: i64| has_session(&cookie(&format!("{SESSION_COOKIE}={value}")), &token, now);
        assert!(at(NOW) && at(NOW + lifetime - 1), "valid for 12 h");
        assert!(!at(NOW + lifetime), "expired after 12 h");
        assert!(!at(NOW - 3600), "issued in the future");
        // Changing the issue time of a valid cookie breaks its MAC.
        let (_, mac) = value.split_once('.').expect("two parts");
        let moved = format!("{SESSION_COOKIE}={}.{mac}", NOW + lifetime);
        assert!(!has_session(&cookie(&moved), &token, NOW + lifetime + 1));
        // Rotating the admin token ends the session.
        assert!(!has_session(
            &cookie(&format!("{SESSION_COOKIE}={value}")),
            &SecretString::new("rotated"),
            NOW
        ));
        // The v1 cookie (a bare MAC, never expiring) opens nothing.
        let v1: String = hmac_sha256(b"t0ken", b"prequel status page v1")
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert!(!has_session(
            &cookie(&format!("{SESSION_COOKIE}={v1}")),
            &token,
            NOW
        ));
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        let token = SecretString::new("t0ken");
        for header in [
            "Bearer t0ken",
            "bearer t0ken",
            "BEARER t0ken",
            "bEaReR  t0ken ",
        ] {
            let value = axum::http::HeaderValue::from_str(header).expect("value");
            assert!(check_admin(&value, &token).is_ok(), "{header:?}");
        }
        for header in [
            "Basic t0ken",
            "Bearer",
            "t0ken",
            "Bearer t0ken2",
            "Bearer pqt_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let value = axum::http::HeaderValue::from_str(header).expect("value");
            assert!(check_admin(&value, &token).is_err(), "{header:?}");
        }
    }

    #[test]
    fn loopback_peers_are_told_apart_from_others_and_from_unknown_ones() {
        let with_peer = |ip: IpAddr| {
            let mut extensions = Extensions::new();
            extensions.insert(ConnectInfo(SocketAddr::new(ip, 40000)));
            extensions
        };
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V4(Ipv4Addr::new(127, 3, 2, 1)),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        ] {
            assert!(peer_is_loopback(&with_peer(ip)), "{ip}");
        }
        for ip in [
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv4Addr::new(192, 168, 1, 2).to_ipv6_mapped()),
        ] {
            assert!(!peer_is_loopback(&with_peer(ip)), "{ip}");
        }
        assert!(!peer_is_loopback(&Extensions::new()), "unknown peer");
    }
}
