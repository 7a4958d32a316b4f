//! Challenges: what a candidate works on. A challenge is a folder (`challenge/<id>/`) with a
//! `challenge.toml` manifest, the `starter/` files the candidate gets, the interviewer's hidden
//! `tests/` and a `reference/` solution.
//!
//! [`ChallengeSource`] is how the rest of Prequel reads them: the list for `/interview
//! challenges`, one manifest for its default length and cloud size, and the starter bundle a
//! provisioner puts in the instance's workspace. [`DirChallenges`] reads a directory on this
//! machine; `s3::S3Challenges` (feature `aws`) serves the same bundles from S3 to ECS.
//!
//! # The manifest
//!
//! ```toml
//! id = "python"                 # must equal the folder name
//! title = "Order ledger clean-up"
//! language = "python"
//! description = "Two or three sentences for the interviewer."
//! default_duration = "90m"      # any length the grammar reads, 30m to 4h
//! setup = "notes for people"    # optional; not read by Prequel
//!
//! [cloud]                       # optional; the default is 512 CPU units, 1024 MiB
//! cpu = 512                     # Fargate CPU units: 256, 512, 1024, 2048, 4096, 8192, 16384
//! memory = 1024                 # MiB, within Fargate's range for that CPU
//!
//! [sandbox]                     # optional; the local sandbox (see `sandbox`)
//! network = "none"              # or "internet" (HTTP(S) through a filtering proxy)
//! memory = 2048                 # MiB; tasks = 512; cpus = 1.0; port_proxy = false
//! ```
//!
//! Unknown keys are refused, so a typo (`default_duraton`) is an error naming the key rather than
//! a silently missing setting.

use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::command::parse_length;
use crate::domain::{ChallengeId, InterviewLength};

mod dir;
#[cfg(feature = "aws")]
pub mod s3;
mod sandbox;

pub use dir::DirChallenges;
pub use sandbox::{Network, SandboxRequest};

/// The manifest's file name inside a challenge folder.
pub const MANIFEST_FILE: &str = "challenge.toml";

/// The folder, inside a challenge folder, whose files the candidate gets.
pub const STARTER_DIR: &str = "starter";

/// The largest starter bundle accepted (sum of file sizes): a workspace is source code and a
/// little sample data, and the bundle is held in memory and copied into every instance.
pub const DEFAULT_MAX_BUNDLE_BYTES: u64 = 20 * 1024 * 1024;

/// What a challenge is, as its `challenge.toml` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeManifest {
    /// The challenge's id: its folder name.
    pub id: ChallengeId,
    /// A short title for people (`Order ledger clean-up`).
    pub title: String,
    /// The language the candidate writes (`python`, `javascript`, `sql`).
    pub language: String,
    /// Two or three sentences for the interviewer.
    pub description: String,
    /// How long an interview on this challenge lasts when the interviewer does not say.
    pub default_length: InterviewLength,
    /// The size of the instance in the cloud.
    pub cloud: CloudResources,
    /// What the instance needs of the local sandbox.
    pub sandbox: SandboxRequest,
}

/// The size of a cloud instance, in ECS Fargate's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudResources {
    /// CPU units (1024 = one vCPU).
    pub cpu: u32,
    /// Memory in MiB.
    pub memory_mib: u32,
}

impl Default for CloudResources {
    /// Half a vCPU and 1 GiB: enough for code-server and a small test run.
    fn default() -> Self {
        Self {
            cpu: 512,
            memory_mib: 1024,
        }
    }
}

/// The files a candidate starts with, ready to be written into a workspace.
#[derive(Clone, PartialEq, Eq)]
pub struct ChallengeBundle {
    /// The challenge the files belong to.
    pub manifest: ChallengeManifest,
    /// The starter files, sorted by path.
    pub files: Vec<BundleFile>,
    /// `sha256:<64 hex digits>`, see [`bundle_checksum`].
    pub checksum: String,
}

impl fmt::Debug for ChallengeBundle {
    // A bundle holds megabytes of file contents; a debug line shows what it is, not what it holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChallengeBundle")
            .field("id", &self.manifest.id)
            .field("files", &self.files.len())
            .field("bytes", &self.total_bytes())
            .field("checksum", &self.checksum)
            .finish()
    }
}

impl ChallengeBundle {
    /// The sum of the files' sizes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.contents.len() as u64).sum()
    }

    /// The file at `path`, if the bundle has it.
    pub fn file(&self, path: &str) -> Option<&BundleFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// One starter file.
