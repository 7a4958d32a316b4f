//! `GET /api/interviews` and `GET /api/interviews/{id}`.

use axum::http::StatusCode;

use crate::support::api;

#[tokio::test]
async fn one_interview_comes_with_its_operations() {
    let api = api();
    let scheduled = api.words("schedule tomorrow 2pm 90m python").await;
    let id = scheduled.json["interview"]["id"].as_str().expect("an id");

    // Ids are case-insensitive, as people type them.
    let answer = api
        .get(&format!("/api/interviews/{}", id.to_ascii_uppercase()))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["interview"], scheduled.json["interview"]);
    let operations = answer.json["operations"].as_array().expect("operations");
    assert_eq!(operations.len(), 1);
    assert_eq!(operations[0]["kind"], "create");
    assert_eq!(operations[0]["status"], "scheduled");
    assert_eq!(operations[0]["attempts"], 0);
    // Due at the start minus the lead time, shown in the interview's zone.
    assert_eq!(operations[0]["due_at"], "2026-11-24T13:55:00+01:00");
}

#[tokio::test]
async fn an_unknown_id_is_404_and_a_malformed_one_400() {
    let api = api();
    let answer = api.get("/api/interviews/k7mq2xw9ab3c").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert_eq!(answer.error().0, "not_found");

    let answer = api.get("/api/interviews/not-an-id!").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
    let (code, message) = answer.error();
    assert_eq!(code, "bad_request");
    assert!(message.contains("is not an interview id"), "{message}");
}

#[tokio::test]
async fn listing_pages_through_open_interviews_and_all_adds_ended_ones() {
    let api = api();
    let mut ids = Vec::new();
    for day in ["tomorrow", "wednesday", "thursday"] {
        let answer = api.words(&format!("schedule {day} 2pm 1h sql")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        ids.push(
            answer.json["interview"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let cancelled = api.words(&format!("cancel {}", ids[2])).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);

    let first = api.get("/api/interviews?limit=1").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["interviews"][0]["id"], ids[0].as_str());
    let next = first.json["next"].as_str().expect("a next token");
    let second = api
        .get(&format!("/api/interviews?limit=1&after={next}"))
        .await;
    assert_eq!(second.json["interviews"][0]["id"], ids[1].as_str());
    // The cancelled third is not open, so the second page is the last.
    assert!(second.json["next"].is_null(), "{}", second.text);

    let all = api.get("/api/interviews?all=true").await;
    let listed: Vec<_> = all.json["interviews"]
        .as_array()
        .expect("interviews")
        .iter()
        .map(|i| i["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(listed, ids);
    assert!(all.json["next"].is_null(), "{}", all.text);
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let api = api();
    for query in [
        "limit=0",
        "limit=501",
        "limit=ten",
        "all=maybe",
        "sort=start",
        "after=garbage",
    ] {
        let answer = api.get(&format!("/api/interviews?{query}")).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            answer.text
        );
        assert_eq!(answer.error().0, "bad_request", "{query}");
    }
}
