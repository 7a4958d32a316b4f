//! The archive of a candidate's workspace, made at destroy from a tree the candidate controlled:
//! it never follows a symbolic link (not even when the workspace folder itself was swapped for
//! one), never blocks on a FIFO, socket or device, skips what it cannot read with a note, and
//! stops at a size and a time cap. Whatever it skips is listed in `PREQUEL-ARCHIVE-NOTES.txt`
//! inside the archive and returned for the destroy's log.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;

/// The notes file's name inside the archive (at the top, beside the workspace's files).
pub const NOTES_FILE: &str = "PREQUEL-ARCHIVE-NOTES.txt";

/// How much an archive may hold and how long making it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// File contents, in bytes.
    pub max_bytes: u64,
    /// Entries (files, folders, links).
    pub max_entries: u64,
    /// Wall time.
    pub max_time: Duration,
}

impl Default for ArchiveLimits {
    /// 1 GiB, 200,000 entries, two minutes: far above any interview's work, far below what
    /// fills a disk or stalls a destroy.
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            max_entries: 200_000,
            max_time: Duration::from_secs(120),
        }
    }
}

/// What an archive holds.
#[derive(Debug, Clone)]
pub(super) struct ArchiveSummary {
    pub path: PathBuf,
    pub files: usize,
    pub bytes: u64,
    /// What was left out and why (`data/pipe: not a regular file`), in walk order.
    pub skipped: Vec<String>,
}

/// Why archiving stopped early.
enum Stop {
    /// A cap was reached; the message says which.
    Cap(String),
    /// Writing the archive itself failed (the disk, not the candidate).
    Write(io::Error),
}

impl From<io::Error> for Stop {
    fn from(err: io::Error) -> Self {
        Self::Write(err)
    }
}

