//! [`S3Challenges`]: challenges served from an S3 bucket (feature `aws`), the source an ECS
//! deployment reads, and [`S3Challenges::sync`], which fills the bucket from a local folder.
//!
//! # Layout
//!
//! One prefix per challenge, named by its id:
//!
//! ```text
//! s3://{prefix}-{environment}-challenges/
//!     python/challenge.toml      the manifest, byte for byte as in the repository
//!     python/starter.tar.gz      the files under starter/ (paths relative to it), gzipped tar,
//!                                user metadata `sha256` = bundle_checksum of those files
//!     sql/…
//! ```
//!
//! The keys come from [`manifest_key`] and [`ResourceNames::starter_bundle_key`],
//! the metadata key from [`CHECKSUM_METADATA`]: the ECS provisioner and the instance image read
//! the same objects. Only the manifest and the starter files are ever uploaded; a challenge's
//! `tests/` and `reference/` stay in the repository.
//!
//! # The tarball
//!
//! [`S3Challenges::sync`] writes a deterministic tar: entries sorted by path, regular files only
//! (folders are implied by the paths), mode 0644 or 0755, owner 0:0, modification time 0, gzip
//! header without name or time. The same starter tree therefore gives the same bytes on every
//! machine. A reader ([`starter_bundle`](ChallengeSource::starter_bundle)) is less trusting than
//! the writer: it refuses absolute paths, `..`, links, devices and duplicate paths, bounds the
//! size by [`DEFAULT_MAX_BUNDLE_BYTES`], and compares the unpacked files' checksum with the
//! object's metadata, so a bundle altered in the bucket is an error naming the object rather than
//! a candidate's surprise.
//!
//! # Consistency while syncing
//!
//! A challenge's bundle is uploaded before its manifest, and its manifest deleted before its
//! bundle, and a prefix without a manifest is not listed; readers racing a sync therefore see the
//! old challenge or the new one, never a manifest without a bundle (S3 is strongly consistent
//! for reads after writes).

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use sha2::{Digest, Sha256};
use tracing::{debug, info, instrument, warn};

use super::{
    BundleFile, ChallengeBundle, ChallengeError, ChallengeManifest, ChallengeSource,
    DEFAULT_MAX_BUNDLE_BYTES, DirChallenges, MANIFEST_FILE, bundle_checksum,
};
use crate::aws::{CHECKSUM_METADATA, ResourceNames};
use crate::domain::ChallengeId;

/// The content type of starter bundles (and of archives).
const GZIP: &str = "application/gzip";
/// The content type of manifests.
const TOML: &str = "application/toml";
/// Slack allowed for the gzipped tar beyond the files' own size (headers, padding, a file that
/// does not compress): the download is refused before reading when it is larger.
const ARCHIVE_OVERHEAD_BYTES: u64 = 4 * 1024 * 1024;

/// The key of a challenge's manifest in the challenges bucket (`{challenge}/challenge.toml`).
pub fn manifest_key(challenge: &ChallengeId) -> String {
    format!("{challenge}/{MANIFEST_FILE}")
}

/// Challenges in an S3 bucket, laid out as the [module documentation](self) describes.
///
/// Reads the bucket on every call (no cache), so a `sync` is served at once. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct S3Challenges {
    s3: aws_sdk_s3::Client,
    bucket: String,
    max_bundle_bytes: u64,
}

/// What [`S3Challenges::sync`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncReport {
    /// Every local challenge, sorted by id, with what happened to it.
    pub challenges: Vec<SyncedChallenge>,
    /// Challenges that were in the bucket but no longer exist locally, now deleted; sorted.
    pub removed: Vec<ChallengeId>,
}

impl SyncReport {
    /// The challenges of which something was uploaded.
    pub fn uploaded(&self) -> Vec<&ChallengeId> {
        self.challenges
            .iter()
            .filter(|c| !c.is_unchanged())
            .map(|c| &c.id)
            .collect()
    }

    /// The challenges the bucket already held exactly.
    pub fn unchanged(&self) -> Vec<&ChallengeId> {
        self.challenges
            .iter()
            .filter(|c| c.is_unchanged())
            .map(|c| &c.id)
            .collect()
    }
}

