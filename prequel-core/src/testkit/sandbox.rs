//! Playing the candidate in tests: a shell run inside a running local sandbox the way its VS Code
//! terminal runs one — joined to the instance's cgroup, in every namespace of its code-server
//! (`nsenter`), as the candidate's user, with code-server's environment and no capabilities.
//! Needs root (to enter the namespaces), as the sandbox tests run.

use std::process::{Command, Output};

use crate::provision::local::CANDIDATE_UID;

/// The host pid of code-server's main process among a sandbox's `pids` (its cgroup's): the one
/// in the sandbox's own PID namespace that listens on the instance's socket.
pub fn code_server_pid(pids: &[u32]) -> Option<u32> {
    let host_pid_ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    pids.iter().copied().find(|pid| {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|ns| ns != host_pid_ns)
            && cmdline.contains("--socket /run/prequel/code-server.sock")
            && !cmdline.contains("bwrap")
    })
}

/// Runs `script` with `sh` inside the sandbox whose processes are `pids`, as its terminal would.
/// Panics when no code-server runs among them.
pub fn run_inside(pids: &[u32], script: &str) -> Output {
    let target = code_server_pid(pids).expect("code-server runs in the sandbox");
    // The cgroup first (nsenter keeps it across the exec), then the namespaces and the user.
    let cgroups = std::fs::read_to_string(format!("/proc/{target}/cgroup")).unwrap_or_default();
    // The instance's group: its path in the `pids` hierarchy (v1), else the unified one (v2);
    // joined in every hierarchy where the process has that same path.
    let lines: Vec<(&str, &str)> = cgroups
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            Some((controllers, path))
        })
        .collect();
    let group = lines
        .iter()
        .find(|(controllers, _)| controllers.split(',').any(|c| c == "pids"))
        .or_else(|| lines.iter().find(|(controllers, _)| controllers.is_empty()))
        .map(|(_, path)| *path)
        .unwrap_or("/");
    let join: String = lines
        .iter()
        .filter(|(controllers, path)| *path == group && !controllers.starts_with("name="))
        .map(|(controllers, path)| {
            let mount = controllers.split(',').next().unwrap_or_default();
            format!("echo $$ > /sys/fs/cgroup/{mount}{path}/cgroup.procs; ")
        })
        .collect();
    let environ = std::fs::read(format!("/proc/{target}/environ")).unwrap_or_default();
    let env: Vec<(String, String)> = environ
        .split(|&b| b == 0)
        .filter_map(|var| {
            let var = String::from_utf8_lossy(var);
            let (name, value) = var.split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect();
    let uid = CANDIDATE_UID;
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "{join}exec /usr/bin/nsenter -t {target} -a -S {uid} -G {uid} -- \
             /usr/bin/setpriv --no-new-privs --inh-caps=-all -- sh -c \"$0\""
        ))
        .arg(script)
        .env_clear()
        .envs(env)
        .output()
        .expect("run a command inside the sandbox")
}
