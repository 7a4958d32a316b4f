//! The host user ids sandboxed instances run as when `prequel serve` runs as root: one per
//! running instance, from a documented range, taken with a file per id so that every `serve` on
//! the machine (several data dirs, several replicas) agrees, and given back only once the
//! instance is gone.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::ops::RangeInclusive;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use rand::Rng as _;

/// The ids candidates run as, unless configured otherwise: above systemd's container range
/// (524288–1879048191), so no container's files or processes share them.
pub const DEFAULT_UIDS: RangeInclusive<u32> = 1_900_000_000..=1_900_065_535;

/// Where the claims are kept: one file per id in use, holding the instance folder it is for.
/// On a tmpfs, so a reboot (which ends every process) clears them.
pub const DEFAULT_CLAIMS_DIR: &str = "/run/prequel/uids";

/// The pool of ids.
#[derive(Debug, Clone)]
pub(crate) struct UidPool {
    dir: PathBuf,
    range: RangeInclusive<u32>,
}

impl UidPool {
    /// The pool, its claims folder created (root only) if missing.
    pub(crate) fn open(dir: PathBuf, range: RangeInclusive<u32>) -> io::Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(Self { dir, range })
    }

    /// The range ids come from.
    pub(crate) fn range(&self) -> &RangeInclusive<u32> {
        &self.range
    }

    /// Claims a free id for the instance in `owner` (its folder). Starts at a random id so
    /// concurrent claims rarely meet; when the range is full, frees the claims of instances
    /// whose folder is gone and tries once more.
    pub(crate) fn claim(&self, owner: &Path) -> io::Result<u32> {
        if let Some(uid) = self.try_claim(owner)? {
            return Ok(uid);
        }
        self.sweep();
        self.try_claim(owner)?.ok_or_else(|| {
            io::Error::other(format!(
                "every sandbox user id in {}–{} is in use",
                self.range.start(),
                self.range.end()
            ))
        })
    }

    fn try_claim(&self, owner: &Path) -> io::Result<Option<u32>> {
        let (start, end) = (*self.range.start(), *self.range.end());
        let size = u64::from(end - start) + 1;
        let offset = rand::rng().random_range(0..size);
        for step in 0..size {
            let uid = start + u32::try_from((offset + step) % size).unwrap_or(0);
            let path = self.dir.join(uid.to_string());
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(mut file) => {
                    file.write_all(owner.as_os_str().as_encoded_bytes())?;
                    return Ok(Some(uid));
                }
                Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
                Err(err) => return Err(err),
            }
        }
        Ok(None)
    }

    /// Gives an id back. Idempotent.
    pub(crate) fn release(&self, uid: u32) -> io::Result<()> {
        match fs::remove_file(self.dir.join(uid.to_string())) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    /// The id claimed for the instance in `owner`, if any (a restarted serve finds it again).
    pub(crate) fn claimed_by(&self, owner: &Path) -> Option<u32> {
        let wanted = owner.as_os_str().as_encoded_bytes();
        fs::read_dir(&self.dir)
            .ok()?
            .flatten()
            .find(|entry| fs::read(entry.path()).is_ok_and(|bytes| bytes == wanted))
            .and_then(|entry| entry.file_name().to_str()?.parse().ok())
    }

    /// Frees every claim whose instance folder no longer exists (a crash between teardown and
    /// release).
    pub(crate) fn sweep(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(bytes) = fs::read(entry.path()) else {
                continue;
            };
            let owner = PathBuf::from(std::ffi::OsStr::from_bytes(&bytes));
            if !owner.exists() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_claimed_once_and_reused_only_after_release_or_when_the_owner_is_gone() {
        let claims = tempfile::tempdir().expect("temp");
        let owners = tempfile::tempdir().expect("temp");
        let pool = UidPool::open(claims.path().join("uids"), 5000..=5002).expect("pool");
        let owner = |name: &str| {
            let dir = owners.path().join(name);
            fs::create_dir_all(&dir).expect("owner folder");
            dir
        };
        let (a, b, c) = (owner("a"), owner("b"), owner("c"));
        let ids: Vec<u32> = [&a, &b, &c]
            .iter()
            .map(|o| pool.claim(o).expect("claim"))
            .collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [5000, 5001, 5002], "each id once");
        let d = owner("d");
        assert!(pool.claim(&d).is_err(), "the range is full");
        assert_eq!(pool.claimed_by(&b), Some(ids[1]));

        pool.release(ids[0]).expect("release");
        assert_eq!(pool.claim(&d).expect("claim after release"), ids[0]);

        // b's folder disappears without a release (a crash): the next claim that finds the
        // range full frees it.
        fs::remove_dir(&b).expect("remove b");
        let e = owner("e");
        assert_eq!(pool.claim(&e).expect("claim after sweep"), ids[1]);
        assert_eq!(pool.claimed_by(&e), Some(ids[1]));
    }
}
