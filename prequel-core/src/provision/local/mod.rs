//! The local provisioner: one code-server per interview on this machine, each in a sandbox.
//!
//! [`LocalProvisioner`] keeps everything under a data folder:
//!
//! ```text
//! data_dir/instances/<interview id>/   0700, removed at destroy
//!     instance.json                    pid, port, checksum, started_at, ready, sandbox (uid, network)
//!     code-server.log                  stdout and stderr of the instance
//!     gateway.lock                     held by the serve process that serves its port
//!     workspace/                       the starter files, then the candidate's work
//!     home/                            the candidate's home; code-server's user data inside
//!     run/                             code-server's socket
//!     etc/                             passwd, group, hosts, code-server.yaml (an argon2 hash)
//!     egress/                          the egress proxy's socket (internet challenges)
//! data_dir/history/<interview id>.tar.gz   the archived workspace, kept after destroy
//! ```
//!
//! Each instance runs in a sandbox (`sandbox/`): namespaces, a uid and a cgroup of its own,
//! no network; `serve` passes its URL's connections to code-server's socket (`gateway.rs`).
//! Destroy freezes the sandbox, archives the workspace without trusting anything in it
//! (`archive.rs`), then kills the cgroup whole. If the sandbox cannot be made on this host,
//! [`LocalProvisioner::new`] refuses to open, naming what is missing.
//!
//! Without the sandbox (`LocalConfig::sandbox = None`, `--sandbox off`), code-server runs as
//! this process's user on a port of its own (`unconfined.rs`): isolation between interviews'
//! folders only, nothing a candidate with a shell cannot undo.
//!
//! The record makes every call idempotent by interview id and lets a restarted `prequel serve`
//! adopt the instances a previous process started. code-server itself comes from
//! `./scripts/install-code-server`; [`find_code_server`] finds it.

mod archive;
mod egress;
mod files;
mod gateway;
mod process;
mod sandbox;
mod sandboxed;
mod unconfined;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use tracing::instrument;

pub use archive::{ArchiveLimits, NOTES_FILE};
pub use files::{InstanceRecord, SandboxRecord};
pub use gateway::RESCAN;
pub use sandbox::{
    CANDIDATE_UID, CANDIDATE_USER, DEFAULT_CLAIMS_DIR, DEFAULT_UIDS, Limits, SandboxConfig,
    SandboxUnavailable, cgroup_key,
};

use self::archive::{ArchiveSummary, archive_workspace};
use self::files::{InstancePaths, read_record};
use self::gateway::Gateway;
use self::sandbox::Sandbox;
use crate::challenge::{ChallengeError, ChallengeSource};
use crate::domain::{InterviewId, InterviewState};
use crate::provision::{
    Destroyed, Instance, InstanceSpec, InstanceStatus, Progress, ProvisionError, Provisioner,
};

/// The environment variable every process of an instance without the sandbox carries, set to
/// the instance folder. Destroy stops every process that has it, wherever it went (another
/// session, another process group, reparented to init).
pub const INSTANCE_ENV: &str = "PREQUEL_INSTANCE_DIR";

/// The command that installs code-server where [`find_code_server`] looks last.
pub const INSTALL_SCRIPT: &str = "./scripts/install-code-server";

/// Where code-server is, relative to the data folder, once the install script put it there.
const INSTALLED_RELATIVE: &str = "tools/code-server/node_modules/.bin/code-server";

/// How many ports are tried when another process takes the chosen port before code-server
/// binds it.
const PORT_ATTEMPTS: u32 = 3;

