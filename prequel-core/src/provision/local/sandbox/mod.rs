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
mod command;
mod probe;
mod uids;

use std::ffi::OsString;
use std::fs::{self, DirBuilder};
use std::io;
use std::ops::RangeInclusive;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use thiserror::Error;

use self::cgroup::CgroupParent;
pub(super) use self::cgroup::InstanceGroup;
pub(super) use self::command::healthz;
pub use self::probe::cgroup_key;
use self::uids::UidPool;
pub use self::uids::{DEFAULT_CLAIMS_DIR, DEFAULT_UIDS};
use super::files::InstancePaths;
use crate::challenge::{Network, SandboxRequest};
use crate::domain::SecretString;

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
    fn the_config_holds_an_argon2_hash_and_never_the_password() {
        let password = SecretString::new("correct-horse-battery-staple");
        let config = code_server_config(&password).expect("config");
        assert!(!config.contains("correct-horse"), "{config}");
        assert!(config.contains("hashed-password: \"$argon2id$"), "{config}");
    }
}
