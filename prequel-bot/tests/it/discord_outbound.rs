//! The Discord frontend's outbound half against the local fake of Discord's REST API: the REST
//! client, and the notifier turning the engine's events into one channel status message edited
//! in place, a credentials DM to the requester only, and a warning DM — once across replicas,
//! and never with a password anywhere but that DM (messages, notes and log lines are checked).
//!
//! The engine runs in process (temp SQLite, recording provisioner, manual clock, scheduler
//! started); two facades on one SQLite file are two replicas.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use prequel_bot::discord::api::DiscordApi;
use prequel_bot::discord::{notifier, render};
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
use serde_json::json;
use tokio::sync::watch;

use super::discord_fake::{DiscordCall, FakeDiscord};

const TOKEN: &str = "discord-test-bot-token";
const APP: u64 = 1_100_000_000_000_000_001;
const CHANNEL: &str = "1100000000000000777";
const USER: &str = "80351110224678912";
const PARIS: Tz = chrono_tz::Europe::Paris;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid time")
}

fn nelly() -> Requester {
    Requester {
        platform: Platform::Discord,
        user_id: USER.into(),
        display_name: "nelly".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The world: one SQLite file, a manual clock, a recording provisioner, N replicas, fake Discord.
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
    discord: FakeDiscord,
    replicas: Vec<Replica>,
    stop: watch::Sender<bool>,
}

fn client(discord: &FakeDiscord, token: &str) -> DiscordApi {
    DiscordApi::new(
        SecretString::new(token),
        APP,
        discord.api_url().parse().expect("url"),
    )
    .expect("discord client")
}

impl World {
    async fn new(replicas: usize) -> Self {
        super::support::captured_log();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("prequel.sqlite3");
        let clock = ManualClock::new(t0());
        let provisioner = RecordingProvisioner::new(Arc::new(clock.clone()));
        let discord = FakeDiscord::start(TOKEN).await;
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
            let api = Arc::new(client(&discord, TOKEN));
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
            discord,
            replicas: started,
            stop,
        }
    }

    fn prequel(&self) -> &Prequel {
        &self.replicas[0].prequel
    }

    /// What the inbound handler does for `/interview …` in [`CHANNEL`]: execute, then note the
    /// channel.
    async fn ask(&self, words: &str) -> Interview {
        let prequel = self.prequel();
        let interview = match prequel
            .execute_text(&prequel_core::access::Actor::member(nelly()), words, PARIS)
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
                &prequel_core::access::Actor::member(nelly()),
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

    /// Waits until some Discord call matches.
    async fn call(&self, what: &str, matches: impl Fn(&DiscordCall) -> bool) -> DiscordCall {
        wait_for(what, || async {
            self.discord.calls().into_iter().find(|c| matches(c))
        })
        .await
    }

    fn channel_posts(&self) -> Vec<DiscordCall> {
        self.discord
            .calls_of("create_message")
            .into_iter()
            .filter(|c| c.channel.as_deref() == Some(CHANNEL))
            .collect()
    }

    fn dms(&self) -> Vec<DiscordCall> {
        self.discord
            .calls_of("create_message")
            .into_iter()
            .filter(|c| c.channel.as_deref().is_some_and(|c| c.starts_with("dm-")))
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

/// `now 30m python` from Discord, all the way: the status message posted once and edited in
/// place through the states, the credentials DM once to the requester, the warning DM once with
/// an Extend button, the destroy shown — and the password only ever in the credentials DM.
async fn a_discord_interview_from_start_to_end(replicas: usize) {
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
            c.route == "create_message" && c.content().contains(password.expose())
        })
        .await;
    assert_eq!(
        dm.channel.as_deref(),
        Some(format!("dm-{USER}").as_str()),
        "a DM to the requester"
    );
    assert!(dm.content().contains(&url), "{}", dm.content());
    let opened = world.discord.calls_of("open_dm");
    assert!(
        !opened.is_empty() && opened.iter().all(|c| c.body["recipient_id"] == USER),
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
            c.route == "create_message" && c.content().contains("10 minutes left")
        })
        .await;
    assert_eq!(warning.channel, dm.channel);
    assert_eq!(
        warning.custom_ids(),
        vec![format!("{}:{}", render::EXTEND_ACTION, interview.id)]
    );

    // Destroyed on request: the message shows it, without buttons.
    world
        .prequel()
        .execute(
            &prequel_core::access::Actor::member(nelly()),
            Command::Destroy(interview.id.clone()),
        )
        .await
        .expect("destroy");
    world.state_is(&interview, InterviewState::Destroyed).await;
    let last = world
        .call("the status message showing the interview finished", |c| {
            c.route == "edit_message" && c.content().contains("Finished")
        })
        .await;
    assert!(last.custom_ids().is_empty(), "no buttons once it is over");
    settle().await;

    // Exactly one channel post, every edit of that same message, one DM of each kind.
    let posts = world.channel_posts();
    assert_eq!(
        posts.len(),
        1,
        "one status message per interview: {posts:#?}"
    );
    let message_id = posts[0].message_id.clone().expect("the post's id");
    let edits = world.discord.calls_of("edit_message");
    assert!(
        edits.len() >= 2,
        "the message was edited as the state changed: {edits:#?}"
    );
    for edit in &edits {
        assert_eq!(edit.channel.as_deref(), Some(CHANNEL));
        assert_eq!(
            edit.message_id.as_deref(),
            Some(message_id.as_str()),
            "edited in place"
        );
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
    // edit, the store's notes or a log line.
    for call in world.discord.calls() {
        assert!(
            call.authorized,
            "every call carried the bot token: {call:?}"
        );
        if call.message_id != dm.message_id {
            assert!(
                !call.content().contains(password.expose()),
                "the password leaked in {call:#?}"
            );
        }
    }
    let notes = world.prequel().notes(&interview.id).await.expect("notes");
    assert!(notes.values().all(|v| !v.contains(password.expose())));
    assert_eq!(notes.get(notifier::MESSAGE_ID_NOTE), Some(&message_id));
    super::support::assert_not_logged(password.expose());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_interview_gets_one_status_message_edited_in_place_and_credentials_by_dm() {
    a_discord_interview_from_start_to_end(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_discord_replicas_still_post_one_status_message_and_one_dm_of_each_kind() {
    a_discord_interview_from_start_to_end(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_start_is_explained_in_words_in_the_discord_message() {
    let world = World::new(2).await;
    let interview = world.ask("schedule 2pm 30m python").await;
    world
        .call("the scheduled status message", |c| {
            c.channel.as_deref() == Some(CHANNEL) && c.content().contains("Scheduled")
        })
        .await;
    // 17 minutes after the start: past the 15-minute grace, before the end.
    world.clock.advance(chrono::Duration::minutes(3 * 60 + 17));
    world.state_is(&interview, InterviewState::Failed).await;
    let failed = world
        .call("the failure in the channel message", |c| {
            c.route == "edit_message" && c.content().contains("Failed")
        })
        .await;
    assert!(
        failed.content().contains(
            "The start time passed while Prequel was not running, so the interview was not started."
        ),
        "{}",
        failed.content()
    );
    assert!(failed.custom_ids().is_empty());
    settle().await;
    assert_eq!(world.channel_posts().len(), 1);
    assert!(
        world.dms().is_empty(),
        "no credentials for an interview that never ran"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_create_says_why_in_discord_and_sends_no_credentials() {
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
    assert!(failed.custom_ids().is_empty());
    settle().await;
    assert!(world.dms().is_empty());
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interviews_not_asked_in_discord_get_no_discord_messages() {
    let world = World::new(1).await;
    let slack_user = Requester {
        platform: Platform::Slack,
        user_id: "U2CERLKJA".into(),
        display_name: "roadrunner".into(),
    };
    let outcome = world
        .prequel()
        .execute_text(
            &prequel_core::access::Actor::member(slack_user.clone()),
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
    assert!(
        world.discord.calls().is_empty(),
        "{:#?}",
        world.discord.calls()
    );
    world.stop().await;
}

/// The inbound handler hands the notifier the command's answer (the interview as recorded);
/// by then the message may already show a later state, and it must not go back in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_copy_never_moves_the_discord_message_back() {
    let world = World::new(1).await;
    let recorded = world.ask("now 30m python").await;
    world.state_is(&recorded, InterviewState::Active).await;
    world
        .call("the status message showing the interview active", |c| {
            c.channel.as_deref() == Some(CHANNEL) && c.content().contains("Active")
        })
        .await;
    let api = Arc::new(client(&world.discord, TOKEN));
    notifier::Notifier::new(world.prequel().clone(), api)
        .status(&recorded)
        .await;
    let edits = world.discord.calls_of("edit_message");
    let last = edits.last().expect("edits");
    assert!(last.content().contains("Active"), "{}", last.content());
    assert_eq!(world.channel_posts().len(), 1);
    world.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The REST client on its own
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_client_answers_interactions_opens_dms_posts_edits_and_registers() {
    let discord = FakeDiscord::start(TOKEN).await;
    let api = client(&discord, TOKEN);
    let hello = render::error_reply("hello");

    api.edit_original_response("itok-1", &hello)
        .await
        .expect("edit original");
    api.create_followup("itok-1", &hello, true)
        .await
        .expect("follow-up");
    assert_eq!(api.open_dm(USER).await.expect("dm"), format!("dm-{USER}"));
    let id = api.create_message(CHANNEL, &hello).await.expect("post");
    api.edit_message(CHANNEL, &id, &hello).await.expect("edit");
    let commands = json!([{ "name": "interview", "description": "Coding interviews", "type": 1 }]);
    api.put_commands(Some(42), &commands).await.expect("guild");
    api.put_commands(None, &commands).await.expect("global");

    let original = &discord.calls_of("edit_original")[0];
    assert_eq!(original.interaction_token.as_deref(), Some("itok-1"));
    assert!(!original.had_authorization, "no bot token to a webhook");
    let followup = &discord.calls_of("followup")[0];
    assert!(followup.ephemeral() && !followup.had_authorization);
    assert_eq!(followup.body, hello.to_json(true));
    let edit = &discord.calls_of("edit_message")[0];
    assert_eq!(edit.message_id.as_deref(), Some(id.as_str()));
    let registered = discord.calls_of("put_commands");
    assert_eq!(registered[0].guild.as_deref(), Some("42"));
    assert_eq!(registered[1].guild, None);
    assert_eq!(registered[0].body, commands);
    assert!(
        discord
            .calls()
            .iter()
            .filter(|c| !matches!(c.route, "edit_original" | "followup"))
            .all(|c| c.authorized)
    );
}

#[tokio::test]
async fn a_wrong_token_is_an_error_that_does_not_contain_the_token() {
    let discord = FakeDiscord::start(TOKEN).await;
    let api = client(&discord, "discord-wrong-token");
    let err = api.open_dm(USER).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "discord refused open a DM: HTTP 401 (code 0)"
    );
    assert!(!format!("{err:?}").contains("wrong-token"));
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_retry_after_says() {
    let discord = FakeDiscord::start(TOKEN).await;
    let api = client(&discord, TOKEN);
    let hello = render::error_reply("hello");
    discord.rate_limit("create_message", 1);
    let started = std::time::Instant::now();
    api.create_message(CHANNEL, &hello)
        .await
        .expect("posted after the wait");
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "waited for retry_after"
    );
    assert_eq!(discord.calls_of("create_message").len(), 2);

    discord.rate_limit("create_message", 10);
    let err = api
        .create_message(CHANNEL, &hello)
        .await
        .expect_err("gives up");
    assert!(err.to_string().contains("rate-limited"), "{err}");
}
