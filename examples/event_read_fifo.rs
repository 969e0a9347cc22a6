//! Port of libevent's sample/event-read-fifo.c: makes a FIFO and prints what is written
//! to it; ends when the writer closes it (or on SIGINT).
//!
//! `cargo run --example event_read_fifo -- [PATH]` (default ./event.fifo), then
//! `echo hello > event.fifo`.

use libevent::event::Flags;
use libevent::{Event, EventBase};
use std::ffi::CString;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "event.fifo".into());
    let _ = std::fs::remove_file(&path);
    let c = CString::new(path.clone())?;
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // Non-blocking, so opening does not wait for a writer.
    let mut fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)?;
    let fd = fifo.as_raw_fd();
    let base = EventBase::new()?;
    let b = base.clone();
    let mut seen_data = false;
    let ev = Event::new(&base, fd, Flags::READ | Flags::PERSIST, move |_| {
        let mut buf = [0u8; 255];
        match fifo.read(&mut buf) {
            Ok(0) if seen_data => {
                eprintln!("Connection closed");
                let _ = b.loopbreak();
            }
            Ok(0) => {} // no writer yet
            Ok(n) => {
                seen_data = true;
                print!("Read: {}", String::from_utf8_lossy(&buf[..n]));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                eprintln!("read: {e}");
                let _ = b.loopbreak();
            }
        }
    })?;
    ev.add(None)?;
    let b = base.clone();
    let sig = Event::signal(&base, libc::SIGINT, move |_| {
        let _ = b.loopbreak();
    })?;
    sig.add(None)?;
    println!("reading {path}");
    base.dispatch()?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}
