//! The sandbox each local instance runs in: the candidate has a shell, so nothing of the
//! server, of other candidates or of the machine may be in reach of it.
//!
//! One instance is:
//! * **its own namespaces** (bubblewrap): user, mount, PID, network, IPC, UTS. The filesystem
//!   is built from nothing: `/usr` and the few `/etc` files programs need, read-only; the
//!   code-server install and the configured toolchains, read-only; its workspace, home and a
//!   socket folder, writable; a fresh `/tmp`, `/dev` and `/proc`. The data dir, the challenges'
//!   tests and reference, other instances and the host's processes do not exist in there.
//! * **its own user**: as root, a host uid of its own from [`DEFAULT_UIDS`] (claimed per
//!   instance, given back after teardown); unprivileged, a user namespace maps the candidate
//!   onto serve's uid, which owns nothing the sandbox can see. `no_new_privs`, no capabilities,
//!   no further user namespaces.
//! * **its own control group** (`cgroup.rs`): memory, tasks and CPU limits; frozen while its
//!   work is archived; killed as a whole at teardown.
//! * **no network** but its own loopback: code-server listens on a unix socket that `serve`
//!   proxies to the instance's port (`gateway.rs`), checking that the socket's owner is in the
//!   instance's group. A challenge may ask for `network = "internet"`: HTTP(S) through a proxy
//!   of `serve`'s that refuses this machine, link-local and private addresses (`egress.rs`).
//! * **its password as an argon2 hash** in code-server's config file, never in an environment
//!   or a file another instance can read.
//!
//! Launching goes through `launch.sh` (a constant script): it joins the cgroup, stages the bind
//! sources on a private tmpfs when run as root (so the instance's uid needs no access to the
//! data dir's folders), then execs `setpriv` (root) and `bwrap`.
//!
//! [`Sandbox::probe`] checks all of it on this host once, at start, by launching a sandbox that
//! runs `true`: if anything is missing, the provisioner refuses to open with one line naming it
//! and how to fix it (fail closed).

mod cgroup;
mod uids;

use std::ffi::OsString;
use std::fs::{self, DirBuilder};
use std::io::{self, Read as _, Write as _};
use std::ops::RangeInclusive;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sha2::{Digest as _, Sha256};
use thiserror::Error;

pub(super) use self::cgroup::InstanceGroup;
use self::cgroup::{CgroupParent, Hierarchy};
use self::uids::UidPool;
pub use self::uids::{DEFAULT_CLAIMS_DIR, DEFAULT_UIDS};
use super::files::InstancePaths;
use crate::challenge::{Network, SandboxRequest};
use crate::domain::SecretString;

/// The launcher script (see the module docs).
const LAUNCH_SCRIPT: &str = include_str!("launch.sh");

/// Where, as root, each launcher mounts its staging tmpfs (in a mount namespace of its own, so
/// the host sees an empty folder).
const STAGE_DIR: &str = "/run/prequel/stage";

/// The candidate's user inside every sandbox.
pub const CANDIDATE_UID: u32 = 1000;
/// Every sandbox's host name (what the candidate's prompt shows).
const HOSTNAME: &str = "interview";

/// The candidate's user name inside every sandbox.
pub const CANDIDATE_USER: &str = "candidate";

/// Paths inside the sandbox.
pub(super) mod inside {
    /// The workspace (the starter files, then the candidate's work).
    pub const WORKSPACE: &str = "/workspace";
    /// The candidate's home.
    pub const HOME: &str = "/home/candidate";
    /// The folder of code-server's socket.
    pub const RUN: &str = "/run/prequel";
    /// code-server's socket.
    pub const SOCKET: &str = "/run/prequel/code-server.sock";
    /// Our read-only files (code-server's config).
    pub const ETC: &str = "/etc/prequel";
    /// The egress proxy's socket folder (internet challenges only).
    pub const EGRESS: &str = "/run/prequel-egress";
    /// code-server's user data, below the home.
    pub const USER_DATA: &str = "/home/candidate/.local/share/code-server";
}

/// The files of `/etc` a shell, Python, Node, git and TLS need, bound read-only when the host
/// has them. Nothing else of `/etc` is there: an operator's configuration (and any credential in
/// it) stays out. `passwd`, `group`, `hosts` and `hostname` are the sandbox's own.
const HOST_ETC: &[&str] = &[
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "profile",
    "python3",
    "python3.11",
    "python3.12",
    "python3.13",
    "ssl",
    "terminfo",
    "timezone",
];

