//! The way in to sandboxed instances: each one's TCP port (its URL) is a listener of `serve`'s
//! that passes every connection, bytes both ways (WebSockets included), to code-server's unix
//! socket inside the sandbox. The sandbox itself has no network.
//!
//! * **Only the instance answers.** Before passing a connection on, the gateway asks the kernel
//!   who holds the socket (`SO_PEERCRED`) and checks that process is in the instance's cgroup:
//!   a socket or link the candidate put in its place (pointing at another instance, or any
//!   socket of the host) gets nothing.
//! * **One server per instance.** Whoever serves an instance's port holds an exclusive `flock`
//!   on its `gateway.lock`. The process that creates an instance serves it; every `serve`
//!   looks at the instances folder every [`RESCAN`] and takes over any ready instance whose
//!   lock is free — after a restart, or when the replica that served it died (the kernel
//!   releases a dead process's lock). While no `serve` runs, the instances keep running but
//!   their URLs do not answer; the browser's VS Code reconnects once one is back.
//! * The egress proxy of an internet challenge (`egress.rs`) is served by the same owner.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::files::{InstancePaths, InstanceRecord, read_record};
use super::sandbox::{InstanceGroup, Sandbox};
use crate::challenge::Network;
use crate::domain::InterviewId;

/// How often every `serve` looks for instances nobody serves.
pub const RESCAN: Duration = Duration::from_secs(2);

/// Connections open at once per instance (a browser opens a handful).
const MAX_CONNECTIONS: usize = 256;

/// The gateway of one provisioner.
#[derive(Debug)]
pub(super) struct Gateway {
    inner: Arc<Inner>,
    supervisor: OnceLock<()>,
}

#[derive(Debug)]
struct Inner {
    instances_dir: PathBuf,
    bind: IpAddr,
    sandbox: Arc<Sandbox>,
    served: Mutex<HashMap<InterviewId, Served>>,
}

/// An instance this process serves: its lock, and the tasks serving it (aborted on drop).
#[derive(Debug)]
struct Served {
    _lock: File,
    port: u16,
    /// A second handle on the port's listening socket, to shut it at once on drop: an aborted
    /// task drops its listener only when the runtime next gets to it, and until then the port
    /// would still accept connections that nobody serves.
    closer: std::net::TcpListener,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        // Shutting a listening socket down makes it refuse new connections (Linux), whatever
        // still holds it.
        let _ =
            nix::sys::socket::shutdown(self.closer.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A port and the lock taken for an instance being created, before it is served.
#[derive(Debug)]
pub(super) struct Reservation {
    lock: File,
    listener: std::net::TcpListener,
    /// The port, for the record and the URL.
    pub port: u16,
}

impl Gateway {
    pub(super) fn new(instances_dir: PathBuf, bind: IpAddr, sandbox: Arc<Sandbox>) -> Self {
        Self {
            inner: Arc::new(Inner {
                instances_dir,
                bind,
                sandbox,
                served: Mutex::default(),
            }),
            supervisor: OnceLock::new(),
        }
    }

    /// Starts the rescan (once, on the current tokio runtime).
    pub(super) fn ensure_supervisor(&self) {
        if self.supervisor.get().is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.supervisor.set(()).is_ok() {
            let weak = Arc::downgrade(&self.inner);
            runtime.spawn(supervise(weak));
        }
    }

    /// Takes the instance's lock and a free port, for a create. Blocking.
    pub(super) fn reserve(&self, paths: &InstancePaths) -> io::Result<Reservation> {
        let lock = open_lock(paths)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(io::Error::other(
                    "another serve process holds this instance's gateway lock",
                ));
            }
            Err(TryLockError::Error(err)) => return Err(err),
        }
        let listener = std::net::TcpListener::bind((self.inner.bind, 0))?;
        let port = listener.local_addr()?.port();
        Ok(Reservation {
            lock,
            listener,
            port,
        })
    }

    /// Serves a created instance through its reservation.
    pub(super) fn serve(
        &self,
        interview: &InterviewId,
        paths: &InstancePaths,
        reservation: Reservation,
        network: Network,
    ) -> io::Result<()> {
        self.inner.start(interview, paths, reservation, network)
    }

    /// Stops serving an instance (before its teardown). Idempotent.
    pub(super) fn release(&self, interview: &InterviewId) {
        self.inner.lock().remove(interview);
    }

    /// Serves a running instance whose lock is free (a restart's adoption). `Ok(false)` when
    /// another process serves it.
    pub(super) fn adopt(
        &self,
        interview: &InterviewId,
        paths: &InstancePaths,
        record: &InstanceRecord,
    ) -> io::Result<bool> {
        self.inner.adopt(interview, paths, record)
    }

