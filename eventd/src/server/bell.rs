//! A worker's door bell: how one worker wakes another (a slot freed, or the daemon is
//! stopping) without touching its loop from the wrong thread.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::AtomicBool;

/// The worker watches `rx` as a read event; anyone rings by writing to `tx`.
pub(super) struct Bell {
    pub(super) rx: UnixStream,
    tx: UnixStream,
    /// The worker stopped accepting because the limit was reached and wants to hear
    /// when a slot frees.
    pub(super) parked: AtomicBool,
}

impl Bell {
    pub(super) fn new() -> io::Result<Bell> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        Ok(Bell {
            rx,
            tx,
            parked: AtomicBool::new(false),
        })
    }

    pub(super) fn ring(&self) {
        // A full socket buffer means a ring is already pending: nothing is lost.
        let _ = (&self.tx).write(&[1]);
    }

    pub(super) fn silence(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.rx).read(&mut buf), Ok(n) if n > 0) {}
    }
}
