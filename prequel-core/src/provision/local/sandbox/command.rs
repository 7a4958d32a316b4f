//! The command that starts a sandboxed instance (the launcher, `setpriv` as root, `bwrap` and
//! its mounts), and how serve checks an instance's socket is its own.

use std::ffi::OsString;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{
    CANDIDATE_UID, CANDIDATE_USER, HOSTNAME, Identity, InstanceGroup, Launch, RootEntry, Sandbox,
    inside,
};
use crate::challenge::Network;

/// The launcher script (see the module docs).
const LAUNCH_SCRIPT: &str = include_str!("launch.sh");

/// Where, as root, each launcher mounts its staging tmpfs (in a mount namespace of its own, so
/// the host sees an empty folder).
const STAGE_DIR: &str = "/run/prequel/stage";

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

impl Sandbox {
    /// The command that starts the instance: the launcher, then (as root) `unshare` and
    /// `setpriv`, then `bwrap` and code-server. The caller sets stdout and stderr and spawns it.
    pub(in crate::provision::local) fn command(
        &self,
        launch: &Launch<'_>,
        group: &InstanceGroup,
    ) -> Command {
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
            let proxy = format!(
                "http://127.0.0.1:{}",
                crate::provision::local::egress::RELAY_PORT
            );
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
                    crate::provision::local::egress::RELAY_PORT,
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

/// The folder to bind for a code-server install: the parent of the outermost `node_modules` the
/// executable is in (an npm install), else its own folder. `None` when that is in `/usr`, which
/// every sandbox has.
pub(in crate::provision::local) fn install_root(executable: &Path) -> Option<PathBuf> {
    let outermost = executable
        .ancestors()
        .filter(|a| a.file_name().is_some_and(|n| n == "node_modules"))
        .last()
        .and_then(Path::parent);
    let root = outermost.or_else(|| executable.parent())?.to_owned();
    (!root.starts_with("/usr")).then_some(root)
}

/// Whether code-server answers `GET /healthz` with 200 on the instance's socket, and the process
/// holding that socket is in the instance's group: a socket the candidate put there pointing
/// elsewhere (a link to another instance's socket) does not count.
pub(in crate::provision::local) fn healthz(
    socket: &Path,
    group: &InstanceGroup,
    timeout: Duration,
) -> bool {
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
    crate::provision::local::process::healthz_over(&mut stream, "localhost", timeout)
}

/// Whether the process at the other end of a unix socket is in `group`.
pub(in crate::provision::local) fn peer_in_group(
    stream: &impl std::os::fd::AsFd,
    group: &InstanceGroup,
) -> bool {
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
}