/// The top-level folders of the root that are links into `/usr` on merged-`/usr` systems, or
/// folders of their own on older ones.
const ROOT_LINKS: &[&str] = &["bin", "lib", "lib32", "lib64", "libx32", "sbin"];

/// An instance's resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Memory (and swap) in bytes: page cache, `/tmp` and `/dev/shm` count too.
    pub memory_bytes: u64,
    /// Processes and threads.
    pub tasks: u32,
    /// CPU time in thousandths of a CPU.
    pub cpu_millis: u32,
}

impl Limits {
    /// Per instance unless a challenge asks otherwise: 2 GiB, 512 tasks, one CPU.
    pub const DEFAULT: Self = Self {
        memory_bytes: 2 << 30,
        tasks: 512,
        cpu_millis: 1000,
    };

    /// The most any challenge gets unless the server says otherwise: 8 GiB, 4096 tasks, 4 CPUs.
    pub const DEFAULT_MAX: Self = Self {
        memory_bytes: 8 << 30,
        tasks: 4096,
        cpu_millis: 4000,
    };

    /// What an instance of a challenge gets: the challenge's own values where it has them, else
    /// `self`, each clamped to `max`. The notes say what was clamped, for the create's log.
    pub fn for_request(&self, request: &SandboxRequest, max: &Self) -> (Self, Vec<String>) {
        let mut notes = Vec::new();
        let mut clamp = |what: &str, asked: u64, most: u64, unit: &str| {
            if asked > most {
                notes.push(format!(
                    "the challenge asks for {asked}{unit} of {what}; the server allows {most}{unit}"
                ));
                most
            } else {
                asked
            }
        };
        let memory = request
            .memory_mib
            .map_or(self.memory_bytes, |mib| u64::from(mib) << 20);
        let tasks = request.tasks.unwrap_or(self.tasks);
        let cpu = request.cpu_millis.unwrap_or(self.cpu_millis);
        let limits = Self {
            memory_bytes: clamp("memory", memory >> 20, max.memory_bytes >> 20, " MiB") << 20,
            tasks: u32::try_from(clamp("tasks", tasks.into(), max.tasks.into(), ""))
                .unwrap_or(max.tasks),
            cpu_millis: u32::try_from(clamp(
                "CPU",
                cpu.into(),
                max.cpu_millis.into(),
                " thousandths",
            ))
            .unwrap_or(max.cpu_millis),
        };
        (limits, notes)
    }
}

/// Settings of the local sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// The bubblewrap executable; `None`: `bwrap` on `PATH`.
    pub bwrap: Option<PathBuf>,
    /// Each instance's limits unless its challenge asks otherwise.
    pub limits: Limits,
    /// The most any instance gets, whatever its challenge asks.
    pub max: Limits,
    /// Folders bound read-only at the same path in every sandbox, their `bin/` first on `PATH`:
    /// toolchains the challenges need beyond `/usr` (a Python venv with pandas, say).
    pub tools: Vec<PathBuf>,
    /// The host uids instances run as when serve runs as root.
    pub uids: RangeInclusive<u32>,
    /// Where, as root, the uid claims are kept (host-wide).
    pub uid_claims: PathBuf,
    /// The cgroup under which instance groups are made, relative to the hierarchy's root
    /// (`prequel` as root). `None`: as root `prequel`; unprivileged on cgroup v2, serve's own
    /// (delegated) cgroup.
    pub cgroup_parent: Option<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            bwrap: None,
            limits: Limits::DEFAULT,
            max: Limits::DEFAULT_MAX,
            tools: Vec::new(),
            uids: DEFAULT_UIDS,
            uid_claims: PathBuf::from(DEFAULT_CLAIMS_DIR),
            cgroup_parent: None,
        }
    }
}

/// The sandbox cannot be made on this host: what is missing, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the sandbox for interview instances cannot be made on this host: {missing}; {fix}")]
pub struct SandboxUnavailable {
    /// What is missing or refused.
    pub missing: String,
    /// How to fix it.
    pub fix: String,
}

/// What to do about a missing piece, besides fixing it: said once, in every such message.
const OR_OFF: &str = "or, knowing that a candidate could then read the server's files and \
                      other interviews' passwords, run with --sandbox off";

fn unavailable(missing: impl Into<String>, fix: impl Into<String>) -> SandboxUnavailable {
    SandboxUnavailable {
        missing: missing.into(),
        fix: format!("{} ({OR_OFF})", fix.into()),
    }
}

