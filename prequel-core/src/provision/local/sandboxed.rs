//! Instances in the sandbox (`sandbox/`): starting one, telling whether it runs, and tearing it
//! down by its cgroup. The unsandboxed path is `unconfined.rs`.

use std::ffi::OsString;
use std::time::Instant;

use super::files::{self, InstancePaths, InstanceRecord, SandboxRecord, read_record, write_record};
use super::gateway::Gateway;
use super::process::{self, CODE_SERVER_FLAGS, HEALTH_TIMEOUT, Started};
use super::sandbox::{self, InstanceGroup, Launch, Sandbox, inside};
use super::{
    Found, LocalProvisioner, POLL_INTERVAL, blocking, describe_exit, io_transient, last_lines,
};
use crate::challenge::ChallengeBundle;
use crate::clock::{Clock, SystemClock};
use crate::domain::{InterviewId, InterviewState};
use crate::provision::{InstanceSpec, Progress, ProvisionError};

impl LocalProvisioner {
    /// Makes the sandbox (folders, uid, cgroup, port), starts code-server in it and waits until
    /// it answers on its socket. On any failure (or a dropped future) no process of it is left;
    /// the folder stays for the cleanup destroy.
    pub(super) async fn start_sandboxed(
        &self,
        sandbox: &std::sync::Arc<Sandbox>,
        gateway: &Gateway,
        spec: &InstanceSpec,
        bundle: &ChallengeBundle,
        paths: &InstancePaths,
        progress: &dyn Progress,
    ) -> Result<InstanceRecord, ProvisionError> {
        let began = Instant::now();
        let deadline = began + self.config.start_timeout;
        let request = bundle.manifest.sandbox;
        let (limits, clamped) = sandbox.limits_for(&request);
        for note in clamped {
            progress.log(note).await;
        }
        let id = spec.interview_id.clone();
        let group = sandbox.group(id.as_str());
        let (started, reservation, mut record, count, bytes) = {
            let (sandbox, paths, group) = (sandbox.clone(), paths.clone(), group.clone());
            let (password, files) = (spec.password.clone(), bundle.files.clone());
            let checksum = bundle.checksum.clone();
            let code_server = std::fs::canonicalize(&self.config.code_server)
                .unwrap_or_else(|_| self.config.code_server.clone());
            let bind = self.config.bind;
            let reservation = {
                let paths = paths.clone();
                // The gateway's lock and port first: whoever makes the instance serves it.
                blocking("preparing the instance folder", {
                    let sandbox = sandbox.clone();
                    move || {
                        let uid = sandbox
                            .claim_uid(&paths.root)
                            .map_err(|err| io_transient("no sandbox user id is free", &err))?;
                        sandbox
                            .prepare(&paths, uid, &password, &request)
                            .map_err(|err| io_transient("cannot prepare the sandbox", &err))?;
                        Ok(uid)
                    }
                })
                .await?
            };
            let uid = reservation;
            let reservation = {
                let gateway_paths = paths.clone();
                // `reserve` is quick (a lock and a bind); it runs here, where the gateway is.
                gateway
                    .reserve(&gateway_paths)
                    .map_err(|err| io_transient("cannot take a port for the instance", &err))?
            };
            let args = code_server_args(&request);
            let port = reservation.port;
            let (started, record, count, bytes) = blocking("starting the sandbox", move || {
                let written = files::write_starter(&paths.workspace, &files)
                    .map_err(|err| io_transient("cannot write the starter files", &err))?;
                sandbox
                    .hand_over(&paths, uid)
                    .map_err(|err| io_transient("cannot hand the workspace over", &err))?;
                // A group left by a crashed start holds nothing we want.
                group.kill_all().map_err(ProvisionError::transient)?;
                group
                    .create(&limits)
                    .map_err(|err| io_transient("cannot create the instance's cgroup", &err))?;
                // No CPU cap until it is ready (see `finish` below).
                group
                    .set_cpu(None)
                    .map_err(|err| io_transient("cannot set the instance's CPU", &err))?;
                let mut record = InstanceRecord {
                    pid: 0,
                    pgid: 0,
                    bind,
                    port,
                    checksum,
                    started_at: SystemClock.now(),
                    ready: false,
                    sandbox: Some(SandboxRecord {
                        uid,
                        network: request.network,
                    }),
                };
                write_record(&paths, &record)
                    .map_err(|err| io_transient("cannot write the instance record", &err))?;
                let mut command = sandbox.command(
                    &Launch {
                        code_server: &code_server,
                        args: &args,
                        paths: &paths,
                        uid,
                        request: &request,
                    },
                    &group,
                );
                let started = process::spawn_logged(&mut command, &paths.log)
                    .map_err(|err| io_transient("cannot start the sandbox", &err))?;
                record.pid = started.pid;
                record.pgid = started.pid;
                if let Err(err) = write_record(&paths, &record) {
                    let _ = group.kill_all();
                    return Err(io_transient("cannot write the instance record", &err));
                }
                Ok((started, record, written.0, written.1))
            })
            .await?;
            (started, reservation, record, count, bytes)
        };
        // From here on, a failure or a dropped future (a lost lease) must not leave the sandbox
        // running.
        let guard = KillGroupOnDrop(Some(group.clone()));
        progress
            .log(format!(
                "sandbox starting (pid {}, port {}, limits {} MiB / {} tasks / {:.1} CPU, network {})",
                started.pid,
                record.port,
                limits.memory_bytes >> 20,
                limits.tasks,
                f64::from(limits.cpu_millis) / 1000.0,
                request.network.as_str()
            ))
            .await;
        progress.stage(InterviewState::Configuring).await;
        progress
            .log(format!(
                "{count} starter files ({bytes} bytes) of challenge `{}` in place ({})",
                spec.challenge, bundle.checksum
            ))
            .await;
        if let Err(failure) = wait_ready(&started, paths, &group, deadline).await {
            let stopped = {
                let group = group.clone();
                blocking("stopping the sandbox", move || {
                    group.kill_all().map_err(ProvisionError::transient)
                })
                .await
            };
            if let Err(err) = stopped {
                tracing::warn!(error = %err, "could not stop a sandbox that failed to start");
            } else {
                guard.disarm();
            }
            return Err(match failure {
                Failure::Exited(status, tail) => {
                    let tail = tail.replace(spec.password.expose(), "[redacted]");
                    tracing::warn!(%status, log = %tail, "the sandbox exited while starting");
                    ProvisionError::transient(format!(
                        "code-server exited while starting ({status}); its log ends with: {}",
                        last_lines(&tail, 5)
                    ))
                }
                Failure::Timeout => ProvisionError::transient(format!(
                    "code-server did not answer /healthz within {} s",
                    self.config.start_timeout.as_secs()
                )),
            });
        }
        let finished = {
            let (paths, files) = (paths.clone(), bundle.files.clone());
            let mut ready = record.clone();
            ready.ready = true;
            let group = group.clone();
            let cpu = limits.cpu_millis;
            blocking("finishing the start", move || {
                // The CPU cap from here on: code-server has started, the candidate can log in.
                group
                    .set_cpu(Some(cpu))
                    .map_err(|err| io_transient("cannot set the instance's CPU", &err))?;
                if let Some(missing) = files::missing_starter(&paths.workspace, &files) {
                    return Err(ProvisionError::transient(format!(
                        "starter file {missing} is missing from the workspace"
                    )));
                }
                write_record(&paths, &ready)
                    .map_err(|err| io_transient("cannot write the instance record", &err))?;
                Ok(ready)
            })
            .await
        };
        record = finished?;
        gateway
            .serve(&spec.interview_id, paths, reservation, request.network)
            .map_err(|err| io_transient("cannot serve the instance's port", &err))?;
        guard.disarm();
        progress
            .log(format!(
                "code-server ready after {:.1} s",
                began.elapsed().as_secs_f64()
            ))
            .await;
        Ok(record)
    }

