//! Fix 4: SIGINT and SIGTERM stop accepting, write out what is owed, close every
//! connection and end the loops; `Daemon is shutting down...` comes once all are done.
//! SIGHUP reopens the log file.

use super::conn::Ctx;
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
        let ctx = Ctx {
            shared: &self.shared,
            index: self.index,
        };
        self.conns.shutdown(&ctx);
        self.after_conns();
        if self.conns.open() == 0 {
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
        let held = self.conns.drop_all();
        self.shared.active.fetch_sub(held, SeqCst);
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