/// How often a starting instance is asked whether it is ready. A `/healthz` request on loopback
/// costs well under a millisecond, and every poll interval is added, on average half of it, to
/// the time an interviewer waits (the benchmark measured 100 ms costing ≈ 50 ms per start).
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Settings of the local provisioner.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Instances go under `data_dir/instances/<id>`, archives under `data_dir/history`.
    pub data_dir: PathBuf,
    /// The code-server executable (see [`find_code_server`]).
    pub code_server: PathBuf,
    /// The address instances listen on. Default `127.0.0.1`: reachable from this machine only;
    /// put a proxy in front, or bind a public address deliberately.
    pub bind: IpAddr,
    /// The host in the access URL. Default: the bind address.
    pub public_host: Option<String>,
    /// How long a start may take before it fails (retryably). Default 60 s.
    pub start_timeout: Duration,
    /// How long processes get after SIGTERM before SIGKILL (without the sandbox; a sandbox's
    /// processes are killed at once, after their work is archived). Default 10 s.
    pub stop_timeout: Duration,
    /// The sandbox every instance runs in (on by default). `None` runs code-server as this
    /// process's own user with nothing between the candidate and the server's files: only for
    /// people the server's owner trusts with them.
    pub sandbox: Option<SandboxConfig>,
    /// The caps on an archive of the candidate's work.
    pub archive: ArchiveLimits,
}

impl LocalConfig {
    /// The defaults, with the two paths that have none.
    pub fn new(data_dir: impl Into<PathBuf>, code_server: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            code_server: code_server.into(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            public_host: None,
            start_timeout: Duration::from_secs(60),
            stop_timeout: Duration::from_secs(10),
            sandbox: Some(SandboxConfig::default()),
            archive: ArchiveLimits::default(),
        }
    }
}

/// code-server was not found. The message names every place looked at and the command that
/// installs it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "code-server not found (looked at: {}); install it with `{install_command}`",
    looked.join("; ")
)]
pub struct CodeServerMissing {
    /// The places looked at, in order, in words.
    pub looked: Vec<String>,
    /// The command that installs code-server where it will be found.
    pub install_command: String,
}

