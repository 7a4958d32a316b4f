//! `POST /api/commands`: words in, the rendered outcome out; refused words change nothing.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::api;

#[tokio::test]
async fn schedule_answers_the_interview_with_times_in_the_users_zone() {
    let api = api();
    let answer = api
        .words("schedule tomorrow 2pm 90m python for Ada Lovelace")
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["action"], "schedule");
    let interview = &answer.json["interview"];
    let id = interview["id"].as_str().expect("an id");
    assert_eq!(
        *interview,
        json!({
            "id": id,
            "status": "scheduled",
            "challenge": "python",
            "candidate": "Ada Lovelace",
            "start": "2026-11-24T14:00:00+01:00",
            "end": "2026-11-24T15:30:00+01:00",
            "access_url": null,
            "reason": null,
            "time_zone": "Europe/Berlin",
            // The admin token is the caller; `user` names whom it acts for, and says so.
            "requested_by": {"platform": "cli", "user_id": "alice", "display_name": "admin on behalf of alice"},
        })
    );
    assert!(answer.json.get("password").is_none(), "{}", answer.text);
    assert_eq!(api.count().await, 1);
}

#[tokio::test]
async fn without_tz_the_words_are_read_in_the_servers_zone() {
    let api = api();
    let answer = api
        .command(json!({"text": "schedule tomorrow 9am 1h sql"}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.json["interview"]["start"],
        "2026-11-24T09:00:00-05:00"
    );
    assert_eq!(answer.json["interview"]["time_zone"], "America/New_York");
}

#[tokio::test]
async fn words_the_grammar_refuses_are_400_with_its_line_and_create_nothing() {
    let api = api();
    for (words, want) in [
        (
            "schedule tomorrow 2pm 90m cobol",
            "unknown challenge `cobol`; known challenges: javascript, python, sql",
        ),
        (
            "schedule 9am 90m python",
            "time in the past: 2026-11-23 09:00 in Europe/Berlin; did you mean \"tomorrow 9am\"?",
        ),
    ] {
        let answer = api.words(words).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{words}: {}",
            answer.text
        );
        assert_eq!(answer.error(), ("bad_request".to_owned(), want.to_owned()));
    }
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn create_answers_the_password_and_nothing_else_ever_shows_it() {
    let api = api();
    let answer = api.words("now 1h python").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["action"], "create");
    let password = answer.json["password"]
        .as_str()
        .expect("a password")
        .to_owned();
    assert!(password.len() >= 20, "{password}");
    assert!(answer.json["interview"].get("password").is_none());
    let id = answer.json["interview"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let mut bodies = vec![
        api.words("list").await,
        api.words(&format!("status {id}")).await,
        api.words(&format!("extend {id} 30m")).await,
        api.get("/api/interviews").await,
        api.get("/api/interviews?all=true").await,
        api.get(&format!("/api/interviews/{id}")).await,
    ];
    bodies.push(api.words(&format!("destroy {id}")).await);
    for body in &bodies {
        assert_eq!(body.status, StatusCode::OK, "{}", body.text);
        assert!(
            !body.text.contains(&password),
            "password leaked: {}",
            body.text
        );
        assert!(
            !body.text.contains("password"),
            "password key: {}",
            body.text
        );
    }
    assert_eq!(bodies[0].json["interviews"][0]["id"], id.as_str());
    assert_eq!(bodies[1].json["operations"][0]["kind"], "create");
}

/// The admin token is the API's only credential, so its holder is the admin: it may act on
/// every interview whoever it names, and what it does is recorded as done on their behalf.
#[tokio::test]
async fn the_admin_token_acts_on_every_interview_on_behalf_of_whom_it_names() {
    let api = api();
    let created = api.words("now 1h python").await;
    let password = created.json["password"].as_str().expect("a password");
    let id = created.json["interview"]["id"].as_str().expect("an id");

    let mine = api.words(&format!("creds {id}")).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    assert_eq!(mine.json["action"], "creds");
    assert_eq!(mine.json["password"], password);

    let for_mallory = api
        .command(json!({"text": format!("creds {id}"), "user": "mallory"}))
        .await;
    assert_eq!(for_mallory.status, StatusCode::OK, "{}", for_mallory.text);
    assert_eq!(for_mallory.json["password"], password);

    let everyone = api
        .command(json!({"text": "list all", "user": "mallory"}))
        .await;
    assert_eq!(
        everyone.json["interviews"][0]["id"], id,
        "{}",
        everyone.text
    );
    let own = api
        .command(json!({"text": "list", "user": "mallory"}))
        .await;
    assert_eq!(own.json["interviews"], json!([]), "{}", own.text);
}

#[tokio::test]
async fn cancelling_twice_is_a_conflict_the_second_time() {
    let api = api();
    let scheduled = api.words("schedule tomorrow 2pm 90m python").await;
    let id = scheduled.json["interview"]["id"].as_str().expect("an id");
    let first = api.words(&format!("cancel {id}")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.json["action"], "cancel");
    assert_eq!(first.json["interview"]["status"], "cancelled");

    let second = api.words(&format!("cancel {id}")).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    assert!(
        second.error().1.contains("already ended"),
        "{}",
        second.text
    );
}

#[tokio::test]
async fn an_unknown_interview_in_the_words_is_404() {
    let api = api();
    let answer = api.words("status k7mq2xw9ab3c").await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    assert_eq!(
        answer.error(),
        (
            "not_found".to_owned(),
            "there is no interview `k7mq2xw9ab3c` (see `list` for yours)".to_owned()
        )
    );
}

#[tokio::test]
async fn help_challenges_and_tz_render_their_own_keys() {
    let api = api();
    let help = api.words("help").await;
    assert_eq!(help.json["action"], "help");
    assert!(
        help.json["text"]
            .as_str()
            .is_some_and(|t| t.contains("schedule"))
    );

    let challenges = api.words("challenges").await;
    assert_eq!(
        challenges.json,
        json!({"action": "challenges", "challenges": ["javascript", "python", "sql"]})
    );

    let tz = api.words("tz asia/tokyo").await;
    assert_eq!(tz.json, json!({"action": "tz", "time_zone": "Asia/Tokyo"}));
}
