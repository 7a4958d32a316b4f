//! One suite for the outbound half of both chats: the notifier turning the engine's events into
//! one channel status message edited in place, a credentials DM to the requester (and each
//! co-interviewer) only, and a warning DM — once across replicas, and never with a password
//! anywhere but that DM (messages, notes and log lines are checked). Every case runs against the
//! local fake of Slack's Web API and of Discord's REST API, through [`Chat`]: what a platform
//! says differently (method names, DM channels, button ids) is the trait's, what it must do is
//! the case's.
//!
//! The engine runs in process (`testkit::engine`: temp SQLite, recording provisioner, manual
//! clock, scheduler started); two engines on one folder are two replicas.

use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;
use prequel_bot::discord as discord_bot;
use prequel_bot::slack as slack_bot;
use prequel_core::access::Actor;
use prequel_core::clock::ManualClock;
use prequel_core::command::Command;
use prequel_core::domain::SecretString;
use prequel_core::domain::{Interview, InterviewId, InterviewState, Platform, Requester};
use prequel_core::testkit::engine::{self, t0};
use prequel_core::testkit::provisioner::{Behaviour, RecordingProvisioner};
use prequel_core::{Background, Outcome, Prequel};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::discord_fake::FakeDiscord;
use super::slack_fake::FakeSlack;

const PARIS: Tz = chrono_tz::Europe::Paris;

/// What a message call did, in words both platforms share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A new message (`chat.postMessage`, `create_message`).
    Post,
    /// An edit of a message (`chat.update`, `edit_message`).
    Edit,
    /// A DM channel opened (`conversations.open`, `open_dm`).
    OpenDm,
    /// Anything else.
    Other,
}

/// One call the fake recorded, as the suite reads it.
#[derive(Debug, Clone)]
struct Sent {
    kind: Kind,
    channel: Option<String>,
    /// The message's id (Slack's `ts`, Discord's message id).
    message: Option<String>,
    /// For [`Kind::OpenDm`]: with whom.
    dm_with: Option<String>,
    /// Text and blocks / the body, for "does this message contain …".
    content: String,
    /// What a notification shows (Slack's `text`; on Discord, the body).
    text: String,
    /// Everything the call carried, for "the password is nowhere else".
    raw: String,
    /// The ids of its buttons.
    buttons: Vec<String>,
    /// Whether it carried the right bot token.
    authorized: bool,
}

/// A chat platform as the suite drives it: its fake, its notifier, and how it names things.
trait Chat: Sized {
    /// The channel the interviews are asked in.
    const CHANNEL: &'static str;
    /// The note under which the notifier keeps the status message's id.
    const MESSAGE_NOTE: &'static str;
    /// The note under which the inbound handler records the channel.
    const CHANNEL_NOTE: &'static str;
    /// The platform's bot token.
    const TOKEN: &'static str;

    /// Starts the fake.
    async fn start() -> Self;
    /// Starts a notifier for `prequel` against this fake.
    fn spawn_notifier(&self, prequel: Prequel, stop: watch::Receiver<bool>) -> JoinHandle<()>;
    /// Hands `interview` to a fresh notifier, as the inbound handler does after a command.
    async fn show_status(&self, prequel: Prequel, interview: &Interview);
    /// Every call so far.
    fn calls(&self) -> Vec<Sent>;
    /// The person who asks, on this platform.
    fn requester() -> Requester;
    /// A co-interviewer's user id, and how a message names them in `with`.
    fn co_interviewer() -> (&'static str, &'static str);
    /// Someone on another platform.
    fn outsider() -> Requester;
    /// The DM channel the fake gives for a user.
    fn dm_channel(user_id: &str) -> String;
    /// Whether a channel is a DM.
    fn is_dm(channel: &str) -> bool;
    /// The id of the Extend button for an interview.
    fn extend_button(interview: &InterviewId) -> String;
}

impl Chat for FakeSlack {
    const CHANNEL: &'static str = "C0INTERVIEWS";
    const MESSAGE_NOTE: &'static str = slack_bot::notifier::MESSAGE_TS_NOTE;
    const CHANNEL_NOTE: &'static str = slack_bot::notifier::CHANNEL_NOTE;
    const TOKEN: &'static str = "xoxb-test-bot-token";

    async fn start() -> Self {
        FakeSlack::start(Self::TOKEN).await
    }

    fn spawn_notifier(&self, prequel: Prequel, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        slack_bot::notifier::spawn(prequel, Arc::new(slack_client(self)), stop)
    }

    async fn show_status(&self, prequel: Prequel, interview: &Interview) {
        slack_bot::notifier::Notifier::new(prequel, Arc::new(slack_client(self)))
            .status(interview)
            .await;
    }

