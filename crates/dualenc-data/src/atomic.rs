//! Atomic file writes: write into a temporary file in the target's folder, then rename.
//!
//! An interrupted run therefore leaves either the old file or the new one, never half of
//! one, and a rerun simply overwrites. Every writer of the project goes through here.
//!
//! - **Rename only.** Nothing is modified in place: readers that memory-map a file keep a
//!   valid view of the old one after a rename.
//! - **Temporary names** are `.dualenc-<pid>-<random>.tmp` (folders: no `.tmp`), `<pid>` being
//!   the writing process. A run killed before its rename leaves such a file behind; every
//!   writer first removes, in the folder it writes to, the temporary files and folders whose
//!   process no longer exists (checked with `kill(pid, 0)`), and those of the older unnamed
//!   form `.dualenc-XXXXXX[.tmp]` last modified more than a day ago. Files of live processes
//!   are never touched. This assumes one machine (one process-id space) writes a folder at a
//!   time; a folder written concurrently from two hosts could lose the other's temporary file.
//! - **Permissions** are those of an ordinary new file, `0666 & !umask` (folders
//!   `0777 & !umask`), not the `0600` of a private temporary file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tempfile::{Builder, TempPath};

/// Prefix of every temporary file the project writes next to its targets.
pub const TEMP_PREFIX: &str = ".dualenc-";
/// Suffix of those temporary files.
pub const TEMP_SUFFIX: &str = ".tmp";

/// Age after which a temporary name without a process id (written by older versions) is
/// considered abandoned.
const UNNAMED_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// Length of the random part of temporary names (`tempfile`'s default).
const RANDOM_LEN: usize = 6;

/// A file being written under a temporary name in its target's folder; [`PendingFile::commit`]
/// flushes, syncs and renames it over the target, dropping it removes it. Streaming writers
/// (BigFile rows, index rows) keep one open while rows arrive.
pub struct PendingFile {
    writer: BufWriter<File>,
    temp: TempPath,
    target: PathBuf,
}

impl PendingFile {
    /// Starts writing `target` (its folder is created if missing).
    pub fn create(target: &Path) -> io::Result<Self> {
        let (file, temp) = new_temp_file(target)?.into_parts();
        Ok(Self {
            writer: BufWriter::with_capacity(1 << 20, file),
            temp,
            target: target.to_path_buf(),
        })
    }

    /// The buffered writer of the temporary file.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.writer
    }

    /// The path being written (the temporary file until [`PendingFile::commit`]).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The file this one replaces at commit.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Makes the content visible under the target's name (flush, sync, rename).
    pub fn commit(self) -> io::Result<()> {
        let PendingFile {
            writer,
            temp,
            target,
        } = self;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        temp.persist(&target).map_err(|e| e.error)?;
        Ok(())
    }
}

/// A temporary path in `target`'s folder for a writer that opens files by name itself
/// (e.g. a library that saves to a path); renamed over `target` by [`persist_path`].
pub fn temp_path_for(target: &Path) -> io::Result<TempPath> {
    Ok(new_temp_file(target)?.into_temp_path())
}

/// Creates a temporary file for `target` in its folder (created if missing), after
/// removing the stale temporary files there.
fn new_temp_file(target: &Path) -> io::Result<tempfile::NamedTempFile> {
    let dir = parent_dir(target);
    std::fs::create_dir_all(dir)?;
    remove_stale_temps(dir);
    let prefix = process_prefix();
    temp_builder(&prefix, 0o666)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)
}

/// `.dualenc-<pid>-`: the start of this process's temporary names.
fn process_prefix() -> String {
    format!("{TEMP_PREFIX}{}-", std::process::id())
}

/// A builder of temporary names `<prefix><random>` created with mode `mode`, which the
/// kernel restricts by the umask, as for files created the ordinary way.
fn temp_builder(prefix: &str, mode: u32) -> Builder<'_, 'static> {
    let mut builder = Builder::new();
    builder.prefix(prefix).rand_bytes(RANDOM_LEN);
    ordinary_permissions(&mut builder, mode);
    builder
}

/// Asks for mode `mode` on the new file or folder.
#[cfg(unix)]
fn ordinary_permissions(builder: &mut Builder<'_, '_>, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    builder.permissions(std::fs::Permissions::from_mode(mode));
}

/// Outside Unix there are no mode bits to set.
#[cfg(not(unix))]
fn ordinary_permissions(_builder: &mut Builder<'_, '_>, _mode: u32) {}