impl fmt::Display for SyncReport {
    /// One line per challenge, then a summary line, for the `prequel challenges sync` command:
    ///
    /// ```text
    /// javascript: unchanged (sha256:…)
    /// python: uploaded starter (sha256:…)
    /// old: removed (no longer in the folder)
    /// 1 uploaded, 1 unchanged, 1 removed
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.challenges {
            let what = match (c.starter, c.manifest) {
                (SyncAction::Uploaded, SyncAction::Uploaded) => "uploaded starter and manifest",
                (SyncAction::Uploaded, SyncAction::Unchanged) => "uploaded starter",
                (SyncAction::Unchanged, SyncAction::Uploaded) => "uploaded manifest",
                (SyncAction::Unchanged, SyncAction::Unchanged) => "unchanged",
            };
            writeln!(f, "{}: {what} ({})", c.id, c.checksum)?;
        }
        for id in &self.removed {
            writeln!(f, "{id}: removed (no longer in the folder)")?;
        }
        writeln!(
            f,
            "{} uploaded, {} unchanged, {} removed",
            self.uploaded().len(),
            self.unchanged().len(),
            self.removed.len()
        )
    }
}

/// One local challenge in a [`SyncReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedChallenge {
    /// The challenge.
    pub id: ChallengeId,
    /// Its starter bundle's checksum (`sha256:<hex>`), now in the bucket.
    pub checksum: String,
    /// What happened to `{id}/starter.tar.gz`.
    pub starter: SyncAction,
    /// What happened to `{id}/challenge.toml`.
    pub manifest: SyncAction,
}

impl SyncedChallenge {
    /// Whether nothing of this challenge had to be uploaded.
    pub fn is_unchanged(&self) -> bool {
        self.starter == SyncAction::Unchanged && self.manifest == SyncAction::Unchanged
    }
}

/// What a sync did with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncAction {
    /// The object was missing or different and was uploaded.
    Uploaded,
    /// The bucket already held it (same checksum, same manifest bytes).
    Unchanged,
}