    /// Whether a sandboxed instance runs: a ready record, processes in its cgroup, and its
    /// code-server answering on its socket. A running one is served (adopted) if nobody does.
    pub(super) async fn inspect_sandboxed(
        &self,
        sandbox: &std::sync::Arc<Sandbox>,
        gateway: &Gateway,
        paths: &InstancePaths,
    ) -> Result<Found, ProvisionError> {
        let (sandbox, checked) = (sandbox.clone(), paths.clone());
        let found = blocking("inspecting the instance", move || {
            let paths = checked;
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
            if record.sandbox.is_none() {
                return Ok(Found::Stale(
                    "it was started without the sandbox".to_owned(),
                ));
            }
            let name = paths
                .root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let group = sandbox.group(&name);
            if group.pids().is_empty() {
                return Ok(Found::Stale("its sandbox is not running".to_owned()));
            }
            // A busy machine may answer slowly once; only repeated silence counts.
            let healthy = (0..3).any(|_| sandbox::healthz(&paths.socket(), &group, HEALTH_TIMEOUT));
            if !healthy {
                return Ok(Found::Stale(
                    "its code-server does not answer /healthz".to_owned(),
                ));
            }
            Ok(Found::Ready(record))
        })
        .await?;
        if let Found::Ready(record) = &found
            && let Some(id) = paths
                .root
                .file_name()
                .and_then(|n| InterviewId::parse(&n.to_string_lossy()).ok())
            && gateway.port(&id).is_none()
            && let Err(err) = gateway.adopt(&id, paths, record)
        {
            tracing::warn!(interview = %id, error = %err, "cannot serve an adopted instance's port");
        }
        Ok(found)
    }

