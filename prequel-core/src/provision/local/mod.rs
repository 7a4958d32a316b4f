//! The local provisioner: one code-server process per interview on this machine.
//!
//! [`LocalProvisioner`] keeps everything under a data folder:
//!
//! ```text
//! data_dir/instances/<interview id>/   0700, removed at destroy
//!     instance.json                    pid, process group, port, checksum, started_at, ready
//!     workspace/                       the starter files, then the candidate's work
//!     user-data/User/settings.json     no telemetry, no AI chat, no trust prompt, no welcome
//!     extensions/  home/               --extensions-dir; HOME and the XDG folders
//!     config.yaml  code-server.log     --config (no password in it); stdout and stderr
//! data_dir/history/<interview id>.tar.gz   the archived workspace, kept after destroy
//! ```
//!
//! code-server runs in its own process group with the password in its environment only (never
//! on the command line, which every user can read in `/proc`), on a free port of the bind
//! address. Every process it starts inherits the variable [`INSTANCE_ENV`], so destroy finds
//! the candidate's terminal and what it started even outside code-server's process group.
//! The record makes every call idempotent by interview id and lets a restarted `prequel serve`
//! adopt the instances a previous process started.
//!
//! This is isolation between interviews, not a sandbox: the candidate's terminal runs as the
//! user Prequel runs as. Run `prequel serve` as a dedicated user on a machine for interviews,
//! or use the ECS provisioner.
//!
//! code-server itself comes from `./scripts/install-code-server`; [`find_code_server`] finds
//! it.

mod files;
mod process;

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use thiserror::Error;
use tracing::instrument;

pub use files::InstanceRecord;

use self::files::{InstancePaths, archive_workspace, read_record, write_record};
use self::process::{HEALTH_TIMEOUT, Launch, Started};
use crate::challenge::{ChallengeBundle, ChallengeError, ChallengeSource};
use crate::clock::{Clock, SystemClock};
use crate::domain::{InterviewId, InterviewState};
use crate::provision::{
    Destroyed, Instance, InstanceSpec, InstanceStatus, Progress, ProvisionError, Provisioner,
};

