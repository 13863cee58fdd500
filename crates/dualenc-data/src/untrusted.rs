//! Reading untrusted files, bounded by their own length.
//!
//! `std::fs::read` reads until end of file, which a device such as `/dev/zero` never
//! reaches and a FIFO may not reach for ever (opening one even blocks until a writer
//! comes). Every reader of user files (checkpoints, vocabularies, weights, text files, JSON)
//! goes through [`read_regular_file`] or [`open_regular_file`] instead: only regular files,
//! and never more bytes than their metadata says they hold.

use std::fs::{File, FileType, Metadata};
use std::io::{self, Read};
use std::path::Path;

/// Reads the whole of `path`, which must be a regular file (symbolic links followed); a
/// directory, device, FIFO or socket is refused before it is opened. At most the length
/// the file's metadata gives is read, so a file that grows while being read cannot make
/// this read more, and the buffer is reserved up front (a length the machine cannot hold
/// is an out-of-memory error, not an abort).
pub fn read_regular_file(path: &Path) -> io::Result<Vec<u8>> {
    let (mut file, len) = open_regular_file(path)?;
    let mut bytes = Vec::new();
    let capacity = usize::try_from(len).map_err(|_| too_large(len))?;
    bytes
        .try_reserve_exact(capacity)
        .map_err(|_| too_large(len))?;
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// [`read_regular_file`] as UTF-8 text (invalid UTF-8 is an [`io::ErrorKind::InvalidData`]
/// error, as for `std::fs::read_to_string`).
pub fn read_regular_text(path: &Path) -> io::Result<String> {
    String::from_utf8(read_regular_file(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.utf8_error()))
}

/// Opens `path` for reading if it is a regular file (checked before opening, since opening a
/// FIFO blocks until someone writes to it, and again on the handle, in case the path changed
/// in between); returns the handle limited to the length the metadata gave, and that length.
pub fn open_regular_file(path: &Path) -> io::Result<(io::Take<File>, u64)> {
    check_regular(&std::fs::metadata(path)?)?;
    let file = File::open(path)?;
    let metadata = file.metadata()?;
    check_regular(&metadata)?;
    let len = metadata.len();
    Ok((file.take(len), len))
}

/// Opens `path` for reading if it is a regular file reached without a symbolic link in its
/// last component, for files served to others (a link placed in a served folder must not
/// expose what it points to). Opened with `O_NOFOLLOW | O_NONBLOCK` and checked on the
/// handle, so a file swapped for a link or a FIFO at any moment is refused without
/// blocking; returns the whole file (seekable, for range requests) and its length.
#[cfg(unix)]
pub fn open_regular_file_no_links(path: &Path) -> io::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let metadata = file.metadata()?;
    check_regular(&metadata)?;
    Ok((file, metadata.len()))
}

fn check_regular(metadata: &Metadata) -> io::Result<()> {
    if metadata.is_file() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "not a regular file but {}; refusing to read it",
            kind_of(metadata.file_type())
        ),
    ))
}

fn too_large(len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!("the file's {len} bytes do not fit in memory"),
    )
}

/// What a file that is not a regular file is, for error messages.
fn kind_of(file_type: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}