/// Who the candidate runs as on the host.
#[derive(Debug)]
enum Identity {
    /// serve runs as root: a uid per instance, set with `setpriv` after the cgroup is joined
    /// and the sources staged in a mount namespace of the launcher's own (`unshare`).
    Root {
        pool: UidPool,
        setpriv: PathBuf,
        unshare: PathBuf,
    },
    /// serve runs unprivileged: bwrap's user namespace maps the candidate onto serve's uid.
    SameUser,
}

/// The sandbox as this host makes it: checked once by [`Sandbox::probe`].
#[derive(Debug)]
pub(super) struct Sandbox {
    config: SandboxConfig,
    bwrap: PathBuf,
    identity: Identity,
    cgroups: CgroupParent,
    /// `/bin` and friends: links into `/usr`, or folders to bind.
    root_entries: Vec<(String, RootEntry)>,
    /// The tool folders, resolved.
    tools: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
enum RootEntry {
    Link(PathBuf),
    Folder,
}

/// What to launch in a sandbox.
pub(super) struct Launch<'a> {
    /// The code-server executable (resolved), bound read-only with its install.
    pub code_server: &'a Path,
    /// Its arguments (paths as seen inside).
    pub args: &'a [OsString],
    /// The instance's folders on the host.
    pub paths: &'a InstancePaths,
    /// The instance's host uid (root only).
    pub uid: Option<u32>,
    /// What the challenge asked for.
    pub request: &'a SandboxRequest,
}

impl Sandbox {
    /// Checks that a sandbox can be made here, by making one that runs `true`, and keeps what it
    /// found. `data_dir` names this provisioner's cgroups (two data dirs on one host never share
    /// a group).
    pub(super) fn probe(
        config: SandboxConfig,
        data_dir: &Path,
    ) -> Result<Self, SandboxUnavailable> {
        let bwrap = match &config.bwrap {
            Some(path) if is_executable(path) => path.clone(),
            Some(path) => {
                return Err(unavailable(
                    format!(
                        "the configured bwrap {} is not an executable",
                        path.display()
                    ),
                    "install bubblewrap (apt-get install bubblewrap) or fix the path",
                ));
            }
            None => on_path("bwrap").ok_or_else(|| {
                unavailable(
                    "bubblewrap (bwrap) is not on PATH",
                    "install it: apt-get install bubblewrap",
                )
            })?,
        };
        let root = nix::unistd::geteuid().is_root();
        let identity = if root {
            let tool = |name: &str| {
                on_path(name).ok_or_else(|| {
                    unavailable(
                        format!("`{name}` (util-linux) is not on PATH"),
                        "install it: apt-get install util-linux",
                    )
                })
            };
            let pool =
                UidPool::open(config.uid_claims.clone(), config.uids.clone()).map_err(|err| {
                    unavailable(
                        format!("cannot create {}: {err}", config.uid_claims.display()),
                        "run serve as root or give it that folder",
                    )
                })?;
            pool.sweep();
            Identity::Root {
                pool,
                setpriv: tool("setpriv")?,
                unshare: tool("unshare")?,
            }
        } else {
            Identity::SameUser
        };
        let hierarchy = Hierarchy::detect().map_err(|missing| {
            unavailable(
                missing,
                "run serve on a host with cgroups (v2, or v1 with memory, pids, cpu and freezer)",
            )
        })?;
        let cgroups = open_cgroups(&config, hierarchy, root, data_dir)?;
        let root_entries = ROOT_LINKS
            .iter()
            .filter_map(|name| {
                let path = Path::new("/").join(name);
                let meta = fs::symlink_metadata(&path).ok()?;
                if meta.file_type().is_symlink() {
                    Some((
                        name.to_string(),
                        RootEntry::Link(fs::read_link(&path).ok()?),
                    ))
                } else if meta.is_dir() {
                    Some((name.to_string(), RootEntry::Folder))
                } else {
                    None
                }
            })
            .collect();
        let mut tools = Vec::new();
        for tool in &config.tools {
            let resolved = fs::canonicalize(tool).map_err(|err| {
                unavailable(
                    format!(
                        "the sandbox tool folder {} cannot be read: {err}",
                        tool.display()
                    ),
                    "fix the path in --sandbox-tools (PREQUEL_SANDBOX_TOOLS)",
                )
            })?;
            tools.push(resolved);
        }
        let sandbox = Self {
            config,
            bwrap,
            identity,
            cgroups,
            root_entries,
            tools,
        };
        sandbox.try_one(data_dir)?;
        Ok(sandbox)
    }

