//! Personal API tokens: the admin makes them, a person uses theirs as themselves, under the same
//! ownership rule as in chat; a refused request changes nothing.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Api, api};

/// Makes a token for `user` with the admin token and returns it.
async fn token_for(api: &Api, user: &str) -> String {
    let answer = api
        .call(Method::POST, "/api/tokens", Some(json!({"user": user})))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
    answer.json["token"]
        .as_str()
        .expect("the token is in the answer")
        .to_owned()
}

/// `POST /api/commands` with `text` as the holder of `token`.
async fn words_as(api: &Api, token: &str, text: &str) -> crate::support::Answer {
    api.call_as(
        token,
        Method::POST,
        "/api/commands",
        Some(json!({"text": text, "tz": "Europe/Berlin"})),
    )
    .await
}

/// When the first token was last used, as the admin's listing says.
async fn used(api: &Api) -> Value {
    api.get("/api/tokens").await.json["tokens"][0]["last_used_at"].clone()
}

/// The interview as the admin sees it, to compare before and after a refused request.
async fn record(api: &Api, id: &str) -> Value {
    let answer = api.get(&format!("/api/interviews/{id}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json
}

#[tokio::test]
async fn a_token_is_shown_once_and_the_listing_never_holds_it_or_its_hash() {
    let api = api();
    let made = api
        .call(Method::POST, "/api/tokens", Some(json!({"user": "alice"})))
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let token = made.json["token"].as_str().expect("token");
    let id = made.json["api_token"]["id"].as_str().expect("id");
    assert_eq!(token.len(), "pqt_".len() + 12 + 1 + 43, "{token}");
    assert!(token.starts_with(&format!("pqt_{id}_")), "{token}");
    assert_eq!(made.json["api_token"]["user"], "alice");
    assert_eq!(made.json["api_token"]["created_by"], "admin");
    assert_eq!(made.json["api_token"]["created_at"], "2026-11-23T10:00:00Z");
    assert_eq!(made.json["api_token"]["last_used_at"], Value::Null);

    let listed = api.get("/api/tokens").await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.json["tokens"][0], made.json["api_token"]);
    let secret = token.rsplit('_').next().expect("secret");
    assert!(!listed.text.contains(secret), "{}", listed.text);
    assert!(
        !listed.text.contains("hash"),
        "no hash either: {}",
        listed.text
    );

    // Two tokens never share an id or a secret.
    let other = token_for(&api, "alice").await;
    assert_ne!(other, token);
}

#[tokio::test]
async fn a_personal_token_acts_as_its_user_and_records_its_use_once_a_minute() {
    let api = api();
    let alice = token_for(&api, "alice").await;
    let made = words_as(&api, &alice, "schedule tomorrow 2pm 90m python").await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.text);
    assert_eq!(
        made.json["interview"]["requested_by"],
        json!({"platform": "cli", "user_id": "alice", "display_name": "alice"})
    );
    assert_eq!(used(&api).await, "2026-11-23T10:00:00Z");

    api.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(words_as(&api, &alice, "list").await.status, StatusCode::OK);
    assert_eq!(used(&api).await, "2026-11-23T10:00:00Z", "not rewritten");

    api.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(words_as(&api, &alice, "list").await.status, StatusCode::OK);
    assert_eq!(used(&api).await, "2026-11-23T10:01:01Z");
}

