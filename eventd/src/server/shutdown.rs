//! Fix 4: SIGINT and SIGTERM stop accepting, write out what is owed, close every
//! connection and end the loops; `Daemon is shutting down...` comes once all are done.
//! SIGHUP reopens the log file.

use super::conn::{Close, Conn, Phase};
use super::with_state;
use super::worker::State;
use libevent::Event;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::PoisonError;
use std::time::Duration;

impl State {
    /// Worker 0 gets the signal and rings the other workers; each runs this.
    pub(super) fn shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        if !self.shared.stopping.swap(true, SeqCst) {
            for (i, bell) in self.shared.bells.iter().enumerate() {
                if i != self.index {
                    bell.ring();
                }
            }
        }
        self.listener = None;
        self.listening = false;
        // Never served: they go the way of the kernel's backlog.
        self.waiting.clear();
        // In the order they were accepted, as the log of one worker always was. Each is
        // taken out of the table for its close, which may free it.
        let mut ids: Vec<u64> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(mut bev) = self.conns.remove(&id) else {
                continue;
            };
            let gone = bev.with_context(|bev, conn: &mut Conn| {
                if conn.is_serving() {
                    self.close(bev, conn, Close::Shutdown);
                }
                conn.phase == Phase::Gone
            });
            if !gone {
                self.conns.insert(id, bev);
            }
        }
        if self.open == 0 {
            self.finish();
        } else {
            // Peers that do not read get the timeout (or 5 s) to take their replies.
            let grace = Duration::from_secs(self.shared.cfg.timeout.clamp(1, 5));
            let w = self.me.clone();
            if let Ok(timer) =
                Event::timer(&self.base, move |_| with_state(&w, |st| st.force_close()))
            {
                if timer.add(Some(grace)).is_ok() {
                    // The timer lives as long as the loop; it is freed with the state.
                    self.grace_timer = Some(timer);
                }
            }
        }
    }

    /// SIGHUP: reopen `--log-file` (logrotate renamed it). Each line is written whole
    /// under the log's lock, so no line is lost or split across the two files.
    pub(super) fn reopen_log(&mut self) {
        let mut log = self
            .shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match log.reopen() {
            Ok(true) => log.line(format_args!("Reopened log file...")),
            Ok(false) => {}
            Err(e) => {
                let path = log
                    .path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                log.line(format_args!("Error: cannot reopen log file {path}: {e}"));
            }
        }
    }

    /// The grace period is over: whatever is still open is dropped.
    fn force_close(&mut self) {
        for (_, mut bev) in self.conns.drain() {
            if bev.with_context(|_, conn: &mut Conn| conn.holds_slot()) {
                self.shared.active.fetch_sub(1, SeqCst);
            }
        }
        self.open = 0;
        self.finish();
    }

    /// This worker is done: its loop ends. The last line of the log is written once
    /// every worker is done (see [`Server::run`](super::Server::run)).
    pub(super) fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let _ = self.base.loopbreak();
    }
}