impl S3Challenges {
    /// Challenges in `bucket` (usually [`ResourceNames::challenges_bucket`]), with bundles
    /// limited to [`DEFAULT_MAX_BUNDLE_BYTES`].
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
            max_bundle_bytes: DEFAULT_MAX_BUNDLE_BYTES,
        }
    }

    /// The same, with a different limit on a bundle's total size in bytes.
    pub fn with_max_bundle_bytes(mut self, limit: u64) -> Self {
        self.max_bundle_bytes = limit;
        self
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `s3://bucket/key`, as error messages and logs name objects.
    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn backend(&self, key: &str, message: impl Into<String>) -> ChallengeError {
        ChallengeError::Backend {
            location: self.location(key),
            message: message.into(),
        }
    }

    /// Checks that the bucket exists and can be read (HeadBucket), for start-up.
    #[instrument(skip_all, fields(bucket = %self.bucket))]
    pub async fn check(&self) -> Result<(), ChallengeError> {
        match self.s3.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(ChallengeError::Backend {
                location: format!("s3://{}", self.bucket),
                message: format!(
                    "S3 bucket `{}` does not exist or is not readable: {}",
                    self.bucket,
                    DisplayErrorContext(&err)
                ),
            }),
        }
    }

    /// The ids of the challenge prefixes in the bucket (`{id}/`), sorted. Reads no manifest, so
    /// it works (for an `Unknown` error's list) even when a manifest is broken; a prefix that is
    /// not exactly a challenge id is skipped.
    async fn remote_ids(&self) -> Result<Vec<ChallengeId>, ChallengeError> {
        let mut ids = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| {
                self.backend(
                    "",
                    format!("cannot list objects: {}", DisplayErrorContext(&err)),
                )
            })?;
            for prefix in page.common_prefixes() {
                let Some(name) = prefix.prefix().and_then(|p| p.strip_suffix('/')) else {
                    continue;
                };
                match ChallengeId::parse(name) {
                    Ok(id) if id.as_str() == name => ids.push(id),
                    _ => warn!(
                        bucket = %self.bucket,
                        prefix = name,
                        "skipping a prefix whose name is not a challenge id"
                    ),
                }
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// The manifest's bytes, or `None` when the object does not exist.
    async fn get_manifest_text(&self, id: &ChallengeId) -> Result<Option<Vec<u8>>, ChallengeError> {
        let key = manifest_key(id);
        match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(output) => {
                let bytes =
                    output.body.collect().await.map_err(|err| {
                        self.backend(&key, format!("cannot read the object: {err}"))
                    })?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(err) => Err(self.backend(
                &key,
                format!("cannot get the object: {}", DisplayErrorContext(&err)),
            )),
        }
    }

    /// The manifest, or `None` when the challenge has no manifest in the bucket.
    async fn read_manifest(
        &self,
        id: &ChallengeId,
    ) -> Result<Option<ChallengeManifest>, ChallengeError> {
        let Some(bytes) = self.get_manifest_text(id).await? else {
            return Ok(None);
        };
        let path = PathBuf::from(self.location(&manifest_key(id)));
        let text = String::from_utf8(bytes).map_err(|_| ChallengeError::InvalidManifest {
            path: path.clone(),
            reason: "the file is not UTF-8 text".to_owned(),
        })?;
        ChallengeManifest::parse(&text, id, &path).map(Some)
    }

    async fn unknown(&self, id: &ChallengeId) -> ChallengeError {
        match self.remote_ids().await {
            Ok(known) => ChallengeError::Unknown {
                id: id.clone(),
                known,
            },
            Err(err) => err,
        }
    }

    /// The checksum in an object's metadata, or `None` when the object does not exist.
    /// `Some(None)` is an object without the metadata.
    async fn remote_checksum(&self, key: &str) -> Result<Option<Option<String>>, ChallengeError> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(Some(
                head.metadata()
                    .and_then(|m| m.get(CHECKSUM_METADATA))
                    .cloned(),
            )),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(self.backend(
                key,
                format!(
                    "cannot read the object's metadata: {}",
                    DisplayErrorContext(&err)
                ),
            )),
        }
    }

    /// Makes the bucket hold exactly the challenges of `from`: for each, its `challenge.toml`
    /// (byte for byte) and a deterministic `starter.tar.gz` with the bundle checksum in its
    /// metadata, skipping objects the bucket already holds unchanged; then deletes challenges the
    /// bucket holds that `from` no longer has.
    ///
    /// Every local manifest and bundle is read (and so checked) before anything is uploaded, so
    /// a broken challenge stops the sync with the bucket untouched. A folder without any
    /// challenge is refused rather than synced, since it would delete every remote challenge
    /// (most likely a wrong path).
    #[instrument(skip_all, fields(bucket = %self.bucket, from = %from.root().display()))]
    pub async fn sync(&self, from: &DirChallenges) -> Result<SyncReport, ChallengeError> {
        let manifests = from.list().await?;
        if manifests.is_empty() {
            return Err(ChallengeError::Backend {
                location: from.root().display().to_string(),
                message: format!(
                    "no challenges found; refusing to sync an empty folder to s3://{} \
                     (it would delete every challenge there)",
                    self.bucket
                ),
            });
        }

        // Read and check everything first.
        let mut local = Vec::with_capacity(manifests.len());
        for manifest in &manifests {
            let id = &manifest.id;
            let path = from.root().join(id.as_str()).join(MANIFEST_FILE);
            let text = read_text(&path).await?;
            // The file may have changed since `list` read it: never upload an unchecked one.
            ChallengeManifest::parse(&text, id, &path)?;
            let bundle = from.starter_bundle(id).await?;
            local.push((id.clone(), text, bundle));
        }

        let mut report = SyncReport::default();
        for (id, text, bundle) in local {
            let starter = self.sync_starter(&id, &bundle).await?;
            let manifest = self.sync_manifest(&id, &text).await?;
            info!(
                challenge = %id,
                checksum = %bundle.checksum,
                starter = ?starter,
                manifest = ?manifest,
                "synced challenge"
            );
            report.challenges.push(SyncedChallenge {
                id,
                checksum: bundle.checksum,
                starter,
                manifest,
            });
        }

        let keep: BTreeSet<&ChallengeId> = report.challenges.iter().map(|c| &c.id).collect();
        for id in self.remote_ids().await? {
            if !keep.contains(&id) {
                self.remove(&id).await?;
                info!(challenge = %id, "removed challenge no longer present locally");
                report.removed.push(id);
            }
        }
        Ok(report)
    }

    async fn sync_starter(
        &self,
        id: &ChallengeId,
        bundle: &ChallengeBundle,
    ) -> Result<SyncAction, ChallengeError> {
        let key = ResourceNames::starter_bundle_key(id);
        if self.remote_checksum(&key).await?.flatten().as_deref() == Some(&bundle.checksum) {
            return Ok(SyncAction::Unchanged);
        }
        let files = bundle.files.clone();
        let location = self.location(&key);
        let bytes = blocking(&location, move || deterministic_tar_gz(&files)).await?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(GZIP)
            .metadata(CHECKSUM_METADATA, &bundle.checksum)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|err| {
                self.backend(
                    &key,
                    format!("cannot upload: {}", DisplayErrorContext(&err)),
                )
            })?;
        Ok(SyncAction::Uploaded)
    }

    async fn sync_manifest(
        &self,
        id: &ChallengeId,
        text: &str,
    ) -> Result<SyncAction, ChallengeError> {
        if self.get_manifest_text(id).await?.as_deref() == Some(text.as_bytes()) {
            return Ok(SyncAction::Unchanged);
        }
        let key = manifest_key(id);
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())));
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(TOML)
            .metadata(CHECKSUM_METADATA, digest)
            .body(ByteStream::from(text.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|err| {
                self.backend(
                    &key,
                    format!("cannot upload: {}", DisplayErrorContext(&err)),
                )
            })?;
        Ok(SyncAction::Uploaded)
    }

    /// Deletes every object under `{id}/`, the manifest first (so the challenge stops being
    /// listed before its bundle goes).
    async fn remove(&self, id: &ChallengeId) -> Result<(), ChallengeError> {
        let manifest_key = manifest_key(id);
        let prefix = format!("{id}/");
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| {
                self.backend(
                    &prefix,
                    format!("cannot list objects: {}", DisplayErrorContext(&err)),
                )
            })?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        keys.sort_by_key(|k| *k != manifest_key);
        for key in keys {
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|err| {
                    self.backend(
                        &key,
                        format!("cannot delete: {}", DisplayErrorContext(&err)),
                    )
                })?;
            debug!(key, "deleted object");
        }
        Ok(())
    }

    async fn read_bundle(
        &self,
        manifest: ChallengeManifest,
    ) -> Result<ChallengeBundle, ChallengeError> {
        let id = manifest.id.clone();
        let key = ResourceNames::starter_bundle_key(&id);
        let location = self.location(&key);
        let output = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(self.backend(
                    &key,
                    "the challenge has a manifest but no starter bundle; run `prequel challenges sync`",
                ));
            }
            Err(err) => {
                return Err(self.backend(
                    &key,
                    format!("cannot get the object: {}", DisplayErrorContext(&err)),
                ));
            }
        };
        let limit = self.max_bundle_bytes;
        if output.content_length().is_some_and(|len| {
            u64::try_from(len).unwrap_or(u64::MAX) > limit.saturating_add(ARCHIVE_OVERHEAD_BYTES)
        }) {
            return Err(ChallengeError::TooLarge { id, limit });
        }
        let expected = output
            .metadata()
            .and_then(|m| m.get(CHECKSUM_METADATA))
            .cloned()
            .ok_or_else(|| {
                self.backend(
                    &key,
                    format!("the object has no `{CHECKSUM_METADATA}` metadata; run `prequel challenges sync`"),
                )
            })?;
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|err| self.backend(&key, format!("cannot read the object: {err}")))?
            .into_bytes();
        let unpack_id = id.clone();
        let unpack_location = location.clone();
        let files = blocking(&location, move || {
            unpack_tar_gz(&bytes, &unpack_id, limit, &unpack_location)
        })
        .await?;
        let checksum = bundle_checksum(&files);
        if checksum != expected {
            return Err(self.backend(
                &key,
                format!(
                    "the starter bundle does not match its checksum: the metadata says \
                     {expected}, the contents hash to {checksum}"
                ),
            ));
        }
        debug!(files = files.len(), %checksum, "read starter bundle");
        Ok(ChallengeBundle {
            manifest,
            files,
            checksum,
        })
    }
}

