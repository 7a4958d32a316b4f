//! Malformed requests get the API's one error shape, never axum's plain-text rejections.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::support::{Api, TOKEN, api};

fn post(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/commands")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    request.body(body.into()).expect("request")
}

async fn bad_request(api: &Api, request: Request<Body>) -> String {
    let answer = api.raw(request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let (code, message) = answer.error();
    assert_eq!(code, "bad_request");
    message
}

#[tokio::test]
async fn malformed_json_is_400_in_the_error_shape_and_creates_nothing() {
    let api = api();
    let message = bad_request(&api, post(Some("application/json"), "{\"text\": \"now 1h")).await;
    assert!(
        message.starts_with("the request body is not valid"),
        "{message}"
    );
    let message = bad_request(&api, post(Some("application/json"), "[1, 2]")).await;
    assert!(message.contains("invalid type"), "{message}");
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_400() {
    let api = api();
    let body = json!({"text": "now 1h python"}).to_string();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let message = bad_request(&api, post(content_type, body.clone())).await;
        assert!(
            message.contains("Content-Type: application/json"),
            "{message}"
        );
    }
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn unknown_keys_are_400_naming_the_key() {
    let api = api();
    let body = json!({"text": "now 1h python", "timezone": "UTC"}).to_string();
    let message = bad_request(&api, post(Some("application/json; charset=utf-8"), body)).await;
    assert!(message.contains("unknown field `timezone`"), "{message}");
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn a_bad_zone_or_user_is_400_before_anything_is_done() {
    let api = api();
    let answer = api
        .command(json!({"text": "now 1h python", "tz": "Mars/Olympus"}))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    assert!(answer.error().1.contains("Mars/Olympus"), "{}", answer.text);

    for user in ["", "   ", "a\nb", &"x".repeat(65)] {
        let answer = api
            .command(json!({"text": "now 1h python", "user": user}))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{user:?}: {}",
            answer.text
        );
        assert!(answer.error().1.contains("`user`"), "{}", answer.text);
    }
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn an_oversized_body_is_413_in_the_error_shape_and_creates_nothing() {
    let api = api();
    let name = "A".repeat(prequel_web::BODY_LIMIT);
    let body = json!({"text": format!("now 1h python for {name}")}).to_string();
    let answer = api.raw(post(Some("application/json"), body)).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.text
    );
    let (code, message) = answer.error();
    assert_eq!(code, "payload_too_large");
    assert!(message.contains("16384 bytes"), "{message}");
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let api = api();
    let answer = api.get("/api/nothing-here").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert_eq!(answer.error().0, "not_found");

    let answer = api.call(Method::DELETE, "/api/commands", None).await;
    assert_eq!(
        answer.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "{}",
        answer.text
    );
    assert_eq!(answer.error().0, "method_not_allowed");
}
