//! [`DirChallenges`]: challenges read from a directory on this machine (the repository's
//! `challenge/` folder by default).
//!
//! `<root>/<id>/challenge.toml` is the manifest and `<root>/<id>/starter/**` the bundle. A
//! sub-folder without `challenge.toml`, or whose name is not exactly a challenge id (`Python`,
//! `.git`), is not a challenge and is skipped.
//!
//! # Symlinks in `starter/`
//!
//! A symlink to a file inside `starter/` is bundled as a plain file with the target's contents
//! (so a shared `data.csv` can be linked). Every other symlink is an error,
//! [`ChallengeError::UnsafePath`], rather than skipped: one leading out of `starter/` could hand
//! the candidate `reference/` or anything else on the server, one to a folder could loop, and
//! skipping either silently would give the candidate a workspace that lacks a file the author
//! meant to ship. The error is loud at start-up, when `list`/`starter_bundle` are first called.
//!
//! All file I/O runs in [`tokio::task::spawn_blocking`], so reading a bundle never stalls the
//! runtime's workers.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use tracing::{debug, instrument, warn};

use super::{
    BundleFile, ChallengeBundle, ChallengeError, ChallengeManifest, ChallengeSource,
    DEFAULT_MAX_BUNDLE_BYTES, MANIFEST_FILE, STARTER_DIR, bundle_checksum,
};
use crate::domain::ChallengeId;

/// Challenges in a directory: `<root>/<id>/challenge.toml` and `<root>/<id>/starter/`.
///
/// Reads the disk on every call, so an edited challenge is served without a restart.
#[derive(Debug, Clone)]
pub struct DirChallenges {
    root: PathBuf,
    max_bundle_bytes: u64,
}

impl DirChallenges {
    /// Challenges under `root`, with bundles limited to [`DEFAULT_MAX_BUNDLE_BYTES`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES,
        }
    }

    /// The same, with a different limit on a bundle's total size in bytes.
    pub fn with_max_bundle_bytes(mut self, limit: u64) -> Self {
        self.max_bundle_bytes = limit;
        self
    }

    /// The directory the challenges are read from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Runs blocking file work off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, ChallengeError> + Send + 'static,
    ) -> Result<T, ChallengeError> {
        let this = self.clone();
        match tokio::task::spawn_blocking(move || work(&this)).await {
            Ok(result) => result,
            // A panic in the closure is a bug; keep its message and backtrace.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(ChallengeError::Io {
                path: self.root.clone(),
                source: io::Error::other("the runtime shut down while reading challenges"),
            }),
        }
    }

    /// Ids of the folders that hold a `challenge.toml`, sorted. Reads no manifest, so it works
    /// (for an `Unknown` error's list) even when a manifest is broken.
    fn known_ids(&self) -> Result<Vec<ChallengeId>, ChallengeError> {
        let io_err = |source| ChallengeError::Io {
            path: self.root.clone(),
            source,
        };
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let path = entry.path();
            if !path.is_dir() || !path.join(MANIFEST_FILE).is_file() {
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            // Same rule as `command::challenge_ids_in_dir`: `parse` lowercases, so only a name
            // that is an id exactly as written counts, or a folder `Python` would be listed as
            // `python` and then not found on a case-sensitive file system.
            match ChallengeId::parse(&name) {
                Ok(id) if id.as_str() == name => ids.push(id),
                _ => {
                    warn!(folder = %path.display(), "skipping a challenge folder whose name is not a challenge id")
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn read_manifest(&self, id: &ChallengeId) -> Result<ChallengeManifest, ChallengeError> {
        let path = self.root.join(id.as_str()).join(MANIFEST_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ChallengeError::Unknown {
                    id: id.clone(),
                    known: self.known_ids()?,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(ChallengeError::InvalidManifest {
                    path,
                    reason: "the file is not UTF-8 text".to_owned(),
                });
            }
            Err(source) => return Err(ChallengeError::Io { path, source }),
        };
        ChallengeManifest::parse(&text, id, &path)
    }

    fn read_bundle(&self, id: &ChallengeId) -> Result<ChallengeBundle, ChallengeError> {
        let manifest = self.read_manifest(id)?;
        let starter = self.root.join(id.as_str()).join(STARTER_DIR);
        // Canonical, so "inside starter/" can be checked on canonical symlink targets.
        let base = fs::canonicalize(&starter).map_err(|source| ChallengeError::Io {
            path: starter.clone(),
            source,
        })?;
        let mut walk = Walk {
            id,
            base: &base,
            limit: self.max_bundle_bytes,
            total: 0,
            files: Vec::new(),
        };
        walk.dir(&base, "")?;
        let mut files = walk.files;
        files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        let checksum = bundle_checksum(&files);
        debug!(files = files.len(), bytes = walk.total, %checksum, "read starter bundle");
        Ok(ChallengeBundle {
            manifest,
            files,
            checksum,
        })
    }
}

/// One walk over a `starter/` tree.
struct Walk<'a> {
    id: &'a ChallengeId,
    /// The canonical `starter/` path.
    base: &'a Path,
    limit: u64,
    total: u64,
    files: Vec<BundleFile>,
}

impl Walk<'_> {
    /// Adds every file below `dir`, whose bundle path is `prefix` (empty or ending in `/`).
    fn dir(&mut self, dir: &Path, prefix: &str) -> Result<(), ChallengeError> {
        let io_err = |path: &Path| {
            let path = path.to_owned();
            move |source| ChallengeError::Io { path, source }
        };
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let path = entry.path();
            let unsafe_path = |reason: &str| ChallengeError::UnsafePath {
                path: path.clone(),
                reason: reason.to_owned(),
            };
            // Bundle paths are `String`s written on another machine; a name that is not UTF-8
            // (or holds a backslash, a separator on Windows) cannot be carried faithfully.
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| unsafe_path("the name is not UTF-8"))?;
            if name.contains('\\') {
                return Err(unsafe_path("the name holds a backslash"));
            }
            let rel = format!("{prefix}{name}");
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                self.dir(&path, &format!("{rel}/"))?;
            } else if kind.is_file() {
                self.file(&path, rel, &meta)?;
            } else if kind.is_symlink() {
                let target = fs::canonicalize(&path)
                    .map_err(|_| unsafe_path("the symlink's target does not exist"))?;
                if !target.starts_with(self.base) {
                    return Err(unsafe_path("the symlink leads outside starter/"));
                }
                let target_meta = fs::metadata(&target).map_err(io_err(&target))?;
                if !target_meta.is_file() {
                    return Err(unsafe_path("the symlink leads to a folder, not a file"));
                }
                self.file(&target, rel, &target_meta)?;
            } else {
                return Err(unsafe_path("not a file or folder"));
            }
        }
        Ok(())
    }

    fn file(
        &mut self,
        path: &Path,
        rel: String,
        meta: &fs::Metadata,
    ) -> Result<(), ChallengeError> {
        // Check the size on disk before reading, so a stray multi-gigabyte file is refused
        // without being loaded; check again after, in case it grew meanwhile.
        let too_large = || ChallengeError::TooLarge {
            id: self.id.clone(),
            limit: self.limit,
        };
        if self.total.saturating_add(meta.len()) > self.limit {
            return Err(too_large());
        }
        let contents = fs::read(path).map_err(|source| ChallengeError::Io {
            path: path.to_owned(),
            source,
        })?;
        self.total = self.total.saturating_add(contents.len() as u64);
        if self.total > self.limit {
            return Err(too_large());
        }
        self.files.push(BundleFile {
            path: rel,
            contents,
            executable: is_executable(meta),
        });
        Ok(())
    }
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

