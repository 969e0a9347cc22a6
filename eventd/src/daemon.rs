//! `--daemonize` and `--pid-file`.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Tells the waiting parent that the daemon is up (or, by closing, that it failed).
pub struct Ready(Option<std::fs::File>);

impl Ready {
    /// Nothing waits (foreground).
    pub fn none() -> Ready {
        Ready(None)
    }

    /// Reports success to the parent and lets it exit 0.
    pub fn signal(mut self) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(b"1");
        }
    }
}

/// Forks; the parent waits until the child reports it is listening, then exits 0 (or 1
/// if the child failed). The child starts a new session and goes on.
pub fn detach() -> io::Result<Ready> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made and are owned here only.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: single-threaded here (called before any thread or event base exists).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(r);
            // SAFETY: the child is not a process group leader, so setsid succeeds.
            unsafe { libc::setsid() };
            let _ = std::env::set_current_dir("/");
            let devnull = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            use std::os::fd::AsRawFd;
            for fd in 0..3 {
                // SAFETY: redirecting the standard descriptors to /dev/null.
                unsafe { libc::dup2(devnull.as_raw_fd(), fd) };
            }
            Ok(Ready(Some(std::fs::File::from(w))))
        }
        _ => {
            drop(w);
            let mut buf = [0u8; 1];
            let ok = std::fs::File::from(r)
                .read(&mut buf)
                .map(|n| n == 1)
                .unwrap_or(false);
            std::process::exit(if ok { 0 } else { 1 });
        }
    }
}

/// A pid file, removed when dropped.
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes our pid to `path`.
    pub fn create(path: &Path) -> io::Result<PidFile> {
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()?.join(path)
        };
        fs::write(&path, format!("{}\n", std::process::id()))?;
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}
