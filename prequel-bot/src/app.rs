//! The whole application on one listener, as `prequel serve` runs it: the engine's background
//! work (scheduler, change follower), the JSON API and status page, and the chat frontends that
//! are configured. The binary builds the engine from its settings and hands it here; tests and
//! benchmarks hand in an engine of their own (a recording provisioner, a manual clock) and run
//! the same app in-process on port 0 with [`App::spawn`].
//!
//! Shutdown, in order: stop accepting, end open event streams (or the graceful shutdown would
//! wait for clients that never hang up), let open requests finish for at most
//! [`HTTP_SHUTDOWN_GRACE`], then stop the engine's tasks, waiting at most [`SHUTDOWN_GRACE`].
//! Running instances are left up: the next start adopts them.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use chrono_tz::Tz;
use prequel_core::domain::SecretString;
use prequel_core::{Background, Prequel};
use prequel_web::{ApiState, WebConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::discord::DiscordConfig;
use crate::slack::SlackConfig;

/// How long open HTTP connections get to finish after the shutdown signal.
pub const HTTP_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long the scheduler gets to finish its current work at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// What the app serves besides the engine.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The key to the JSON API.
    pub admin_token: SecretString,
    /// The zone commands are read in when nothing says otherwise.
    pub zone: Tz,
    /// Timings and switches of the web surface.
    pub web: WebConfig,
    /// Slack, when it is on.
    pub slack: Option<SlackConfig>,
    /// Discord and the zone its commands are read in (Discord tells no user's zone), when on.
    pub discord: Option<(DiscordConfig, Tz)>,
}

/// A started app: the engine's tasks and the frontends run; [`App::serve`] answers requests.
#[derive(Debug)]
pub struct App {
    router: Router,
    background: Background,
    stop: watch::Sender<bool>,
    web_stop: watch::Sender<bool>,
}

impl App {
    /// Starts the engine's background work and the configured frontends, and builds the router.
    /// Bind the listener first: a second server on a taken port then stops before its scheduler
    /// or start-up sweep could touch the first one's instances.
    pub async fn start(prequel: Prequel, config: AppConfig) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let background = prequel
            .start(stopped)
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the scheduler: {e}"))?;
        let (web_stop, web_stopped) = watch::channel(false);
        let mut router = prequel_web::router(
            ApiState::new(prequel.clone(), config.admin_token, config.zone)
                .with_shutdown(web_stopped.clone())
                .with_config(config.web),
        );
        // Every frontend's routes on the same listener and port as the API: one public HTTPS
        // endpoint serves them all.
        if let Some((discord, zone)) = config.discord {
            let routes = crate::discord::start(prequel.clone(), discord, zone, web_stopped.clone())
                .context("cannot start the discord frontend")?;
            router = router.merge(routes.unwrap_or_default());
        }
        if let Some(slack) = config.slack {
            let routes = crate::slack::start(prequel, slack, config.zone, web_stopped)
                .context("cannot start the slack frontend")?;
            router = router.merge(routes.unwrap_or_default());
        }
        Ok(Self {
            router,
            background,
            stop,
            web_stop,
        })
    }

    /// Serves on `listener` until `shutdown` completes, then shuts down (see the module
    /// documentation). The peer's address goes along, so the status page can tell loopback
    /// requests apart.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            router,
            background,
            stop,
            web_stop,
        } = self;
        let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = web_stop.send(true);
            let _ = signalled.send(());
        });
        // A client that stopped reading keeps its connection (and an event stream that cannot
        // see the shutdown) open forever; after the grace, stop without it.
        let overdue = async {
            if on_signal.await.is_ok() {
                tokio::time::sleep(HTTP_SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = server.into_future() => served.context("the HTTP server failed")?,
            () = overdue => tracing::warn!(
                "open connections did not close within {HTTP_SHUTDOWN_GRACE:?}; stopping anyway"
            ),
        }
        tracing::info!(
            "shutting down; running instances stay up and are adopted at the next start"
        );
        let _ = stop.send(true);
        if tokio::time::timeout(SHUTDOWN_GRACE, background.join())
            .await
            .is_err()
        {
            tracing::warn!("the scheduler did not stop within {SHUTDOWN_GRACE:?}; leaving it");
        }
        Ok(())
    }

    /// Starts the app on `127.0.0.1:0` in this process, for tests and benchmarks: the same
    /// routes, frontends and background work as `prequel serve`, on a port of its own.
    pub async fn spawn(prequel: Prequel, config: AppConfig) -> anyhow::Result<Running> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen on 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let app = Self::start(prequel, config).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(Running {
            addr,
            stop: Some(stop),
            task,
        })
    }
}

/// An app served in-process by [`App::spawn`]. [`Running::stop`] shuts it down gracefully;
/// dropping it starts the same shutdown without waiting for it.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts the app down and waits until it has.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.context("the app's task failed")?
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