    /// Launches a sandbox running `true` in a scratch instance folder, as every instance will
    /// be: the one check that covers namespaces, the uid switch, the cgroup and the mounts.
    fn try_one(&self, data_dir: &Path) -> Result<(), SandboxUnavailable> {
        let scratch = data_dir.join(format!(
            ".sandbox-probe-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let paths = InstancePaths::new(scratch.join("probe"));
        let result = (|| -> Result<(), String> {
            let uid = self.claim_uid(&paths.root).map_err(|err| err.to_string())?;
            let outcome = (|| {
                self.prepare(
                    &paths,
                    uid,
                    &SecretString::new("probe-password-not-used"),
                    &SandboxRequest::default(),
                )
                .map_err(|err| format!("cannot prepare a sandbox folder: {err}"))?;
                let group = self.group(&format!("probe-{}", std::process::id()));
                group
                    .create(&Limits::DEFAULT)
                    .map_err(|err| format!("cannot create a cgroup: {err}"))?;
                let truth = Path::new("/usr/bin/true");
                let mut command = self.command(
                    &Launch {
                        code_server: truth,
                        args: &[],
                        paths: &paths,
                        uid,
                        request: &SandboxRequest::default(),
                    },
                    &group,
                );
                let output = command
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|err| format!("cannot run {}: {err}", self.bwrap.display()));
                let _ = group.kill_all();
                let _ = group.remove();
                let output = output?;
                if output.status.success() {
                    Ok(())
                } else {
                    let stderr = String::from_utf8_lossy(&output.stderr);
                    Err(stderr
                        .lines()
                        .rfind(|l| !l.trim().is_empty())
                        .unwrap_or("it failed without a message")
                        .trim()
                        .to_owned())
                }
            })();
            if let Some(uid) = uid {
                self.release_uid(uid);
            }
            outcome
        })();
        let _ = super::files::remove_folder(&scratch);
        result.map_err(|failure| {
            let fix = if failure.contains("namespace")
                || failure.contains("Operation not permitted")
            {
                "allow unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 \
                 user.max_user_namespaces=15000"
            } else {
                "check that bubblewrap works: bwrap --unshare-all --ro-bind /usr /usr true"
            };
            unavailable(format!("a test sandbox failed: {failure}"), fix)
        })
    }

    /// One line for the log at start: what the sandbox is made of here.
    pub(super) fn describe(&self) -> String {
        let who = match &self.identity {
            Identity::Root { pool, .. } => format!(
                "as root, each instance as its own uid in {}–{}",
                pool.range().start(),
                pool.range().end()
            ),
            Identity::SameUser => {
                "unprivileged, candidates mapped onto serve's uid in a user namespace".to_owned()
            }
        };
        format!(
            "sandbox on: bubblewrap {}, {who}, cgroup {} limits {} MiB / {} tasks / {:.1} CPU per instance (at most {} MiB / {} / {:.1})",
            self.bwrap.display(),
            self.cgroups.version(),
            self.config.limits.memory_bytes >> 20,
            self.config.limits.tasks,
            f64::from(self.config.limits.cpu_millis) / 1000.0,
            self.config.max.memory_bytes >> 20,
            self.config.max.tasks,
            f64::from(self.config.max.cpu_millis) / 1000.0,
        )
    }

    /// The limits for a challenge's instance, and notes on what was clamped.
    pub(super) fn limits_for(&self, request: &SandboxRequest) -> (Limits, Vec<String>) {
        self.config.limits.for_request(request, &self.config.max)
    }

    /// The control group of the instance named `name` (its interview id).
    pub(super) fn group(&self, name: &str) -> InstanceGroup {
        self.cgroups.instance(name)
    }

    /// The names of every instance group of this provisioner (the orphan sweep's second
    /// source, beside the instance folders).
    pub(super) fn group_names(&self) -> Vec<String> {
        self.cgroups.instance_names()
    }

    /// A host uid for the instance in `root`, as root (the one claimed earlier, after a
    /// restart); `None` unprivileged.
    pub(super) fn claim_uid(&self, root: &Path) -> io::Result<Option<u32>> {
        match &self.identity {
            Identity::Root { pool, .. } => match pool.claimed_by(root) {
                Some(uid) => Ok(Some(uid)),
                None => pool.claim(root).map(Some),
            },
            Identity::SameUser => Ok(None),
        }
    }

    /// The uid claimed for the instance in `root`, if any.
    pub(super) fn claimed_uid(&self, root: &Path) -> Option<u32> {
        match &self.identity {
            Identity::Root { pool, .. } => pool.claimed_by(root),
            Identity::SameUser => None,
        }
    }

    /// Gives a uid back (after the instance is gone).
    pub(super) fn release_uid(&self, uid: u32) {
        if let Identity::Root { pool, .. } = &self.identity
            && let Err(err) = pool.release(uid)
        {
            tracing::warn!(uid, error = %err, "could not release a sandbox uid");
        }
    }

    /// Creates the instance's folders: the candidate's own (workspace, home, socket folder,
    /// owned by its uid) and ours (`etc/` with passwd, group, hosts and code-server's config
    /// holding the password's argon2 hash).
    pub(super) fn prepare(
        &self,
        paths: &InstancePaths,
        uid: Option<u32>,
        password: &SecretString,
        request: &SandboxRequest,
    ) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&paths.root)?;
        for dir in [&paths.workspace, &paths.home, &paths.run] {
            DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        let user_data = paths.home.join(".local/share/code-server/User");
        fs::create_dir_all(&user_data)?;
        let settings =
            serde_json::to_vec_pretty(&super::files::user_settings()).map_err(io::Error::other)?;
        fs::write(user_data.join("settings.json"), settings)?;
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&paths.etc)?;
        fs::set_permissions(&paths.etc, fs::Permissions::from_mode(0o755))?;
        let write_public = |name: &str, text: &str| -> io::Result<()> {
            let path = paths.etc.join(name);
            fs::write(&path, text)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
        };
        write_public(
            "passwd",
            &format!(
                "root:x:0:0:root:/root:/usr/sbin/nologin\n\
                 {CANDIDATE_USER}:x:{CANDIDATE_UID}:{CANDIDATE_UID}:Candidate:{}:/bin/bash\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                inside::HOME
            ),
        )?;
        write_public(
            "group",
            &format!("root:x:0:\n{CANDIDATE_USER}:x:{CANDIDATE_UID}:\nnogroup:x:65534:\n"),
        )?;
        write_public(
            "hosts",
            &format!("127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost\n"),
        )?;
        write_public("hostname", &format!("{HOSTNAME}\n"))?;
        write_public("code-server.yaml", &code_server_config(password)?)?;
        if request.network == Network::Internet {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&paths.egress)?;
            fs::set_permissions(&paths.egress, fs::Permissions::from_mode(0o755))?;
            write_public("relay.js", super::egress::RELAY_JS)?;
        }
        if let Some(uid) = uid {
            for dir in [&paths.workspace, &paths.home, &paths.run] {
                chown_tree(dir, uid)?;
            }
        }
        Ok(())
    }

    /// Hands the workspace (with the starter files now in it) to the instance's uid.
    pub(super) fn hand_over(&self, paths: &InstancePaths, uid: Option<u32>) -> io::Result<()> {
        match uid {
            Some(uid) => chown_tree(&paths.workspace, uid),
            None => Ok(()),
        }
    }

    /// The command that starts the instance: the launcher, then (as root) `unshare` and
    /// `setpriv`, then `bwrap` and code-server. The caller sets stdout and stderr and spawns it.
    pub(super) fn command(&self, launch: &Launch<'_>, group: &InstanceGroup) -> Command {
        let staged = matches!(self.identity, Identity::Root { .. });
        let mut stage_binds: Vec<String> = Vec::new();
        // A folder the sandbox binds: staged (root) or straight from the host.
        let mut source = |name: &str, path: &Path| -> PathBuf {
            if staged {
                stage_binds.push(format!("{name}={}", path.display()));
                Path::new(STAGE_DIR).join(name)
            } else {
                path.to_owned()
            }
        };
        let paths = launch.paths;
        let mut bwrap: Vec<OsString> = Vec::new();
        let mut arg = |a: &str| bwrap.push(a.into());
        for flag in [
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-net",
            "--unshare-cgroup-try",
            "--disable-userns",
            "--new-session",
            "--clearenv",
        ] {
            arg(flag);
        }
        let uid = CANDIDATE_UID.to_string();
        for (flag, value) in [
            ("--uid", uid.as_str()),
            ("--gid", uid.as_str()),
            ("--hostname", HOSTNAME),
        ] {
            arg(flag);
            arg(value);
        }
        let mut env: Vec<(&str, String)> = vec![
            ("HOME", inside::HOME.to_owned()),
            ("USER", CANDIDATE_USER.to_owned()),
            ("LOGNAME", CANDIDATE_USER.to_owned()),
            ("SHELL", "/bin/bash".to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
            ("PATH", self.path_inside()),
        ];
        if let Ok(tz) = std::env::var("TZ") {
            env.push(("TZ", tz));
        }
        if launch.request.network == Network::Internet {
            let proxy = format!("http://127.0.0.1:{}", super::egress::RELAY_PORT);
            for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
                env.push((name, proxy.clone()));
            }
            env.push(("NO_PROXY", "localhost,127.0.0.1,::1".to_owned()));
            env.push(("no_proxy", "localhost,127.0.0.1,::1".to_owned()));
        }
        let mut args: Vec<OsString> = Vec::new();
        for (name, value) in env {
            args.extend(["--setenv".into(), name.into(), value.into()]);
        }
        args.extend(["--ro-bind".into(), "/usr".into(), "/usr".into()]);
        for (name, entry) in &self.root_entries {
            let at = format!("/{name}");
            match entry {
                RootEntry::Link(target) => {
                    args.extend(["--symlink".into(), target.into(), at.into()]);
                }
                RootEntry::Folder => {
                    args.extend(["--ro-bind".into(), at.clone().into(), at.into()])
                }
            }
        }
        for name in HOST_ETC {
            let at = Path::new("/etc").join(name);
            args.extend(["--ro-bind-try".into(), at.clone().into(), at.into()]);
        }
        args.extend([
            "--proc".into(),
            "/proc".into(),
            "--dev".into(),
            "/dev".into(),
        ]);
        args.extend([
            "--perms".into(),
            "1777".into(),
            "--tmpfs".into(),
            "/tmp".into(),
        ]);
        args.extend([
            "--perms".into(),
            "1777".into(),
            "--tmpfs".into(),
            "/var/tmp".into(),
        ]);
        let etc = source("etc", &paths.etc);
        for name in ["passwd", "group", "hosts", "hostname"] {
            args.extend([
                "--ro-bind".into(),
                etc.join(name).into(),
                Path::new("/etc").join(name).into(),
            ]);
        }
        args.extend(["--ro-bind".into(), etc.into(), inside::ETC.into()]);
        args.extend([
            "--bind".into(),
            source("workspace", &paths.workspace).into(),
            inside::WORKSPACE.into(),
        ]);
        args.extend([
            "--bind".into(),
            source("home", &paths.home).into(),
            inside::HOME.into(),
        ]);
        args.extend([
            "--bind".into(),
            source("run", &paths.run).into(),
            inside::RUN.into(),
        ]);
        if launch.request.network == Network::Internet {
            args.extend([
                "--ro-bind".into(),
                source("egress", &paths.egress).into(),
                inside::EGRESS.into(),
            ]);
        }
        if let Some(install) = install_root(launch.code_server) {
            args.extend([
                "--ro-bind".into(),
                source("code-server", &install).into(),
                install.into(),
            ]);
        }
        for (n, tool) in self.tools.iter().enumerate() {
            args.extend([
                "--ro-bind".into(),
                source(&format!("tool-{n}"), tool).into(),
                tool.into(),
            ]);
        }
        args.extend(["--chdir".into(), inside::WORKSPACE.into()]);
        bwrap.extend(args);
        bwrap.push("--".into());
        if launch.request.network == Network::Internet {
            // The relay (HTTP(S)_PROXY on the sandbox's loopback → the egress socket) beside
            // code-server; if the candidate kills it, only their own proxy is gone.
            bwrap.extend([
                "/bin/sh".into(),
                "-c".into(),
                format!(
                    "node {}/relay.js {} {}/egress.sock & exec \"$@\"",
                    inside::ETC,
                    super::egress::RELAY_PORT,
                    inside::EGRESS
                )
                .into(),
                "relay".into(),
            ]);
        }
        bwrap.push(launch.code_server.into());
        bwrap.extend(launch.args.iter().cloned());

        let procs: Vec<String> = group
            .procs_files()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut command = match &self.identity {
            Identity::Root {
                setpriv, unshare, ..
            } => {
                let uid = launch.uid.unwrap_or(u32::MAX).to_string();
                let mut command = Command::new(unshare);
                command
                    .args(["--mount", "--propagation", "private", "--", "/bin/sh", "-c"])
                    .arg(LAUNCH_SCRIPT)
                    .arg("prequel-sandbox")
                    .arg(setpriv)
                    .args([
                        format!("--reuid={uid}"),
                        format!("--regid={uid}"),
                        "--clear-groups".to_owned(),
                        "--inh-caps=-all".to_owned(),
                        "--bounding-set=-all".to_owned(),
                        "--no-new-privs".to_owned(),
                        "--".to_owned(),
                    ]);
                command
            }
            Identity::SameUser => {
                let mut command = Command::new("/bin/sh");
                command.arg("-c").arg(LAUNCH_SCRIPT).arg("prequel-sandbox");
                command
            }
        };
        command
            .arg(&self.bwrap)
            .args(bwrap)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("PREQUEL_CGROUP_PROCS", procs.join("\n"))
            .env("PREQUEL_STAGE", if staged { STAGE_DIR } else { "" })
            .env("PREQUEL_STAGE_BINDS", stage_binds.join("\n"))
            .current_dir("/")
            .process_group(0);
        command
    }

    /// `PATH` inside: the tools' `bin/` folders first, then the system's.
    fn path_inside(&self) -> String {
        let mut parts: Vec<String> = self
            .tools
            .iter()
            .map(|tool| {
                let bin = tool.join("bin");
                if bin.is_dir() { bin } else { tool.clone() }
                    .display()
                    .to_string()
            })
            .collect();
        parts.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(str::to_owned));
        parts.join(":")
    }
}