#[async_trait]
impl ChallengeSource for DirChallenges {
    #[instrument(skip_all, fields(root = %self.root.display()))]
    async fn list(&self) -> Result<Vec<ChallengeManifest>, ChallengeError> {
        self.blocking(|this| {
            this.known_ids()?
                .iter()
                .map(|id| this.read_manifest(id))
                .collect()
        })
        .await
    }

    #[instrument(skip_all, fields(challenge = %id))]
    async fn manifest(&self, id: &ChallengeId) -> Result<ChallengeManifest, ChallengeError> {
        let id = id.clone();
        self.blocking(move |this| this.read_manifest(&id)).await
    }

    #[instrument(skip_all, fields(challenge = %id))]
    async fn starter_bundle(&self, id: &ChallengeId) -> Result<ChallengeBundle, ChallengeError> {
        let id = id.clone();
        self.blocking(move |this| this.read_bundle(&id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn id(text: &str) -> ChallengeId {
        ChallengeId::parse(text).expect("test id")
    }

    fn manifest_text(id: &str) -> String {
        format!(
            "id = \"{id}\"\ntitle = \"The {id} one\"\nlanguage = \"{id}\"\n\
             description = \"A test challenge.\"\ndefault_duration = \"60m\"\n\
             [cloud]\ncpu = 512\nmemory = 1024\n"
        )
    }

    fn write(path: &Path, contents: &str) {
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, contents).expect("write");
    }

    /// A tree with two challenges, each with starter, tests and reference, plus things that are
    /// not challenges.
    fn good_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for name in ["sql", "python"] {
            write(&root.join(name).join(MANIFEST_FILE), &manifest_text(name));
            write(
                &root.join(name).join("starter/README.md"),
                &format!("# {name}\n"),
            );
            write(&root.join(name).join("starter/src/main.txt"), "TODO\n");
            write(
                &root.join(name).join("tests/test_hidden.py"),
                "assert secret\n",
            );
            write(
                &root.join(name).join("reference/src/main.txt"),
                "solution\n",
            );
        }
        write(
            &root.join("notes/README.md"),
            "no manifest: not a challenge\n",
        );
        write(
            &root.join("Upper").join(MANIFEST_FILE),
            &manifest_text("upper"),
        );
        write(&root.join("verify"), "#!/bin/sh\n");
        dir
    }

    #[tokio::test]
    async fn list_returns_manifests_sorted_by_id_skipping_non_challenges() -> TestResult {
        let tree = good_tree();
        let source = DirChallenges::new(tree.path());
        let listed = source.list().await?;
        let ids: Vec<&str> = listed.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["python", "sql"]);
        assert_eq!(listed[0].title, "The python one");
        assert_eq!(listed[0].default_length.minutes(), 60);
        assert_eq!(source.manifest(&id("sql")).await?, listed[1]);
        Ok(())
    }