/// The ownership rule through the API: user B's token cannot see or change user A's interview;
/// A's co-interviewer and an admin can; `list` shows one's own.
#[tokio::test]
async fn another_users_token_is_refused_on_every_interview_command_and_changes_nothing() {
    let api = api();
    let alice = token_for(&api, "alice").await;
    let bob = token_for(&api, "bob").await;
    let carol = token_for(&api, "carol").await;
    let scheduled = words_as(&api, &alice, "schedule tomorrow 2pm 90m python with @carol").await;
    let later = scheduled.json["interview"]["id"].as_str().expect("id");
    let created = words_as(&api, &alice, "now 1h sql").await;
    let now = created.json["interview"]["id"].as_str().expect("id");
    let password = created.json["password"].as_str().expect("password");
    let before = (record(&api, later).await, record(&api, now).await);

    for text in [
        format!("status {now}"),
        format!("creds {now}"),
        format!("extend {now} 30m"),
        format!("destroy {now}"),
        format!("cancel {later}"),
        format!("status {later}"),
        "list all".to_owned(),
    ] {
        let answer = words_as(&api, &bob, &text).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{text}: {}",
            answer.text
        );
        assert_eq!(answer.error().0, "forbidden");
        assert!(
            !answer.text.contains(password),
            "{text} leaked the password"
        );
    }
    assert_eq!(
        (record(&api, later).await, record(&api, now).await),
        before,
        "nothing changed"
    );
    let bobs = words_as(&api, &bob, "list").await;
    assert_eq!(bobs.json["interviews"], json!([]), "{}", bobs.text);
    let alices = words_as(&api, &alice, "list").await;
    assert_eq!(
        alices.json["interviews"].as_array().map(Vec::len),
        Some(2),
        "{}",
        alices.text
    );

    // Carol was named on the later interview: she may act on it, not on the other.
    assert_eq!(
        words_as(&api, &carol, &format!("status {later}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        words_as(&api, &carol, &format!("creds {now}")).await.status,
        StatusCode::FORBIDDEN
    );
    let carols = words_as(&api, &carol, "list").await;
    assert_eq!(carols.json["interviews"][0]["id"], later, "{}", carols.text);
    let cancelled = words_as(&api, &carol, &format!("cancel {later}")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);

    // The admin token may act on every interview.
    let admin = api.command(json!({"text": format!("creds {now}")})).await;
    assert_eq!(admin.json["password"], password, "{}", admin.text);
}

#[tokio::test]
async fn naming_a_user_with_a_personal_token_is_refused_and_creates_nothing() {
    let api = api();
    let bob = token_for(&api, "bob").await;
    let answer = api
        .call_as(
            &bob,
            Method::POST,
            "/api/commands",
            Some(json!({"text": "now 1h python", "user": "alice"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text);
    let (code, message) = answer.error();
    assert_eq!(code, "forbidden");
    assert!(message.contains("admin token only"), "{message}");
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn a_revoked_unknown_or_forged_token_opens_nothing() {
    let api = api();
    let alice = token_for(&api, "alice").await;
    let id = alice[4..16].to_owned();
    let mut forged = alice.clone();
    let last = forged.pop().expect("a character");
    forged.push(if last == 'A' { 'B' } else { 'A' });

    let revoked = api
        .call(Method::DELETE, &format!("/api/tokens/{id}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert_eq!(revoked.json["revoked_at"], "2026-11-23T10:00:00Z");
    api.clock.advance(chrono::Duration::minutes(5));
    let again = api
        .call(Method::DELETE, &format!("/api/tokens/{id}"), None)
        .await;
    assert_eq!(
        again.json["revoked_at"], "2026-11-23T10:00:00Z",
        "first time kept"
    );

    for token in [
        alice.as_str(),
        forged.as_str(),
        "pqt_zzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let answer = words_as(&api, token, "now 1h python").await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
        let (code, message) = answer.error();
        assert_eq!(code, "unauthorized");
        assert!(message.contains("not valid"), "{message}");
    }
    assert_eq!(api.count().await, 0);
    let listed = api.get("/api/tokens").await;
    assert_eq!(
        listed.json["tokens"][0]["last_used_at"],
        Value::Null,
        "a refused use is not a use"
    );
}

#[tokio::test]
async fn a_personal_token_opens_nothing_but_commands() {
    let api = api();
    let alice = token_for(&api, "alice").await;
    let routes = [
        (Method::GET, "/api/interviews", None),
        (Method::GET, "/api/interviews/k7mq2xw9ab3c", None),
        (Method::GET, "/api/events", None),
        (Method::GET, "/metrics", None),
        (Method::GET, "/api/tokens", None),
        (Method::POST, "/api/tokens", Some(json!({"user": "alice"}))),
        (Method::DELETE, "/api/tokens/aaaaaaaaaaaa", None),
    ];
    for (method, uri, body) in routes {
        let answer = api.call_as(&alice, method.clone(), uri, body).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {}",
            answer.text
        );
        let (code, message) = answer.error();
        assert_eq!(code, "forbidden");
        assert!(message.contains("POST /api/commands"), "{message}");
    }
    let listed = api.get("/api/tokens").await;
    assert_eq!(
        listed.json["tokens"].as_array().map(Vec::len),
        Some(1),
        "no token was made by a token"
    );
}

#[tokio::test]
async fn bad_token_requests_get_a_specific_400_or_404_and_change_nothing() {
    let api = api();
    for (body, says) in [
        (json!({"user": ""}), "must be a login"),
        (json!({"user": "ali ce"}), "must be a login"),
        (json!({"user": "ev\u{202e}il"}), "must be a login"),
        (json!({"user": "x".repeat(65)}), "must be a login"),
        (json!({"user": "alice", "admin": true}), "unknown field"),
        (json!({}), "missing field"),
    ] {
        let answer = api
            .call(Method::POST, "/api/tokens", Some(body.clone()))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text
        );
        let (code, message) = answer.error();
        assert_eq!(code, "bad_request");
        assert!(message.contains(says), "{body}: {message}");
    }
    let malformed = api
        .call(Method::DELETE, "/api/tokens/NOT-AN-ID", None)
        .await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.text
    );
    assert!(malformed.error().1.contains("not an API token id"));
    let unknown = api
        .call(Method::DELETE, "/api/tokens/aaaaaaaaaaaa", None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text);
    assert_eq!(
        unknown.error().1,
        "API token aaaaaaaaaaaa not found",
        "{}",
        unknown.text
    );
    let listed = api.get("/api/tokens").await;
    assert_eq!(listed.json["tokens"], json!([]), "{}", listed.text);
}

/// Notes and scores through the API: the interview's people write them, a personal token of
/// someone else is refused and nothing is written.
#[tokio::test]
async fn notes_and_scores_answer_the_interviews_people_only() {
    let api = api();
    let alice = token_for(&api, "alice").await;
    let bob = token_for(&api, "bob").await;
    let made = words_as(&api, &alice, "schedule tomorrow 2pm 90m python").await;
    let id = made.json["interview"]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let noted = words_as(&api, &alice, &format!("note {id} strong on SQL")).await;
    assert_eq!(noted.status, StatusCode::OK, "{}", noted.text);
    assert_eq!(noted.json["action"], "note");
    assert_eq!(noted.json["note"]["text"], "strong on SQL");
    assert_eq!(noted.json["note"]["by"]["user_id"], "alice");
    assert_eq!(noted.json["note"]["at"], "2026-11-23T11:00:00+01:00");
    let scored = words_as(&api, &alice, &format!("score {id} strong-yes great tests")).await;
    assert_eq!(
        scored.json["score"]["score"], "strong-yes",
        "{}",
        scored.text
    );
    assert_eq!(scored.json["score"]["comment"], "great tests");

    for text in [format!("note {id} mine now"), format!("score {id} no")] {
        let refused = words_as(&api, &bob, &text).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{text}: {}",
            refused.text
        );
        assert!(!refused.text.contains("strong on SQL"));
    }
    // The report: the same notes and scores, for Alice's token and the admin's; not for Bob's.
    for token in [alice.as_str(), crate::support::TOKEN] {
        let report = api
            .call_as(
                token,
                Method::GET,
                &format!("/api/interviews/{id}/report"),
                None,
            )
            .await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.text);
        let keys: Vec<&String> = report.json.as_object().expect("object").keys().collect();
        assert_eq!(
            keys,
            [
                "archive_url",
                "grades",
                "interview",
                "notes",
                "scores",
                "snapshots"
            ]
        );
        assert_eq!(report.json["notes"][0]["text"], "strong on SQL");
        assert_eq!(report.json["scores"][0]["score"], "strong-yes");
        assert_eq!(report.json["archive_url"], Value::Null);
    }
    let refused = api
        .call_as(
            &bob,
            Method::GET,
            &format!("/api/interviews/{id}/report"),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert!(!refused.text.contains("strong on SQL"));
    let by_words = words_as(&api, &bob, &format!("report {id}")).await;
    assert_eq!(by_words.status, StatusCode::FORBIDDEN);

    // Nothing of the review shows in the interview as the listings give it.
    let shown = api.get(&format!("/api/interviews/{id}")).await;
    assert!(
        !shown.text.contains("strong on SQL") && !shown.text.contains("strong-yes"),
        "{}",
        shown.text
    );
}
