//! Files of an instance: its folder layout, the record a later process reads, the settings and
//! config code-server starts with, and the starter files. (The archive is `archive.rs`.)

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::challenge::{BundleFile, Network};

/// The record's file name inside an instance folder.
pub(super) const RECORD_FILE: &str = "instance.json";

/// Where everything of one instance lives: `data_dir/instances/<interview id>/…`.
#[derive(Debug, Clone)]
pub(super) struct InstancePaths {
    /// The instance folder (absolute).
    pub root: PathBuf,
    /// The candidate's workspace: the starter files, then their work. Archived at destroy.
    pub workspace: PathBuf,
    /// code-server's `--user-data-dir` (settings, state, session socket).
    pub user_data: PathBuf,
    /// code-server's `--extensions-dir`.
    pub extensions: PathBuf,
    /// code-server's `--config` file.
    pub config: PathBuf,
    /// code-server's stdout and stderr.
    pub log: PathBuf,
    /// The instance record.
    pub record: PathBuf,
    /// `HOME` and the XDG folders of the process (in a sandbox: the candidate's home, with
    /// code-server's user data and extensions inside).
    pub home: PathBuf,
    /// Sandbox only: the folder of code-server's socket (the candidate's).
    pub run: PathBuf,
    /// Sandbox only: our read-only files for the sandbox (passwd, code-server's config).
    pub etc: PathBuf,
    /// Sandbox only: the egress proxy's socket folder (internet challenges).
    pub egress: PathBuf,
    /// The lock whoever serves the instance's port holds (`gateway.rs`).
    pub gateway_lock: PathBuf,
}

impl InstancePaths {
    pub fn new(root: PathBuf) -> Self {
        Self {
            workspace: root.join("workspace"),
            user_data: root.join("user-data"),
            extensions: root.join("extensions"),
            config: root.join("config.yaml"),
            log: root.join("code-server.log"),
            record: root.join(RECORD_FILE),
            home: root.join("home"),
            run: root.join("run"),
            etc: root.join("etc"),
            egress: root.join("egress"),
            gateway_lock: root.join("gateway.lock"),
            root,
        }
    }

    /// code-server's socket, seen from the host.
    pub fn socket(&self) -> PathBuf {
        self.run.join("code-server.sock")
    }

    /// The egress proxy's socket, seen from the host.
    pub fn egress_socket(&self) -> PathBuf {
        self.egress.join("egress.sock")
    }
}

/// What a later process needs to find a running instance again (after `prequel serve`
/// restarts): written to `instance.json` when code-server is started, and again, with
/// `ready: true`, once the instance is ready.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// code-server's process id.
    pub pid: u32,
    /// Its process group (equal to `pid`: it is started as a group leader).
    pub pgid: u32,
    /// The address it listens on.
    pub bind: IpAddr,
    /// The port it listens on.
    pub port: u16,
    /// The checksum of the challenge bundle in the workspace (`sha256:…`).
    pub checksum: String,
    /// When the process was started.
    pub started_at: DateTime<Utc>,
    /// Whether the create finished: files in place and `/healthz` answered. A record that is not
    /// ready belongs to a create that crashed or failed; such an instance is never adopted.
    pub ready: bool,
    /// Set when the instance runs in a sandbox: `pid` is then its launcher's, `port` the one
    /// serve's gateway listens on for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxRecord>,
}

/// What a sandboxed instance was started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// The host uid its processes run as (root only).
    pub uid: Option<u32>,
    /// Whether it has the egress proxy.
    #[serde(with = "network_word")]
    pub network: Network,
}

mod network_word {
    use serde::{Deserialize as _, Deserializer, Serializer};

    use crate::challenge::Network;

    pub fn serialize<S: Serializer>(network: &Network, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(network.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Network, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "internet" => Network::Internet,
            _ => Network::None,
        })
    }
}

/// Reads the record; `Ok(None)` when there is none (or it is unreadable, which a crash while
/// writing cannot cause since it is replaced atomically, but a person editing it can).
pub(super) fn read_record(paths: &InstancePaths) -> io::Result<Option<InstanceRecord>> {
    match fs::read(&paths.record) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Replaces the record atomically (temp file, then rename), so a reader never sees half of it.
pub(super) fn write_record(paths: &InstancePaths, record: &InstanceRecord) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    let tmp = paths.root.join(format!(".{RECORD_FILE}.tmp"));
    write_private(&tmp, &bytes)?;
    fs::rename(&tmp, &paths.record)
}

/// A file only our user can read: the instance folder holds the candidate's work and logs.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// VS Code settings for every instance (`user-data/User/settings.json`). Keys that code-server
/// 4.100.3 (VS Code 1.100) does not know yet are harmless and take effect on newer versions.
pub(super) fn user_settings() -> serde_json::Value {
    serde_json::json!({
        // No telemetry from an interview.
        "telemetry.telemetryLevel": "off",
        // No AI assistant in a coding interview: the chat pane, its command-centre button and
        // agent mode. `chat.disableAIFeatures` exists from VS Code 1.104 on.
        "chat.disableAIFeatures": true,
        "chat.commandCenter.enabled": false,
        "chat.agent.enabled": false,
        "chat.mcp.enabled": false,
        "chat.mcp.discovery.enabled": false,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        // The workspace holds our own starter files: no trust prompt, no restricted mode.
        "security.workspace.trust.enabled": false,
        // Open straight into the files: no welcome page, walkthroughs or tips.
        "workbench.startupEditor": "none",
        "workbench.welcomePage.walkthroughs.openOnInstall": false,
        "workbench.tips.enabled": false,
        "workbench.enableExperiments": false,
        // Nothing that changes under the candidate's feet or pops up mid-interview.
        "update.mode": "none",
        "extensions.autoCheckUpdates": false,
        "extensions.autoUpdate": false,
        "extensions.ignoreRecommendations": true,
    })
}