    #[tokio::test]
    async fn unknown_id_is_an_error_listing_the_known_ids() {
        let tree = good_tree();
        let source = DirChallenges::new(tree.path());
        for result in [
            source.manifest(&id("notes")).await.map(|_| ()),
            source.starter_bundle(&id("cobol")).await.map(|_| ()),
        ] {
            match result {
                Err(ChallengeError::Unknown { known, .. }) => {
                    assert_eq!(known, [id("python"), id("sql")]);
                }
                other => panic!("expected Unknown, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn bundle_holds_only_starter_files_with_relative_paths() -> TestResult {
        let tree = good_tree();
        let script = tree.path().join("python/starter/bin/run.sh");
        write(&script, "#!/bin/sh\necho hi\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
        }
        let bundle = DirChallenges::new(tree.path())
            .starter_bundle(&id("python"))
            .await?;
        let paths: Vec<&str> = bundle.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["README.md", "bin/run.sh", "src/main.txt"]);
        assert_eq!(bundle.manifest.id, id("python"));
        assert_eq!(
            bundle.file("src/main.txt").map(|f| &f.contents[..]),
            Some(&b"TODO\n"[..])
        );
        assert!(!bundle.file("README.md").expect("readme").executable);
        assert_eq!(
            bundle.file("bin/run.sh").expect("script").executable,
            cfg!(unix)
        );
        assert!(
            bundle
                .files
                .iter()
                .all(|f| !f.contents.starts_with(b"solution")
                    && !f.contents.starts_with(b"assert secret")),
            "reference/ or tests/ leaked into {bundle:?}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn checksum_is_stable_across_reads_and_locations_and_changes_with_a_file() -> TestResult {
        let first = good_tree();
        let second = good_tree();
        let read = |root: &Path| {
            let source = DirChallenges::new(root);
            async move { source.starter_bundle(&id("python")).await }
        };
        let a = read(first.path()).await?;
        assert_eq!(a.checksum, bundle_checksum(&a.files));
        assert_eq!(read(first.path()).await?.checksum, a.checksum);
        // Another directory on "another machine" with the same files: same checksum.
        assert_eq!(read(second.path()).await?.checksum, a.checksum);

        write(&first.path().join("python/starter/src/main.txt"), "TODO!\n");
        assert_ne!(read(first.path()).await?.checksum, a.checksum);
        // Changing tests/ or reference/ does not touch the starter bundle.
        write(
            &second.path().join("python/reference/src/main.txt"),
            "better\n",
        );
        assert_eq!(read(second.path()).await?.checksum, a.checksum);
        Ok(())
    }

    #[tokio::test]
    async fn a_broken_manifest_fails_list_manifest_and_bundle_naming_the_key() {
        let tree = good_tree();
        let path = tree.path().join("sql").join(MANIFEST_FILE);
        write(
            &path,
            &manifest_text("sql").replace("id = \"sql\"", "id = \"mysql\""),
        );
        let source = DirChallenges::new(tree.path());
        let errors = [
            source.list().await.map(|_| ()),
            source.manifest(&id("sql")).await.map(|_| ()),
            source.starter_bundle(&id("sql")).await.map(|_| ()),
        ];
        for result in errors {
            match result {
                Err(ChallengeError::InvalidManifest { path: p, reason }) => {
                    assert_eq!(p, path);
                    assert!(reason.contains("key `id` is `mysql`"), "{reason}");
                }
                other => panic!("expected InvalidManifest, got {other:?}"),
            }
        }
        // The other challenge is unaffected.
        assert!(source.starter_bundle(&id("python")).await.is_ok());
    }

    #[tokio::test]
    async fn a_manifest_that_is_not_utf8_is_invalid() {
        let tree = good_tree();
        fs::write(
            tree.path().join("sql").join(MANIFEST_FILE),
            [0xff, 0xfe, b'i'],
        )
        .expect("write");
        let result = DirChallenges::new(tree.path()).manifest(&id("sql")).await;
        assert!(
            matches!(&result, Err(ChallengeError::InvalidManifest { reason, .. }) if reason.contains("UTF-8")),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn a_challenge_without_starter_folder_is_an_io_error_naming_it() {
        let tree = good_tree();
        fs::remove_dir_all(tree.path().join("sql/starter")).expect("rm");
        match DirChallenges::new(tree.path())
            .starter_bundle(&id("sql"))
            .await
        {
            Err(ChallengeError::Io { path, source }) => {
                assert!(path.ends_with("sql/starter"), "{}", path.display());
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_missing_root_is_an_io_error_naming_the_root() {
        let tree = good_tree();
        let root = tree.path().join("nowhere");
        match DirChallenges::new(&root).list().await {
            Err(ChallengeError::Io { path, .. }) => assert_eq!(path, root),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_bundle_over_the_size_limit_is_refused() -> TestResult {
        let tree = good_tree();
        write(&tree.path().join("sql/starter/data.csv"), &"x".repeat(100));
        let source = DirChallenges::new(tree.path()).with_max_bundle_bytes(64);
        match source.starter_bundle(&id("sql")).await {
            Err(ChallengeError::TooLarge { id: got, limit }) => {
                assert_eq!((got, limit), (id("sql"), 64));
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        // The same tree within the limit reads fine.
        let source = source.with_max_bundle_bytes(200);
        assert_eq!(
            source.starter_bundle(&id("sql")).await?.total_bytes(),
            100 + 6 + 5
        );
        Ok(())
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_out_of_starter_or_to_folders_are_refused() {
        use std::os::unix::fs::symlink;
        for (link, target) in [
            ("answer.txt", "../reference/src/main.txt"),
            ("passwd", "/etc/passwd"),
            ("srcdir", "src"),
            ("dangling", "missing.txt"),
        ] {
            let tree = good_tree();
            let starter = tree.path().join("python/starter");
            symlink(target, starter.join(link)).expect("symlink");
            match DirChallenges::new(tree.path())
                .starter_bundle(&id("python"))
                .await
            {
                Err(ChallengeError::UnsafePath { path, .. }) => {
                    assert_eq!(path, starter.join(link));
                }
                other => panic!("{link} -> {target}: expected UnsafePath, got {other:?}"),
            }
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symlink_to_a_file_inside_starter_is_bundled_as_that_file() -> TestResult {
        let tree = good_tree();
        std::os::unix::fs::symlink("src/main.txt", tree.path().join("python/starter/copy.txt"))?;
        let bundle = DirChallenges::new(tree.path())
            .starter_bundle(&id("python"))
            .await?;
        assert_eq!(
            bundle.file("copy.txt").map(|f| &f.contents[..]),
            Some(&b"TODO\n"[..])
        );
        Ok(())
    }

    /// Every file below `dir`, read the way a starter folder is.
    fn read_tree(dir: &Path) -> Result<Vec<BundleFile>, ChallengeError> {
        let base = fs::canonicalize(dir).map_err(|source| ChallengeError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let id = id("reference");
        let mut walk = Walk {
            id: &id,
            base: &base,
            limit: DEFAULT_MAX_BUNDLE_BYTES,
            total: 0,
            files: Vec::new(),
        };
        walk.dir(&base, "")?;
        Ok(walk.files)
    }

    /// The repository's own challenges: the manifests parse, and each bundle has the
    /// candidate's README and none of the solution.
    #[tokio::test]
    async fn the_repository_challenges_parse_and_ship_a_readme_but_no_solution() -> TestResult {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge");
        let source = DirChallenges::new(&root);
        let listed = source.list().await?;
        let ids: Vec<&str> = listed.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["javascript", "python", "sql"]);
        for manifest in &listed {
            assert_eq!(manifest.language, manifest.id.as_str());
            let bundle = source.starter_bundle(&manifest.id).await?;
            let readme = bundle.file("README.md").expect("starter/README.md");
            assert!(
                readme.contents.len() > 500,
                "{}: README too short",
                manifest.id
            );
            // Every reference file must differ from the starter file it replaces, or the
            // starter would already hold (part of) the solution.
            let reference = root.join(manifest.id.as_str()).join("reference");
            for solved in read_tree(&reference)? {
                if let Some(starter) = bundle.file(&solved.path) {
                    assert_ne!(
                        starter.contents, solved.contents,
                        "{}: starter/{} is the solution",
                        manifest.id, solved.path
                    );
                }
            }
            assert!(
                bundle
                    .files
                    .iter()
                    .all(|f| !f.path.starts_with("reference/") && !f.path.starts_with("tests/"))
            );
        }
        Ok(())
    }
}
