//! Listeners: accepting with the peer address, disable and enable, wrapping a std
//! listener, freeing inside the accept callback, errors.

use libevent::listener::ListenerFlags;
use libevent::{EventBase, Listener, LoopFlags};
use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

mod common;
use common::{run_for, spin};

#[test]
fn accepts_with_stream_and_peer_address() {
    let base = EventBase::new().unwrap();
    let got: Rc<RefCell<Vec<(TcpStream, SocketAddr)>>> = Rc::default();
    let g = got.clone();
    let l = Listener::bind(
        &base,
        "127.0.0.1:0".parse().unwrap(),
        8,
        ListenerFlags::REUSEABLE | ListenerFlags::CLOSE_ON_EXEC,
        move |s, p| g.borrow_mut().push((s, p)),
    )
    .unwrap();
    let addr = l.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap();
    spin(&base, || got.borrow().len() == 1);
    let (stream, peer) = &got.borrow()[0];
    assert_eq!(*peer, client.local_addr().unwrap());
    assert_eq!(stream.peer_addr().unwrap(), client.local_addr().unwrap());
    assert!(l.fd() >= 0);
}

#[test]
fn ipv6_loopback() {
    let base = EventBase::new().unwrap();
    let Ok(l) = Listener::bind(
        &base,
        "[::1]:0".parse().unwrap(),
        8,
        ListenerFlags::empty(),
        |_, _| {},
    ) else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    assert!(l.local_addr().unwrap().is_ipv6());
}

#[test]
fn disabled_listeners_leave_clients_in_the_backlog() {
    let base = EventBase::new().unwrap();
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let l = Listener::bind(
        &base,
        "127.0.0.1:0".parse().unwrap(),
        8,
        ListenerFlags::DISABLED,
        move |_, _| c.set(c.get() + 1),
    )
    .unwrap();
    let _client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    run_for(&base, Duration::from_millis(100));
    assert_eq!(count.get(), 0);
    l.enable().unwrap();
    spin(&base, || count.get() == 1);
    l.disable().unwrap();
    let _second = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    run_for(&base, Duration::from_millis(100));
    assert_eq!(count.get(), 1);
}

#[test]
fn wraps_a_std_listener_and_frees_itself_inside_its_callback() {
    let base = EventBase::new().unwrap();
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let slot: Rc<RefCell<Option<Listener>>> = Rc::default();
    let s = slot.clone();
    let l = Listener::from_tcp(&base, std_listener, ListenerFlags::empty(), move |_, _| {
        s.borrow_mut().take(); // free the listener from inside its own callback
    })
    .unwrap();
    *slot.borrow_mut() = Some(l);
    let _c = TcpStream::connect(addr).unwrap();
    spin(&base, || slot.borrow().is_none());
    // The socket was closed with the listener.
    std::thread::sleep(Duration::from_millis(50));
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn binding_a_port_in_use_names_the_call_and_errno() {
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
    assert_eq!(e.function(), "evconnlistener_new_bind");
    assert_eq!(e.errno(), Some(libc::EADDRINUSE));
    assert!(Listener::bind(
        &base,
        "127.0.0.1:0".parse().unwrap(),
        0,
        ListenerFlags::empty(),
        |_, _| {}
    )
    .unwrap_err()
    .is_invalid_input());
}

#[test]
fn the_error_callback_runs_when_accept_fails() {
    // Accept fails with EMFILE when no descriptor is left: lower the limit in a child
    // process so the rest of the test binary is not affected.
    if std::env::var_os("LIBEVENT_TEST_EMFILE_CHILD").is_some() {
        let base = EventBase::new().unwrap();
        let errors = Rc::new(RefCell::new(Vec::new()));
        let e = errors.clone();
        let b = base.clone();
        let mut l = Listener::bind(
            &base,
            "127.0.0.1:0".parse().unwrap(),
            8,
            ListenerFlags::empty(),
            |_, _| {},
        )
        .unwrap();
        l.on_error(move |err| {
            e.borrow_mut().push(err.errno());
            b.loopbreak().unwrap();
        })
        .unwrap();
        let _c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        // Use up every descriptor below the new limit.
        let lim = libc::rlimit {
            rlim_cur: 64,
            rlim_max: 64,
        };
        // SAFETY: lowering our own soft and hard limits.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        let mut hold = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            hold.push(f);
        }
        base.run(LoopFlags::ONCE).unwrap();
        assert_eq!(*errors.borrow(), vec![Some(libc::EMFILE)]);
        return;
    }
    common::rerun_in_child(
        "the_error_callback_runs_when_accept_fails",
        "LIBEVENT_TEST_EMFILE_CHILD",
    );
}
