//! The status page and its sign-in: `GET /`, `POST /session`, `POST /session/logout`, what the
//! session cookie opens (the read-only routes) and what it does not (commands), and the
//! open-on-loopback switch.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use prequel_core::clock::ManualClock;
use prequel_core::domain::SecretString;
use prequel_core::testkit;
use prequel_web::{ApiState, WebConfig, router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{SERVER_ZONE, TOKEN};

/// Something only the status page (not the sign-in form) contains.
const PAGE_MARK: &str = "new EventSource('/api/events')";

/// A router over a real facade, with these web settings.
struct Site {
    _dir: tempfile::TempDir,
    router: Router,
    clock: ManualClock,
}

/// One answer, with its headers (the cookie and the security headers are the point here).
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn is_sign_in_form(&self) -> bool {
        self.text.contains("type=\"password\"")
            && self.text.contains("action=\"/session\"")
            && !self.text.contains(PAGE_MARK)
    }

    fn is_status_page(&self) -> bool {
        self.text.contains(PAGE_MARK) && !self.text.contains("type=\"password\"")
    }
}

fn site(config: WebConfig) -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = testkit::engine::in_dir(dir.path()).build();
    let (prequel, clock) = (engine.prequel, engine.clock);
    let state = ApiState::new(prequel, SecretString::new(TOKEN), SERVER_ZONE).with_config(config);
    Site {
        _dir: dir,
        router: router(state),
        clock,
    }
}

fn closed() -> Site {
    site(WebConfig::default())
}

fn open_on_loopback() -> Site {
    site(WebConfig {
        open_on_loopback: true,
        ..WebConfig::default()
    })
}

/// How a request identifies itself.
#[derive(Debug, Clone, Copy)]
struct As<'a> {
    cookie: Option<&'a str>,
    bearer: bool,
    peer: Option<&'a str>,
}

const NOBODY: As<'static> = As {
    cookie: None,
    bearer: false,
    peer: None,
};

impl Site {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("read the body");
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
        Reply {
            status,
            headers,
            text,
        }
    }

    fn request(method: Method, uri: &str, who: As<'_>) -> axum::http::request::Builder {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(cookie) = who.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        if who.bearer {
            request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        if let Some(peer) = who.peer {
            let peer: SocketAddr = peer.parse().expect("a socket address");
            request = request.extension(ConnectInfo(peer));
        }
        request
    }

    async fn get(&self, uri: &str, who: As<'_>) -> Reply {
        let request = Self::request(Method::GET, uri, who)
            .body(Body::empty())
            .expect("request");
        self.send(request).await
    }

    /// `POST /session` with a form body.
    async fn sign_in_form(&self, body: &str, extra: &[(&str, &str)]) -> Reply {
        let mut request = Request::post("/session")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::from(body.to_owned())).expect("request"))
            .await
    }

    /// The `name=value` of the session cookie a right sign-in sets.
    async fn session_cookie(&self) -> String {
        let reply = self.sign_in_form(&format!("token={TOKEN}"), &[]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
        reply
            .header(header::SET_COOKIE)
            .split(';')
            .next()
            .expect("name=value")
            .to_owned()
    }

    /// `POST /api/commands` as `who`.
    async fn command(&self, text: &str, who: As<'_>) -> Reply {
        let request = Self::request(Method::POST, "/api/commands", who)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"text": text, "user": "alice"}).to_string(),
            ))
            .expect("request");
        self.send(request).await
    }

    /// Schedules an interview for Ada Lovelace with the token; returns its id.
    async fn schedule(&self) -> String {
        let reply = self
            .command(
                "schedule tomorrow 2pm 90m python for Ada Lovelace",
                As {
                    bearer: true,
                    ..NOBODY
                },
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let answer: Value = serde_json::from_str(&reply.text).expect("JSON");
        answer["interview"]["id"].as_str().expect("id").to_owned()
    }

    async fn count(&self) -> usize {
        let who = As {
            bearer: true,
            ..NOBODY
        };
        let reply = self.get("/api/interviews?all=true", who).await;
        let answer: Value = serde_json::from_str(&reply.text).expect("JSON");
        answer["interviews"].as_array().map_or(0, Vec::len)
    }
}

