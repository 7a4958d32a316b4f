//! Every `/api` route needs the admin token; a refused request changes nothing.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::support::api;

fn schedule_request(authorization: Option<&str>) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/commands")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(header::AUTHORIZATION, value);
    }
    let body = json!({"text": "schedule tomorrow 2pm 90m python"}).to_string();
    request.body(Body::from(body)).expect("request")
}

#[tokio::test]
async fn a_request_without_a_token_is_401_and_creates_nothing() {
    let api = api();
    let answer = api.raw(schedule_request(None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let (code, message) = answer.error();
    assert_eq!(code, "unauthorized");
    assert!(message.contains("Authorization: Bearer"), "{message}");
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn a_wrong_or_malformed_token_is_401_and_creates_nothing() {
    let api = api();
    for header in [
        "Bearer not-the-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        &format!("bearer{}", crate::support::TOKEN),
    ] {
        let answer = api.raw(schedule_request(Some(header))).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(answer.error().0, "unauthorized");
    }
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn reading_interviews_needs_the_token_too() {
    let api = api();
    for uri in ["/api/interviews", "/api/interviews/k7mq2xw9ab3c"] {
        let request = Request::get(uri).body(Body::empty()).expect("request");
        let answer = api.raw(request).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(answer.error().0, "unauthorized");
    }
}

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let api = api();
    let request = Request::get("/healthz")
        .body(Body::empty())
        .expect("request");
    let answer = api.raw(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json, json!({"status": "ok"}));
}