/// Opens the cgroup parent: the configured one, else `prequel/<data dir hash>` as root, else
/// (unprivileged, v2) serve's own delegated cgroup, serve moving itself into a leaf `serve`.
fn open_cgroups(
    config: &SandboxConfig,
    hierarchy: Hierarchy,
    root: bool,
    data_dir: &Path,
) -> Result<CgroupParent, SandboxUnavailable> {
    let hash = cgroup_key(data_dir);
    let relative = match (&config.cgroup_parent, root, &hierarchy) {
        (Some(parent), _, _) => parent.join(&hash),
        (None, true, _) => Path::new("prequel").join(&hash),
        (None, false, Hierarchy::V2(mount)) => {
            let own = own_v2_cgroup().ok_or_else(|| {
                unavailable(
                    "serve's own cgroup cannot be read from /proc/self/cgroup",
                    "run serve as root, or give it a delegated cgroup with --sandbox-cgroup",
                )
            })?;
            move_self_to_leaf(&mount.join(&own)).map_err(|err| {
                unavailable(
                    format!("serve's cgroup /{} is not delegated to it ({err})", own.display()),
                    "run serve as root, or under systemd with Delegate=yes, or name a delegated cgroup with --sandbox-cgroup",
                )
            })?;
            own.join(format!("instances-{hash}"))
        }
        (None, false, Hierarchy::V1(_)) => {
            return Err(unavailable(
                "serve runs unprivileged on cgroup v1, where it cannot make cgroups of its own",
                "run serve as root, or as root create and hand it a cgroup (for c in memory pids cpu freezer; do mkdir -p /sys/fs/cgroup/$c/prequel; chown -R USER /sys/fs/cgroup/$c/prequel; done) and pass --sandbox-cgroup prequel",
            ));
        }
    };
    CgroupParent::open(hierarchy, relative).map_err(|missing| {
        unavailable(
            missing,
            if root {
                "check that /sys/fs/cgroup is mounted read-write"
            } else {
                "run serve as root, or give it a delegated cgroup with --sandbox-cgroup"
            },
        )
    })
}

