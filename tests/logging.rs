//! libevent's own log messages arrive in the `log` crate, target "libevent". In its own
//! test binary, since a logger is process-wide.

use libevent::bufferevent::Options;
use libevent::{BufferEvent, EventBase};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Mutex;

static SEEN: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        SEEN.lock()
            .unwrap()
            .push((r.level(), r.target().to_string(), r.args().to_string()));
    }
    fn flush(&self) {}
}

#[test]
fn libevent_warnings_reach_the_log_crate() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let base = EventBase::new().unwrap(); // routes libevent's log on first use
                                          // A descriptor that is not open: libevent warns while making it non-blocking.
                                          // SAFETY: 1_000_000 is far above any open descriptor; OwnedFd's close fails quietly.
    let bogus = unsafe { OwnedFd::from_raw_fd(1_000_000) };
    let err = BufferEvent::socket(&base, Some(bogus), Options::empty()).unwrap_err();
    assert_eq!(err.function(), "evutil_make_socket_nonblocking");
    let seen = SEEN.lock().unwrap();
    let warning = seen.iter().find(|(_, target, _)| target == "libevent");
    let (level, _, text) = warning.unwrap_or_else(|| panic!("no libevent record in {seen:?}"));
    assert_eq!(*level, log::Level::Warn);
    assert!(text.contains("fcntl"), "{text}");
}