/// The environment variable every process of an instance carries, set to the instance folder.
/// Destroy stops every process that has it, wherever it went (another session, another process
/// group, reparented to init).
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
    /// How long processes get after SIGTERM before SIGKILL. Default 10 s.
    pub stop_timeout: Duration,
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
    /// if the folders cannot be created or `config.code_server` is not an executable.
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
        Ok(Self {
            config,
            challenges,
            turns: Mutex::default(),
        })
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

    /// Starts code-server on a free port and writes the (not yet ready) record.
    async fn start_process(
        &self,
        paths: &InstancePaths,
        spec: &InstanceSpec,
        checksum: &str,
    ) -> Result<(Started, SocketAddr), ProvisionError> {
        let paths = paths.clone();
        let code_server = self.config.code_server.clone();
        let bind = self.config.bind;
        let password = spec.password.clone();
        let checksum = checksum.to_owned();
        blocking("starting code-server", move || {
            let port = process::free_port(bind)
                .map_err(|err| io_transient("no free port to start code-server on", &err))?;
            let addr = SocketAddr::new(bind, port);
            let started = process::spawn(&Launch {
                code_server: &code_server,
                addr,
                paths: &paths,
                password: &password,
            })
            .map_err(|err| io_transient("cannot start code-server", &err))?;
            let record = InstanceRecord {
                pid: started.pid,
                pgid: started.pid,
                bind,
                port,
                checksum,
                started_at: SystemClock.now(),
                ready: false,
            };
            if let Err(err) = write_record(&paths, &record) {
                process::kill_group_now(started.pid);
                return Err(io_transient("cannot write the instance record", &err));
            }
            Ok((started, addr))
        })
        .await
    }

    /// Waits until code-server answers `/healthz` with 200 on a socket of its own, it exits, or
    /// the deadline passes.
    async fn wait_ready(
        &self,
        started: &Started,
        addr: SocketAddr,
        deadline: Instant,
        root: &Path,
        log: &Path,
    ) -> Result<(), StartFailure> {
        loop {
            if let Some(status) = started.exit.get() {
                let log = log.to_owned();
                let offset = started.log_offset;
                let tail =
                    tokio::task::spawn_blocking(move || process::log_since(&log, offset, 2000))
                        .await
                        .unwrap_or_default();
                return Err(if tail.contains("EADDRINUSE") {
                    StartFailure::PortTaken
                } else {
                    StartFailure::Exited(describe_exit(*status), tail)
                });
            }
            let healthy =
                tokio::task::spawn_blocking(move || process::healthz(addr, HEALTH_TIMEOUT))
                    .await
                    .unwrap_or(false);
            // Exited meanwhile? Then whatever answered is not ours.
            if healthy && started.exit.get().is_none() {
                // Nor is it when another instance holds the port: ours failed (or is about to
                // fail) to bind it, and is stopped and started again on another port.
                let (root, pgid, port) = (root.to_owned(), started.pid, addr.port());
                let ours = tokio::task::spawn_blocking(move || {
                    process::instance_listens_on(&root, pgid, port)
                })
                .await
                .unwrap_or(false);
                return if ours {
                    Ok(())
                } else {
                    Err(StartFailure::PortTaken)
                };
            }
            if Instant::now() >= deadline {
                return Err(StartFailure::Timeout);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Stops every process of the instance and removes its folder.
    async fn teardown(&self, paths: &InstancePaths) -> Result<String, ProvisionError> {
        let paths = paths.clone();
        let grace = self.config.stop_timeout;
        blocking("stopping code-server", move || {
            let known_group = read_record(&paths)
                .ok()
                .flatten()
                .filter(|r| process::is_code_server_of(r.pid, &paths.root))
                .map(|r| r.pgid);
            let report = process::stop_instance(&paths.root, known_group, grace)
                .map_err(ProvisionError::transient)?;
            match std::fs::remove_dir_all(&paths.root) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_transient("cannot remove the instance folder", &err)),
            }
            Ok(match (report.found, report.killed) {
                (0, _) => "no process was running; removed the instance folder".to_owned(),
                (n, false) => format!("stopped {n} processes; removed the instance folder"),
                (n, true) => format!(
                    "stopped {n} processes (SIGKILL after {} s); removed the instance folder",
                    grace.as_secs()
                ),
            })
        })
        .await
    }

    /// What exists for an interview, looked at from the files and processes.
    async fn inspect(&self, paths: &InstancePaths) -> Result<Found, ProvisionError> {
        let paths = paths.clone();
        blocking("inspecting the instance", move || {
            if !paths.root.exists() {
                return Ok(Found::Nothing);
            }
            let record = read_record(&paths)
                .map_err(|err| io_transient("cannot read the instance record", &err))?;
            let Some(record) = record else {
                return Ok(Found::Stale("it has no instance record".to_owned()));
            };
            if !record.ready {
                return Ok(Found::Stale("an earlier start did not finish".to_owned()));
            }
            if !process::is_code_server_of(record.pid, &paths.root) {
                return Ok(Found::Stale(format!(
                    "its code-server (pid {}) is not running",
                    record.pid
                )));
            }
            let addr = SocketAddr::new(record.bind, record.port);
            // A busy machine may answer slowly once; only repeated silence counts.
            let healthy = (0..3).any(|_| process::healthz(addr, HEALTH_TIMEOUT));
            if !healthy {
                return Ok(Found::Stale(format!(
                    "its code-server (pid {}) does not answer /healthz",
                    record.pid
                )));
            }
            Ok(Found::Ready(record))
        })
        .await
    }

    /// Starts code-server (retrying on a port clash), puts the files in place and waits until
    /// it is ready. On any failure no process of the attempt is left running.
    async fn start(
        &self,
        spec: &InstanceSpec,
        bundle: &ChallengeBundle,
        paths: &InstancePaths,
        progress: &dyn Progress,
    ) -> Result<InstanceRecord, ProvisionError> {
        let began = Instant::now();
        let deadline = began + self.config.start_timeout;
        let mut files_in_place = false;
        for attempt in 1..=PORT_ATTEMPTS {
            let (started, addr) = self.start_process(paths, spec, &bundle.checksum).await?;
            // From here on, a failure or a dropped future (a lost lease) must not leave the
            // process running.
            let guard = KillOnDrop(Some(started.pid));
            progress
                .log(format!(
                    "code-server starting on port {} (pid {})",
                    addr.port(),
                    started.pid
                ))
                .await;
            if !files_in_place {
                progress.stage(InterviewState::Configuring).await;
                // Written while code-server boots; nobody can log in before /healthz answers.
                let workspace = paths.workspace.clone();
                let files = bundle.files.clone();
                let (count, bytes) = blocking("writing the starter files", move || {
                    files::write_starter(&workspace, &files)
                        .map_err(|err| io_transient("cannot write the starter files", &err))
                })
                .await?;
                progress
                    .log(format!(
                        "{count} starter files ({bytes} bytes) of challenge `{}` in place ({})",
                        spec.challenge, bundle.checksum
                    ))
                    .await;
                files_in_place = true;
            }
            let failure = match self
                .wait_ready(&started, addr, deadline, &paths.root, &paths.log)
                .await
            {
                Ok(()) => {
                    let record = self.finish(paths, bundle, &started, addr).await?;
                    guard.disarm();
                    progress
                        .log(format!(
                            "code-server ready after {:.1} s",
                            began.elapsed().as_secs_f64()
                        ))
                        .await;
                    return Ok(record);
                }
                Err(failure) => failure,
            };
            // Stop this attempt properly (its children too) before retrying or failing.
            let root = paths.root.clone();
            let pgid = started.pid;
            let grace = self.config.stop_timeout;
            blocking("stopping code-server", move || {
                process::stop_instance(&root, Some(pgid), grace).map_err(ProvisionError::transient)
            })
            .await?;
            guard.disarm();
            match failure {
                StartFailure::PortTaken if attempt < PORT_ATTEMPTS => {
                    progress
                        .log(format!(
                            "port {} was taken before code-server bound it; trying another",
                            addr.port()
                        ))
                        .await;
                }
                StartFailure::PortTaken => {
                    return Err(ProvisionError::transient(format!(
                        "code-server could not bind a free port in {PORT_ATTEMPTS} attempts"
                    )));
                }
                StartFailure::Exited(status, tail) => {
                    // code-server does not log the password; a wrapper script might.
                    let tail = tail.replace(spec.password.expose(), "[redacted]");
                    tracing::warn!(%status, log = %tail, "code-server exited while starting");
                    return Err(ProvisionError::transient(format!(
                        "code-server exited while starting ({status}); its log ends with: {}",
                        last_lines(&tail, 5)
                    )));
                }
                StartFailure::Timeout => {
                    return Err(ProvisionError::transient(format!(
                        "code-server did not answer /healthz within {} s",
                        self.config.start_timeout.as_secs()
                    )));
                }
            }
        }
        Err(ProvisionError::transient(
            "code-server could not be started".to_owned(),
        ))
    }

    /// Checks the files are there and marks the record ready.
    async fn finish(
        &self,
        paths: &InstancePaths,
        bundle: &ChallengeBundle,
        started: &Started,
        addr: SocketAddr,
    ) -> Result<InstanceRecord, ProvisionError> {
        let paths = paths.clone();
        let files = bundle.files.clone();
        let checksum = bundle.checksum.clone();
        let pid = started.pid;
        blocking("finishing the start", move || {
            if let Some(missing) = files::missing_starter(&paths.workspace, &files) {
                return Err(ProvisionError::transient(format!(
                    "starter file {missing} is missing from the workspace"
                )));
            }
            let mut record = read_record(&paths)
                .ok()
                .flatten()
                .filter(|r| r.pid == pid)
                .unwrap_or(InstanceRecord {
                    pid,
                    pgid: pid,
                    bind: addr.ip(),
                    port: addr.port(),
                    checksum: checksum.clone(),
                    started_at: SystemClock.now(),
                    ready: false,
                });
            record.ready = true;
            write_record(&paths, &record)
                .map_err(|err| io_transient("cannot write the instance record", &err))?;
            Ok(record)
        })
        .await
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

/// Why a start attempt failed.
enum StartFailure {
    PortTaken,
    Exited(String, String),
    Timeout,
}

/// Kills a process group when dropped, unless disarmed: a create future dropped mid-start (a
/// lost lease, a shutdown) leaves no code-server behind.
struct KillOnDrop(Option<u32>);

impl KillOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            process::kill_group_now(pgid);
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
                let done = self.teardown(&paths).await?;
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
        let prepared = paths.clone();
        blocking("preparing the instance folder", move || {
            files::prepare(&prepared)
                .map_err(|err| io_transient("cannot prepare the instance folder", &err))
        })
        .await?;
        let record = self.start(spec, &bundle, &paths, progress).await?;
        tracing::info!(pid = record.pid, port = record.port, "instance ready");
        Ok(self.instance(&record))
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn destroy(
        &self,
        interview: &InterviewId,
        progress: &dyn Progress,
    ) -> Result<Destroyed, ProvisionError> {
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
            // Already destroyed (or never created): the archive of an earlier destroy stands.
            return Ok(Destroyed {
                archive: archived.then(|| archive.display().to_string()),
            });
        }
        // The candidate's work first: if archiving fails, nothing is torn down and the
        // destroy is retried.
        let workspace = paths.workspace.clone();
        let target = archive.clone();
        let prefix = interview.to_string();
        let summary = blocking("archiving the workspace", move || {
            if !workspace.is_dir() {
                return Ok(None);
            }
            archive_workspace(&workspace, &prefix, &target)
                .map(Some)
                .map_err(|err| io_transient("cannot archive the workspace", &err))
        })
        .await?;
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
            }
            None => progress.log("no workspace to archive".to_owned()).await,
        }
        let done = self.teardown(&paths).await?;
        progress.log(done).await;
        let archived = summary.is_some() || archived;
        Ok(Destroyed {
            archive: archived.then(|| archive.display().to_string()),
        })
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn status(&self, interview: &InterviewId) -> Result<InstanceStatus, ProvisionError> {
        Ok(match self.inspect(&self.paths(interview)).await? {
            Found::Nothing => InstanceStatus::Absent,
            Found::Ready(record) => InstanceStatus::Running(self.instance(&record)),
            Found::Stale(_) => InstanceStatus::Starting,
        })
    }

    async fn instances(&self) -> Result<Vec<InterviewId>, ProvisionError> {
        let dir = self.config.data_dir.join("instances");
        blocking("listing instances", move || {
            let entries = std::fs::read_dir(&dir)
                .map_err(|err| io_transient("cannot list the instances folder", &err))?;
            let mut ids: Vec<InterviewId> = entries
                .filter_map(|entry| {
                    let entry = entry.ok()?;
                    if !entry.file_type().ok()?.is_dir() {
                        return None;
                    }
                    // Only folders named like an interview: anything else is not ours.
                    InterviewId::parse(entry.file_name().to_str()?)
                        .ok()
                        .filter(|id| id.as_str() == entry.file_name())
                })
                .collect();
            ids.sort();
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
