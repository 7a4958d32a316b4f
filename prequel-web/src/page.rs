//! The status page: `GET /` serves `assets/status.html`, a self-contained page that lists the
//! interviews and follows `GET /api/events` (see the crate documentation), or, to a visitor
//! without access, a sign-in form asking for the admin token once. `POST /session` checks the
//! token and sets the session cookie (see [`auth`](crate::auth) for why its value is derived
//! from the token and not the token itself); `POST /session/logout` clears it.
//!
//! The page is read-only and holds no secret: it reads the same JSON the API gives, which never
//! carries a password or token, and the cookie is `HttpOnly`, so its script cannot read even
//! that. Both documents are served with a Content-Security-Policy that allows only their own
//! inline script and style (by hash, computed once from the files) and requests to this origin,
//! so text that slipped past the page's escaping still could not run.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ApiState;
use crate::auth::{self, ReadAccess, SESSION_COOKIE};
use crate::error::ApiError;

/// The page itself: HTML, CSS and JavaScript in one file, no build step.
const STATUS_HTML: &str = include_str!("../assets/status.html");

/// Where the page shows the sign-out button, for visitors signed in with the cookie.
const SIGN_OUT_MARK: &str = "<!--sign-out-->";

/// The sign-out button (a form, so it works without the page's script).
const SIGN_OUT_FORM: &str = "<form class=\"sign-out\" method=\"post\" action=\"/session/logout\">\
     <button type=\"submit\">Sign out</button></form>";

/// The sign-in form. `{error}` becomes a fixed line when the token was wrong; nothing the
/// visitor sent is ever echoed into it.
const SIGN_IN_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Sign in · Prequel status</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='4' fill='%232f5bea'/%3E%3Cpath d='M6 4l5 4-5 4z' fill='white'/%3E%3C/svg%3E">
<style>
:root { color-scheme: light dark; --bg: #f5f6f8; --card: #fff; --text: #1c2230; --muted: #5d6678;
  --line: #dfe3ea; --accent: #2f5bea; --bad: #b42318; }
@media (prefers-color-scheme: dark) { :root { --bg: #111318; --card: #1a1d24; --text: #e6e8ee;
  --muted: #9aa3b5; --line: #2c313c; --accent: #7b9bff; --bad: #ff8a80; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: var(--bg);
  color: var(--text); font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { width: min(26rem, calc(100vw - 2rem)); background: var(--card); border: 1px solid var(--line);
  border-radius: 12px; padding: 2rem; box-shadow: 0 8px 30px rgb(0 0 0 / 0.06); }
h1 { margin: 0 0 .25rem; font-size: 1.35rem; }
p { margin: 0 0 1.25rem; color: var(--muted); }
label { display: block; font-weight: 600; margin-bottom: .4rem; }
input { width: 100%; padding: .6rem .7rem; font: inherit; color: inherit; background: var(--bg);
  border: 1px solid var(--line); border-radius: 8px; }
input:focus { outline: 2px solid var(--accent); outline-offset: 1px; }
button { margin-top: 1rem; width: 100%; padding: .6rem; font: inherit; font-weight: 600; color: #fff;
  background: var(--accent); border: 0; border-radius: 8px; cursor: pointer; }
.error { color: var(--bad); margin: .75rem 0 0; }
code { font-size: .9em; }
</style>
</head>
<body>
<main>
<h1>Prequel status</h1>
<p>Enter the admin token once; this browser then stays signed in to the read-only status page.
The server keeps the token in <code>&lt;data dir&gt;/admin-token</code>.</p>
<form method="post" action="/session">
<input name="username" autocomplete="username" value="admin" hidden readonly>
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
{error}<button type="submit">Sign in</button>
</form>
</main>
</body>
</html>
"#;

/// The one line shown after a wrong token.
const WRONG_TOKEN_LINE: &str =
    "<p class=\"error\" role=\"alert\">That is not the admin token. Try again.</p>\n";

/// `GET /`: the page for a visitor with read access, else the sign-in form.
pub(crate) async fn index(State(state): State<ApiState>, request: Request) -> Response {
    match auth::read_access(&state, request.headers(), request.extensions()) {
        Ok(Some(access)) => status_page(access),
        Ok(None) => sign_in_form(StatusCode::OK, false),
        // A wrong `Authorization` header: a script, not a browser; tell it in the API's shape.
        Err(error) => error.into_response(),
    }
}

/// The body of `POST /session` when sent as JSON.
#[derive(Debug, Deserialize)]
struct SignInJson {
    token: String,
}

/// `POST /session`: the admin token as the form field `token` (or JSON `{"token": …}`). The
/// right token sets the session cookie and redirects to the page; a wrong one gets the form
/// again with status 401 and sets nothing.
pub(crate) async fn sign_in(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let json = is_json(&headers);
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::PayloadTooLarge {
                limit: crate::BODY_LIMIT,
            }
            .into_response();
        }
        Err(_) => {
            return ApiError::BadRequest("the request body could not be read".to_owned())
                .into_response();
        }
    };
    let presented = if json {
        serde_json::from_slice::<SignInJson>(&body)
            .ok()
            .map(|b| b.token)
    } else {
        form_value(&body, "token")
    };
    let accepted = presented
        .as_deref()
        .is_some_and(|token| auth::token_matches(token.trim(), &state.admin_token));
    if !accepted {
        tracing::info!("status page sign-in refused: wrong admin token");
        return if json {
            ApiError::Unauthorized("that is not the admin token".to_owned()).into_response()
        } else {
            sign_in_form(StatusCode::UNAUTHORIZED, true)
        };
    }
    tracing::info!("status page sign-in");
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        auth::session_value(&state.admin_token, state.prequel.now().timestamp()),
        auth::SESSION_LIFETIME.as_secs(),
        secure_attribute(&headers)
    );
    redirect_home(&cookie)
}

