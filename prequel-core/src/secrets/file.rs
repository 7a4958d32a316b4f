//! The local secret store: one file per secret in a folder only the owner can read.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::{SecretError, SecretStore, generate_password};
use crate::domain::{InterviewId, SecretString};

/// Secrets as files `<dir>/<interview>.password`, mode 0600 in a folder of mode 0700.
#[derive(Debug, Clone)]
pub struct FileSecrets {
    dir: PathBuf,
}

fn backend(location: &Path, source: std::io::Error) -> SecretError {
    SecretError::Backend {
        location: location.display().to_string(),
        source: Box::new(source),
    }
}

impl FileSecrets {
    /// Opens (creating it if needed, mode 0700) the folder `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, SecretError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| backend(&dir, e))?;
        fs::set_permissions(&dir, Permissions::from_mode(0o700)).map_err(|e| backend(&dir, e))?;
        Ok(Self { dir })
    }

    fn path(&self, interview: &InterviewId) -> PathBuf {
        // Interview ids are `[a-z0-9]` only, so they are safe file names.
        self.dir.join(format!("{interview}.password"))
    }

    fn read(path: &Path) -> Result<Option<SecretString>, SecretError> {
        match fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => Ok(Some(SecretString::new(text.trim()))),
            // A racing writer created the file but has not written it yet.
            Ok(_) => Ok(None),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(backend(path, err)),
        }
    }

    fn password_blocking(&self, interview: &InterviewId) -> Result<SecretString, SecretError> {
        let path = self.path(interview);
        for _ in 0..100 {
            if let Some(existing) = Self::read(&path)? {
                return Ok(existing);
            }
            // Write to a private temp file, then link it into place: link fails if the
            // name exists, so of two racing writers exactly one wins and the other reads it.
            let password = generate_password();
            // A random name: racing writers (threads or processes) never share a temp file.
            let temp = self
                .dir
                .join(format!(".{interview}.{:016x}.tmp", rand::random::<u64>()));
            {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&temp)
                    .map_err(|e| backend(&temp, e))?;
                file.write_all(password.expose().as_bytes())
                    .map_err(|e| backend(&temp, e))?;
                file.sync_all().map_err(|e| backend(&temp, e))?;
            }
            let linked = fs::hard_link(&temp, &path);
            let _ = fs::remove_file(&temp);
            match linked {
                Ok(()) => return Ok(password),
                Err(err) if err.kind() == ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(backend(&path, err)),
            }
        }
        Err(SecretError::Corrupt(path.display().to_string()))
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
) -> Result<T, SecretError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SecretError::Backend {
            location: "secret store worker".to_owned(),
            source: Box::new(e),
        })?
}

#[async_trait]
impl SecretStore for FileSecrets {
    async fn password(&self, interview: &InterviewId) -> Result<SecretString, SecretError> {
        let this = self.clone();
        let interview = interview.clone();
        blocking(move || this.password_blocking(&interview)).await
    }

    async fn existing_password(
        &self,
        interview: &InterviewId,
    ) -> Result<Option<SecretString>, SecretError> {
        let path = self.path(interview);
        blocking(move || Self::read(&path)).await
    }

    async fn forget(&self, interview: &InterviewId) -> Result<(), SecretError> {
        let path = self.path(interview);
        blocking(move || match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            Err(err) => Err(backend(&path, err)),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn the_first_call_makes_the_password_and_every_later_call_returns_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secrets = FileSecrets::open(dir.path().join("secrets")).expect("open");
        let id = InterviewId::generate();
        assert_eq!(secrets.existing_password(&id).await.expect("read"), None);
        let first = secrets.password(&id).await.expect("make");
        assert_eq!(secrets.password(&id).await.expect("read"), first);
        let reopened = FileSecrets::open(dir.path().join("secrets")).expect("reopen");
        assert_eq!(
            reopened.existing_password(&id).await.expect("read"),
            Some(first)
        );
        secrets.forget(&id).await.expect("forget");
        secrets.forget(&id).await.expect("forgetting twice is fine");
        assert_eq!(secrets.existing_password(&id).await.expect("read"), None);
    }

    #[tokio::test]
    async fn files_are_readable_by_the_owner_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let secrets = FileSecrets::open(dir.path().join("secrets")).expect("open");
        let id = InterviewId::generate();
        secrets.password(&id).await.expect("make");
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("secrets")), 0o700);
        assert_eq!(mode(&secrets.path(&id)), 0o600);
    }

    #[tokio::test]
    async fn racing_callers_agree_on_one_password() {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = InterviewId::generate();
        let mut calls = Vec::new();
        for _ in 0..8 {
            // Separate handles, as separate processes would have.
            let secrets = Arc::new(FileSecrets::open(dir.path().join("secrets")).expect("open"));
            let id = id.clone();
            calls.push(tokio::spawn(async move {
                secrets.password(&id).await.expect("password")
            }));
        }
        let mut seen = std::collections::HashSet::new();
        for call in calls {
            seen.insert(call.await.expect("join").expose().to_owned());
        }
        assert_eq!(seen.len(), 1);
    }
}