/// Finds the code-server executable: the configured path if one is given (an error if it is
/// not an executable: a wrong setting is reported, not papered over), else `code-server` on
/// `PATH`, else `data_dir/tools/code-server/node_modules/.bin/code-server`, where
/// [`INSTALL_SCRIPT`] installs it.
pub fn find_code_server(
    configured: Option<&Path>,
    data_dir: &Path,
) -> Result<PathBuf, CodeServerMissing> {
    let install_dir = data_dir.join("tools/code-server");
    // The script's default folder is `./.prequel/tools/code-server`; name the folder only when
    // the data folder is another one.
    let install_command =
        if data_dir == Path::new(".prequel") || data_dir == Path::new("./.prequel") {
            INSTALL_SCRIPT.to_owned()
        } else {
            format!("{INSTALL_SCRIPT} {}", install_dir.display())
        };
    if let Some(path) = configured {
        if is_executable(path) {
            return Ok(path.to_owned());
        }
        return Err(CodeServerMissing {
            looked: vec![format!("{} (configured)", path.display())],
            install_command,
        });
    }
    let mut looked = Vec::new();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("code-server");
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    looked.push("`code-server` on PATH".to_owned());
    let installed = data_dir.join(INSTALLED_RELATIVE);
    if is_executable(&installed) {
        return Ok(installed);
    }
    looked.push(installed.display().to_string());
    Err(CodeServerMissing {
        looked,
        install_command,
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs interviews as code-server processes on this machine. See the [module](self) docs.
pub struct LocalProvisioner {
    config: LocalConfig,
    challenges: Arc<dyn ChallengeSource>,
    /// One lock per interview, so a create and a destroy of the same interview in this process
    /// take turns (the scheduler never runs both at once, but a retried claim may overlap a
    /// slow first attempt). Weak: an entry lives only while someone holds or waits for it.
    turns: Mutex<HashMap<InterviewId, Weak<tokio::sync::Mutex<()>>>>,
    /// How instances are run: in a sandbox (with the gateway to their sockets), or not.
    runtime: Runtime,
}

/// How this provisioner runs instances.
enum Runtime {
    Sandboxed {
        sandbox: Arc<Sandbox>,
        gateway: Gateway,
    },
    Unconfined,
}

impl fmt::Debug for LocalProvisioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalProvisioner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LocalProvisioner {
    /// A provisioner keeping its instances under `config.data_dir` (created if missing). Fails
    /// if the folders cannot be created, `config.code_server` is not an executable, or the
    /// sandbox is asked for and cannot be made here (the message names what is missing and how
    /// to fix it).
    pub fn new(
        mut config: LocalConfig,
        challenges: Arc<dyn ChallengeSource>,
    ) -> Result<Self, ProvisionError> {
        if !is_executable(&config.code_server) {
            return Err(ProvisionError::permanent(format!(
                "code-server is not an executable at {}; install it with `{INSTALL_SCRIPT}`",
                config.code_server.display()
            )));
        }
        for dir in ["instances", "history"] {
            std::fs::create_dir_all(config.data_dir.join(dir)).map_err(|err| {
                ProvisionError::permanent(format!(
                    "cannot create {}: {err}",
                    config.data_dir.join(dir).display()
                ))
            })?;
        }
        // Absolute, resolved paths: they are matched against /proc/<pid>/cmdline and environ,
        // and code-server runs in the workspace folder, where a relative path means another
        // file.
        config.data_dir = std::fs::canonicalize(&config.data_dir).map_err(|err| {
            ProvisionError::permanent(format!("cannot resolve the data folder: {err}"))
        })?;
        config.code_server = std::path::absolute(&config.code_server).map_err(|err| {
            ProvisionError::permanent(format!("cannot resolve the code-server path: {err}"))
        })?;
        let runtime = match &config.sandbox {
            Some(sandbox) => {
                let sandbox = Sandbox::probe(sandbox.clone(), &config.data_dir)
                    .map_err(|err| ProvisionError::permanent(err.to_string()))?;
                tracing::info!("{}", sandbox.describe());
                let sandbox = Arc::new(sandbox);
                let gateway = Gateway::new(
                    config.data_dir.join("instances"),
                    config.bind,
                    sandbox.clone(),
                );
                Runtime::Sandboxed { sandbox, gateway }
            }
            None => Runtime::Unconfined,
        };
        let provisioner = Self {
            config,
            challenges,
            turns: Mutex::default(),
            runtime,
        };
        provisioner.ensure_gateway();
        Ok(provisioner)
    }

    /// Whether instances run in the sandbox.
    pub fn sandboxed(&self) -> bool {
        matches!(self.runtime, Runtime::Sandboxed { .. })
    }

    /// The processes (host pids) of an instance's sandbox, from its cgroup: what teardown kills.
    /// Empty without the sandbox or when none runs.
    pub fn sandbox_pids(&self, interview: &InterviewId) -> Vec<u32> {
        match &self.runtime {
            Runtime::Sandboxed { sandbox, .. } => sandbox.group(interview.as_str()).pids(),
            Runtime::Unconfined => Vec::new(),
        }
    }

    /// An instance sandbox's memory use in bytes (its cgroup's count: processes, page cache,
    /// `/tmp`), when it runs in one.
    pub fn sandbox_memory(&self, interview: &InterviewId) -> Option<u64> {
        match &self.runtime {
            Runtime::Sandboxed { sandbox, .. } => sandbox.group(interview.as_str()).memory_bytes(),
            Runtime::Unconfined => None,
        }
    }

    /// Starts serving the ports of running instances (at once, and again every [`RESCAN`]),
    /// when called on a tokio runtime; every provisioner call does this too.
    pub fn ensure_gateway(&self) {
        if let Runtime::Sandboxed { gateway, .. } = &self.runtime {
            gateway.ensure_supervisor();
        }
    }

    /// The settings in force (with the data folder resolved to an absolute path).
    pub fn config(&self) -> &LocalConfig {
        &self.config
    }

    /// The instance folder of an interview (it exists only while the instance does).
    pub fn instance_dir(&self, interview: &InterviewId) -> PathBuf {
        self.config
            .data_dir
            .join("instances")
            .join(interview.as_str())
    }

    /// The candidate's workspace inside the instance folder.
    pub fn workspace_dir(&self, interview: &InterviewId) -> PathBuf {
        self.paths(interview).workspace
    }

    /// Where destroy archives an interview's workspace.
    pub fn archive_path(&self, interview: &InterviewId) -> PathBuf {
        self.config
            .data_dir
            .join("history")
            .join(format!("{interview}.tar.gz"))
    }

    /// Where destroy keeps the instance's own log (code-server's output, the end of it), beside
    /// the archive: what an operator reads when an instance misbehaved.
    pub fn log_path(&self, interview: &InterviewId) -> PathBuf {
        self.config
            .data_dir
            .join("history")
            .join(format!("{interview}.log"))
    }

    /// The interview's instance record, if its instance exists and has one.
    pub async fn record(
        &self,
        interview: &InterviewId,
    ) -> Result<Option<InstanceRecord>, ProvisionError> {
        let paths = self.paths(interview);
        blocking("reading the instance record", move || {
            read_record(&paths).map_err(|err| io_transient("cannot read the instance record", &err))
        })
        .await
    }

    fn paths(&self, interview: &InterviewId) -> InstancePaths {
        InstancePaths::new(self.instance_dir(interview))
    }

    fn access_url(&self, port: u16) -> String {
        let host = match &self.config.public_host {
            Some(host) => host.clone(),
            None => match self.config.bind {
                IpAddr::V6(ip) => format!("[{ip}]"),
                IpAddr::V4(ip) => ip.to_string(),
            },
        };
        format!("http://{host}:{port}/")
    }

    fn instance(&self, record: &InstanceRecord) -> Instance {
        Instance {
            access_url: self.access_url(record.port),
            challenge_checksum: Some(record.checksum.clone()),
        }
    }

    /// Waits for this interview's turn (see `turns`).
    async fn turn(&self, interview: &InterviewId) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut turns = self
                .turns
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            turns.retain(|_, weak| weak.strong_count() > 0);
            match turns.get(interview).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    turns.insert(interview.clone(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }
}

/// What an existing instance folder holds.
enum Found {
    Nothing,
    /// A finished create whose code-server runs and answers.
    Ready(InstanceRecord),
    /// Something that must be cleaned up first; why, in words.
    Stale(String),
}

impl LocalProvisioner {
    /// What exists for an interview, looked at from the files, the processes and the socket.
    async fn inspect(&self, paths: &InstancePaths) -> Result<Found, ProvisionError> {
        match &self.runtime {
            Runtime::Sandboxed { sandbox, gateway } => {
                self.inspect_sandboxed(sandbox, gateway, paths).await
            }
            Runtime::Unconfined => self.inspect_unconfined(paths).await,
        }
    }

    /// Stops every process of the instance and removes its folder; says what it did.
    async fn teardown(
        &self,
        interview: &InterviewId,
        paths: &InstancePaths,
    ) -> Result<String, ProvisionError> {
        match &self.runtime {
            Runtime::Sandboxed { sandbox, gateway } => {
                self.teardown_sandboxed(sandbox, gateway, interview, paths, true)
                    .await
            }
            Runtime::Unconfined => self.teardown_unconfined(paths, true).await,
        }
    }

    /// Stops every process of the instance, keeping its folder (the work in it could not be
    /// archived and waits for the next attempt).
    async fn stop_processes(
        &self,
        interview: &InterviewId,
        paths: &InstancePaths,
    ) -> Result<String, ProvisionError> {
        match &self.runtime {
            Runtime::Sandboxed { sandbox, gateway } => {
                self.teardown_sandboxed(sandbox, gateway, interview, paths, false)
                    .await
            }
            Runtime::Unconfined => self.teardown_unconfined(paths, false).await,
        }
    }

    /// Holds the instance still while its work is archived (sandbox only; best effort: a
    /// group that cannot freeze is archived as it runs, and killed right after).
    async fn freeze(&self, interview: &InterviewId) {
        if let Runtime::Sandboxed { sandbox, .. } = &self.runtime {
            let group = sandbox.group(interview.as_str());
            let frozen = blocking("freezing the instance", move || {
                if group.exists() && !group.pids().is_empty() {
                    group
                        .freeze()
                        .map_err(|err| io_transient("cannot freeze", &err))?;
                }
                Ok(())
            })
            .await;
            if let Err(err) = frozen {
                tracing::warn!(%interview, error = %err, "archiving an instance that could not be frozen");
            }
        }
    }
}

#[async_trait]
impl Provisioner for LocalProvisioner {
    #[instrument(skip_all, fields(interview = %spec.interview_id))]
    async fn create(
        &self,
        spec: &InstanceSpec,
        progress: &dyn Progress,
    ) -> Result<Instance, ProvisionError> {
        self.ensure_gateway();
        let _turn = self.turn(&spec.interview_id).await;
        let paths = self.paths(&spec.interview_id);
        match self.inspect(&paths).await? {
            Found::Nothing => {}
            Found::Ready(record) => {
                progress
                    .log(format!(
                        "code-server already runs for this interview (pid {}); reusing it",
                        record.pid
                    ))
                    .await;
                return Ok(self.instance(&record));
            }
            Found::Stale(reason) => {
                progress
                    .log(format!("replacing an earlier instance: {reason}"))
                    .await;
                let done = self.teardown(&spec.interview_id, &paths).await?;
                tracing::info!(%reason, "replaced a stale instance: {done}");
            }
        }
        // Before anything is created: an unknown challenge leaves nothing behind.
        let bundle = self
            .challenges
            .starter_bundle(&spec.challenge)
            .await
            .map_err(challenge_error)?;
        progress.stage(InterviewState::Initializing).await;
        let record = match &self.runtime {
            Runtime::Sandboxed { sandbox, gateway } => {
                self.start_sandboxed(sandbox, gateway, spec, &bundle, &paths, progress)
                    .await?
            }
            Runtime::Unconfined => {
                let prepared = paths.clone();
                blocking("preparing the instance folder", move || {
                    files::prepare(&prepared)
                        .map_err(|err| io_transient("cannot prepare the instance folder", &err))
                })
                .await?;
                self.start_unconfined(spec, &bundle, &paths, progress)
                    .await?
            }
        };
        tracing::info!(pid = record.pid, port = record.port, "instance ready");
        Ok(self.instance(&record))
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn destroy(
        &self,
        interview: &InterviewId,
        progress: &dyn Progress,
    ) -> Result<Destroyed, ProvisionError> {
        self.ensure_gateway();
        let _turn = self.turn(interview).await;
        let paths = self.paths(interview);
        let archive = self.archive_path(interview);
        let (exists, archived) = {
            let paths = paths.clone();
            let archive = archive.clone();
            blocking("looking for the instance", move || {
                Ok((paths.root.exists(), archive.is_file()))
            })
            .await?
        };
        if !exists {
            // Already destroyed (or never created): the archive of an earlier destroy stands. A
            // sandbox whose folder is gone (removed by hand) is still killed.
            if let Runtime::Sandboxed { .. } = self.runtime {
                let done = self.stop_processes(interview, &paths).await?;
                tracing::debug!(%interview, "{done}");
            }
            return Ok(Destroyed {
                archive: archived.then(|| archive.display().to_string()),
            });
        }
        // The candidate's work first, with everything of theirs frozen. Whatever the archive
        // does, their processes go; only if it could not be written at all is the folder kept
        // (with the work) for the next attempt.
        self.freeze(interview).await;
        let workspace = paths.workspace.clone();
        let target = archive.clone();
        let prefix = interview.to_string();
        let limits = self.config.archive;
        let summary = blocking("archiving the workspace", move || {
            if std::fs::symlink_metadata(&workspace).is_err() {
                return Ok(Ok(None));
            }
            Ok(archive_workspace(&workspace, &prefix, &target, limits).map(Some))
        })
        .await?;
        let summary: Option<ArchiveSummary> = match summary {
            Ok(summary) => summary,
            Err(err) => {
                let stopped = self.stop_processes(interview, &paths).await?;
                progress.log(stopped).await;
                return Err(io_transient(
                    "cannot write the archive (the instance is stopped; its work is kept for \
                     the next attempt)",
                    &err,
                ));
            }
        };
        match &summary {
            Some(summary) => {
                progress
                    .log(format!(
                        "archived {} files ({} bytes) to {}",
                        summary.files,
                        summary.bytes,
                        summary.path.display()
                    ))
                    .await;
                if !summary.skipped.is_empty() {
                    progress
                        .log(format!(
                            "left out of the archive (listed in its {NOTES_FILE}): {}",
                            summary.skipped.join("; ")
                        ))
                        .await;
                }
            }
            None => progress.log("no workspace to archive".to_owned()).await,
        }
        let done = self.teardown(interview, &paths).await?;
        progress.log(done).await;
        let archived = summary.is_some() || archived;
        Ok(Destroyed {
            archive: archived.then(|| archive.display().to_string()),
        })
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn status(&self, interview: &InterviewId) -> Result<InstanceStatus, ProvisionError> {
        self.ensure_gateway();
        Ok(match self.inspect(&self.paths(interview)).await? {
            Found::Nothing => InstanceStatus::Absent,
            Found::Ready(record) => InstanceStatus::Running(self.instance(&record)),
            Found::Stale(_) => InstanceStatus::Starting,
        })
    }

    async fn instances(&self) -> Result<Vec<InterviewId>, ProvisionError> {
        self.ensure_gateway();
        let dir = self.config.data_dir.join("instances");
        // A sandbox's cgroup outlives its folder if the folder was removed by hand: those are
        // listed too, so the sweep at start kills them.
        let groups = match &self.runtime {
            Runtime::Sandboxed { sandbox, .. } => sandbox.group_names(),
            Runtime::Unconfined => Vec::new(),
        };
        blocking("listing instances", move || {
            let entries = std::fs::read_dir(&dir)
                .map_err(|err| io_transient("cannot list the instances folder", &err))?;
            let folders = entries.filter_map(|entry| {
                let entry = entry.ok()?;
                if !entry.file_type().ok()?.is_dir() {
                    return None;
                }
                entry.file_name().into_string().ok()
            });
            let mut ids: Vec<InterviewId> = folders
                .chain(groups)
                // Only names of interviews: anything else is not ours.
                .filter_map(|name| {
                    InterviewId::parse(&name)
                        .ok()
                        .filter(|id| id.as_str() == name)
                })
                .collect();
            ids.sort();
            ids.dedup();
            Ok(ids)
        })
        .await
    }
}

/// Runs blocking work (files, processes, /proc) off the async threads.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, ProvisionError> + Send + 'static,
) -> Result<T, ProvisionError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ProvisionError::transient(format!("{what} stopped unexpectedly: {err}")))?
}

fn io_transient(what: &str, err: &std::io::Error) -> ProvisionError {
    ProvisionError::transient(format!("{what}: {err}"))
}

/// An unknown or broken challenge will not fix itself; a read error might.
fn challenge_error(err: ChallengeError) -> ProvisionError {
    tracing::warn!(error = %err, "cannot read the challenge's starter files");
    match err {
        ChallengeError::Io { .. } => ProvisionError::transient(err.user_message()),
        _ => ProvisionError::permanent(err.user_message()),
    }
}

fn describe_exit(status: Option<std::process::ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => status.to_string(),
        },
        None => "exit status unknown".to_owned(),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}