/// `POST /session/logout`: clears the cookie and goes back to `/`. Needs no access: forgetting
/// a cookie can only take access away.
pub(crate) async fn sign_out(headers: HeaderMap) -> Response {
    let cookie = format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        secure_attribute(&headers)
    );
    redirect_home(&cookie)
}

/// `; Secure` when the request reached the proxy in front of us over https. The header could be
/// forged, but it can only make the cookie stricter, never weaker.
fn secure_attribute(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    if https { "; Secure" } else { "" }
}

fn redirect_home(cookie: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match HeaderValue::from_str(cookie) {
        Ok(value) => {
            headers.insert(header::SET_COOKIE, value);
        }
        // Hex and fixed text only; cannot happen, but never panic in a handler.
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    response
}

fn status_page(access: ReadAccess) -> Response {
    static PAGE: LazyLock<Document> = LazyLock::new(|| Document::new(STATUS_HTML.to_owned()));
    static PAGE_SIGNED_IN: LazyLock<Document> =
        LazyLock::new(|| Document::new(STATUS_HTML.replace(SIGN_OUT_MARK, SIGN_OUT_FORM)));
    match access {
        ReadAccess::Session => PAGE_SIGNED_IN.respond(StatusCode::OK),
        ReadAccess::Token | ReadAccess::Loopback => PAGE.respond(StatusCode::OK),
    }
}

fn sign_in_form(status: StatusCode, wrong_token: bool) -> Response {
    static FORM: LazyLock<Document> =
        LazyLock::new(|| Document::new(SIGN_IN_HTML.replace("{error}", "")));
    static FORM_WRONG: LazyLock<Document> =
        LazyLock::new(|| Document::new(SIGN_IN_HTML.replace("{error}", WRONG_TOKEN_LINE)));
    if wrong_token {
        FORM_WRONG.respond(status)
    } else {
        FORM.respond(status)
    }
}

/// An HTML document and its Content-Security-Policy, built once.
struct Document {
    html: String,
    csp: HeaderValue,
}

impl Document {
    fn new(html: String) -> Self {
        let csp = content_security_policy(&html);
        Self {
            // The policy is ASCII built from base64 hashes; the fallback forbids everything.
            csp: HeaderValue::from_str(&csp)
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
            html,
        }
    }

    fn respond(&self, status: StatusCode) -> Response {
        let mut response = (status, self.html.clone()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        // Interview data is live and for signed-in eyes: no cache may keep a copy.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        response
    }
}

/// Nothing by default; the document's own inline `<script>` and `<style>` blocks by hash;
/// `fetch`/`EventSource` to this origin; forms posting here only; no framing.
fn content_security_policy(html: &str) -> String {
    let sources = |tag: &str| {
        let hashes = inline_blocks(html, tag)
            .map(|block| format!("'sha256-{}'", base64(&Sha256::digest(block.as_bytes()))))
            .collect::<Vec<_>>();
        if hashes.is_empty() {
            "'none'".to_owned()
        } else {
            hashes.join(" ")
        }
    };
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        sources("script"),
        sources("style"),
    )
}

/// The text of every `<tag>…</tag>` block (written without attributes, as our files do).
fn inline_blocks<'a>(html: &'a str, tag: &str) -> impl Iterator<Item = &'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut rest = html;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let length = rest[start..].find(&close)?;
        let block = &rest[start..start + length];
        rest = &rest[start + length + close.len()..];
        Some(block)
    })
}