/// The name of the cgroup folder that holds a data dir's instance groups (`prequel/<key>/<id>`
/// as root): the first 8 hex digits of the SHA-256 of the data dir's resolved path, so two data
/// dirs on one host never share a group.
pub fn cgroup_key(data_dir: &Path) -> String {
    let digest = Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    hex::encode(&digest[..4])
}

/// serve's cgroup in the unified hierarchy (relative to its mount).
fn own_v2_cgroup() -> Option<PathBuf> {
    let text = fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|line| line.strip_prefix("0::"))?;
    Some(PathBuf::from(path.trim_start_matches('/')))
}

/// Moves serve into `<own>/serve`, so its own cgroup may hand controllers to the instances'
/// (cgroup v2 lets only a cgroup without processes of its own do so).
fn move_self_to_leaf(own: &Path) -> io::Result<()> {
    let leaf = own.join("serve");
    match fs::create_dir(&leaf) {
        Err(err) if err.kind() != io::ErrorKind::AlreadyExists => return Err(err),
        _ => {}
    }
    let others: Vec<String> = fs::read_to_string(own.join("cgroup.procs"))?
        .lines()
        .map(str::to_owned)
        .collect();
    for pid in others {
        fs::write(leaf.join("cgroup.procs"), &pid)?;
    }
    Ok(())
}