    /// The port this process serves the instance on, if it does.
    pub(super) fn port(&self, interview: &InterviewId) -> Option<u16> {
        self.inner.lock().get(interview).map(|s| s.port)
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InterviewId, Served>> {
        self.served
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn start(
        &self,
        interview: &InterviewId,
        paths: &InstancePaths,
        reservation: Reservation,
        network: Network,
    ) -> io::Result<()> {
        let Reservation {
            lock,
            listener,
            port,
        } = reservation;
        listener.set_nonblocking(true)?;
        let closer = listener.try_clone()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let group = self.sandbox.group(interview.as_str());
        let mut tasks = vec![tokio::spawn(accept(
            listener,
            paths.socket(),
            group,
            interview.to_string(),
        ))];
        if network == Network::Internet {
            let socket = paths.egress_socket();
            // A socket file of a process that died is in the way of binding a new one.
            match std::fs::remove_file(&socket) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
                _ => {}
            }
            let egress = tokio::net::UnixListener::bind(&socket)?;
            // The sandbox's uid must be able to connect; the folder is visible only to it.
            std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))?;
            tasks.push(tokio::spawn(super::egress::serve(
                egress,
                interview.to_string(),
            )));
        }
        self.lock().insert(
            interview.clone(),
            Served {
                _lock: lock,
                port,
                closer,
                tasks,
            },
        );
        Ok(())
    }

    fn adopt(
        &self,
        interview: &InterviewId,
        paths: &InstancePaths,
        record: &InstanceRecord,
    ) -> io::Result<bool> {
        if self.lock().contains_key(interview) {
            return Ok(true);
        }
        let Some(sandbox) = &record.sandbox else {
            return Ok(false);
        };
        // Never made here: a lock file that is gone belongs to an instance being removed.
        let lock = match OpenOptions::new()
            .read(true)
            .write(true)
            .open(&paths.gateway_lock)
        {
            Ok(lock) => lock,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err),
        };
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(false),
            Err(TryLockError::Error(err)) => return Err(err),
        }
        let listener = std::net::TcpListener::bind(SocketAddr::new(record.bind, record.port))?;
        let reservation = Reservation {
            lock,
            listener,
            port: record.port,
        };
        self.start(interview, paths, reservation, sandbox.network)?;
        tracing::info!(%interview, port = record.port, "serving an instance's port");
        Ok(true)
    }

    /// One look at the instances folder: serve what nobody serves; stop serving what is gone or
    /// being torn down (its record no longer ready).
    fn rescan(&self) {
        let Ok(entries) = std::fs::read_dir(&self.instances_dir) else {
            return;
        };
        let mut present = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|name| InterviewId::parse(name).ok())
            else {
                continue;
            };
            let paths = InstancePaths::new(entry.path());
            let record = read_record(&paths).ok().flatten();
            let Some(record) = record.filter(|r| r.ready && r.sandbox.is_some()) else {
                continue;
            };
            present.push(id.clone());
            if self.lock().contains_key(&id) {
                continue;
            }
            if let Err(err) = self.adopt(&id, &paths, &record) {
                tracing::warn!(interview = %id, port = record.port, error = %err, "cannot serve an instance's port");
            }
        }
        self.lock().retain(|id, _| present.contains(id));
    }
}

/// The lock file, made if missing (at create).
fn open_lock(paths: &InstancePaths) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&paths.gateway_lock)
}

async fn supervise(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let _ = tokio::task::spawn_blocking(move || strong.rescan()).await;
        tokio::time::sleep(RESCAN).await;
    }
}

/// Serves one instance's port.
async fn accept(
    listener: tokio::net::TcpListener,
    socket: PathBuf,
    group: InstanceGroup,
    interview: String,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let group = Arc::new(group);
    let socket = Arc::new(socket);
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let (group, socket, interview) = (group.clone(), socket.clone(), interview.clone());
        tokio::spawn(async move {
            let _slot = slot;
            relay(client, &socket, group, &interview).await;
        });
    }
}

async fn relay(
    mut client: TcpStream,
    socket: &std::path::Path,
    group: Arc<InstanceGroup>,
    interview: &str,
) {
    let _ = client.set_nodelay(true);
    let mut upstream = match UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(_) => {
            unavailable(&mut client, "the interview's editor is not running").await;
            return;
        }
    };
    let peer = upstream.peer_cred().ok().and_then(|cred| cred.pid());
    let ours = match peer.and_then(|pid| u32::try_from(pid).ok()) {
        Some(pid) => tokio::task::spawn_blocking(move || group.contains(pid))
            .await
            .unwrap_or(false),
        None => false,
    };
    if !ours {
        tracing::warn!(%interview, ?peer, "the instance's socket is held by a process outside its sandbox; refused");
        unavailable(&mut client, "the interview's editor is not running").await;
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

async fn unavailable(client: &mut TcpStream, why: &str) {
    let body = format!("{why}\n");
    let response = format!(
        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}
