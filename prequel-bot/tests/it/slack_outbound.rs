//! The Slack frontend's outbound half against the local fake of Slack's Web API: the Web API
//! client, and the notifier turning the engine's events into one channel status message edited
//! in place, a credentials DM to the requester only, and a warning DM — once across replicas,
//! and never with a password anywhere but that DM (messages and log lines are checked).
//!
//! The engine runs in process (temp SQLite, recording provisioner, manual clock, scheduler
//! started); two facades on one SQLite file are two replicas.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use prequel_bot::slack::{api, notifier, render};
use prequel_core::clock::ManualClock;
use prequel_core::command::Command;
use prequel_core::domain::{
    ChallengeId, Interview, InterviewState, Platform, Requester, SecretString,
};
use prequel_core::secrets::file::FileSecrets;
use prequel_core::store::OperationStore;
use prequel_core::store::sqlite::SqliteStore;
use prequel_core::testkit::provisioner::{Behaviour, RecordingProvisioner};
use prequel_core::{Background, Outcome, Prequel};
use tokio::sync::watch;

use super::slack_fake::{FakeSlack, SlackCall};

const TOKEN: &str = "xoxb-test-bot-token";
const CHANNEL: &str = "C0INTERVIEWS";
const PARIS: Tz = chrono_tz::Europe::Paris;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid time")
}

