//! Instances without the sandbox (`--sandbox off`): code-server as serve's own user, on a TCP
//! port of its own, found again through its process group and the [`INSTANCE_ENV`] marker every
//! descendant inherits. Nothing keeps the candidate from the server's files or processes: see
//! the warning `serve` prints. The sandboxed path is `sandboxed.rs`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use super::files::{self, InstancePaths, InstanceRecord, read_record, write_record};
use super::process::{self, HEALTH_TIMEOUT, Launch, Started};
use super::{
    Found, LocalProvisioner, POLL_INTERVAL, PORT_ATTEMPTS, blocking, describe_exit, io_transient,
    last_lines,
};
use crate::challenge::ChallengeBundle;
use crate::clock::{Clock, SystemClock};
use crate::domain::InterviewState;
use crate::provision::{InstanceSpec, Progress, ProvisionError};

impl LocalProvisioner {
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
                sandbox: None,
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

    /// Stops every process of the instance and, when `remove` is set, removes its folder. A
    /// sandboxed instance's record (left by a serve that ran with the sandbox) is refused: only
    /// a serve with the sandbox on can kill its cgroup.
    pub(super) async fn teardown_unconfined(
        &self,
        paths: &InstancePaths,
        remove: bool,
    ) -> Result<String, ProvisionError> {
        let paths = paths.clone();
        let grace = self.config.stop_timeout;
        blocking("stopping code-server", move || {
            let record = read_record(&paths).ok().flatten();
            if record.as_ref().is_some_and(|r| r.sandbox.is_some()) {
                return Err(ProvisionError::transient(
                    "this instance runs in a sandbox; start serve with the sandbox on to destroy it",
                ));
            }
            let known_group = record
                .filter(|r| process::is_code_server_of(r.pid, &paths.root))
                .map(|r| r.pgid);
            let report = process::stop_instance(&paths.root, known_group, grace)
                .map_err(ProvisionError::transient)?;
            let folder = if remove {
                if let Err(err) = files::keep_log(&paths) {
                    tracing::warn!(error = %err, "could not keep the instance's log");
                }
                files::remove_folder(&paths.root)
                    .map_err(|err| io_transient("cannot remove the instance folder", &err))?;
                "removed the instance folder"
            } else {
                "kept the instance folder"
            };
            Ok(match (report.found, report.killed) {
                (0, _) => format!("no process was running; {folder}"),
                (n, false) => format!("stopped {n} processes; {folder}"),
                (n, true) => format!(
                    "stopped {n} processes (SIGKILL after {} s); {folder}",
                    grace.as_secs()
                ),
            })
        })
        .await
    }

    /// What exists for an interview, looked at from the files and processes.
    pub(super) async fn inspect_unconfined(
        &self,
        paths: &InstancePaths,
    ) -> Result<Found, ProvisionError> {
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
    pub(super) async fn start_unconfined(
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
                    sandbox: None,
                });
            record.ready = true;
            write_record(&paths, &record)
                .map_err(|err| io_transient("cannot write the instance record", &err))?;
            Ok(record)
        })
        .await
    }
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