#[derive(Clone, PartialEq, Eq)]
pub struct BundleFile {
    /// Relative to the workspace root, `/`-separated, never absolute and never with `.` or `..`
    /// components, so writing it below a workspace cannot land outside it.
    pub path: String,
    /// The bytes, as on disk.
    pub contents: Vec<u8>,
    /// Whether the file should be executable (any execute bit set on disk).
    pub executable: bool,
}

impl fmt::Debug for BundleFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleFile")
            .field("path", &self.path)
            .field("bytes", &self.contents.len())
            .field("executable", &self.executable)
            .finish()
    }
}

/// Where challenges come from.
///
/// # Contract
///
/// - **Starter only.** [`starter_bundle`](Self::starter_bundle) returns the files under the
///   challenge's `starter/` folder and nothing else: never `tests/` (the interviewer's hidden
///   tests) nor `reference/` (the solution), which would hand the candidate the answers. Paths in
///   the bundle are relative to `starter/`.
/// - **Checksum.** A bundle's `checksum` is [`bundle_checksum`] of its files: it depends only on
///   the paths and bytes, so the same starter tree gives the same checksum on every machine and
///   any change to a path or a byte changes it. Provisioners may use it to skip re-uploading.
/// - **Ordering.** [`list`](Self::list) is sorted by id; a bundle's files are sorted by path.
/// - **Errors.** An id that names no challenge is [`ChallengeError::Unknown`] with the known ids
///   (for a helpful reply); a broken manifest is [`ChallengeError::InvalidManifest`] from every
///   method that reads it, `list` included, so one broken challenge is noticed at start-up rather
///   than when an interviewer picks it.
/// - **Concurrency.** Methods take `&self` and may be called concurrently; they read only.
#[async_trait]
pub trait ChallengeSource: Send + Sync + fmt::Debug {
    /// Every challenge, sorted by id.
    async fn list(&self) -> Result<Vec<ChallengeManifest>, ChallengeError>;

    /// One challenge's manifest.
    async fn manifest(&self, id: &ChallengeId) -> Result<ChallengeManifest, ChallengeError>;

    /// The challenge's starter files (only `starter/`; see the trait's contract).
    async fn starter_bundle(&self, id: &ChallengeId) -> Result<ChallengeBundle, ChallengeError>;
}

