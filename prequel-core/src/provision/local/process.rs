//! Processes: starting code-server in its own process group, finding every process that belongs
//! to an instance, stopping them, and asking code-server whether it is up. Linux only: it reads
//! `/proc`.

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::{self, Pid};

use super::INSTANCE_ENV;
use super::files::InstancePaths;
use crate::domain::SecretString;

/// Flags every instance gets, besides the per-instance paths and address. All are accepted by
/// code-server 4.100.3 (`code-server --help`).
pub(super) const CODE_SERVER_FLAGS: &[&str] = &[
    "--auth",
    "password",
    // No phoning home from an interview machine, and no "new version" popups mid-interview.
    "--disable-telemetry",
    "--disable-update-check",
    // The candidate opens our starter files: there is nothing to trust or distrust.
    "--disable-workspace-trust",
    // Keeps VS Code's own Getting Started instead of code-server's advertisement page.
    "--disable-getting-started-override",
    // Open the workspace given below, never a folder remembered from an earlier session.
    "--ignore-last-opened",
];

/// Variables passed from our environment to code-server, and so to the candidate's terminal.
/// Everything else is dropped: the server's environment holds chat tokens and cloud credentials
/// a candidate must never see.
const PASSED_ENV: &[&str] = &[
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR",
];

/// How long a health check may take before the instance counts as not answering.
pub(super) const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// After SIGKILL, how long processes get to disappear before stopping is reported as failed.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What to start.
pub(super) struct Launch<'a> {
    pub code_server: &'a Path,
    pub addr: SocketAddr,
    pub paths: &'a InstancePaths,
    pub password: &'a SecretString,
}

/// A code-server process this process started.
#[derive(Debug, Clone)]
pub(super) struct Started {
    /// Its pid, which is also its process group id (`process_group(0)`).
    pub pid: u32,
    /// Set (to the exit status, if `wait` could read it) once the process has exited. A reaper
    /// thread waits on every child so an exited code-server never lingers as a zombie, which
    /// would still count as alive for `kill(pid, 0)`.
    pub exit: Arc<OnceLock<Option<ExitStatus>>>,
    /// The length of the log file before this start: what follows is this start's output.
    pub log_offset: u64,
}

/// Starts code-server for an instance, in its own process group, with the password in its
/// environment only.
pub(super) fn spawn(launch: &Launch<'_>) -> io::Result<Started> {
    let paths = launch.paths;
    let mut command = Command::new(launch.code_server);
    command
        .arg("--bind-addr")
        .arg(launch.addr.to_string())
        .arg("--user-data-dir")
        .arg(&paths.user_data)
        .arg("--extensions-dir")
        .arg(&paths.extensions)
        // Our own config file, so the operator's ~/.config/code-server/config.yaml (which may
        // hold a password or `auth: none`) is never read, and none is written.
        .arg("--config")
        .arg(&paths.config)
        .args(CODE_SERVER_FLAGS)
        .arg(&paths.workspace)
        .current_dir(&paths.workspace)
        .env_clear()
        .envs(
            PASSED_ENV
                .iter()
                .filter_map(|key| std::env::var_os(key).map(|value| (key, value))),
        )
        // A home and XDG folders of its own: code-server keeps state under XDG_DATA_HOME, and
        // the candidate's shell history and tool caches stay with the instance.
        .env("HOME", &paths.home)
        .env("XDG_CONFIG_HOME", paths.home.join(".config"))
        .env("XDG_DATA_HOME", paths.home.join(".local/share"))
        .env("XDG_CACHE_HOME", paths.home.join(".cache"))
        // Inherited by every descendant, including the candidate's terminal and whatever it
        // starts in another session or process group: how teardown finds them all.
        .env(INSTANCE_ENV, &paths.root)
        // The environment, not the command line: /proc/<pid>/cmdline is readable by every user
        // on the machine. code-server deletes it from its own environment after reading it, so
        // the candidate's terminal does not inherit it either.
        .env("PASSWORD", launch.password.expose())
        .process_group(0);
    spawn_logged(&mut command, &paths.log)
}

/// Spawns `command` with stdin closed and stdout and stderr appended to `log`, and a thread that
/// reaps it. The command should lead a process group of its own (`process_group(0)`).
pub(super) fn spawn_logged(command: &mut Command, log: &Path) -> io::Result<Started> {
    let log = OpenOptions::new().create(true).append(true).open(log)?;
    let log_offset = log.metadata()?.len();
    command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let mut child = command.spawn()?;
    let pid = child.id();
    let exit = Arc::new(OnceLock::new());
    let slot = exit.clone();
    let reaper = std::thread::Builder::new()
        .name(format!("reap-{pid}"))
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = slot.set(child.wait().ok());
        });
    if let Err(err) = reaper {
        // Without a reaper the child would be unaccounted for: do not leave it running.
        kill_group_now(pid);
        return Err(err);
    }
    Ok(Started {
        pid,
        exit,
        log_offset,
    })
}

/// Sends SIGKILL to a process group at once, without waiting (for `Drop` and error paths).
pub(super) fn kill_group_now(pgid: u32) {
    if let Some(pgid) = signallable(pgid) {
        let _ = signal::killpg(pgid, Signal::SIGKILL);
    }
}