#[async_trait]
impl ChallengeSource for S3Challenges {
    #[instrument(skip_all, fields(bucket = %self.bucket))]
    async fn list(&self) -> Result<Vec<ChallengeManifest>, ChallengeError> {
        let mut manifests = Vec::new();
        for id in self.remote_ids().await? {
            match self.read_manifest(&id).await? {
                Some(manifest) => manifests.push(manifest),
                // A bundle without its manifest: a sync in progress or an interrupted one.
                None => {
                    warn!(challenge = %id, bucket = %self.bucket, "skipping a prefix without challenge.toml")
                }
            }
        }
        Ok(manifests)
    }

    #[instrument(skip_all, fields(challenge = %id))]
    async fn manifest(&self, id: &ChallengeId) -> Result<ChallengeManifest, ChallengeError> {
        match self.read_manifest(id).await? {
            Some(manifest) => Ok(manifest),
            None => Err(self.unknown(id).await),
        }
    }

    #[instrument(skip_all, fields(challenge = %id))]
    async fn starter_bundle(&self, id: &ChallengeId) -> Result<ChallengeBundle, ChallengeError> {
        let manifest = self.manifest(id).await?;
        self.read_bundle(manifest).await
    }
}

/// Reads a local manifest's text.
async fn read_text(path: &Path) -> Result<String, ChallengeError> {
    let owned = path.to_owned();
    match tokio::fs::read(path).await {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| ChallengeError::InvalidManifest {
            path: owned,
            reason: "the file is not UTF-8 text".to_owned(),
        }),
        Err(source) => Err(ChallengeError::Io {
            path: owned,
            source,
        }),
    }
}

