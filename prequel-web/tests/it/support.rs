//! A router over a real facade, and a client that speaks to it without a socket.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use prequel_core::domain::SecretString;
use prequel_core::testkit;
use prequel_web::{ApiState, router};
use serde_json::Value;
use tower::ServiceExt as _;

pub const TOKEN: &str = "test-admin-token-0123456789abcdef";

/// The zone commands are read in when a request names none.
pub const SERVER_ZONE: chrono_tz::Tz = chrono_tz::America::New_York;

pub struct Api {
    _dir: tempfile::TempDir,
    router: Router,
    /// The engine's clock, to move time.
    pub clock: prequel_core::clock::ManualClock,
}

/// One answer: status, the body as JSON and as the raw text (to scan for secrets).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub json: Value,
    pub text: String,
}

impl Answer {
    /// Asserts the API's error shape and returns `(code, message)`.
    pub fn error(&self) -> (String, String) {
        let error = &self.json["error"];
        let code = error["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no code: {}", self.text));
        let message = error["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {}", self.text));
        assert_eq!(
            self.json.as_object().map(|o| o.len()),
            Some(1),
            "{}",
            self.text
        );
        assert_eq!(error.as_object().map(|o| o.len()), Some(2), "{}", self.text);
        assert!(!message.contains('\n'), "not one line: {message:?}");
        (code.to_owned(), message.to_owned())
    }
}

/// A facade standing at Monday 2026-11-23 10:00 UTC, with challenges python, sql, javascript.
pub fn api() -> Api {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = testkit::engine::in_dir(dir.path())
        .challenges(&["python", "sql", "javascript"])
        .build();
    let router = router(ApiState::new(
        engine.prequel,
        SecretString::new(TOKEN),
        SERVER_ZONE,
    ));
    Api {
        _dir: dir,
        router,
        clock: engine.clock,
    }
}

impl Api {
    /// Sends a request as it is given (no headers added).
    pub async fn raw(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("read the body");
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
        let json =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"));
        Answer { status, json, text }
    }

    /// A request with the admin token and, if given, a JSON body.
    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        self.call_as(TOKEN, method, uri, body).await
    }

    /// A request with `token` as its bearer and, if given, a JSON body.
    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        uri: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.raw(request.body(body).expect("request")).await
    }

    /// `POST /api/commands` with `body`.
    pub async fn command(&self, body: Value) -> Answer {
        self.call(Method::POST, "/api/commands", Some(body)).await
    }

    /// `POST /api/commands` as `alice` in Berlin.
    pub async fn words(&self, text: &str) -> Answer {
        self.command(serde_json::json!({"text": text, "tz": "Europe/Berlin", "user": "alice"}))
            .await
    }

    /// `GET` with the token.
    pub async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, None).await
    }

    /// How many interviews exist at all (open or not).
    pub async fn count(&self) -> usize {
        let answer = self.get("/api/interviews?all=true&limit=500").await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json["interviews"].as_array().map_or(0, Vec::len)
    }
}