/// Renames a finished temporary path (from [`temp_path_for`]) over `target`.
pub fn persist_path(temp: TempPath, target: &Path) -> io::Result<()> {
    temp.persist(target).map_err(|e| e.error)?;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `path` atomically: `fill` writes the content into a buffered temporary file in
/// the same folder (created if missing), which is flushed, synced and renamed over `path`.
pub fn write_atomic<F>(path: &Path, fill: F) -> io::Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let mut pending = PendingFile::create(path)?;
    fill(pending.writer())?;
    pending.commit()
}

/// Writes the folder `dir` atomically: `fill` writes the content into a new temporary folder
/// beside it, which then replaces `dir` (an existing `dir` is moved aside first and removed
/// only once the new one is in place, so a reader sees the old folder or the new one). `io`
/// turns an I/O error on a path into the caller's error.
pub fn write_dir_atomic<E, F>(
    dir: &Path,
    fill: F,
    io: impl Fn(&Path, io::Error) -> E,
) -> Result<(), E>
where
    F: FnOnce(&Path) -> Result<(), E>,
{
    let parent = parent_dir(dir);
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    remove_stale_temps(parent);
    let prefix = process_prefix();
    let tmp = temp_builder(&prefix, 0o777)
        .tempdir_in(parent)
        .map_err(|e| io(parent, e))?;
    fill(tmp.path())?;
    let tmp = tmp.keep();
    let old = dir.exists().then(|| {
        let mut name = dir.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".old-{}", std::process::id()));
        dir.with_file_name(name)
    });
    if let Some(old) = &old {
        std::fs::rename(dir, old).map_err(|e| io(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| io(dir, e))?;
    if let Some(old) = old {
        std::fs::remove_dir_all(&old).map_err(|e| io(&old, e))?;
    }
    Ok(())
}

/// Removes from `dir` the temporary files and folders of dead processes and the old unnamed
/// ones (see the module docs). Best effort: a failure is logged, never returned, since it
/// must not stop the write that triggered the clean-up.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(meta) = entry.metadata() else { continue };
        if is_stale(name, &meta) {
            remove_entry(&entry.path(), &meta);
        }
    }
}

/// Whether `name` is one of our temporary names whose writer is gone.
fn is_stale(name: &str, meta: &std::fs::Metadata) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    match owner_pid(rest) {
        Some(pid) => !process_alive(pid),
        None => is_random_part(rest) && modified_before(meta, UNNAMED_MAX_AGE),
    }
}

/// The process id of a name `<pid>-<random>[.tmp]` (after the prefix).
fn owner_pid(rest: &str) -> Option<u32> {
    let (pid, random) = rest.split_once('-')?;
    let digits = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
    if digits && is_random_part(random) {
        pid.parse().ok()
    } else {
        None
    }
}

/// Whether `rest` is the random end of a temporary name, `XXXXXX[.tmp]`.
fn is_random_part(rest: &str) -> bool {
    let random = rest.strip_suffix(TEMP_SUFFIX).unwrap_or(rest);
    random.len() == RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether the entry was last modified more than `age` ago.
fn modified_before(meta: &std::fs::Metadata, age: Duration) -> bool {
    let modified = meta.modified().unwrap_or_else(|_| SystemTime::now());
    modified.elapsed().is_ok_and(|elapsed| elapsed > age)
}

/// Whether process `pid` exists (on this machine). Anything but a clear "no such process"
/// counts as alive, so that a file is removed only when its writer is certainly gone.
#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return true;
    };
    if pid <= 0 {
        return true;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that the process exists.
    let status = unsafe { libc::kill(pid, 0) };
    status == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Without a way to ask, every process counts as alive: nothing is removed.
#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// Removes a stale file or folder (a link is removed, not followed).
fn remove_entry(path: &Path, meta: &std::fs::Metadata) {
    let result = if meta.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match result {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed a temporary file left by a killed run")
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot remove a stale temporary file: {e}")
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_overwrites_without_leaving_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        write_bytes_atomic(&path, b"first").unwrap();
        write_bytes_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.txt")]);
    }

    #[test]
    fn folders_are_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model");
        let io = |_: &Path, e: io::Error| e;
        write_dir_atomic(&target, |d| std::fs::write(d.join("a"), b"1"), io).unwrap();
        write_dir_atomic(&target, |d| std::fs::write(d.join("b"), b"2"), io).unwrap();
        assert!(!target.join("a").exists());
        assert_eq!(std::fs::read(target.join("b")).unwrap(), b"2");
        let failed = write_dir_atomic(&target, |_| Err(io::Error::other("interrupted")), io);
        assert!(failed.is_err());
        assert_eq!(
            std::fs::read(target.join("b")).unwrap(),
            b"2",
            "the old folder stays"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary folder is left");
    }

    #[test]
    fn failed_fill_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_bytes_atomic(&path, b"old").unwrap();
        let err = write_atomic(&path, |_| Err(io::Error::other("interrupted")));
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
    }
}