/// Runs CPU-bound work (packing, unpacking) off the async workers.
async fn blocking<T: Send + 'static>(
    location: &str,
    work: impl FnOnce() -> Result<T, ChallengeError> + Send + 'static,
) -> Result<T, ChallengeError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ChallengeError::Backend {
            location: location.to_owned(),
            message: "the runtime shut down while packing or unpacking".to_owned(),
        }),
    }
}

/// The deterministic `starter.tar.gz` of `files` (see the module documentation).
pub fn deterministic_tar_gz(files: &[BundleFile]) -> Result<Vec<u8>, ChallengeError> {
    let io = |source| ChallengeError::Io {
        path: PathBuf::from("starter.tar.gz"),
        source,
    };
    let mut sorted: Vec<&BundleFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    // `GzBuilder` writes no file name and modification time 0 unless told otherwise.
    let gz = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for file in sorted {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(file.contents.len() as u64);
        header.set_mode(if file.executable { 0o755 } else { 0o644 });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        // `append_data` sets the path (with a GNU long-name entry when needed) and the checksum.
        tar.append_data(&mut header, &file.path, file.contents.as_slice())
            .map_err(io)?;
    }
    let gz = tar.into_inner().map_err(io)?;
    gz.finish().map_err(io)
}

/// The files of a gzipped tar, checked as the module documentation says, sorted by path.
fn unpack_tar_gz(
    bytes: &[u8],
    id: &ChallengeId,
    limit: u64,
    location: &str,
) -> Result<Vec<BundleFile>, ChallengeError> {
    let corrupt = |err: std::io::Error| ChallengeError::Backend {
        location: location.to_owned(),
        message: format!("the starter bundle is not a valid gzipped tar: {err}"),
    };
    let too_large = || ChallengeError::TooLarge {
        id: id.clone(),
        limit,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut files = Vec::new();
    let mut seen = BTreeSet::new();
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw_path = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        let unsafe_path = |reason: &str| ChallengeError::UnsafePath {
            path: PathBuf::from(format!("{location}:{shown}")),
            reason: reason.to_owned(),
        };
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous) {
            return Err(unsafe_path(
                "not a regular file (a link, device or other special entry)",
            ));
        }
        let path = bundle_path(&raw_path).map_err(unsafe_path)?;
        if !seen.insert(path.clone()) {
            return Err(unsafe_path("the path appears twice"));
        }
        let size = entry.header().size().map_err(corrupt)?;
        if total.saturating_add(size) > limit {
            return Err(too_large());
        }
        let mut contents = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(limit - total + 1)
            .read_to_end(&mut contents)
            .map_err(corrupt)?;
        total = total.saturating_add(contents.len() as u64);
        if total > limit {
            return Err(too_large());
        }
        let executable = entry.header().mode().map_err(corrupt)? & 0o111 != 0;
        files.push(BundleFile {
            path,
            contents,
            executable,
        });
    }
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    Ok(files)
}