    /// Kills the sandbox by its cgroup (every process in it, however it got there), removes the
    /// group and, when `remove` is set, the folder, then gives its uid back.
    pub(super) async fn teardown_sandboxed(
        &self,
        sandbox: &std::sync::Arc<Sandbox>,
        gateway: &Gateway,
        interview: &InterviewId,
        paths: &InstancePaths,
        remove: bool,
    ) -> Result<String, ProvisionError> {
        // No longer ready first: no serve (this one's rescan, or another replica's) takes the
        // port over while the instance goes.
        {
            let paths = paths.clone();
            blocking("marking the instance as going", move || {
                if let Ok(Some(mut record)) = read_record(&paths)
                    && record.ready
                {
                    record.ready = false;
                    write_record(&paths, &record)
                        .map_err(|err| io_transient("cannot write the instance record", &err))?;
                }
                Ok(())
            })
            .await?;
        }
        gateway.release(interview);
        let (sandbox, paths) = (sandbox.clone(), paths.clone());
        let name = interview.to_string();
        blocking("stopping the sandbox", move || {
            let group = sandbox.group(&name);
            let killed = group.kill_all().map_err(ProvisionError::transient)?;
            group
                .remove()
                .map_err(|err| io_transient("cannot remove the instance's cgroup", &err))?;
            if !remove {
                return Ok(format!(
                    "stopped {killed} processes; kept the instance folder"
                ));
            }
            let uid = sandbox.claimed_uid(&paths.root);
            if let Err(err) = files::keep_log(&paths) {
                tracing::warn!(error = %err, "could not keep the instance's log");
            }
            files::remove_folder(&paths.root)
                .map_err(|err| io_transient("cannot remove the instance folder", &err))?;
            if let Some(uid) = uid {
                sandbox.release_uid(uid);
            }
            Ok(match killed {
                0 => "no process was running; removed the instance folder".to_owned(),
                n => format!("stopped {n} processes; removed the instance folder"),
            })
        })
        .await
    }
}

/// code-server's arguments inside the sandbox (its paths are the sandbox's).
fn code_server_args(request: &crate::challenge::SandboxRequest) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "--socket".into(),
        inside::SOCKET.into(),
        "--socket-mode".into(),
        "600".into(),
        "--config".into(),
        format!("{}/code-server.yaml", inside::ETC).into(),
        "--user-data-dir".into(),
        inside::USER_DATA.into(),
        "--extensions-dir".into(),
        format!("{}/extensions", inside::USER_DATA).into(),
    ];
    args.extend(CODE_SERVER_FLAGS.iter().map(OsString::from));
    if !request.port_proxy {
        // `/proxy/<port>/` would let the browser reach servers the candidate starts.
        args.push("--disable-proxy".into());
    }
    args.push(inside::WORKSPACE.into());
    args
}

/// Why a sandbox did not become ready.
enum Failure {
    Exited(String, String),
    Timeout,
}

/// Waits until code-server answers `/healthz` on the instance's socket (held by a process of its
/// group), its launcher exits, or the deadline passes.
async fn wait_ready(
    started: &Started,
    paths: &InstancePaths,
    group: &InstanceGroup,
    deadline: Instant,
) -> Result<(), Failure> {
    let socket = paths.socket();
    loop {
        if let Some(status) = started.exit.get() {
            let log = paths.log.clone();
            let offset = started.log_offset;
            let tail = tokio::task::spawn_blocking(move || process::log_since(&log, offset, 2000))
                .await
                .unwrap_or_default();
            return Err(Failure::Exited(describe_exit(*status), tail));
        }
        let (socket_now, group_now) = (socket.clone(), group.clone());
        let healthy = tokio::task::spawn_blocking(move || {
            sandbox::healthz(&socket_now, &group_now, HEALTH_TIMEOUT)
        })
        .await
        .unwrap_or(false);
        if healthy {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure::Timeout);
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Kills a sandbox's group when dropped, unless disarmed: a create future dropped mid-start (a
/// lost lease, a shutdown) leaves no process behind.
struct KillGroupOnDrop(Option<InstanceGroup>);

impl KillGroupOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if let Some(group) = self.0.take() {
            // Freezing and waiting blocks: off the async thread, not waited for.
            std::thread::spawn(move || {
                if let Err(err) = group.kill_all() {
                    tracing::warn!(error = %err, "could not stop an abandoned sandbox");
                }
            });
        }
    }
}
