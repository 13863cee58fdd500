//! Decoding a video into raw RGB24 frames through an `ffmpeg` child process.
//!
//! `ffmpeg -i FILE -f rawvideo -pix_fmt rgb24 -` writes the frames one after the other on
//! its standard output; [`FrameDecoder`] reads exactly one frame's bytes at a time into one
//! reused buffer, so memory stays at one frame whatever the video's length. Frames are
//! numbered in decode order (passthrough: nothing dropped or repeated), as OpenCV numbers
//! them. The child is killed when the decoder is dropped early.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use crate::error::{Result, VideoError};
use crate::ffmpeg::{drain_bounded, failure_message, first_lines, Ffmpeg, VideoInfo};

/// The frames of one video, read one by one from `ffmpeg`.
pub struct FrameDecoder {
    path: PathBuf,
    program: PathBuf,
    child: Child,
    stdout: ChildStdout,
    stderr: Option<JoinHandle<Vec<u8>>>,
    frame: Vec<u8>,
    next_index: u64,
    finished: bool,
}

/// One decoded frame: its number and its pixels.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Frame number, 0-based, in decode order.
    pub index: u64,
    /// `height x width x 3` bytes, RGB, row-major.
    pub rgb: &'a [u8],
}

impl FrameDecoder {
    /// Starts decoding `path`, whose probe is `info`. Every frame is scaled to the probed
    /// size (a no-op unless the stream changes size midway), so that each frame is exactly
    /// `info.frame_bytes()` bytes.
    pub fn start(ffmpeg: &Ffmpeg, path: &Path, info: &VideoInfo) -> Result<FrameDecoder> {
        let program = ffmpeg.ffmpeg_path().to_owned();
        let scale = format!("scale={}:{}", info.width, info.height);
        let mut child = Command::new(&program)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(path)
            .args(["-map", "0:v:0", "-an", "-sn", "-vf", &scale])
            .args(ffmpeg.passthrough_args())
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| VideoError::Spawn {
                program: program.clone(),
                source,
            })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            kill(&mut child);
            return Err(VideoError::Spawn {
                program,
                source: std::io::Error::other("no pipe to the child"),
            });
        };
        let stderr = std::thread::spawn(move || drain_bounded(stderr));
        Ok(FrameDecoder {
            path: path.to_owned(),
            program,
            child,
            stdout,
            stderr: Some(stderr),
            frame: vec![0; info.frame_bytes()],
            next_index: 0,
            finished: false,
        })
    }

    /// The next frame, or `None` at the end of a stream ffmpeg decoded without error.
    /// A failing ffmpeg, or a stream that ends inside a frame, is an error naming the file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>> {
        if self.finished {
            return Ok(None);
        }
        let got = self.fill_frame()?;
        if got == 0 {
            self.finish()?;
            return Ok(None);
        }
        if got < self.frame.len() {
            let frame = self.next_index;
            self.finished = true;
            kill(&mut self.child);
            return Err(VideoError::TruncatedFrame {
                path: self.path.clone(),
                frame,
                got,
                expected: self.frame.len(),
            });
        }
        let index = self.next_index;
        self.next_index += 1;
        Ok(Some(Frame {
            index,
            rgb: &self.frame,
        }))
    }

    /// Reads up to one frame's bytes; fewer only at the end of the stream.
    fn fill_frame(&mut self) -> Result<usize> {
        let mut got = 0;
        while got < self.frame.len() {
            match self.stdout.read(&mut self.frame[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(VideoError::Decode {
                        path: self.path.clone(),
                        message: format!("reading ffmpeg's output: {e}"),
                    })
                }
            }
        }
        Ok(got)
    }

    /// Waits for ffmpeg at the end of its output; an error when it failed or gave no frame.
    fn finish(&mut self) -> Result<()> {
        self.finished = true;
        let status = self.child.wait().map_err(|source| VideoError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        let stderr = self.take_stderr();
        if !status.success() {
            return Err(VideoError::Decode {
                path: self.path.clone(),
                message: failure_message(status, &stderr),
            });
        }
        if self.next_index == 0 {
            return Err(VideoError::NoFrames {
                path: self.path.clone(),
                stderr: first_lines(&stderr),
            });
        }
        if !stderr.is_empty() {
            tracing::warn!(path = %self.path.display(), "ffmpeg: {}", first_lines(&stderr));
        }
        Ok(())
    }

    /// ffmpeg's error output so far (the reader thread ends when the child does).
    fn take_stderr(&mut self) -> Vec<u8> {
        self.stderr
            .take()
            .and_then(|handle| handle.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for FrameDecoder {
    fn drop(&mut self) {
        if !self.finished {
            kill(&mut self.child);
        }
        let _ = self.take_stderr();
    }
}

/// Kills and reaps a child; errors mean it is already gone.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