    fn calls(&self) -> Vec<Sent> {
        FakeSlack::calls(self)
            .into_iter()
            .map(|call| Sent {
                kind: match call.method.as_str() {
                    "chat.postMessage" => Kind::Post,
                    "chat.update" => Kind::Edit,
                    "conversations.open" => Kind::OpenDm,
                    _ => Kind::Other,
                },
                channel: call.channel.clone(),
                message: call.ts.clone(),
                dm_with: call.user.clone(),
                content: call.content(),
                text: call.text.clone().unwrap_or_default(),
                raw: format!("{}\n{}", call.content(), call.params),
                buttons: call.action_ids(),
                authorized: call.authorized,
            })
            .collect()
    }

    fn requester() -> Requester {
        Requester {
            platform: Platform::Slack,
            user_id: "U2CERLKJA".into(),
            display_name: "roadrunner".into(),
        }
    }

    fn co_interviewer() -> (&'static str, &'static str) {
        ("U0CAROL", "<@U0CAROL|carol>")
    }

    fn outsider() -> Requester {
        Requester {
            platform: Platform::Cli,
            user_id: "ana".into(),
            display_name: "Ana".into(),
        }
    }

    fn dm_channel(user_id: &str) -> String {
        // The fake's DM channel for `U…` is `D…`.
        format!("D{}", &user_id[1..])
    }

    fn is_dm(channel: &str) -> bool {
        channel.starts_with('D')
    }

    fn extend_button(_: &InterviewId) -> String {
        slack_bot::render::EXTEND_ACTION.to_owned()
    }
}

fn slack_client(fake: &FakeSlack) -> slack_bot::api::SlackApi {
    slack_bot::api::SlackApi::new(
        SecretString::new(FakeSlack::TOKEN),
        fake.api_url().parse().expect("url"),
    )
    .expect("slack client")
}

impl Chat for FakeDiscord {
    const CHANNEL: &'static str = "1100000000000000777";
    const MESSAGE_NOTE: &'static str = discord_bot::notifier::MESSAGE_ID_NOTE;
    const CHANNEL_NOTE: &'static str = discord_bot::notifier::CHANNEL_NOTE;
    const TOKEN: &'static str = "discord-test-bot-token";

    async fn start() -> Self {
        FakeDiscord::start(Self::TOKEN).await
    }

    fn spawn_notifier(&self, prequel: Prequel, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        discord_bot::notifier::spawn(prequel, Arc::new(discord_client(self)), stop)
    }

    async fn show_status(&self, prequel: Prequel, interview: &Interview) {
        discord_bot::notifier::Notifier::new(prequel, Arc::new(discord_client(self)))
            .status(interview)
            .await;
    }

    fn calls(&self) -> Vec<Sent> {
        FakeDiscord::calls(self)
            .into_iter()
            .map(|call| Sent {
                kind: match call.route {
                    "create_message" => Kind::Post,
                    "edit_message" => Kind::Edit,
                    "open_dm" => Kind::OpenDm,
                    _ => Kind::Other,
                },
                channel: call.channel.clone(),
                message: call.message_id.clone(),
                dm_with: call.body["recipient_id"].as_str().map(str::to_owned),
                content: call.content(),
                text: call.content(),
                raw: call.content(),
                buttons: call.custom_ids(),
                authorized: call.authorized,
            })
            .collect()
    }

    fn requester() -> Requester {
        Requester {
            platform: Platform::Discord,
            user_id: "80351110224678912".into(),
            display_name: "nelly".into(),
        }
    }

    fn co_interviewer() -> (&'static str, &'static str) {
        ("1500000000000000005", "<@1500000000000000005>")
    }

    fn outsider() -> Requester {
        Requester {
            platform: Platform::Slack,
            user_id: "U2CERLKJA".into(),
            display_name: "roadrunner".into(),
        }
    }

    fn dm_channel(user_id: &str) -> String {
        format!("dm-{user_id}")
    }

    fn is_dm(channel: &str) -> bool {
        channel.starts_with("dm-")
    }

    fn extend_button(interview: &InterviewId) -> String {
        format!("{}:{interview}", discord_bot::render::EXTEND_ACTION)
    }
}

fn discord_client(fake: &FakeDiscord) -> discord_bot::api::DiscordApi {
    discord_bot::api::DiscordApi::new(
        SecretString::new(FakeDiscord::TOKEN),
        1_100_000_000_000_000_001,
        fake.api_url().parse().expect("url"),
    )
    .expect("discord client")
}