/// Archives `workspace` to `archive` (`.tar.gz`, entries under `prefix/`): written to a temp name
/// in the same folder, synced, then renamed, so a crash never leaves half an archive under the
/// final name. An existing archive is replaced (a retried destroy archives the newest work).
/// Only a failure to write the archive is an error; anything wrong with the workspace is a note.
pub(super) fn archive_workspace(
    workspace: &Path,
    prefix: &str,
    archive: &Path,
    limits: ArchiveLimits,
) -> io::Result<ArchiveSummary> {
    let folder = archive
        .parent()
        .ok_or_else(|| io::Error::other("archive path has no folder"))?;
    fs::create_dir_all(folder)?;
    let name = archive
        .file_name()
        .ok_or_else(|| io::Error::other("archive path has no file name"))?;
    let tmp = folder.join(format!(
        ".{}.{}.partial",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut walk = Walk {
            builder: tar::Builder::new(GzEncoder::new(BufWriter::new(file), Compression::fast())),
            summary: ArchiveSummary {
                path: archive.to_owned(),
                files: 0,
                bytes: 0,
                skipped: Vec::new(),
            },
            limits,
            entries: 0,
            deadline: Instant::now() + limits.max_time,
        };
        walk.builder.follow_symlinks(false);
        match walk.root(workspace, Path::new(prefix)) {
            Ok(()) => {}
            Err(Stop::Cap(reason)) => walk.summary.skipped.push(reason),
            Err(Stop::Write(err)) => return Err(err),
        }
        walk.notes(Path::new(prefix))?;
        let Walk {
            builder, summary, ..
        } = walk;
        let file = builder
            .into_inner()?
            .finish()?
            .into_inner()
            .map_err(|err| err.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, archive)?;
        // The rename is durable only once the folder is synced.
        File::open(folder)?.sync_all()?;
        Ok(summary)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

struct Walk<W: Write> {
    builder: tar::Builder<W>,
    summary: ArchiveSummary,
    limits: ArchiveLimits,
    entries: u64,
    deadline: Instant,
}

impl<W: Write> Walk<W> {
    /// The workspace folder itself: a link in its place is archived as that link.
    fn root(&mut self, workspace: &Path, prefix: &Path) -> Result<(), Stop> {
        let meta = match fs::symlink_metadata(workspace) {
            Ok(meta) => meta,
            Err(err) => {
                self.skip(prefix, &format!("the workspace cannot be read: {err}"));
                return Ok(());
            }
        };
        if meta.file_type().is_symlink() {
            self.skip(
                prefix,
                "the workspace folder was replaced by a symbolic link; archived as the link, not followed",
            );
            return self.link(workspace, prefix, &meta);
        }
        if !meta.is_dir() {
            self.skip(prefix, "the workspace is not a folder");
            return Ok(());
        }
        self.folder(workspace, prefix, &meta)
    }

    fn folder(&mut self, dir: &Path, name: &Path, meta: &fs::Metadata) -> Result<(), Stop> {
        self.count()?;
        let mut header = header_for(meta);
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        self.builder.append_data(&mut header, name, io::empty())?;
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                self.skip(name, &reason(&err));
                return Ok(());
            }
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let path = entry.path();
            let child = name.join(entry.file_name());
            // `symlink_metadata`: the entry itself, never what a link points to.
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(err) => {
                    self.skip(&child, &reason(&err));
                    continue;
                }
            };
            let kind = meta.file_type();
            if kind.is_symlink() {
                self.link(&path, &child, &meta)?;
            } else if kind.is_dir() {
                self.folder(&path, &child, &meta)?;
            } else if kind.is_file() {
                self.file(&path, &child, &meta)?;
            } else {
                self.skip(&child, "not a regular file (a pipe, socket or device)");
            }
        }
        Ok(())
    }

    fn file(&mut self, path: &Path, name: &Path, meta: &fs::Metadata) -> Result<(), Stop> {
        self.count()?;
        // O_NOFOLLOW: a file swapped for a link since it was listed is refused, not followed;
        // O_NONBLOCK: a file swapped for a FIFO does not hang the destroy.
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
            .open(path);
        let file = match opened {
            Ok(file) => file,
            Err(err) => {
                self.skip(name, &reason(&err));
                return Ok(());
            }
        };
        let opened_meta = file.metadata()?;
        if !opened_meta.is_file() || opened_meta.ino() != meta.ino() {
            self.skip(name, "changed while it was archived");
            return Ok(());
        }
        let room = self.limits.max_bytes.saturating_sub(self.summary.bytes);
        if opened_meta.len() > room {
            return Err(Stop::Cap(format!(
                "{}: the archive stopped here at its size cap of {} MiB; this file and the rest were not archived",
                name.display(),
                self.limits.max_bytes >> 20
            )));
        }
        let mut header = header_for(&opened_meta);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(opened_meta.len());
        // The size is fixed in the header: a file that grows is cut there; one that shrinks, or
        // whose reading fails or runs past the deadline, is padded with zeros, so the archive
        // stays well formed whatever happens to it.
        let cut = std::cell::Cell::new(None);
        let reader = Guarded {
            inner: file.take(opened_meta.len()),
            deadline: self.deadline,
            cut: &cut,
        };
        let padded = reader.chain(io::repeat(0)).take(opened_meta.len());
        self.builder.append_data(&mut header, name, padded)?;
        match cut.take() {
            None => {}
            Some(Cut::Deadline) => {
                return Err(Stop::Cap(format!(
                    "{}: the archive stopped here at its time cap of {} s (this file is cut \
                     short); the rest was not archived",
                    name.display(),
                    self.limits.max_time.as_secs()
                )));
            }
            Some(Cut::Error(err)) => self.skip(name, &format!("cut short by a read error: {err}")),
        }
        self.summary.files += 1;
        self.summary.bytes += opened_meta.len();
        Ok(())
    }

    fn link(&mut self, path: &Path, name: &Path, meta: &fs::Metadata) -> Result<(), Stop> {
        self.count()?;
        let target = match fs::read_link(path) {
            Ok(target) => target,
            Err(err) => {
                self.skip(name, &reason(&err));
                return Ok(());
            }
        };
        let mut header = header_for(meta);
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        if let Err(err) = self.builder.append_link(&mut header, name, &target) {
            // A target tar cannot hold (too long for the header) is a note, not a failure.
            self.skip(name, &format!("a link that cannot be archived: {err}"));
        }
        Ok(())
    }

    fn count(&mut self) -> Result<(), Stop> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(Stop::Cap(format!(
                "the archive stopped at its cap of {} entries; the rest was not archived",
                self.limits.max_entries
            )));
        }
        if Instant::now() >= self.deadline {
            return Err(Stop::Cap(format!(
                "the archive stopped at its time cap of {} s; the rest was not archived",
                self.limits.max_time.as_secs()
            )));
        }
        Ok(())
    }

    fn skip(&mut self, name: &Path, why: &str) {
        self.summary
            .skipped
            .push(format!("{}: {why}", name.display()));
    }

    /// The notes file, when anything was skipped.
    fn notes(&mut self, prefix: &Path) -> io::Result<()> {
        if self.summary.skipped.is_empty() {
            return Ok(());
        }
        let mut text =
            String::from("Prequel left these out of the archive of the candidate's workspace:\n\n");
        for line in &self.summary.skipped {
            text.push_str(line);
            text.push('\n');
        }
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(text.len() as u64);
        header.set_mtime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        self.builder
            .append_data(&mut header, prefix.join(NOTES_FILE), text.as_bytes())
    }
}

/// A header with the entry's mode (no set-id bits) and time; owner: the candidate (the host uid
/// of a sandbox means nothing to whoever unpacks the archive).
fn header_for(meta: &fs::Metadata) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_mode(meta.mode() & 0o777);
    header.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    header.set_uid(u64::from(super::sandbox::CANDIDATE_UID));
    header.set_gid(u64::from(super::sandbox::CANDIDATE_UID));
    let _ = header.set_username(super::sandbox::CANDIDATE_USER);
    let _ = header.set_groupname(super::sandbox::CANDIDATE_USER);
    header
}

