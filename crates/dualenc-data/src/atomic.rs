//! Atomic file writes: write into a temporary file in the target's folder, then rename.
//!
//! An interrupted run therefore leaves either the old file or the new one, never half of
//! one, and a rerun simply overwrites. Every writer of the project goes through here.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::TempPath;

/// Prefix of every temporary file the project writes next to its targets.
pub const TEMP_PREFIX: &str = ".dualenc-";
/// Suffix of those temporary files.
pub const TEMP_SUFFIX: &str = ".tmp";

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
        let dir = parent_dir(target);
        std::fs::create_dir_all(dir)?;
        let (file, temp) = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .suffix(TEMP_SUFFIX)
            .tempfile_in(dir)?
            .into_parts();
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
    let dir = parent_dir(target);
    std::fs::create_dir_all(dir)?;
    Ok(tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(dir)?
        .into_temp_path())
}

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
    let tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
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