// ---------------------------------------------------------------------------------------------
// The world: one engine folder, a manual clock, a recording provisioner, N replicas, one fake.
// ---------------------------------------------------------------------------------------------

struct Replica {
    prequel: Prequel,
    background: Background,
    notifier: JoinHandle<()>,
}

struct World<C: Chat> {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    provisioner: RecordingProvisioner,
    chat: C,
    replicas: Vec<Replica>,
    stop: watch::Sender<bool>,
}

impl<C: Chat> World<C> {
    async fn new(replicas: usize) -> Self {
        super::support::captured_log();
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(t0());
        let provisioner = RecordingProvisioner::new(Arc::new(clock.clone()));
        let chat = C::start().await;
        let stop = watch::Sender::new(false);
        let mut started = Vec::new();
        for _ in 0..replicas {
            let prequel = engine::in_dir(dir.path())
                .challenges(&["python"])
                .clock(clock.clone())
                .provisioner(provisioner.clone())
                .build()
                .prequel;
            let background = prequel.start(stop.subscribe()).await.expect("start");
            let notifier = chat.spawn_notifier(prequel.clone(), stop.subscribe());
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
            chat,
            replicas: started,
            stop,
        }
    }

    fn prequel(&self) -> &Prequel {
        &self.replicas[0].prequel
    }

    /// What the inbound handler does for `/interview <words>` in the channel: execute, then
    /// note the channel.
    async fn ask(&self, words: &str) -> Interview {
        let prequel = self.prequel();
        let interview = match prequel
            .execute_text(&Actor::member(C::requester()), words, PARIS)
            .await
        {
            Ok(Outcome::Created { interview, .. } | Outcome::Scheduled(interview)) => interview,
            other => panic!("`{words}` did not record an interview: {other:?}"),
        };
        assert!(
            prequel
                .put_note(&interview.id, C::CHANNEL_NOTE, C::CHANNEL, false)
                .await
                .expect("note the channel")
        );
        interview
    }