/// Why a challenge could not be read.
#[derive(Debug, Error)]
pub enum ChallengeError {
    /// No challenge has this id.
    #[error("unknown challenge `{id}` (known: {})", join_ids(known))]
    Unknown {
        /// The id asked for.
        id: ChallengeId,
        /// The challenges that exist, sorted.
        known: Vec<ChallengeId>,
    },
    /// A `challenge.toml` is missing a key, has a key it should not, or has a bad value.
    #[error("invalid challenge manifest {}: {reason}", path.display())]
    InvalidManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A starter entry that must not be bundled: a symlink leading out of `starter/` or to a
    /// folder, a name that is not UTF-8, or something that is not a file or folder.
    #[error("unsafe path in starter files {}: {reason}", path.display())]
    UnsafePath {
        /// The entry.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// The starter files are larger than the bundle limit.
    #[error("starter files of challenge `{id}` exceed {limit} bytes")]
    TooLarge {
        /// The challenge.
        id: ChallengeId,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A remote store of challenges (S3) failed or served something unusable: the bucket is
    /// missing or unreadable, a request failed, or a bundle does not match its checksum.
    #[error("challenge store {location}: {message}")]
    Backend {
        /// The bucket or object concerned (`s3://bucket/key`).
        location: String,
        /// What went wrong.
        message: String,
    },
}

impl ChallengeError {
    /// One line for the person who asked; names no path on the server.
    pub fn user_message(&self) -> String {
        match self {
            Self::Unknown { id, known } if known.is_empty() => {
                format!("unknown challenge `{id}`; no challenges are installed")
            }
            Self::Unknown { id, known } => {
                format!(
                    "unknown challenge `{id}`; known challenges: {}",
                    join_ids(known)
                )
            }
            _ => "the challenge files could not be read; an administrator has to fix them (see the server log)"
                .to_owned(),
        }
    }
}

fn join_ids(ids: &[ChallengeId]) -> String {
    if ids.is_empty() {
        return "none".to_owned();
    }
    ids.iter()
        .map(ChallengeId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The checksum of a set of files: `sha256:` and the lowercase hex SHA-256 of
///
/// ```text
/// "prequel-bundle-v1\n"
/// for each file, sorted by path (byte order):
///     path (UTF-8 bytes) · 0x00 · length of contents (u64, big-endian) · contents
/// ```
///
/// The NUL after the path and the length before the contents make the encoding unambiguous (no
/// two different file sets hash the same bytes). Only paths and contents count: the executable
/// flag and timestamps do not, because file modes and times do not survive every checkout
/// (Windows, `core.fileMode=false`) and the checksum must be the same on every machine. The order
/// of `files` does not matter.
pub fn bundle_checksum(files: &[BundleFile]) -> String {
    let mut sorted: Vec<&BundleFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    let mut hasher = Sha256::new();
    hasher.update(b"prequel-bundle-v1\n");
    for file in sorted {
        hasher.update(file.path.as_bytes());
        hasher.update([0u8]);
        hasher.update((file.contents.len() as u64).to_be_bytes());
        hasher.update(&file.contents);
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

// ---------------------------------------------------------------------------------------------
// Manifest parsing
// ---------------------------------------------------------------------------------------------

/// `challenge.toml` as written. Every field is optional here so that a missing key is reported
/// by name, in our words, rather than as a serde message.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: Option<String>,
    title: Option<String>,
    language: Option<String>,
    description: Option<String>,
    default_duration: Option<String>,
    /// Free-form notes for people (what the image needs, how to run the tests); Prequel ignores
    /// them, but accepts the key.
    #[allow(dead_code)]
    setup: Option<String>,
    cloud: Option<RawCloud>,
    sandbox: Option<sandbox::RawSandbox>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloud {
    cpu: Option<u32>,
    memory: Option<u32>,
}

/// Fargate's CPU sizes and the memory (MiB) each allows: `(cpu, min, max, step)`.
const FARGATE_SIZES: &[(u32, u32, u32, u32)] = &[
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122880, 8192),
];

impl ChallengeManifest {
    /// Reads a manifest's text. `folder` is the name of the folder it was found in (the id must
    /// match it); `path` is used in error messages only.
    pub fn parse(text: &str, folder: &ChallengeId, path: &Path) -> Result<Self, ChallengeError> {
        let invalid = |reason: String| ChallengeError::InvalidManifest {
            path: path.to_owned(),
            reason,
        };
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| invalid(describe_toml_error(text, &e)))?;

        let required = |value: Option<String>, key: &str| -> Result<String, ChallengeError> {
            match value.map(|v| v.trim().to_owned()) {
                None => Err(invalid(format!("missing key `{key}`"))),
                Some(v) if v.is_empty() => Err(invalid(format!("key `{key}` is empty"))),
                Some(v) => Ok(v),
            }
        };

        let id_text = required(raw.id, "id")?;
        // Exact comparison: the folder name is the id people type and the store records, so a
        // manifest saying `Python` in folder `python` is a mistake worth reporting.
        if id_text != folder.as_str() {
            return Err(invalid(format!(
                "key `id` is `{id_text}` but the folder is `{folder}`; they must be equal"
            )));
        }
        let title = required(raw.title, "title")?;
        let language = required(raw.language, "language")?;
        let description = required(raw.description, "description")?;
        let duration = required(raw.default_duration, "default_duration")?;
        let default_length = parse_length(&duration).map_err(|e| {
            invalid(format!(
                "key `default_duration` = `{duration}`: {}",
                e.user_message()
            ))
        })?;
        let cloud = match raw.cloud {
            None => CloudResources::default(),
            Some(cloud) => {
                let cpu = cloud
                    .cpu
                    .ok_or_else(|| invalid("missing key `cloud.cpu`".to_owned()))?;
                let memory_mib = cloud
                    .memory
                    .ok_or_else(|| invalid("missing key `cloud.memory`".to_owned()))?;
                check_fargate_size(cpu, memory_mib).map_err(invalid)?;
                CloudResources { cpu, memory_mib }
            }
        };

        let sandbox = match raw.sandbox {
            None => SandboxRequest::default(),
            Some(sandbox) => sandbox.check().map_err(invalid)?,
        };

        Ok(Self {
            id: folder.clone(),
            title,
            language,
            description,
            default_length,
            cloud,
            sandbox,
        })
    }
}

/// Checks the size now rather than when ECS refuses the task definition mid-interview.
fn check_fargate_size(cpu: u32, memory: u32) -> Result<(), String> {
    let Some(&(_, min, max, step)) = FARGATE_SIZES.iter().find(|(c, ..)| *c == cpu) else {
        let allowed: Vec<String> = FARGATE_SIZES.iter().map(|(c, ..)| c.to_string()).collect();
        return Err(format!(
            "key `cloud.cpu` = {cpu} is not a Fargate size; use one of {}",
            allowed.join(", ")
        ));
    };
    // The smallest size is the one irregular row: 512, 1024 or 2048 MiB, not 1536.
    let fits = if cpu == 256 {
        matches!(memory, 512 | 1024 | 2048)
    } else {
        (min..=max).contains(&memory) && memory.is_multiple_of(step)
    };
    if !fits {
        let allowed = if cpu == 256 {
            "512, 1024 or 2048 MiB".to_owned()
        } else {
            format!("{min} to {max} MiB in steps of {step}")
        };
        return Err(format!(
            "key `cloud.memory` = {memory} does not fit `cloud.cpu` = {cpu}; use {allowed}"
        ));
    }
    Ok(())
}

/// toml's own `Display` is a multi-line snippet; an error line wants `line N: message`.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    match error.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())]
                .bytes()
                .filter(|b| *b == b'\n')
                .count()
                + 1;
            format!("line {line}: {message}")
        }
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: &str) -> ChallengeId {
        ChallengeId::parse(id).expect("test id")
    }

    const GOOD: &str = r#"
id = "python"
title = "Order ledger clean-up"
language = "python"
description = "Clean a CSV."
default_duration = "1h30m"
setup = "pip install pandas"

[cloud]
cpu = 1024
memory = 4096

[sandbox]
network = "internet"
memory = 1024
tasks = 256
cpus = 1.5
port_proxy = true
"#;

    fn parse(text: &str) -> Result<ChallengeManifest, ChallengeError> {
        ChallengeManifest::parse(text, &folder("python"), Path::new("python/challenge.toml"))
    }

    fn reason(text: &str) -> String {
        match parse(text) {
            Err(ChallengeError::InvalidManifest { reason, .. }) => reason,
            other => panic!("expected InvalidManifest, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_manifest_parses_every_key() {
        let manifest = parse(GOOD).expect("valid");
        assert_eq!(manifest.id.as_str(), "python");
        assert_eq!(manifest.title, "Order ledger clean-up");
        assert_eq!(manifest.language, "python");
        assert_eq!(manifest.description, "Clean a CSV.");
        assert_eq!(manifest.default_length.minutes(), 90);
        assert_eq!(
            manifest.cloud,
            CloudResources {
                cpu: 1024,
                memory_mib: 4096
            }
        );
        assert_eq!(
            manifest.sandbox,
            SandboxRequest {
                network: Network::Internet,
                memory_mib: Some(1024),
                tasks: Some(256),
                cpu_millis: Some(1500),
                port_proxy: true,
            }
        );
    }

    #[test]
    fn the_sandbox_section_is_optional_and_defaults_to_no_network() {
        let text = GOOD.split("[sandbox]").next().expect("head");
        let manifest = parse(text).expect("valid");
        assert_eq!(manifest.sandbox, SandboxRequest::default());
        assert_eq!(manifest.sandbox.network, Network::None);
        assert!(!manifest.sandbox.port_proxy);
    }

    #[test]
    fn cloud_section_is_optional_and_defaults_to_half_a_cpu() {
        let text = GOOD.replace("[cloud]\ncpu = 1024\nmemory = 4096\n", "");
        assert_eq!(
            parse(&text).expect("valid").cloud,
            CloudResources::default()
        );
    }

    #[test]
    fn manifest_errors_name_the_key() {
        let cases = [
            (
                GOOD.replace("id = \"python\"", "id = \"pandas\""),
                "key `id` is `pandas` but the folder is `python`",
            ),
            (
                GOOD.replace("title = \"Order ledger clean-up\"\n", ""),
                "missing key `title`",
            ),
            (
                GOOD.replace("\"Clean a CSV.\"", "\"  \""),
                "key `description` is empty",
            ),
            (
                GOOD.replace("\"1h30m\"", "\"20m\""),
                "key `default_duration` = `20m`",
            ),
            (
                GOOD.replace("\"1h30m\"", "\"soon\""),
                "key `default_duration` = `soon`",
            ),
            (
                GOOD.replace("cpu = 1024", "cpu = 1000"),
                "key `cloud.cpu` = 1000 is not a Fargate size",
            ),
            (
                GOOD.replace("memory = 4096", "memory = 512"),
                "key `cloud.memory` = 512 does not fit",
            ),
            (
                GOOD.replace("memory = 4096\n", ""),
                "missing key `cloud.memory`",
            ),
            (
                GOOD.replace("cpu = 1024", "cpu = 256")
                    .replace("4096", "1536"),
                "use 512, 1024 or 2048 MiB",
            ),
            (
                GOOD.replace("\"internet\"", "\"lan\""),
                "key `sandbox.network` = `lan` is not a network; use \"none\" or \"internet\"",
            ),
            (
                GOOD.replace("memory = 1024\n", "memory = 100\n"),
                "key `sandbox.memory` = 100 MiB is too little",
            ),
            (
                GOOD.replace("tasks = 256", "tasks = 8"),
                "key `sandbox.tasks` = 8 is too few",
            ),
            (
                GOOD.replace("cpus = 1.5", "cpus = 0.0"),
                "key `sandbox.cpus` = 0 is not between 0.1 and 256",
            ),
            (
                GOOD.replace("port_proxy", "port_proxi"),
                "unknown field `port_proxi`",
            ),
            (
                GOOD.replace("setup", "default_duraton"),
                "unknown field `default_duraton`",
            ),
            (
                GOOD.replace("title = \"Order ledger clean-up\"", "title = 5"),
                "line 3: invalid type",
            ),
        ];
        for (text, want) in cases {
            let got = reason(&text);
            assert!(got.contains(want), "{want:?} not in {got:?}");
        }
    }

    #[test]
    fn invalid_manifest_message_is_one_lowercase_line_with_the_path() {
        let err = parse("title = \"x\"").expect_err("missing id");
        assert_eq!(
            err.to_string(),
            "invalid challenge manifest python/challenge.toml: missing key `id`"
        );
    }

    #[test]
    fn unknown_challenge_lists_the_known_ones_for_people() {
        let err = ChallengeError::Unknown {
            id: folder("cobol"),
            known: vec![folder("python"), folder("sql")],
        };
        assert_eq!(
            err.to_string(),
            "unknown challenge `cobol` (known: python, sql)"
        );
        assert_eq!(
            err.user_message(),
            "unknown challenge `cobol`; known challenges: python, sql"
        );
    }

    fn file(path: &str, contents: &[u8]) -> BundleFile {
        BundleFile {
            path: path.to_owned(),
            contents: contents.to_vec(),
            executable: false,
        }
    }

    #[test]
    fn checksum_ignores_order_and_mode_but_not_paths_or_bytes() {
        let a = [file("a.txt", b"one"), file("b/c.txt", b"two")];
        let base = bundle_checksum(&a);
        assert!(
            base.starts_with("sha256:") && base.len() == 7 + 64,
            "{base}"
        );

        let reversed = [a[1].clone(), a[0].clone()];
        assert_eq!(bundle_checksum(&reversed), base);

        let mut executable = a.clone();
        executable[0].executable = true;
        assert_eq!(bundle_checksum(&executable), base);

        assert_ne!(
            bundle_checksum(&[file("a.txt", b"one"), file("b/c.txt", b"twO")]),
            base
        );
        assert_ne!(
            bundle_checksum(&[file("a.txt", b"one"), file("b/d.txt", b"two")]),
            base
        );
        // Moving bytes between the path and the contents must not collide.
        assert_ne!(
            bundle_checksum(&[file("ab", b"c")]),
            bundle_checksum(&[file("a", b"bc")])
        );
    }

    #[test]
    fn checksum_of_a_known_bundle_is_pinned() {
        // Computed independently (Python's hashlib over the documented encoding) and pinned, so
        // that a change to the encoding, which would invalidate every cached bundle on every
        // machine, is a deliberate and visible edit.
        let files = [file("README.md", b"hello\n")];
        assert_eq!(bundle_checksum(&files), PINNED_README_CHECKSUM);
    }

    const PINNED_README_CHECKSUM: &str =
        "sha256:f37418e2e95c9280e535163db0905ce76c2dcda22cf14496a7129aa29da037e9";
}
