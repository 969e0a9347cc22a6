//! libcurl's multi-socket interface on the crate's events, fetching from an evhttp
//! server on the same loop: many transfers at once, a timeout, a cancelled transfer, and
//! the multi handle dropped inside a transfer's own callback.

use c_libs::curl::{Multi, Outcome};
use libevent::{EventBase, Http, LoopFlags, Request};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Runs the loop until `until`, failing after 20 s: the loop never blocks, so a wait that
/// nothing will end (no event left) is a failure, not a hang.
fn spin(base: &EventBase, until: impl Fn() -> bool) {
    let start = Instant::now();
    while !until() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out");
        base.run(LoopFlags::ONCE | LoopFlags::NONBLOCK).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `/n/N`: N bytes of `x`; `/hold`: kept unanswered (the requests are returned).
fn server(base: &EventBase) -> (Http, u16, Rc<RefCell<Vec<Request>>>) {
    let http = Http::new(base).unwrap();
    let port = http
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let held: Rc<RefCell<Vec<Request>>> = Rc::default();
    let h = held.clone();
    http.on_request(move |req| {
        let uri = req.uri().to_owned();
        if let Some(n) = uri.strip_prefix("/n/") {
            let n: usize = n.parse().unwrap();
            req.send_reply(200, None, &vec![b'x'; n]).unwrap();
        } else if uri == "/hold" {
            h.borrow_mut().push(req);
        } else {
            req.send_error(404, None).unwrap();
        }
    });
    (http, port, held)
}

type Outcomes = Rc<RefCell<Vec<(usize, Outcome)>>>;

#[test]
fn many_transfers_at_once_each_with_its_body() {
    let base = EventBase::new().unwrap();
    let (_http, port, _) = server(&base);
    let multi = Multi::new(&base);
    let got: Outcomes = Rc::default();
    for i in 0..50 {
        let g = got.clone();
        let n = i * 997; // up to ~49 KB
        multi.get(&format!("http://127.0.0.1:{port}/n/{n}"), None, move |o| {
            g.borrow_mut().push((n, o))
        });
    }
    assert_eq!(multi.running(), 50);
    spin(&base, || got.borrow().len() == 50);
    for (n, o) in got.borrow().iter() {
        let (status, body) = o.as_ref().unwrap();
        assert_eq!((*status, body.len()), (200, *n));
        assert!(body.iter().all(|&b| b == b'x'));
    }
    let g = got.clone();
    multi.get(
        &format!("http://127.0.0.1:{port}/missing"),
        None,
        move |o| g.borrow_mut().push((0, o)),
    );
    spin(&base, || got.borrow().len() == 51);
    assert_eq!(got.borrow()[50].1.as_ref().unwrap().0, 404);
    assert_eq!(multi.running(), 0);
}

#[test]
fn a_timeout_and_a_cancelled_transfer() {
    let base = EventBase::new().unwrap();
    let (_http, port, held) = server(&base);
    let multi = Multi::new(&base);
    let got: Outcomes = Rc::default();
    let g = got.clone();
    // The transfer to cancel first, in flight (its request held by the server); then
    // the one that times out, whose request may or may not reach the server in its
    // 200 ms on a slow machine (under valgrind it often does not).
    let cancelled = multi.get(&format!("http://127.0.0.1:{port}/hold"), None, |_| {
        panic!("a cancelled transfer is not called back")
    });
    spin(&base, || held.borrow().len() == 1);
    let started = Instant::now();
    multi.get(
        &format!("http://127.0.0.1:{port}/hold"),
        Some(Duration::from_millis(200)),
        move |o| g.borrow_mut().push((1, o)),
    );
    assert!(multi.cancel(cancelled));
    assert!(!multi.cancel(cancelled));
    spin(&base, || got.borrow().len() == 1);
    let e = got.borrow()[0].1.clone().unwrap_err();
    assert!(e.to_lowercase().contains("timeout"), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(multi.running(), 0);
    // curl let go of both sockets.
    spin(&base, || multi.sockets() == 0);
}

#[test]
fn the_multi_handle_dropped_inside_a_transfers_callback() {
    let base = EventBase::new().unwrap();
    let (_http, port, _) = server(&base);
    let slot: Rc<RefCell<Option<Multi>>> = Rc::new(RefCell::new(Some(Multi::new(&base))));
    let got: Outcomes = Rc::default();
    {
        let m = slot.borrow();
        let m = m.as_ref().unwrap();
        let (s, g) = (slot.clone(), got.clone());
        m.get(&format!("http://127.0.0.1:{port}/n/10"), None, move |o| {
            g.borrow_mut().push((10, o));
            drop(s.borrow_mut().take()); // with the other transfer still running
        });
        m.get(&format!("http://127.0.0.1:{port}/hold"), None, |_| {
            panic!("dropped")
        });
    }
    spin(&base, || slot.borrow().is_none());
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(got.borrow().len(), 1);
}
