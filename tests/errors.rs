//! `Error::kind`: each kind a program can meet, from the call that produces it. (DNS and
//! HTTP request failures are asserted where those tests make them: `dns.rs`,
//! `http.rs`; TLS in `tls.rs`.)

mod common;

use libevent::event::Flags;
use libevent::listener::ListenerFlags;
use libevent::{ErrorKind, Event, EventBase, Listener};
use std::io;

#[test]
fn invalid_input_says_why_and_converts_to_io_invalid_input() {
    let base = EventBase::new().unwrap();
    let e = Event::new(&base, -1, Flags::READ, |_| {}).unwrap_err();
    let ErrorKind::InvalidInput(why) = e.kind() else {
        panic!("{:?}", e.kind())
    };
    assert!(why.contains("descriptor"), "{why}");
    assert!(e.is_invalid_input());
    assert_eq!(e.errno(), None);
    assert_eq!(io::Error::from(e).kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn an_os_error_without_a_kind_of_its_own_is_other_with_its_errno() {
    let base = EventBase::new().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = Listener::bind(
        &base,
        taken.local_addr().unwrap(),
        8,
        ListenerFlags::empty(),
        |_, _| {},
    )
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Other);
    assert_eq!(e.errno(), Some(libc::EADDRINUSE));
    let io = io::Error::from(e);
    assert_eq!(io.kind(), io::ErrorKind::AddrInUse);
}

/// Out of descriptors: the listener's socket cannot be made. Run in a child process,
/// which lowers its own descriptor limit.
#[test]
fn out_of_descriptors_is_resource_exhausted() {
    const VAR: &str = "ERRORS_TEST_EMFILE";
    if std::env::var_os(VAR).is_none() {
        return common::rerun_in_child("out_of_descriptors_is_resource_exhausted", VAR);
    }
    let base = EventBase::new().unwrap();
    // Every descriptor up to the limit taken, then a listener.
    let mut held = Vec::new();
    let lim = libc::rlimit {
        rlim_cur: 64,
        rlim_max: 64,
    };
    // SAFETY: lowers this (child) process's own limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    while let Ok(f) = std::fs::File::open("/dev/null") {
        held.push(f);
    }
    let e = Listener::bind(
        &base,
        "127.0.0.1:0".parse().unwrap(),
        8,
        ListenerFlags::empty(),
        |_, _| {},
    )
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::ResourceExhausted, "{e}");
    assert_eq!(e.errno(), Some(libc::EMFILE));
    drop(held);
}