fn reason(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => match err.raw_os_error() {
            Some(code) if code == nix::libc::ELOOP => {
                "became a symbolic link while it was archived; not followed".to_owned()
            }
            _ => err.to_string(),
        },
    }
}

/// Why a file's contents end early in the archive.
enum Cut {
    Deadline,
    Error(io::Error),
}

/// A reader that ends (rather than fails) at the archive's deadline or at a read error, saying
/// which in `cut`.
struct Guarded<'a, R> {
    inner: R,
    deadline: Instant,
    cut: &'a std::cell::Cell<Option<Cut>>,
}

impl<R: Read> Read for Guarded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if Instant::now() >= self.deadline {
            self.cut.set(Some(Cut::Deadline));
            return Ok(0);
        }
        match self.inner.read(buf) {
            Ok(n) => Ok(n),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Err(err),
            Err(err) => {
                self.cut.set(Some(Cut::Error(err)));
                Ok(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entries(archive: &Path) -> BTreeMap<String, (tar::EntryType, Vec<u8>)> {
        let mut out = BTreeMap::new();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(
            File::open(archive).expect("open archive"),
        ));
        for entry in tar.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            let kind = entry.header().entry_type();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            out.insert(path, (kind, bytes));
        }
        out
    }

    #[test]
    fn a_failed_archive_leaves_neither_a_final_nor_a_temp_file() {
        let dir = tempfile::tempdir().expect("temp");
        let history = dir.path().join("history");
        fs::create_dir_all(&history).expect("history");
        // The archive's folder is a file: writing fails, and nothing is left behind.
        let archive = history.join("abcd.tar.gz");
        fs::create_dir(&archive).expect("a folder where the archive goes");
        let workspace = dir.path().join("ws");
        fs::create_dir(&workspace).expect("ws");
        let result = archive_workspace(&workspace, "abcd", &archive, ArchiveLimits::default());
        assert!(result.is_err());
        let left: Vec<_> = fs::read_dir(&history)
            .expect("history exists")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(left, ["abcd.tar.gz"], "only the folder that was there");
    }

    #[test]
    fn links_pipes_and_a_swapped_workspace_are_never_followed() {
        let dir = tempfile::tempdir().expect("temp");
        let secret = dir.path().join("secret");
        fs::write(&secret, "the admin token").expect("secret");
        let workspace = dir.path().join("ws");
        fs::create_dir(&workspace).expect("ws");
        fs::write(workspace.join("answer.py"), "print(42)\n").expect("answer");
        std::os::unix::fs::symlink(&secret, workspace.join("token")).expect("link");
        nix::unistd::mkfifo(&workspace.join("pipe"), nix::sys::stat::Mode::S_IRWXU).expect("fifo");
        let archive = dir.path().join("a.tar.gz");
        let summary = archive_workspace(&workspace, "id", &archive, ArchiveLimits::default())
            .expect("archive");
        let got = entries(&archive);
        assert_eq!(got["id/answer.py"].1, b"print(42)\n");
        assert!(got["id/token"].0.is_symlink());
        assert!(!got.values().any(|(_, bytes)| bytes == b"the admin token"));
        assert!(!got.contains_key("id/pipe"));
        assert_eq!(
            summary.skipped,
            ["id/pipe: not a regular file (a pipe, socket or device)"]
        );
        let notes = String::from_utf8(got[&format!("id/{NOTES_FILE}")].1.clone()).expect("utf8");
        assert!(notes.contains("id/pipe: not a regular file"), "{notes}");

        // The workspace folder itself swapped for a link to the secret's folder.
        let swapped = dir.path().join("swapped");
        std::os::unix::fs::symlink(dir.path(), &swapped).expect("swap");
        let archive = dir.path().join("b.tar.gz");
        let summary =
            archive_workspace(&swapped, "id", &archive, ArchiveLimits::default()).expect("archive");
        let got = entries(&archive);
        assert!(got["id"].0.is_symlink(), "{got:?}");
        assert!(!got.values().any(|(_, bytes)| bytes == b"the admin token"));
        assert!(
            summary.skipped[0].contains("replaced by a symbolic link"),
            "{summary:?}"
        );
    }

    #[test]
    fn the_size_cap_stops_the_archive_with_a_note() {
        let dir = tempfile::tempdir().expect("temp");
        let workspace = dir.path().join("ws");
        fs::create_dir(&workspace).expect("ws");
        fs::write(workspace.join("a.txt"), vec![b'a'; 1000]).expect("a");
        fs::write(workspace.join("b.txt"), vec![b'b'; 1000]).expect("b");
        let archive = dir.path().join("a.tar.gz");
        let limits = ArchiveLimits {
            max_bytes: 1500,
            ..ArchiveLimits::default()
        };
        let summary = archive_workspace(&workspace, "id", &archive, limits).expect("archive");
        assert_eq!((summary.files, summary.bytes), (1, 1000));
        assert!(
            summary.skipped[0].starts_with("id/b.txt: the archive stopped here at its size cap"),
            "{summary:?}"
        );
        assert!(entries(&archive).contains_key(&format!("id/{NOTES_FILE}")));
    }
}