#[tokio::test]
async fn without_a_session_the_page_is_a_sign_in_form_with_no_interview_data() {
    let site = closed();
    let id = site.schedule().await;
    let reply = site.get("/", NOBODY).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert!(reply.is_sign_in_form(), "{}", reply.text);
    assert!(reply.header(header::CONTENT_TYPE).starts_with("text/html"));
    assert_eq!(reply.header(header::CACHE_CONTROL), "no-store");
    for data in [id.as_str(), "Ada Lovelace", "python", TOKEN] {
        assert!(!reply.text.contains(data), "{data} is on the sign-in form");
    }
    assert!(reply.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_wrong_token_gets_the_form_again_with_401_and_sets_no_cookie() {
    let site = closed();
    for body in ["token=not-the-token", "token=", "", "other=1"] {
        let reply = site.sign_in_form(body, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{body:?}");
        assert!(reply.is_sign_in_form(), "{body:?}: {}", reply.text);
        assert!(
            reply.text.contains("That is not the admin token"),
            "{body:?}"
        );
        assert!(reply.headers.get(header::SET_COOKIE).is_none(), "{body:?}");
    }
    // The refused value is never echoed back into the page.
    let reply = site
        .sign_in_form("token=%3Cscript%3Ex%3C%2Fscript%3E", &[])
        .await;
    assert!(!reply.text.contains("<script>x</script>"), "{}", reply.text);

    let request = Request::post("/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"token": "nope"}).to_string()))
        .expect("request");
    let reply = site.send(request).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    assert!(reply.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn the_right_token_sets_an_http_only_strict_cookie_that_is_not_the_token() {
    let site = closed();
    let reply = site.sign_in_form(&format!("token={TOKEN}"), &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    assert_eq!(reply.header(header::LOCATION), "/");
    let cookie = reply.header(header::SET_COOKIE);
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    let (name, value) = attributes[0].split_once('=').expect("name=value");
    assert_eq!(name, "prequel_session");
    assert!(value.len() >= 32, "{cookie}");
    assert!(!value.contains(TOKEN) && !TOKEN.contains(value), "{cookie}");
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&wanted), "{wanted} in {cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "plain http: {cookie}");

    // Behind an https proxy the cookie is Secure too; JSON bodies sign in the same way.
    let reply = site
        .sign_in_form(&format!("token={TOKEN}"), &[("x-forwarded-proto", "https")])
        .await;
    assert!(reply.header(header::SET_COOKIE).contains("; Secure"));
    let request = Request::post("/session")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({"token": TOKEN}).to_string()))
        .expect("request");
    let reply = site.send(request).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text);
    assert!(
        reply
            .header(header::SET_COOKIE)
            .starts_with(&format!("prequel_session={value};"))
    );
}

#[tokio::test]
async fn the_cookie_opens_the_page_and_the_read_routes_but_not_commands() {
    let site = closed();
    let id = site.schedule().await;
    let cookie = site.session_cookie().await;
    let who = As {
        cookie: Some(&cookie),
        ..NOBODY
    };

    let page = site.get("/", who).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.is_status_page(), "{}", page.text);
    assert!(page.text.contains("action=\"/session/logout\""), "sign out");
    assert!(!page.text.contains(TOKEN));

    let list = site.get("/api/interviews?all=true", who).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(list.text.contains(&id));
    let one = site.get(&format!("/api/interviews/{id}"), who).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    let events = site
        .router
        .clone()
        .oneshot(
            Site::request(Method::GET, "/api/events", who)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(events.status(), StatusCode::OK);

    // The page is read-only: the cookie is no key to the write API.
    let before = site.count().await;
    let command = site.command("now 1h python", who).await;
    assert_eq!(command.status, StatusCode::UNAUTHORIZED, "{}", command.text);
    let cancel = site.command(&format!("cancel {id}"), who).await;
    assert_eq!(cancel.status, StatusCode::UNAUTHORIZED, "{}", cancel.text);
    assert_eq!(site.count().await, before);
}

#[tokio::test]
async fn a_forged_cookie_or_the_token_itself_as_the_cookie_opens_nothing() {
    let site = closed();
    for cookie in [
        format!("prequel_session={TOKEN}"),
        "prequel_session=0000000000000000000000000000000000000000000000000000000000000000"
            .to_owned(),
        "prequel_session=".to_owned(),
    ] {
        let who = As {
            cookie: Some(&cookie),
            ..NOBODY
        };
        assert!(site.get("/", who).await.is_sign_in_form(), "{cookie}");
        let list = site.get("/api/interviews", who).await;
        assert_eq!(list.status, StatusCode::UNAUTHORIZED, "{cookie}");
    }
}

#[tokio::test]
async fn signing_out_clears_the_cookie() {
    let site = closed();
    let request = Request::post("/session/logout")
        .body(Body::empty())
        .expect("request");
    let reply = site.send(request).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header(header::LOCATION), "/");
    let cookie = reply.header(header::SET_COOKIE);
    assert!(cookie.starts_with("prequel_session=;"), "{cookie}");
    assert!(cookie.contains("Max-Age=0"), "{cookie}");
}

#[tokio::test]
async fn open_on_loopback_serves_loopback_peers_without_sign_in_but_never_commands() {
    let site = open_on_loopback();
    let id = site.schedule().await;
    for peer in ["127.0.0.1:50000", "[::1]:50000"] {
        let who = As {
            peer: Some(peer),
            ..NOBODY
        };
        let page = site.get("/", who).await;
        assert!(page.is_status_page(), "{peer}: {}", page.text);
        // No cookie was used, so there is nothing to sign out of.
        assert!(!page.text.contains("action=\"/session/logout\""));
        let list = site.get("/api/interviews", who).await;
        assert_eq!(list.status, StatusCode::OK, "{peer}: {}", list.text);
        assert!(list.text.contains(&id));
        let command = site.command("now 1h python", who).await;
        assert_eq!(command.status, StatusCode::UNAUTHORIZED, "{peer}");
    }
}

#[tokio::test]
async fn open_on_loopback_still_asks_other_and_unknown_peers_to_sign_in() {
    let site = open_on_loopback();
    for peer in [Some("192.0.2.10:50000"), Some("[2001:db8::1]:50000"), None] {
        let who = As { peer, ..NOBODY };
        assert!(site.get("/", who).await.is_sign_in_form(), "{peer:?}");
        let list = site.get("/api/interviews", who).await;
        assert_eq!(list.status, StatusCode::UNAUTHORIZED, "{peer:?}");
    }
}

#[tokio::test]
async fn closed_by_default_even_to_loopback_peers() {
    let site = closed();
    let who = As {
        peer: Some("127.0.0.1:50000"),
        ..NOBODY
    };
    assert!(site.get("/", who).await.is_sign_in_form());
    let list = site.get("/api/interviews", who).await;
    assert_eq!(list.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn both_documents_forbid_framing_caching_and_any_script_but_their_own() {
    let site = closed();
    let cookie = site.session_cookie().await;
    let form = site.get("/", NOBODY).await;
    let page = site
        .get(
            "/",
            As {
                cookie: Some(&cookie),
                ..NOBODY
            },
        )
        .await;
    for (what, reply) in [("form", &form), ("page", &page)] {
        let csp = reply.header(header::CONTENT_SECURITY_POLICY);
        assert!(csp.starts_with("default-src 'none';"), "{what}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
        assert_eq!(reply.header(header::CACHE_CONTROL), "no-store", "{what}");
        assert_eq!(reply.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(reply.header(header::X_FRAME_OPTIONS), "DENY");
    }
    let csp = page.header(header::CONTENT_SECURITY_POLICY);
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(
        form.header(header::CONTENT_SECURITY_POLICY)
            .contains("script-src 'none'")
    );
}

#[tokio::test]
async fn the_bearer_token_opens_the_page_too_and_a_wrong_one_is_refused() {
    let site = closed();
    let page = site
        .get(
            "/",
            As {
                bearer: true,
                ..NOBODY
            },
        )
        .await;
    assert!(page.is_status_page());
    let request = Request::get("/")
        .header(header::AUTHORIZATION, "Bearer wrong")
        .body(Body::empty())
        .expect("request");
    assert_eq!(site.send(request).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_session_ends_twelve_hours_after_sign_in() {
    let site = closed();
    let cookie = site.session_cookie().await;
    let who = As {
        cookie: Some(&cookie),
        ..NOBODY
    };
    site.clock
        .advance(chrono::Duration::hours(12) - chrono::Duration::seconds(1));
    let still = site.get("/api/interviews", who).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.text);
    site.clock.advance(chrono::Duration::seconds(1));
    let late = site.get("/api/interviews", who).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{}", late.text);
    let page = site.get("/", who).await;
    assert!(!page.is_status_page(), "the sign-in form again");
}