/// A tar entry's path as a bundle path: UTF-8, relative, `/`-separated, no `..`, no backslash;
/// `.` components (`./README.md`) are dropped.
fn bundle_path(raw: &[u8]) -> Result<String, &'static str> {
    let text = std::str::from_utf8(raw).map_err(|_| "the name is not UTF-8")?;
    if text.contains('\\') {
        return Err("the name holds a backslash");
    }
    let mut parts = Vec::new();
    for component in Path::new(text).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str().ok_or("the name is not UTF-8")?),
            Component::CurDir => {}
            Component::ParentDir => return Err("the path holds `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("the path is absolute"),
        }
    }
    if parts.is_empty() {
        return Err("the path is empty");
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ChallengeId {
        ChallengeId::parse("python").expect("id")
    }

    fn file(path: &str, contents: &[u8], executable: bool) -> BundleFile {
        BundleFile {
            path: path.to_owned(),
            contents: contents.to_vec(),
            executable,
        }
    }

    #[test]
    fn tarball_is_deterministic_and_round_trips_modes() {
        let files = vec![
            file("src/main.py", b"print(1)\n", false),
            file("bin/run.sh", b"#!/bin/sh\n", true),
            file("README.md", b"# hi\n", false),
        ];
        let mut reversed = files.clone();
        reversed.reverse();
        let packed = deterministic_tar_gz(&files).expect("pack");
        assert_eq!(packed, deterministic_tar_gz(&reversed).expect("pack"));
        let unpacked = unpack_tar_gz(&packed, &id(), 1 << 20, "s3://b/k").expect("unpack");
        let mut sorted = files.clone();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(unpacked, sorted);
        assert_eq!(bundle_checksum(&unpacked), bundle_checksum(&files));
    }

    #[test]
    fn sync_report_prints_one_line_per_challenge_and_a_summary() {
        let report = SyncReport {
            challenges: vec![
                SyncedChallenge {
                    id: ChallengeId::parse("javascript").expect("id"),
                    checksum: "sha256:aa".to_owned(),
                    starter: SyncAction::Unchanged,
                    manifest: SyncAction::Unchanged,
                },
                SyncedChallenge {
                    id: id(),
                    checksum: "sha256:bb".to_owned(),
                    starter: SyncAction::Uploaded,
                    manifest: SyncAction::Unchanged,
                },
            ],
            removed: vec![ChallengeId::parse("old").expect("id")],
        };
        assert_eq!(
            report.to_string(),
            "javascript: unchanged (sha256:aa)\npython: uploaded starter (sha256:bb)\n\
             old: removed (no longer in the folder)\n1 uploaded, 1 unchanged, 1 removed\n"
        );
    }

    #[test]
    fn long_paths_survive_the_tarball() {
        let long = format!("{}/file.txt", "d".repeat(150));
        let packed = deterministic_tar_gz(&[file(&long, b"x", false)]).expect("pack");
        let unpacked = unpack_tar_gz(&packed, &id(), 1 << 20, "s3://b/k").expect("unpack");
        assert_eq!(unpacked[0].path, long);
    }

    #[test]
    fn unsafe_entries_are_refused() {
        for (path, want) in [
            ("../escape", "`..`"),
            ("/etc/passwd", "absolute"),
            ("a/../../b", "`..`"),
        ] {
            // Build the tar by hand: `tar::Builder` refuses these paths itself.
            let mut header = tar::Header::new_gnu();
            header.set_size(1);
            header.set_mode(0o644);
            let name = &mut header.as_old_mut().name;
            name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            let mut tar = tar::Builder::new(Vec::new());
            tar.append(&header, &b"x"[..]).expect("append");
            let raw = tar.into_inner().expect("tar");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &raw).expect("gz");
            let packed = gz.finish().expect("gz");
            match unpack_tar_gz(&packed, &id(), 1 << 20, "s3://b/k") {
                Err(ChallengeError::UnsafePath { reason, path: p }) => {
                    assert!(reason.contains(want), "{path}: {reason}");
                    assert!(p.display().to_string().starts_with("s3://b/k:"));
                }
                other => panic!("{path}: expected UnsafePath, got {other:?}"),
            }
        }
        assert_eq!(bundle_path(b"./a/./b.txt"), Ok("a/b.txt".to_owned()));
    }

    #[test]
    fn symlinks_and_oversized_bundles_are_refused() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, "link", "../reference/solution.py")
            .expect("link");
        let raw = tar.into_inner().expect("tar");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).expect("gz");
        let packed = gz.finish().expect("gz");
        assert!(matches!(
            unpack_tar_gz(&packed, &id(), 1 << 20, "s3://b/k"),
            Err(ChallengeError::UnsafePath { .. })
        ));

        let big =
            deterministic_tar_gz(&[file("a", &[0u8; 600], false), file("b", &[0u8; 600], false)])
                .expect("pack");
        assert!(matches!(
            unpack_tar_gz(&big, &id(), 1000, "s3://b/k"),
            Err(ChallengeError::TooLarge { limit: 1000, .. })
        ));
    }
}