/// The folder to bind for a code-server install: the parent of the outermost `node_modules` the
/// executable is in (an npm install), else its own folder. `None` when that is in `/usr`, which
/// every sandbox has.
pub(super) fn install_root(executable: &Path) -> Option<PathBuf> {
    let outermost = executable
        .ancestors()
        .filter(|a| a.file_name().is_some_and(|n| n == "node_modules"))
        .last()
        .and_then(Path::parent);
    let root = outermost.or_else(|| executable.parent())?.to_owned();
    (!root.starts_with("/usr")).then_some(root)
}

/// code-server's config: password authentication against an argon2id hash. The hash is what
/// code-server stores in its session cookie, so it is as secret as the session: the file is
/// readable only inside this instance's sandbox (and by serve).
fn code_server_config(password: &SecretString) -> io::Result<String> {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|err| io::Error::other(format!("cannot make a salt: {err}")))?;
    let hash = argon2::Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map_err(|err| io::Error::other(format!("cannot hash the password: {err}")))?
        .to_string();
    Ok(format!(
        "# Written by Prequel for one interview: the password as an argon2 hash only.\n\
         auth: password\n\
         hashed-password: \"{hash}\"\n\
         cert: false\n"
    ))
}

/// Gives a folder and everything below it (without following links) to `uid`.
fn chown_tree(dir: &Path, uid: u32) -> io::Result<()> {
    std::os::unix::fs::lchown(dir, Some(uid), Some(uid))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            chown_tree(&entry.path(), uid)?;
        } else {
            std::os::unix::fs::lchown(entry.path(), Some(uid), Some(uid))?;
        }
    }
    Ok(())
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether code-server answers `GET /healthz` with 200 on the instance's socket, and the process
/// holding that socket is in the instance's group: a socket the candidate put there pointing
/// elsewhere (a link to another instance's socket) does not count.
pub(super) fn healthz(socket: &Path, group: &InstanceGroup, timeout: Duration) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    if !peer_in_group(&stream, group) {
        return false;
    }
    if stream.set_read_timeout(Some(timeout)).is_err()
        || stream.set_write_timeout(Some(timeout)).is_err()
    {
        return false;
    }
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => return false,
            Ok(n) => read += n,
        }
    }
    head.starts_with(b"HTTP/1.") && &head[8..12] == b" 200"
}

