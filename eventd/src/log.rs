//! The log: `[YYYY-MM-DD HH:MM:SS] MESSAGE`, local time, one line per event.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

enum Sink {
    Stdout,
    File(File),
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
        let f = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Log {
            sink: Sink::File(f),
            ..Log::stdout()
        })
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
            Sink::File(f) => f.write_all(&line),
        };
        self.line = line;
    }
}