/// code-server's config file. It holds no password (that comes from `PASSWORD`) and no address
/// (the command line sets it); it exists so code-server reads neither the operator's config
/// nor writes a default one with a random password.
const CONFIG_YAML: &str = "# Written by Prequel for one interview. The password comes from $PASSWORD;\n\
# the address and folders are on the command line.\n\
auth: password\n\
cert: false\n";

/// Creates the instance folder with its config and settings (the workspace stays empty).
pub(super) fn prepare(paths: &InstancePaths) -> io::Result<()> {
    // 0700: other users of the machine must not read the candidate's work or the logs.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&paths.root)?;
    for dir in [
        &paths.workspace,
        &paths.user_data.join("User"),
        &paths.extensions,
        &paths.home,
    ] {
        fs::create_dir_all(dir)?;
    }
    write_private(&paths.config, CONFIG_YAML.as_bytes())?;
    let settings = serde_json::to_vec_pretty(&user_settings()).map_err(io::Error::other)?;
    write_private(&paths.user_data.join("User/settings.json"), &settings)
}

/// How much of an instance's log is kept in the history folder.
const KEPT_LOG_BYTES: u64 = 256 * 1024;

/// Appends the end of the instance's log to `history/<id>.log` (before its folder goes). A
/// start that is retried appends again, so the file tells every attempt.
pub(super) fn keep_log(paths: &InstancePaths) -> io::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Some(id) = paths.root.file_name() else {
        return Ok(());
    };
    let Some(history) = paths
        .root
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("history"))
    else {
        return Ok(());
    };
    // Never through a link (in an instance without the sandbox the folder is the candidate's).
    let mut log = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
        .open(&paths.log)
    {
        Ok(file) if file.metadata()?.is_file() => file,
        Ok(_) => return Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let len = log.metadata()?.len();
    log.seek(SeekFrom::Start(len.saturating_sub(KEPT_LOG_BYTES)))?;
    let mut tail = Vec::new();
    log.take(KEPT_LOG_BYTES).read_to_end(&mut tail)?;
    fs::create_dir_all(&history)?;
    let mut kept = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(history.join(format!("{}.log", id.to_string_lossy())))?;
    kept.write_all(&tail)
}

/// Removes an instance folder whatever was done to the permissions inside it: a candidate who
/// ran `chmod 000` on a folder of theirs (as serve's own user, without the sandbox as root) would
/// otherwise make the removal fail forever.
pub(super) fn remove_folder(root: &Path) -> io::Result<()> {
    match fs::remove_dir_all(root) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            open_up(root);
            match fs::remove_dir_all(root) {
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        }
        Err(err) => Err(err),
    }
}

/// `u+rwx` on every folder below `dir` (never through a link).
fn open_up(dir: &Path) {
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            open_up(&entry.path());
        }
    }
}

/// Whether a bundle path stays below the folder it is written into. The challenge source
/// guarantees it; checking again costs nothing and keeps a broken source from writing
/// elsewhere.
fn safe_relative(path: &str) -> Option<&Path> {
    let path = Path::new(path);
    (!path.as_os_str().is_empty() && path.components().all(|c| matches!(c, Component::Normal(_))))
        .then_some(path)
}

/// Writes the starter files into the workspace, keeping their execute bit. Returns how many
/// files and bytes were written.
pub(super) fn write_starter(workspace: &Path, files: &[BundleFile]) -> io::Result<(usize, u64)> {
    let mut bytes = 0;
    for file in files {
        let relative = safe_relative(&file.path).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsafe path in the starter bundle: {:?}", file.path),
            )
        })?;
        let target = workspace.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&target, &file.contents)?;
        // Set explicitly rather than through `mode` at creation, which the umask would trim.
        let mode = if file.executable { 0o755 } else { 0o644 };
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
        bytes += file.contents.len() as u64;
    }
    Ok((files.len(), bytes))
}

/// The first starter file missing from the workspace, if any.
pub(super) fn missing_starter(workspace: &Path, files: &[BundleFile]) -> Option<String> {
    files
        .iter()
        .find(|file| {
            safe_relative(&file.path).is_none_or(|relative| !workspace.join(relative).is_file())
        })
        .map(|file| file.path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_may_be_written_into_a_workspace() {
        for good in ["README.md", "src/main.py", "a/b/c.txt"] {
            assert!(safe_relative(good).is_some(), "{good}");
        }
        for bad in ["", "..", "../x", "a/../../x", "/etc/passwd", "./a"] {
            assert!(safe_relative(bad).is_none(), "{bad:?} was accepted");
        }
    }
}