fn alice() -> Requester {
    Requester {
        platform: Platform::Slack,
        user_id: "U2CERLKJA".into(),
        display_name: "roadrunner".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The world: one SQLite file, a manual clock, a recording provisioner, N replicas, fake Slack.
// ---------------------------------------------------------------------------------------------

struct Replica {
    prequel: Prequel,
    background: Background,
    notifier: tokio::task::JoinHandle<()>,
}

struct World {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    provisioner: RecordingProvisioner,
    slack: FakeSlack,
    replicas: Vec<Replica>,
    stop: watch::Sender<bool>,
}

impl World {
    async fn new(replicas: usize) -> Self {
        super::support::captured_log();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("prequel.sqlite3");
        let clock = ManualClock::new(t0());
        let provisioner = RecordingProvisioner::new(Arc::new(clock.clone()));
        let slack = FakeSlack::start(TOKEN).await;
        let stop = watch::Sender::new(false);
        let mut started = Vec::new();
        for _ in 0..replicas {
            let store: Arc<dyn OperationStore> =
                Arc::new(SqliteStore::open(&path).expect("open the store"));
            let prequel = Prequel::builder()
                .store(store)
                .provisioner(Arc::new(provisioner.clone()))
                .secrets(Arc::new(
                    FileSecrets::open(dir.path().join("secrets")).expect("secrets"),
                ))
                .clock(Arc::new(clock.clone()))
                .challenges(vec![ChallengeId::parse("python").expect("challenge")])
                .build()
                .expect("build the facade");
            let background = prequel.start(stop.subscribe()).await.expect("start");
            let api = Arc::new(
                api::SlackApi::new(
                    SecretString::new(TOKEN),
                    slack.api_url().parse().expect("url"),
                )
                .expect("slack client"),
            );
            let notifier = notifier::spawn(prequel.clone(), api, stop.subscribe());
            started.push(Replica {
                prequel,
                background,
                notifier,
            });
        }
        Self {
            _dir: dir,
            clock,
            provisioner,
            slack,
            replicas: started,
            stop,
        }
    }

    fn prequel(&self) -> &Prequel {
        &self.replicas[0].prequel
    }

    /// What the inbound handler does for `/interview <words>` in [`CHANNEL`]: execute, then
    /// note the channel.
    async fn ask(&self, words: &str) -> Interview {
        let prequel = self.prequel();
        let interview = match prequel
            .execute_text(&prequel_core::access::Actor::member(alice()), words, PARIS)
            .await
        {
            Ok(Outcome::Created { interview, .. } | Outcome::Scheduled(interview)) => interview,
            other => panic!("`{words}` did not record an interview: {other:?}"),
        };
        assert!(
            prequel
                .put_note(&interview.id, notifier::CHANNEL_NOTE, CHANNEL, false)
                .await
                .expect("note the channel")
        );
        interview
    }

    async fn password(&self, interview: &Interview) -> SecretString {
        match self
            .prequel()
            .execute(
                &prequel_core::access::Actor::member(alice()),
                Command::Creds(interview.id.clone()),
            )
            .await
        {
            Ok(Outcome::Credentials {
                password: Some(password),
                ..
            }) => password,
            other => panic!("no password: {other:?}"),
        }
    }

    async fn state_is(&self, interview: &Interview, state: InterviewState) -> Interview {
        wait_for(
            &format!("interview {} to be {state}", interview.id),
            || async {
                self.prequel()
                    .get(&interview.id)
                    .await
                    .ok()
                    .filter(|i| i.state == state)
            },
        )
        .await
    }

    /// Waits until some Slack call matches.
    async fn call(&self, what: &str, matches: impl Fn(&SlackCall) -> bool) -> SlackCall {
        wait_for(what, || async {
            self.slack.calls().into_iter().find(|c| matches(c))
        })
        .await
    }

    fn channel_posts(&self) -> Vec<SlackCall> {
        self.slack
            .calls_of("chat.postMessage")
            .into_iter()
            .filter(|c| c.channel.as_deref() == Some(CHANNEL))
            .collect()
    }

    fn dms(&self) -> Vec<SlackCall> {
        self.slack
            .calls_of("chat.postMessage")
            .into_iter()
            .filter(|c| c.channel.as_deref().is_some_and(|c| c.starts_with('D')))
            .collect()
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        for replica in self.replicas {
            replica.background.join().await;
            let _ = replica.notifier.await;
        }
    }
}

async fn wait_for<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Lets every replica's notifier catch up with what has happened (the feed is polled every
/// 500 ms), so "exactly one" is checked after the others had their chance.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

/// `now 30m python` from Slack, all the way: the status message posted once and edited in place
/// through the states, the credentials DM once to the requester, the warning DM once with an
/// Extend button, the destroy shown — and the password only ever in the credentials DM.
async fn a_slack_interview_from_start_to_end(replicas: usize) {
    let world = World::new(replicas).await;
    let interview = world.ask("now 30m python for Ada").await;
    let active = world.state_is(&interview, InterviewState::Active).await;
    let url = active
        .access_url
        .clone()
        .expect("an active interview has a URL");
    let password = world.password(&interview).await;

    let dm = world
        .call("the credentials DM", |c| {
            c.method == "chat.postMessage" && c.content().contains(password.expose())
        })
        .await;
    assert_eq!(
        dm.channel.as_deref(),
        Some("D2CERLKJA"),
        "a DM to the requester"
    );
    let text = dm.text.clone().unwrap_or_default();
    assert!(
        text.contains(&url) && text.contains(password.expose()),
        "{text}"
    );
    let opened = world.slack.calls_of("conversations.open");
    assert!(
        !opened.is_empty()
            && opened
                .iter()
                .all(|c| c.user.as_deref() == Some("U2CERLKJA")),
        "DMs are opened with the requester only: {opened:?}"
    );

    world
        .call("the status message showing the interview active", |c| {
            c.channel.as_deref() == Some(CHANNEL) && c.content().contains("Active")
        })
        .await;

    // Ten minutes before the end: one warning DM with an Extend button.
    world.clock.advance(chrono::Duration::minutes(21));
    let warning = world
        .call("the warning DM", |c| {
            c.method == "chat.postMessage" && c.content().contains("10 minutes left")
        })
        .await;
    assert_eq!(warning.channel.as_deref(), Some("D2CERLKJA"));
    assert_eq!(warning.action_ids(), vec![render::EXTEND_ACTION]);

    // Destroyed on request: the message shows it, without buttons.
    world
        .prequel()
        .execute(
            &prequel_core::access::Actor::member(alice()),
            Command::Destroy(interview.id.clone()),
        )
        .await
        .expect("destroy");
    world.state_is(&interview, InterviewState::Destroyed).await;
    let last = world
        .call("the status message showing the interview finished", |c| {
            c.method == "chat.update" && c.content().contains("Finished")
        })
        .await;
    assert!(last.action_ids().is_empty(), "no buttons once it is over");
    settle().await;

    // Exactly one channel post, every edit of that same message, one DM of each kind.
    let posts = world.channel_posts();
    assert_eq!(
        posts.len(),
        1,
        "one status message per interview: {posts:#?}"
    );
    let ts = posts[0].ts.clone().expect("the post's ts");
    let updates = world.slack.calls_of("chat.update");
    assert!(
        updates.len() >= 2,
        "the message was edited as the state changed: {updates:#?}"
    );
    for update in &updates {
        assert_eq!(update.channel.as_deref(), Some(CHANNEL));
        assert_eq!(update.ts.as_deref(), Some(ts.as_str()), "edited in place");
    }
    let dms = world.dms();
    assert_eq!(
        dms.iter()
            .filter(|c| c.content().contains(password.expose()))
            .count(),
        1,
        "one credentials DM: {dms:#?}"
    );
    assert_eq!(
        dms.iter()
            .filter(|c| c.content().contains("10 minutes left"))
            .count(),
        1,
        "one warning DM: {dms:#?}"
    );

    // The password appears in that one DM and nowhere else: not in a channel message, an
    // edit, an ephemeral, a response, the store's notes or a log line.
    for call in world.slack.calls() {
        assert!(
            call.authorized,
            "every call carried the bot token: {call:?}"
        );
        if call.ts != dm.ts || call.channel != dm.channel {
            assert!(
                !call.content().contains(password.expose())
                    && !call.params.to_string().contains(password.expose()),
                "the password leaked in {call:#?}"
            );
        }
    }
    let notes = world.prequel().notes(&interview.id).await.expect("notes");
    assert!(notes.values().all(|v| !v.contains(password.expose())));
    assert_eq!(notes.get(notifier::MESSAGE_TS_NOTE), Some(&ts));
    super::support::assert_not_logged(password.expose());
    world.stop().await;
}

/// A co-interviewer named with `with` gets what the requester gets, each by their own DM: the
/// credentials once the instance is ready, and the warning. Nobody else is written to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_interviewer_gets_the_credentials_and_the_warning_by_dm_too() {
    let world = World::new(1).await;
    let interview = world
        .ask("now 30m python with <@U0CAROL|carol> for Ada")
        .await;
    world.state_is(&interview, InterviewState::Active).await;
    let password = world.password(&interview).await;
    for channel in ["D2CERLKJA", "D0CAROL"] {
        world
            .call(&format!("the credentials DM in {channel}"), |c| {
                c.method == "chat.postMessage"
                    && c.channel.as_deref() == Some(channel)
                    && c.content().contains(password.expose())
            })
            .await;
    }
    world.clock.advance(chrono::Duration::minutes(21));
    for channel in ["D2CERLKJA", "D0CAROL"] {
        world
            .call(&format!("the warning DM in {channel}"), |c| {
                c.channel.as_deref() == Some(channel) && c.content().contains("10 minutes left")
            })
            .await;
    }
    settle().await;
    let mut opened: Vec<String> = world
        .slack
        .calls_of("conversations.open")
        .into_iter()
        .filter_map(|c| c.user)
        .collect();
    opened.sort();
    opened.dedup();
    assert_eq!(
        opened,
        ["U0CAROL", "U2CERLKJA"],
        "DMs to the two of them only"
    );
    let credentials = world
        .dms()
        .into_iter()
        .filter(|c| c.content().contains(password.expose()))
        .count();
    assert_eq!(credentials, 2, "one credentials DM each");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_interview_gets_one_status_message_edited_in_place_and_credentials_by_dm() {
    a_slack_interview_from_start_to_end(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_still_post_one_status_message_and_one_dm_of_each_kind() {
    a_slack_interview_from_start_to_end(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_start_is_explained_in_words_in_the_channel_message() {
    let world = World::new(2).await;
    let interview = world.ask("schedule 2pm 30m python").await;
    world
        .call("the scheduled status message", |c| {
            c.channel.as_deref() == Some(CHANNEL) && c.content().contains("Scheduled")
        })
        .await;
    // Prequel "was not running" past the start and its grace period.
    // 17 minutes after the start: past the 15-minute grace, before the end.
    world.clock.advance(chrono::Duration::minutes(3 * 60 + 17));
    world.state_is(&interview, InterviewState::Failed).await;
    let failed = world
        .call("the failure in the channel message", |c| {
            c.method == "chat.update" && c.content().contains("Failed")
        })
        .await;
    assert!(
        failed.content().contains(
            "The start time passed while Prequel was not running, so the interview was not started."
        ),
        "{}",
        failed.content()
    );
    assert!(failed.action_ids().is_empty());
    settle().await;
    assert_eq!(world.channel_posts().len(), 1);
    assert!(
        world.dms().is_empty(),
        "no credentials for an interview that never ran"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_says_why_and_sends_no_credentials() {
    let world = World::new(1).await;
    world.provisioner.set_behaviour(Behaviour::RejectCreates);
    let interview = world.ask("now 30m python").await;
    world.state_is(&interview, InterviewState::Failed).await;
    let failed = world
        .call("the failure in the channel message", |c| {
            c.channel.as_deref() == Some(CHANNEL)
                && c.content()
                    .contains("Prequel could not set up the instance")
        })
        .await;
    assert!(failed.action_ids().is_empty());
    settle().await;
    assert!(world.dms().is_empty());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interviews_not_asked_in_slack_get_no_slack_messages() {
    let world = World::new(1).await;
    let cli = Requester {
        platform: Platform::Cli,
        user_id: "ana".into(),
        display_name: "Ana".into(),
    };
    let outcome = world
        .prequel()
        .execute_text(
            &prequel_core::access::Actor::member(cli.clone()),
            "now 30m python",
            PARIS,
        )
        .await
        .expect("recorded");
    let Outcome::Created { interview, .. } = outcome else {
        panic!("not created: {outcome:?}");
    };
    world.state_is(&interview, InterviewState::Active).await;
    settle().await;
    assert!(world.slack.calls().is_empty(), "{:#?}", world.slack.calls());
    world.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The Web API client on its own
// ---------------------------------------------------------------------------------------------

fn client(slack: &FakeSlack, token: &str) -> api::SlackApi {
    api::SlackApi::new(
        SecretString::new(token),
        slack.api_url().parse().expect("url"),
    )
    .expect("slack client")
}

#[tokio::test]
async fn the_client_reads_zones_opens_dms_posts_updates_and_lists_groups() {
    let slack = FakeSlack::start(TOKEN).await;
    slack.set_zone("U1", "America/New_York");
    slack.set_group("S1", &["U1", "U2"]);
    let api = client(&slack, TOKEN);

    assert_eq!(
        api.user_zone("U1").await.expect("zone"),
        chrono_tz::America::New_York
    );
    // Cached: the second question does not reach Slack.
    api.user_zone("U1").await.expect("zone");
    assert_eq!(slack.calls_of("users.info").len(), 1);

    assert_eq!(api.open_dm("U1").await.expect("dm"), "D1");
    let blocks =
        serde_json::json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "hi" } }]);
    let ts = api.post_message("C1", "hi", &blocks).await.expect("post");
    api.update_message("C1", &ts, "bye", &blocks)
        .await
        .expect("update");
    api.post_ephemeral("C1", "U1", "psst", &blocks)
        .await
        .expect("ephemeral");
    assert_eq!(
        api.usergroup_members("S1").await.expect("members"),
        vec!["U1".to_owned(), "U2".to_owned()]
    );
    let update = &slack.calls_of("chat.update")[0];
    assert_eq!(update.ts.as_deref(), Some(ts.as_str()));
    assert_eq!(update.blocks.as_ref(), Some(&blocks));
    let ephemeral = &slack.calls_of("chat.postEphemeral")[0];
    assert_eq!(ephemeral.user.as_deref(), Some("U1"));

    let err = api
        .update_message("C1", "1.000001", "x", &blocks)
        .await
        .expect_err("unknown message");
    assert_eq!(
        err.to_string(),
        "slack refused chat.update: message_not_found"
    );
    assert!(slack.calls().iter().all(|c| c.authorized));
}

#[tokio::test]
async fn responses_go_to_the_response_url_without_the_bot_token() {
    let slack = FakeSlack::start(TOKEN).await;
    let api = client(&slack, TOKEN);
    let (text, blocks) = render::help_blocks();
    api.respond(&slack.response_url("r1"), true, &text, &blocks)
        .await
        .expect("respond");
    let calls = slack.calls_of("response_url");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].response_id.as_deref(), Some("r1"));
    assert_eq!(calls[0].params["response_type"], "ephemeral");
    assert_eq!(calls[0].blocks.as_ref(), Some(&blocks));
    assert!(!calls[0].had_authorization, "no token to a response_url");
}

#[tokio::test]
async fn a_wrong_token_is_an_error_that_does_not_contain_the_token() {
    let slack = FakeSlack::start(TOKEN).await;
    let api = client(&slack, "xoxb-wrong-token");
    let err = api.open_dm("U1").await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "slack refused conversations.open: invalid_auth"
    );
    assert!(!format!("{err:?}").contains("xoxb"));
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_retry_after_says() {
    let slack = FakeSlack::start(TOKEN).await;
    let api = client(&slack, TOKEN);
    slack.rate_limit("chat.postMessage", 1);
    let started = std::time::Instant::now();
    api.post_message("C1", "hi", &serde_json::json!([]))
        .await
        .expect("posted after the wait");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(slack.calls_of("chat.postMessage").len(), 2);

    slack.rate_limit("chat.postMessage", 10);
    let err = api
        .post_message("C1", "hi", &serde_json::json!([]))
        .await
        .expect_err("gives up");
    assert!(err.to_string().contains("rate-limited"), "{err}");
}

/// The inbound handler hands the notifier the command's answer (the interview as recorded);
/// by then the message may already show a later state, and it must not go back in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_copy_of_the_interview_never_moves_the_status_message_back() {
    let world = World::new(1).await;
    let recorded = world.ask("now 30m python").await;
    world.state_is(&recorded, InterviewState::Active).await;
    world
        .call("the status message showing the interview active", |c| {
            c.channel.as_deref() == Some(CHANNEL) && c.content().contains("Active")
        })
        .await;
    let api = Arc::new(client(&world.slack, TOKEN));
    notifier::Notifier::new(world.prequel().clone(), api)
        .status(&recorded)
        .await;
    let updates = world.slack.calls_of("chat.update");
    let last = updates.last().expect("updates");
    assert!(last.content().contains("Active"), "{}", last.content());
    assert_eq!(world.channel_posts().len(), 1);
    world.stop().await;
}