/// A pid we may signal: never 0 or 1 (`kill(0)` is our own group, `kill(-1)` everyone), never
/// our own process or process group.
fn signallable(pid: u32) -> Option<Pid> {
    let raw = i32::try_from(pid).ok()?;
    let own = [std::process::id() as i32, unistd::getpgrp().as_raw()];
    (raw > 1 && !own.contains(&raw)).then(|| Pid::from_raw(raw))
}

// ---------------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------------

/// The fields of `/proc/<pid>/stat` we need.
#[derive(Debug, Clone, Copy)]
struct ProcStat {
    state: u8,
    pgrp: u32,
}

fn stat(pid: u32) -> Option<ProcStat> {
    let text = fs::read(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp …`; comm may hold spaces and parentheses, so split after the
    // last `)`.
    let end = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&text[end + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some(ProcStat { state, pgrp })
}

/// Whether the process exists and has not exited (a zombie has exited).
pub(super) fn is_running(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state != b'Z')
}

/// The process's arguments (empty when it is gone or not readable).
pub(super) fn cmdline(pid: u32) -> Vec<String> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|&b| b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` is a running code-server started for the instance in `root`: its command line
/// names code-server and a folder of the instance. Guards against a recorded pid that was
/// reused by an unrelated process after a reboot or a crash.
pub(super) fn is_code_server_of(pid: u32, root: &Path) -> bool {
    if !is_running(pid) {
        return false;
    }
    let args = cmdline(pid);
    let root = root.as_os_str().as_bytes();
    args.iter().any(|arg| arg.contains("code-server"))
        && args.iter().any(|arg| {
            let arg = arg.as_bytes();
            arg.starts_with(root) && matches!(arg.get(root.len()), None | Some(b'/'))
        })
}

fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Every running process of the instance in `root` (those carrying its marker variable), with
/// its process group.
fn instance_processes(root: &Path) -> BTreeSet<(u32, u32)> {
    let mut marker = INSTANCE_ENV.as_bytes().to_vec();
    marker.push(b'=');
    marker.extend_from_slice(root.as_os_str().as_bytes());
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = stat(pid).filter(|s| s.state != b'Z')?;
            let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
            environ
                .split(|&b| b == 0)
                .any(|var| var == marker.as_slice())
                .then_some((pid, stat.pgrp))
        })
        .collect()
}

/// Running members of a process group.
fn group_members(pgid: u32) -> BTreeSet<(u32, u32)> {
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = stat(pid)?;
            (stat.pgrp == pgid && stat.state != b'Z').then_some((pid, pgid))
        })
        .collect()
}

/// What stopping an instance did.
#[derive(Debug, Default)]
pub(super) struct StopReport {
    /// Processes that were running when we started.
    pub found: usize,
    /// Whether SIGTERM was not enough and SIGKILL was sent.
    pub killed: bool,
}