/// Whether the process at the other end of a unix socket is in `group`.
pub(super) fn peer_in_group(stream: &impl std::os::fd::AsFd, group: &InstanceGroup) -> bool {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    getsockopt(stream, PeerCredentials)
        .ok()
        .and_then(|cred| u32::try_from(cred.pid()).ok())
        .is_some_and(|pid| group.contains(pid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_gets_its_own_limits_clamped_to_the_servers_ceiling() {
        let max = Limits {
            memory_bytes: 4 << 30,
            tasks: 1000,
            cpu_millis: 2000,
        };
        let (limits, notes) = Limits::DEFAULT.for_request(&SandboxRequest::default(), &max);
        assert_eq!(limits, Limits::DEFAULT);
        assert!(notes.is_empty());
        let greedy = SandboxRequest {
            memory_mib: Some(64 * 1024),
            tasks: Some(100_000),
            cpu_millis: Some(1500),
            ..SandboxRequest::default()
        };
        let (limits, notes) = Limits::DEFAULT.for_request(&greedy, &max);
        assert_eq!(
            limits,
            Limits {
                memory_bytes: 4 << 30,
                tasks: 1000,
                cpu_millis: 1500
            }
        );
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0].contains("65536 MiB of memory; the server allows 4096 MiB"),
            "{notes:?}"
        );
    }

    #[test]
    fn the_install_folder_of_an_npm_code_server_is_bound_whole() {
        assert_eq!(
            install_root(Path::new(
                "/opt/t/code-server/node_modules/code-server/out/node/entry.js"
            )),
            Some(PathBuf::from("/opt/t/code-server"))
        );
        assert_eq!(
            install_root(Path::new("/srv/stand-in/code-server")),
            Some(PathBuf::from("/srv/stand-in"))
        );
        assert_eq!(
            install_root(Path::new("/usr/lib/code-server/bin/code-server")),
            None
        );
    }

    #[test]
    fn the_config_holds_an_argon2_hash_and_never_the_password() {
        let password = SecretString::new("correct-horse-battery-staple");
        let config = code_server_config(&password).expect("config");
        assert!(!config.contains("correct-horse"), "{config}");
        assert!(config.contains("hashed-password: \"$argon2id$"), "{config}");
    }
}
