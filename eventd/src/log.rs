//! The log: `[YYYY-MM-DD HH:MM:SS] MESSAGE`, local time, one line per event.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

enum Sink {
    Stdout,
    /// The file, and its path for [`Log::reopen`].
    File(File, PathBuf),
}

/// Where log lines go. Each line is written whole and flushed, so a reader (or a crash)
/// never sees half a line.
pub struct Log {
    sink: Sink,
    cached_sec: i64,
    stamp: String,
    line: Vec<u8>,
}

impl Log {
    /// To standard output.
    pub fn stdout() -> Log {
        Log {
            sink: Sink::Stdout,
            cached_sec: i64::MIN,
            stamp: String::new(),
            line: Vec::with_capacity(128),
        }
    }

    /// Appending to `path`.
    pub fn file(path: &Path) -> io::Result<Log> {
        Ok(Log {
            sink: Sink::File(open(path)?, path.to_path_buf()),
            ..Log::stdout()
        })
    }

    /// Opens the log file's path again (for logrotate: after the old file was renamed,
    /// lines go to a new file by that name). `Ok(false)` when the log is standard
    /// output; on an error the old file stays in use.
    pub fn reopen(&mut self) -> io::Result<bool> {
        let Sink::File(file, path) = &mut self.sink else {
            return Ok(false);
        };
        *file = open(path)?;
        Ok(true)
    }

    /// The log file's path, if it is a file.
    pub fn path(&self) -> Option<&Path> {
        match &self.sink {
            Sink::File(_, path) => Some(path),
            Sink::Stdout => None,
        }
    }

    fn timestamp(&mut self) -> &str {
        // SAFETY: time(NULL) has no preconditions.
        let now = unsafe { libc::time(std::ptr::null_mut()) };
        if now != self.cached_sec {
            // SAFETY: an all-zero tm is valid; localtime_r fills it from `now`.
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            // SAFETY: both pointers are valid for the call.
            unsafe { libc::localtime_r(&now, &mut tm) };
            self.stamp = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                tm.tm_year + 1900,
                tm.tm_mon + 1,
                tm.tm_mday,
                tm.tm_hour,
                tm.tm_min,
                tm.tm_sec
            );
            self.cached_sec = now;
        }
        &self.stamp
    }

    /// Writes one line. A log that cannot be written must not stop the server.
    pub fn line(&mut self, args: std::fmt::Arguments<'_>) {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let _ = write!(line, "[{}] ", self.timestamp());
        let _ = line.write_fmt(args);
        line.push(b'\n');
        let _ = match &mut self.sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(&line).and_then(|_| out.flush())
            }
            Sink::File(f, _) => f.write_all(&line),
        };
        self.line = line;
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}