/// Standard base64 with padding (what CSP hashes are written in).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// The first value of `name` in an `application/x-www-form-urlencoded` body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &pair[..0]),
        };
        (percent_decode(key)? == name).then(|| percent_decode(value))?
    })
}

/// Form decoding: `+` is a space, `%XX` a byte; the result must be UTF-8.
fn percent_decode(text: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let high = char::from(*bytes.next()?).to_digit(16)?;
                let low = char::from(*bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(high * 16 + low).ok()?);
            }
            other => out.push(other),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_the_standard() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn the_policy_allows_exactly_the_pages_own_script_and_style() {
        let html = "<style>a{}</style><p>x</p><script>go()</script>";
        let csp = content_security_policy(html);
        let hash = |text: &str| format!("'sha256-{}'", base64(&Sha256::digest(text.as_bytes())));
        assert!(
            csp.contains(&format!("script-src {};", hash("go()"))),
            "{csp}"
        );
        assert!(
            csp.contains(&format!("style-src {};", hash("a{}"))),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");

        let form = content_security_policy(SIGN_IN_HTML);
        assert!(form.contains("script-src 'none'"), "{form}");
        let page = content_security_policy(STATUS_HTML);
        assert_eq!(
            inline_blocks(STATUS_HTML, "script").count(),
            1,
            "one script"
        );
        assert!(!page.contains("script-src 'none'"), "{page}");
    }

    #[test]
    fn the_page_has_the_sign_out_mark_and_no_external_url() {
        assert_eq!(STATUS_HTML.matches(SIGN_OUT_MARK).count(), 1);
        for html in [STATUS_HTML, SIGN_IN_HTML] {
            // The only absolute URL allowed is the SVG namespace inside the data: icon.
            let external = html
                .match_indices("://")
                .filter(|(at, _)| {
                    !html[at.saturating_sub(4)..].starts_with("http://www.w3.org/2000/svg")
                })
                .count();
            assert_eq!(external, 0, "external URLs in a page");
        }
    }

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(
            form_value(b"a=1&token=ab%2Bc+d&token=second", "token").as_deref(),
            Some("ab+c d")
        );
        assert_eq!(form_value(b"token=", "token").as_deref(), Some(""));
        assert_eq!(form_value(b"tok=1", "token"), None);
        assert_eq!(form_value(b"token=%zz", "token"), None);
        assert_eq!(
            form_value(b"token=%e2%82%ac", "token").as_deref(),
            Some("€")
        );
    }

    #[test]
    fn secure_is_added_behind_an_https_proxy_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(secure_attribute(&headers), "");
        headers.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS, http"));
        assert_eq!(secure_attribute(&headers), "; Secure");
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert_eq!(secure_attribute(&headers), "");
    }
}