    async fn password(&self, interview: &Interview) -> SecretString {
        match self
            .prequel()
            .execute(
                &Actor::member(C::requester()),
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

    /// Waits until some call matches.
    async fn call(&self, what: &str, matches: impl Fn(&Sent) -> bool) -> Sent {
        wait_for(what, || async {
            self.chat.calls().into_iter().find(|c| matches(c))
        })
        .await
    }

    fn of_kind(&self, kind: Kind) -> Vec<Sent> {
        self.chat
            .calls()
            .into_iter()
            .filter(|c| c.kind == kind)
            .collect()
    }

    fn channel_posts(&self) -> Vec<Sent> {
        self.of_kind(Kind::Post)
            .into_iter()
            .filter(|c| c.channel.as_deref() == Some(C::CHANNEL))
            .collect()
    }

    fn dms(&self) -> Vec<Sent> {
        self.of_kind(Kind::Post)
            .into_iter()
            .filter(|c| c.channel.as_deref().is_some_and(C::is_dm))
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

// ---------------------------------------------------------------------------------------------
// The cases, each run for both platforms (the macro at the end).
// ---------------------------------------------------------------------------------------------

/// `now 30m python`, all the way: the status message posted once and edited in place through
/// the states, the credentials DM once to the requester, the warning DM once with an Extend
/// button, the destroy shown — and the password only ever in the credentials DM.
async fn an_interview_from_start_to_end<C: Chat>(replicas: usize) {
    let world = World::<C>::new(replicas).await;
    let requester = C::requester();
    let interview = world.ask("now 30m python for Ada").await;
    let active = world.state_is(&interview, InterviewState::Active).await;
    let url = active
        .access_url
        .clone()
        .expect("an active interview has a URL");
    let password = world.password(&interview).await;

    let dm = world
        .call("the credentials DM", |c| {
            c.kind == Kind::Post && c.content.contains(password.expose())
        })
        .await;
    let requester_dm = C::dm_channel(&requester.user_id);
    assert_eq!(
        dm.channel.as_deref(),
        Some(requester_dm.as_str()),
        "a DM to the requester"
    );
    assert!(
        dm.text.contains(&url) && dm.text.contains(password.expose()),
        "{}",
        dm.text
    );
    let opened = world.of_kind(Kind::OpenDm);
    assert!(
        !opened.is_empty()
            && opened
                .iter()
                .all(|c| c.dm_with.as_deref() == Some(requester.user_id.as_str())),
        "DMs are opened with the requester only: {opened:?}"
    );

    world
        .call("the status message showing the interview active", |c| {
            c.channel.as_deref() == Some(C::CHANNEL) && c.content.contains("Active")
        })
        .await;

    // Ten minutes before the end: one warning DM with an Extend button.
    world.clock.advance(chrono::Duration::minutes(21));
    let warning = world
        .call("the warning DM", |c| {
            c.kind == Kind::Post && c.content.contains("10 minutes left")
        })
        .await;
    assert_eq!(warning.channel, dm.channel);
    assert_eq!(warning.buttons, vec![C::extend_button(&interview.id)]);

    // Destroyed on request: the message shows it, without buttons.
    world
        .prequel()
        .execute(
            &Actor::member(requester.clone()),
            Command::Destroy(interview.id.clone()),
        )
        .await
        .expect("destroy");
    world.state_is(&interview, InterviewState::Destroyed).await;
    let last = world
        .call("the status message showing the interview finished", |c| {
            c.kind == Kind::Edit && c.content.contains("Finished")
        })
        .await;
    assert!(last.buttons.is_empty(), "no buttons once it is over");
    settle().await;

    // Exactly one channel post, every edit of that same message, one DM of each kind.
    let posts = world.channel_posts();
    assert_eq!(
        posts.len(),
        1,
        "one status message per interview: {posts:#?}"
    );
    let message = posts[0].message.clone().expect("the post's id");
    let edits = world.of_kind(Kind::Edit);
    assert!(
        edits.len() >= 2,
        "the message was edited as the state changed: {edits:#?}"
    );
    for edit in &edits {
        assert_eq!(edit.channel.as_deref(), Some(C::CHANNEL));
        assert_eq!(
            edit.message.as_deref(),
            Some(message.as_str()),
            "edited in place"
        );
    }
    let dms = world.dms();
    assert_eq!(
        dms.iter()
            .filter(|c| c.content.contains(password.expose()))
            .count(),
        1,
        "one credentials DM: {dms:#?}"
    );
    assert_eq!(
        dms.iter()
            .filter(|c| c.content.contains("10 minutes left"))
            .count(),
        1,
        "one warning DM: {dms:#?}"
    );

    // The password appears in that one DM and nowhere else: not in a channel message, an
    // edit, any other call, the store's notes or a log line.
    for call in world.chat.calls() {
        assert!(
            call.authorized,
            "every call carried the bot token: {call:?}"
        );
        if (&call.message, &call.channel) != (&dm.message, &dm.channel) {
            assert!(
                !call.raw.contains(password.expose()),
                "the password leaked in {call:#?}"
            );
        }
    }
    let notes = world.prequel().notes(&interview.id).await.expect("notes");
    assert!(notes.values().all(|v| !v.contains(password.expose())));
    assert_eq!(notes.get(C::MESSAGE_NOTE), Some(&message));
    super::support::assert_not_logged(password.expose());
    world.stop().await;
}

/// A co-interviewer named with `with` gets what the requester gets, each by their own DM: the
/// credentials once the instance is ready, and the warning. Nobody else is written to.
async fn a_co_interviewer_gets_the_credentials_and_the_warning_by_dm_too<C: Chat>() {
    let world = World::<C>::new(1).await;
    let (carol, mention) = C::co_interviewer();
    let interview = world
        .ask(&format!("now 30m python with {mention} for Ada"))
        .await;
    world.state_is(&interview, InterviewState::Active).await;
    let password = world.password(&interview).await;
    let requester = C::requester().user_id;
    let channels = [C::dm_channel(&requester), C::dm_channel(carol)];
    for channel in &channels {
        world
            .call(&format!("the credentials DM in {channel}"), |c| {
                c.kind == Kind::Post
                    && c.channel.as_deref() == Some(channel)
                    && c.content.contains(password.expose())
            })
            .await;
    }
    world.clock.advance(chrono::Duration::minutes(21));
    for channel in &channels {
        world
            .call(&format!("the warning DM in {channel}"), |c| {
                c.channel.as_deref() == Some(channel) && c.content.contains("10 minutes left")
            })
            .await;
    }
    settle().await;
    let mut opened: Vec<String> = world
        .of_kind(Kind::OpenDm)
        .into_iter()
        .filter_map(|c| c.dm_with)
        .collect();
    opened.sort();
    opened.dedup();
    let mut expected = vec![carol.to_owned(), requester];
    expected.sort();
    assert_eq!(opened, expected, "DMs to the two of them only");
    let credentials = world
        .dms()
        .into_iter()
        .filter(|c| c.content.contains(password.expose()))
        .count();
    assert_eq!(credentials, 2, "one credentials DM each");
    world.stop().await;
}

async fn a_missed_start_is_explained_in_words_in_the_channel_message<C: Chat>() {
    let world = World::<C>::new(2).await;
    let interview = world.ask("schedule 2pm 30m python").await;
    world
        .call("the scheduled status message", |c| {
            c.channel.as_deref() == Some(C::CHANNEL) && c.content.contains("Scheduled")
        })
        .await;
    // Prequel "was not running" past the start and its grace period: 17 minutes after the
    // start, past the 15-minute grace, before the end.
    world.clock.advance(chrono::Duration::minutes(3 * 60 + 17));
    world.state_is(&interview, InterviewState::Failed).await;
    let failed = world
        .call("the failure in the channel message", |c| {
            c.kind == Kind::Edit && c.content.contains("Failed")
        })
        .await;
    assert!(
        failed.content.contains(
            "The start time passed while Prequel was not running, so the interview was not started."
        ),
        "{}",
        failed.content
    );
    assert!(failed.buttons.is_empty());
    settle().await;
    assert_eq!(world.channel_posts().len(), 1);
    assert!(
        world.dms().is_empty(),
        "no credentials for an interview that never ran"
    );
    world.stop().await;
}

async fn a_failed_create_says_why_and_sends_no_credentials<C: Chat>() {
    let world = World::<C>::new(1).await;
    world.provisioner.set_behaviour(Behaviour::RejectCreates);
    let interview = world.ask("now 30m python").await;
    world.state_is(&interview, InterviewState::Failed).await;
    let failed = world
        .call("the failure in the channel message", |c| {
            c.channel.as_deref() == Some(C::CHANNEL)
                && c.content.contains("Prequel could not set up the instance")
        })
        .await;
    assert!(failed.buttons.is_empty());
    settle().await;
    assert!(world.dms().is_empty());
    world.stop().await;
}

async fn interviews_asked_elsewhere_get_no_messages<C: Chat>() {
    let world = World::<C>::new(1).await;
    let outcome = world
        .prequel()
        .execute_text(&Actor::member(C::outsider()), "now 30m python", PARIS)
        .await
        .expect("recorded");
    let Outcome::Created { interview, .. } = outcome else {
        panic!("not created: {outcome:?}");
    };
    world.state_is(&interview, InterviewState::Active).await;
    settle().await;
    assert!(world.chat.calls().is_empty(), "{:#?}", world.chat.calls());
    world.stop().await;
}

/// The inbound handler hands the notifier the command's answer (the interview as recorded);
/// by then the message may already show a later state, and it must not go back in time.
async fn a_stale_copy_of_the_interview_never_moves_the_status_message_back<C: Chat>() {
    let world = World::<C>::new(1).await;
    let recorded = world.ask("now 30m python").await;
    world.state_is(&recorded, InterviewState::Active).await;
    world
        .call("the status message showing the interview active", |c| {
            c.channel.as_deref() == Some(C::CHANNEL) && c.content.contains("Active")
        })
        .await;
    world
        .chat
        .show_status(world.prequel().clone(), &recorded)
        .await;
    let edits = world.of_kind(Kind::Edit);
    let last = edits.last().expect("edits");
    assert!(last.content.contains("Active"), "{}", last.content);
    assert_eq!(world.channel_posts().len(), 1);
    world.stop().await;
}

/// Every case, once per platform: `chat_outbound::slack::…` and `chat_outbound::discord::…`.
macro_rules! for_each_platform {
    ($($platform:ident: $fake:ty),+) => {$(
        mod $platform {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn an_interview_gets_one_status_message_edited_in_place_and_credentials_by_dm() {
                an_interview_from_start_to_end::<$fake>(1).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn two_replicas_still_post_one_status_message_and_one_dm_of_each_kind() {
                an_interview_from_start_to_end::<$fake>(2).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_co_interviewer_gets_the_credentials_and_the_warning_by_dm_too() {
                super::a_co_interviewer_gets_the_credentials_and_the_warning_by_dm_too::<$fake>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_missed_start_is_explained_in_words_in_the_channel_message() {
                super::a_missed_start_is_explained_in_words_in_the_channel_message::<$fake>()
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_failed_create_says_why_and_sends_no_credentials() {
                super::a_failed_create_says_why_and_sends_no_credentials::<$fake>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn interviews_asked_elsewhere_get_no_messages() {
                super::interviews_asked_elsewhere_get_no_messages::<$fake>().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn a_stale_copy_of_the_interview_never_moves_the_status_message_back() {
                super::a_stale_copy_of_the_interview_never_moves_the_status_message_back::<$fake>()
                    .await;
            }
        }
    )+};
}

for_each_platform!(slack: FakeSlack, discord: FakeDiscord);
