//! The start-up check of the sandbox (fail closed): bubblewrap, the uid switch, cgroups and a
//! test sandbox that runs `true`, exactly as an instance will be made. Anything missing is one
//! line naming it and how to fix it.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest as _, Sha256};

use super::cgroup::{CgroupParent, Hierarchy};
use super::uids::UidPool;
use super::{
    Identity, Launch, Limits, ROOT_LINKS, RootEntry, Sandbox, SandboxConfig, SandboxUnavailable,
};
use crate::challenge::SandboxRequest;
use crate::domain::SecretString;
use crate::provision::local::files::{self, InstancePaths};

/// What to do about a missing piece, besides fixing it: said once, in every such message.
const OR_OFF: &str = "or, knowing that a candidate could then read the server's files and \
                      other interviews' passwords, run with --sandbox off";

fn unavailable(missing: impl Into<String>, fix: impl Into<String>) -> SandboxUnavailable {
    SandboxUnavailable {
        missing: missing.into(),
        fix: format!("{} ({OR_OFF})", fix.into()),
    }
}

impl Sandbox {
    /// Checks that a sandbox can be made here, by making one that runs `true`, and keeps what it
    /// found. `data_dir` names this provisioner's cgroups (two data dirs on one host never share
    /// a group).
    pub(in crate::provision::local) fn probe(
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
        let _ = files::remove_folder(&scratch);
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

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
