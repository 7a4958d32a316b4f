//! The admin token check in front of every `/api` route.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use prequel_core::domain::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiState;
use crate::error::ApiError;

/// Lets the request through only with `Authorization: Bearer <admin token>`.
pub(crate) async fn require_admin(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(value) = request.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(
            "this needs the admin token: send `Authorization: Bearer <token>` \
             (the server keeps it in <data dir>/admin-token)"
                .to_owned(),
        ));
    };
    let presented = value
        .to_str()
        .ok()
        .and_then(|text| text.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(token) if tokens_match(token, &state.admin_token) => Ok(next.run(request).await),
        Some(_) => Err(ApiError::Unauthorized(
            "the admin token is wrong; use the one in the server's <data dir>/admin-token"
                .to_owned(),
        )),
        None => Err(ApiError::Unauthorized(
            "the Authorization header must be `Bearer <token>`".to_owned(),
        )),
    }
}

/// Compares in constant time. Both sides are hashed first so that neither the length of the
/// token nor the position of the first differing byte shows in the timing.
fn tokens_match(presented: &str, expected: &SecretString) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.expose().as_bytes());
    presented[..].ct_eq(&expected[..]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let token = SecretString::new("3f2a9c");
        assert!(tokens_match("3f2a9c", &token));
        for wrong in ["", "3f2a9", "3f2a9c0", "3F2A9C", "xxxxxx"] {
            assert!(!tokens_match(wrong, &token), "{wrong:?} matched");
        }
    }
}