/// Stops every process of the instance in `root`: SIGTERM to them and their process groups,
/// up to `grace` for them to go, then SIGKILL, then waits until none is left. `known_group` is
/// the recorded process group, included when its leader is verified to be this instance's
/// code-server (processes that cleared their environment are still found through it).
pub(super) fn stop_instance(
    root: &Path,
    known_group: Option<u32>,
    grace: Duration,
) -> Result<StopReport, String> {
    let targets = || {
        let mut found = instance_processes(root);
        if let Some(pgid) = known_group {
            found.extend(group_members(pgid));
        }
        found
    };
    let mut report = StopReport::default();
    let first = targets();
    report.found = first.len();
    if first.is_empty() {
        return Ok(report);
    }
    let mut signalled = BTreeSet::new();
    let deadline = Instant::now() + grace;
    let mut current = first;
    loop {
        // Signal newcomers too (a process forked while we wait).
        let newcomers: Vec<_> = current.difference(&signalled).copied().collect();
        for (pid, pgid) in newcomers {
            send(pid, pgid, Signal::SIGTERM);
            signalled.insert((pid, pgid));
        }
        std::thread::sleep(Duration::from_millis(50));
        current = targets();
        if current.is_empty() {
            return Ok(report);
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    report.killed = true;
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        for &(pid, pgid) in &current {
            send(pid, pgid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
        current = targets();
        if current.is_empty() {
            return Ok(report);
        }
        if Instant::now() >= deadline {
            let pids: Vec<String> = current.iter().map(|(pid, _)| pid.to_string()).collect();
            return Err(format!(
                "processes {} of the instance are still running after SIGKILL",
                pids.join(", ")
            ));
        }
    }
}

fn send(pid: u32, pgid: u32, sig: Signal) {
    // The group first: children that share it (and do not carry the marker because they
    // cleared their environment) go too. ESRCH (already gone) and EPERM (not ours) are fine.
    if let Some(group) = signallable(pgid) {
        let _ = signal::killpg(group, sig);
    }
    if let Some(process) = signallable(pid) {
        match signal::kill(process, sig) {
            Ok(()) | Err(Errno::ESRCH | Errno::EPERM) => {}
            Err(err) => tracing::debug!(pid, error = %err, "signal failed"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------------------------

/// A port free on `ip` right now (the OS picks it). It is released before code-server binds it,
/// so another process can take it in between: a start that fails with EADDRINUSE is retried
/// on another port.
pub(super) fn free_port(ip: IpAddr) -> io::Result<u16> {
    Ok(TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// Where to connect to reach a server bound to `addr` (a wildcard bind is reached on loopback).
pub(super) fn connect_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

/// Whether code-server at `addr` answers `GET /healthz` with 200. A plain HTTP/1.1 request over
/// a std socket: one tiny request on loopback needs no HTTP client crate.
pub(super) fn healthz(addr: SocketAddr, timeout: Duration) -> bool {
    let addr = connect_addr(addr);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    if stream.set_read_timeout(Some(timeout)).is_err()
        || stream.set_write_timeout(Some(timeout)).is_err()
    {
        return false;
    }
    healthz_over(&mut stream, &addr.to_string(), timeout)
}

/// One `GET /healthz` over a connected stream (TCP, or an instance's unix socket): whether it
/// answers 200 within `timeout`. A plain HTTP/1.1 request: no HTTP client crate needed.
pub(super) fn healthz_over<S: Read + Write + ?Sized>(
    stream: &mut S,
    host: &str,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    let mut read = 0;
    while read < head.len() && Instant::now() < deadline {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => read += n,
        }
    }
    // "HTTP/1.1 200" (or 1.0).
    head.starts_with(b"HTTP/1.") && &head[8..12] == b" 200"
}

/// Whether the socket listening on TCP `port` belongs to the instance in `root` (a process
/// carrying its marker, or of its process group `pgid`). A `/healthz` answer alone does not say
/// whose it is: when two starts pick the same free port (replicas on one machine do), the one
/// that binds second fails, and until it has exited its health checks reach the other's
/// code-server, which answers 200. Read from `/proc/net/tcp{,6}` and the processes' fds.
pub(super) fn instance_listens_on(root: &Path, pgid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let mut processes = instance_processes(root);
    processes.extend(group_members(pgid));
    processes
        .iter()
        .any(|&(pid, _)| holds_any_socket(pid, &inodes))
}

/// The inodes of the sockets listening on TCP `port`, on any address, IPv4 or IPv6.
fn listening_inodes(port: u16) -> BTreeSet<u64> {
    /// `st` of a listening socket in /proc/net/tcp.
    const LISTEN: &str = "0A";
    let mut inodes = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        // `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …`, the
        // address as hex `IP:PORT`.
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(&state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if state == LISTEN
                && local_port == Some(port)
                && let Ok(inode) = inode.parse()
            {
                inodes.insert(inode);
            }
        }
    }
    inodes
}

/// Whether process `pid` has one of the sockets `inodes` open.
fn holds_any_socket(pid: u32, inodes: &BTreeSet<u64>) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok())
                .is_some_and(|inode: u64| inodes.contains(&inode))
        })
    })
}

/// The end of the log written since `offset` (at most `max` bytes), for error messages.
pub(super) fn log_since(path: &Path, offset: u64, max: u64) -> String {
    let read = || -> io::Result<String> {
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        let start = offset.max(len.saturating_sub(max));
        file.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).trim().to_owned())
    };
    read().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_signals_everyone_init_or_ourselves() {
        assert_eq!(signallable(0), None);
        assert_eq!(signallable(1), None);
        assert_eq!(signallable(std::process::id()), None);
        assert_eq!(signallable(unistd::getpgrp().as_raw() as u32), None);
        assert_eq!(signallable(u32::MAX), None);
        assert_eq!(signallable(4242), Some(Pid::from_raw(4242)));
    }

    #[test]
    fn proc_stat_reads_our_own_process_group() {
        let own = stat(std::process::id()).expect("our own stat");
        assert_eq!(own.pgrp as i32, unistd::getpgrp().as_raw());
        assert!(is_running(std::process::id()));
        assert!(!cmdline(std::process::id()).is_empty());
    }

    #[test]
    fn healthz_is_false_when_nothing_listens() {
        let port = free_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).expect("port");
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        assert!(!healthz(addr, Duration::from_millis(200)));
    }

    #[test]
    fn a_listening_socket_is_found_in_the_process_that_holds_it_only() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let inodes = listening_inodes(port);
        assert_eq!(inodes.len(), 1, "one listener on {port}");
        assert!(holds_any_socket(std::process::id(), &inodes));
        assert!(
            !holds_any_socket(1, &inodes),
            "init does not hold our socket"
        );
        drop(listener);
        assert!(listening_inodes(port).is_empty(), "closed: nothing listens");
    }

    #[test]
    fn a_wildcard_bind_is_reached_on_loopback() {
        let any: SocketAddr = "0.0.0.0:80".parse().expect("addr");
        assert_eq!(connect_addr(any), "127.0.0.1:80".parse().expect("addr"));
        let any6: SocketAddr = "[::]:80".parse().expect("addr");
        assert_eq!(connect_addr(any6), "[::1]:80".parse().expect("addr"));
    }
}
