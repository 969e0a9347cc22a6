//! Bufferevents: watermarks, timeouts, end of stream, pairs, filters, rate limits,
//! callbacks that free or replace, connecting, options.

use libevent::bufferevent::{
    BevEvent, FilterResult, FlushMode, Options, RateLimit, RateLimitGroup,
};
use libevent::event::Flags;
use libevent::listener::ListenerFlags;
use libevent::{BufferEvent, EvBufferRef, EventBase, Listener, LoopFlags};
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

mod common;
use common::{coarse_tick, read_in_thread, run_for, spin, tcp_pair};

/// Sets a read callback that drains the input and adds what it took to `total`.
fn count_and_drain(bev: &mut BufferEvent, total: &Rc<Cell<usize>>) {
    let t = total.clone();
    bev.on_read(move |me| {
        let n = me.input().len();
        me.input_mut().drain(n).unwrap();
        t.set(t.get() + n);
    });
}

#[test]
fn the_read_low_watermark_delays_the_read_callback() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    bev.set_read_watermark(10, 0).unwrap();
    assert_eq!(bev.read_watermark(), (10, 0));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    bev.on_read(move |b| s.borrow_mut().push(b.input().len()));
    bev.enable(Flags::READ).unwrap();
    peer.write_all(b"12345").unwrap();
    run_for(&base, Duration::from_millis(100));
    assert!(seen.borrow().is_empty(), "called below the low watermark");
    assert_eq!(bev.input_len(), 5);
    peer.write_all(b"67890").unwrap();
    spin(&base, || !seen.borrow().is_empty());
    assert_eq!(seen.borrow()[0], 10);
}

#[test]
fn the_read_high_watermark_pauses_reading_until_input_drains() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    bev.set_read_watermark(0, 100).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let removed = Rc::new(Cell::new(0));
    let (s, r) = (seen.clone(), removed.clone());
    // Takes out 50 bytes per call: reading resumes only as the input drains below 100.
    bev.on_read(move |me| {
        s.borrow_mut().push(me.input().len());
        let mut buf = [0u8; 50];
        r.set(r.get() + me.input_mut().remove(&mut buf));
    });
    bev.enable(Flags::READ).unwrap();
    peer.write_all(&[b'x'; 1000]).unwrap();
    spin(&base, || removed.get() + bev.input_len() == 1000);
    let seen = seen.borrow();
    assert!(
        seen.iter().all(|&n| n <= 100),
        "input exceeded the high watermark: {seen:?}"
    );
    assert!(
        seen.contains(&100),
        "reading never reached the high watermark: {seen:?}"
    );
}

#[test]
fn the_write_low_watermark_fires_the_write_callback_when_output_drains() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    bev.set_write_watermark(1000, 0).unwrap();
    assert_eq!(bev.write_watermark(), (1000, 0));
    let at = Rc::new(RefCell::new(Vec::new()));
    let a = at.clone();
    bev.on_write(move |b| a.borrow_mut().push(b.output().len()));
    bev.enable(Flags::WRITE).unwrap();
    let data = vec![b'y'; 4 << 20];
    bev.write(&data).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; 4 << 20];
        peer.read_exact(&mut got).unwrap();
        got
    });
    spin(&base, || !at.borrow().is_empty());
    assert!(
        at.borrow()[0] <= 1000,
        "write callback above the low watermark: {:?}",
        at.borrow()
    );
    assert_eq!(reader.join().unwrap(), data);
}

#[test]
fn a_read_timeout_reports_reading_and_timeout() {
    let base = EventBase::new().unwrap();
    let (mut bev, _peer) = tcp_pair(&base);
    let got = Rc::new(Cell::new(BevEvent::empty()));
    let g = got.clone();
    bev.on_event(move |_, what| g.set(what));
    bev.set_timeouts(Some(Duration::from_millis(30)), None)
        .unwrap();
    bev.enable(Flags::READ).unwrap();
    spin(&base, || !got.get().is_empty());
    assert_eq!(got.get(), BevEvent::READING | BevEvent::TIMEOUT);
    // libevent disables reading on a timeout.
    assert!(!bev.enabled().contains(Flags::READ));
}

#[test]
fn end_of_stream_is_reported_after_the_data() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    let log = Rc::new(RefCell::new(Vec::new()));
    let (l1, l2) = (log.clone(), log.clone());
    bev.on_read(move |b| {
        l1.borrow_mut().push(format!(
            "data {:?}",
            String::from_utf8(b.input_mut().remove_all()).unwrap()
        ))
    });
    bev.on_event(move |_, w| l2.borrow_mut().push(format!("{w:?}")));
    bev.enable(Flags::READ).unwrap();
    peer.write_all(b"last words").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    spin(&base, || log.borrow().len() == 2);
    assert_eq!(
        *log.borrow(),
        vec![
            "data \"last words\"".to_string(),
            "BevEvent(READING | EOF)".to_string()
        ]
    );
}

#[test]
fn freeing_a_bufferevent_inside_its_own_event_callback() {
    let base = EventBase::new().unwrap();
    let (bev, mut peer) = tcp_pair(&base);
    let table: Rc<RefCell<Vec<BufferEvent>>> = Rc::new(RefCell::new(vec![bev]));
    let t = table.clone();
    let closed = Rc::new(Cell::new(false));
    let c = closed.clone();
    {
        let mut tb = table.borrow_mut();
        let b = &mut tb[0];
        b.on_event(move |me, what| {
            assert!(what.contains(BevEvent::EOF));
            // The daemon's pattern: close on end of stream by dropping the owner.
            t.borrow_mut().clear();
            // `me` stays valid until the callback returns.
            assert!(me.output().is_empty());
            c.set(true);
        });
        b.enable(Flags::READ).unwrap();
    }
    peer.shutdown(Shutdown::Write).unwrap();
    spin(&base, || closed.get());
    assert!(table.borrow().is_empty());
    // The socket was closed: the peer reads end of stream.
    let mut buf = [0u8; 1];
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert_eq!(peer.read(&mut buf).unwrap(), 0);
}

#[test]
fn freeing_inside_the_read_callback_and_replacing_callbacks_inside_callbacks() {
    let base = EventBase::new().unwrap();
    let (bev, mut peer) = tcp_pair(&base);
    let holder: Rc<RefCell<Option<BufferEvent>>> = Rc::new(RefCell::new(Some(bev)));
    let h = holder.clone();
    let phase = Rc::new(Cell::new(0));
    let p = phase.clone();
    {
        let mut guard = holder.borrow_mut();
        let b = guard.as_mut().unwrap();
        b.on_read(move |me| {
            let data = me.input_mut().remove_all();
            if data.starts_with(b"swap") {
                // Replace this very callback from inside it (through the owner).
                let p2 = p.clone();
                let h2 = h.clone();
                h.borrow_mut().as_mut().unwrap().on_read(move |me| {
                    me.input_mut().drain(usize::MAX).unwrap();
                    p2.set(2);
                    h2.borrow_mut().take(); // and free it from the new one
                });
                p.set(1);
            }
        });
        b.enable(Flags::READ).unwrap();
    }
    peer.write_all(b"swap").unwrap();
    spin(&base, || phase.get() == 1);
    peer.write_all(b"second").unwrap();
    spin(&base, || phase.get() == 2);
    assert!(holder.borrow().is_none());
}

#[test]
fn a_pair_round_trip() {
    let base = EventBase::new().unwrap();
    let (mut a, mut b) = BufferEvent::pair(&base, Options::DEFER_CALLBACKS).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    b.on_read(move |me| {
        let data = me.input_mut().remove_all();
        g.borrow_mut().extend_from_slice(&data);
        me.write(&data.to_ascii_uppercase()).unwrap();
    });
    let back = Rc::new(RefCell::new(Vec::new()));
    let bk = back.clone();
    a.on_read(move |me| bk.borrow_mut().extend(me.input_mut().remove_all()));
    a.enable(Flags::READ | Flags::WRITE).unwrap();
    b.enable(Flags::READ | Flags::WRITE).unwrap();
    a.write(b"round trip").unwrap();
    spin(&base, || back.borrow().len() == 10);
    assert_eq!(&*got.borrow(), b"round trip");
    assert_eq!(&*back.borrow(), b"ROUND TRIP");
    assert_eq!(a.fd(), None);
}

#[test]
fn a_filter_transforms_bytes_both_ways() {
    let base = EventBase::new().unwrap();
    let (under, mut peer) = tcp_pair(&base);
    let rot =
        |src: &mut libevent::EvBufferRef, dst: &mut libevent::EvBufferRef, _limit: isize, _mode| {
            let data: Vec<u8> = src
                .remove_all()
                .iter()
                .map(|b| {
                    if b.is_ascii_lowercase() {
                        b'a' + (b - b'a' + 13) % 26
                    } else {
                        *b
                    }
                })
                .collect();
            if data.is_empty() {
                return FilterResult::NeedMore;
            }
            dst.add(&data).unwrap();
            FilterResult::Ok
        };
    let mut f = BufferEvent::filter(under, rot, rot, Options::empty()).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    f.on_read(move |me| g.borrow_mut().extend(me.input_mut().remove_all()));
    f.enable(Flags::READ | Flags::WRITE).unwrap();
    peer.write_all(b"uryyb").unwrap();
    spin(&base, || got.borrow().len() == 5);
    assert_eq!(&*got.borrow(), b"hello");
    f.write(b"world").unwrap();
    let reader = read_in_thread(peer, 5);
    run_for(&base, Duration::from_millis(200));
    assert_eq!(reader.join().unwrap(), b"jbeyq");
}

#[test]
fn a_rate_limit_limits_reading() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    // 1000 bytes per 20 ms tick: 64 KB take at least ~1.2 s.
    let cfg = RateLimit::new(1000, 1000, 1 << 20, 1 << 20, Duration::from_millis(20)).unwrap();
    bev.set_rate_limit(Some(cfg)).unwrap();
    let total = Rc::new(Cell::new(0usize));
    count_and_drain(&mut bev, &total);
    bev.enable(Flags::READ).unwrap();
    let writer = std::thread::spawn(move || peer.write_all(&vec![b'z'; 64 * 1024]).map(|_| peer));
    let start = Instant::now();
    spin(&base, || total.get() == 64 * 1024);
    let took = start.elapsed();
    // Generous bounds: at most twice the nominal rate, and not absurdly slow.
    assert!(
        took >= Duration::from_millis(600),
        "64 KB in {took:?} is faster than 2x the limit"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    drop(writer.join().unwrap());
}

#[test]
fn a_rate_limit_group_counts_its_members() {
    let base = EventBase::new().unwrap();
    let cfg = RateLimit::new(
        1 << 20,
        1 << 20,
        1 << 20,
        1 << 20,
        Duration::from_millis(10),
    )
    .unwrap();
    let group = RateLimitGroup::new(&base, &cfg).unwrap();
    let (mut a, mut pa) = tcp_pair(&base);
    let (mut b, mut pb) = tcp_pair(&base);
    let total = Rc::new(Cell::new(0usize));
    for bev in [&mut a, &mut b] {
        bev.join_rate_limit_group(&group).unwrap();
        count_and_drain(bev, &total);
        bev.enable(Flags::READ).unwrap();
    }
    pa.write_all(&[1; 3000]).unwrap();
    pb.write_all(&[2; 2000]).unwrap();
    spin(&base, || total.get() == 5000);
    assert_eq!(group.totals().0, 5000);
    b.leave_rate_limit_group().unwrap();
    drop(group); // members keep it alive
    assert!(RateLimit::new(0, 0, 1, 1, Duration::from_millis(1)).is_err());
}

#[test]
fn connect_reports_connected_then_talks() {
    let base = EventBase::new().unwrap();
    let accepted: Rc<RefCell<Vec<TcpStream>>> = Rc::default();
    let acc = accepted.clone();
    let l = Listener::bind(
        &base,
        "127.0.0.1:0".parse().unwrap(),
        4,
        ListenerFlags::REUSEABLE,
        move |s, _| acc.borrow_mut().push(s),
    )
    .unwrap();
    let mut bev =
        BufferEvent::connect_tcp(&base, l.local_addr().unwrap(), Options::empty()).unwrap();
    let ev = Rc::new(Cell::new(BevEvent::empty()));
    let e = ev.clone();
    bev.on_event(move |_, w| e.set(w));
    spin(&base, || {
        !ev.get().is_empty() && !accepted.borrow().is_empty()
    });
    assert_eq!(ev.get(), BevEvent::CONNECTED);
    assert!(bev.fd().is_some());
    bev.write(b"hi").unwrap();
    bev.flush(Flags::WRITE, libevent::bufferevent::FlushMode::Flush)
        .unwrap();
    let s = accepted.borrow_mut().pop().unwrap();
    s.set_nonblocking(false).unwrap();
    let t = read_in_thread(s, 2);
    run_for(&base, Duration::from_millis(200));
    assert_eq!(t.join().unwrap(), b"hi");
}

#[test]
fn connecting_to_a_closed_port_reports_an_error() {
    let base = EventBase::new().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap(); // closed again
    let mut bev = BufferEvent::connect_tcp(&base, port, Options::empty()).unwrap();
    let ev = Rc::new(Cell::new(BevEvent::empty()));
    let e = ev.clone();
    bev.on_event(move |_, w| e.set(w));
    spin(&base, || !ev.get().is_empty());
    assert!(ev.get().contains(BevEvent::ERROR));
}

#[test]
fn options_priority_and_limits() {
    let base = EventBase::new().unwrap();
    base.priority_init(2).unwrap();
    let (mut bev, _peer) = tcp_pair(&base);
    bev.set_priority(1).unwrap();
    assert_eq!(bev.priority(), 1);
    bev.set_max_single_read(4096).unwrap();
    bev.set_max_single_write(8192).unwrap();
    assert_eq!(
        (bev.max_single_read(), bev.max_single_write()),
        (4096, 8192)
    );
    assert!(bev.set_max_single_read(0).is_err());
    assert!(bev.set_read_watermark(10, 5).is_err());
    assert!(bev.set_timeouts(Some(Duration::MAX), None).is_err());
    bev.enable(Flags::READ).unwrap();
    assert!(bev.enabled().contains(Flags::READ));
    bev.disable(Flags::READ).unwrap();
    assert!(!bev.enabled().contains(Flags::READ));
    let mut buf = [0u8; 4];
    assert_eq!(bev.read(&mut buf), 0);
}

#[test]
fn a_panic_in_a_bufferevent_callback_resumes_from_the_loop() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    bev.on_read(|_| panic!("read callback panicked"));
    bev.enable(Flags::READ).unwrap();
    peer.write_all(b"x").unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| base.dispatch()));
    assert_eq!(
        r.unwrap_err().downcast_ref::<&str>(),
        Some(&"read callback panicked")
    );
}

#[test]
fn a_filter_keeps_the_rate_limit_group_of_its_underlying_bufferevent_alive() {
    let base = EventBase::new().unwrap();
    let (mut under, mut peer) = tcp_pair(&base);
    let cfg = RateLimit::new(
        1 << 20,
        1 << 20,
        1 << 20,
        1 << 20,
        Duration::from_millis(10),
    )
    .unwrap();
    let group = RateLimitGroup::new(&base, &cfg).unwrap();
    under.join_rate_limit_group(&group).unwrap();
    let pass = |src: &mut libevent::EvBufferRef, dst: &mut libevent::EvBufferRef, _l: isize, _m| {
        if src.is_empty() {
            return FilterResult::NeedMore;
        }
        dst.add_buffer(src)
            .map_or(FilterResult::Error, |_| FilterResult::Ok)
    };
    let mut f = BufferEvent::filter(under, pass, pass, Options::empty()).unwrap();
    // Only the filter holds the group now; it must still count what the underlying reads.
    let weak = Rc::downgrade(&group);
    drop(group);
    assert!(weak.upgrade().is_some(), "the filter keeps the group alive");
    let got = Rc::new(Cell::new(0usize));
    count_and_drain(&mut f, &got);
    f.enable(Flags::READ).unwrap();
    peer.write_all(&[7; 1000]).unwrap();
    spin(&base, || got.get() == 1000);
    assert_eq!(weak.upgrade().unwrap().totals().0, 1000);
    drop(f);
    assert!(weak.upgrade().is_none(), "freed with the filter");
}

/// Whether `peer` has bytes to read within 50 ms (reads them all if so).
fn arrived(peer: &mut TcpStream) -> Vec<u8> {
    peer.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = vec![0u8; 4096];
    match peer.read(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn write_direct_sends_at_once_and_queues_behind_queued_data() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    // Nothing queued: on the wire before the loop runs.
    bev.write_direct(b"first").unwrap();
    assert!(bev.output_len() == 0);
    assert_eq!(arrived(&mut peer), b"first");

    // Something queued by write: write_direct must not overtake it.
    bev.write(b"second").unwrap();
    bev.write_direct(b"third").unwrap();
    assert_eq!(bev.output_len(), "secondthird".len());
    assert_eq!(arrived(&mut peer), b"");
    run_for(&base, Duration::from_millis(50));
    assert_eq!(arrived(&mut peer), b"secondthird");

    // Writing disabled: queued, not sent.
    bev.disable(Flags::WRITE).unwrap();
    bev.write_direct(b"held").unwrap();
    assert_eq!(bev.output_len(), 4);
    assert_eq!(arrived(&mut peer), b"");
}

#[test]
fn write_direct_is_plain_write_on_pairs_and_rate_limited_sockets() {
    let base = EventBase::new().unwrap();
    let (mut a, mut b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    b.enable(Flags::READ).unwrap();
    // No socket: the pair's own transfer, exactly as write.
    a.write(b"pair ").unwrap();
    a.write_direct(b"direct").unwrap();
    run_for(&base, Duration::from_millis(20));
    assert_eq!(b.with(|b| b.input_mut().remove_all()), b"pair direct");

    let (mut bev, mut peer) = tcp_pair(&base);
    let cfg = RateLimit::new(1000, 1000, 1000, 1000, Duration::from_millis(10)).unwrap();
    bev.set_rate_limit(Some(cfg)).unwrap();
    bev.write_direct(b"limited").unwrap();
    assert_eq!(
        bev.output_len(),
        7,
        "a rate-limited write goes through the bucket"
    );
    assert_eq!(arrived(&mut peer), b"");
    run_for(&base, Duration::from_millis(50));
    assert_eq!(arrived(&mut peer), b"limited");
}

#[test]
fn write_direct_to_a_closed_peer_reports_the_error_through_the_event_callback() {
    let base = EventBase::new().unwrap();
    let (mut bev, peer) = tcp_pair(&base);
    // The peer closes with unread data: the kernel answers with a reset.
    let mut p = peer;
    p.write_all(b"unread").unwrap();
    drop(p);
    std::thread::sleep(Duration::from_millis(50));
    let seen = Rc::new(Cell::new(BevEvent::empty()));
    let s = seen.clone();
    bev.on_event(move |_, what| s.set(s.get() | what));
    bev.enable(Flags::READ).unwrap();
    for _ in 0..3 {
        bev.write_direct(&[b'x'; 1000]).unwrap();
        run_for(&base, Duration::from_millis(20));
    }
    assert!(
        seen.get().intersects(BevEvent::ERROR | BevEvent::EOF),
        "{:?}",
        seen.get()
    );
}

#[test]
fn a_common_read_timeout_reports_reading_and_timeout() {
    let base = EventBase::new().unwrap();
    let (mut bev, _peer) = tcp_pair(&base);
    let got = Rc::new(Cell::new(BevEvent::empty()));
    let g = got.clone();
    bev.on_event(move |_, what| g.set(what));
    let t = base.common_timeout(Duration::from_millis(30)).unwrap();
    bev.set_common_timeouts(Some(t), None).unwrap();
    bev.enable(Flags::READ).unwrap();
    let start = Instant::now();
    spin(&base, || !got.get().is_empty());
    // Early by at most one tick of libevent's coarse clock (see common::coarse_tick).
    assert!(start.elapsed() + coarse_tick() >= Duration::from_millis(30));
    assert_eq!(got.get(), BevEvent::READING | BevEvent::TIMEOUT);

    let other = EventBase::new().unwrap();
    let foreign = other.common_timeout(Duration::from_millis(30)).unwrap();
    assert!(bev.set_common_timeouts(None, Some(foreign)).is_err());
}

#[test]
fn adopting_a_bufferevent_of_another_base_is_refused() {
    let base = EventBase::new().unwrap();
    let other = EventBase::new().unwrap();
    // SAFETY: a fresh bufferevent on `other`, freed below since adoption is refused.
    let raw = unsafe { libevent::sys::bufferevent_socket_new(other.as_raw(), -1, 0) };
    // SAFETY: raw is live; the call only compares its base.
    let e = unsafe { BufferEvent::from_raw(&base, raw) }.unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    // SAFETY: not adopted, so still ours to free.
    unsafe { libevent::sys::bufferevent_free(raw) };
    // SAFETY: a fresh bufferevent on `other`.
    let raw = unsafe { libevent::sys::bufferevent_socket_new(other.as_raw(), -1, 0) };
    // SAFETY: on its own base it is adopted, and freed once by the handle.
    let bev = unsafe { BufferEvent::from_raw(&other, raw) }.unwrap();
    assert_eq!(bev.fd(), None);
}

/// The payload of a panic caught around `f`.
fn panic_of(f: impl FnOnce()) -> Option<String> {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    r.err().map(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    })
}

/// A filter that passes everything both ways.
fn pass(src: &mut EvBufferRef, dst: &mut EvBufferRef, _: isize, _: FlushMode) -> FilterResult {
    dst.add_buffer(src)
        .map_or(FilterResult::Error, |_| FilterResult::Ok)
}

#[test]
fn a_panic_in_a_callback_run_inside_a_call_comes_out_of_that_call() {
    let base = EventBase::new().unwrap();
    // (libevent 2.1 defers a pair's callbacks always: a filter is what runs them inside
    // the call.) A filter's output closure runs inside write and flush.
    let (under, _other) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let boom = |_: &mut EvBufferRef, _: &mut EvBufferRef, _: isize, m: FlushMode| -> FilterResult {
        panic!("output filter in {m:?}")
    };
    let mut f = BufferEvent::filter(under, pass, boom, Options::empty()).unwrap();
    f.enable(Flags::WRITE).unwrap();
    assert_eq!(
        panic_of(|| drop(f.write(b"z"))).as_deref(),
        Some("output filter in Normal")
    );
    assert_eq!(
        panic_of(|| drop(f.flush(Flags::WRITE, FlushMode::Flush))).as_deref(),
        Some("output filter in Flush")
    );
    // Through the output buffer as well.
    assert_eq!(
        panic_of(|| drop(f.with(|b| b.output_mut().add(b"y")))).as_deref(),
        Some("output filter in Normal")
    );
    // It came out there, so the loop has nothing left to resume (once the filter, with
    // its output still waiting, is gone: the loop would call its closure again).
    drop(f);
    assert!(panic_of(|| drop(base.run(LoopFlags::NONBLOCK))).is_none());

    // A filter's write callback, which libevent runs once the output has passed.
    let (under, _other) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let mut g = BufferEvent::filter(under, pass, pass, Options::empty()).unwrap();
    g.on_write(|_| panic!("g's write callback"));
    g.enable(Flags::WRITE).unwrap();
    assert_eq!(
        panic_of(|| drop(g.write(b"w"))).as_deref(),
        Some("g's write callback")
    );
    assert!(panic_of(|| drop(base.run(LoopFlags::NONBLOCK))).is_none());
}

#[test]
fn a_panic_two_calls_deep_comes_out_of_the_outermost() {
    let base = EventBase::new().unwrap();
    let (u1, _o1) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let (u2, _o2) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let boom = |_: &mut EvBufferRef, _: &mut EvBufferRef, _: isize, _: FlushMode| -> FilterResult {
        panic!("the inner filter")
    };
    let mut inner = BufferEvent::filter(u2, pass, boom, Options::empty()).unwrap();
    inner.enable(Flags::WRITE).unwrap();
    let mut outer = BufferEvent::filter(u1, pass, pass, Options::empty()).unwrap();
    // outer's write callback writes to inner, whose filter panics: through that
    // callback (its write panics) and out of the write to outer.
    let inner_ran = Rc::new(Cell::new(false));
    let ran = inner_ran.clone();
    outer.on_write(move |_| {
        ran.set(true);
        let _ = inner.write(b"inner");
    });
    outer.enable(Flags::WRITE).unwrap();
    assert_eq!(
        panic_of(|| drop(outer.write(b"outer"))).as_deref(),
        Some("the inner filter")
    );
    assert!(inner_ran.get());
    assert!(panic_of(|| drop(base.run(LoopFlags::NONBLOCK))).is_none());
}

// ---- read_buffer, underlying and partner views, rate-limit control ----

#[test]
fn read_buffer_moves_the_whole_input() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    bev.enable(Flags::READ).unwrap();
    peer.write_all(b"moved whole").unwrap();
    spin(&base, || bev.input_len() == 11);
    let mut out = libevent::EvBuffer::new().unwrap();
    out.add(b">").unwrap();
    bev.read_buffer(&mut out).unwrap();
    assert_eq!(out.remove_all(), b">moved whole");
    assert_eq!(bev.input_len(), 0);
}

#[test]
fn a_filter_shows_its_underlying_and_a_pair_end_its_partner_until_it_is_freed() {
    let base = EventBase::new().unwrap();
    let (inner, other) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let inner_raw = inner.as_raw();
    let other_raw = other.as_raw();
    let mut outer = BufferEvent::filter(inner, pass, pass, Options::CLOSE_ON_FREE).unwrap();
    outer.with(|f| {
        assert!(f.partner().is_none(), "a filter is no pair end");
        let under = f.underlying().expect("the pair end it filters");
        assert_eq!(under.as_raw(), inner_raw);
        // Through the underlying view, its own partner.
        assert_eq!(under.partner().map(|p| p.as_raw()), Some(other_raw));
    });
    drop(other);
    outer.with(|f| assert!(f.underlying().unwrap().partner().is_none(), "freed"));
    // The same from a read callback's view.
    let (mut a, mut b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let b_raw = b.as_raw();
    let seen = Rc::new(Cell::new(false));
    let s = seen.clone();
    a.on_read(move |me| {
        let data = me.input_mut().remove_all();
        let p = me.partner().expect("b");
        assert_eq!(p.as_raw(), b_raw);
        // What b has queued for a is in a's input now (a pair hands it over).
        assert_eq!((data.len(), p.output_len()), (4, 0));
        s.set(true);
    });
    a.enable(Flags::READ).unwrap();
    b.write(b"ping").unwrap();
    spin(&base, || seen.get());
}

#[test]
fn an_overdrawn_bucket_pauses_reading_until_tokens_come_back() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    let total = Rc::new(Cell::new(0usize));
    count_and_drain(&mut bev, &total);
    assert!(
        bev.decrement_read_limit(1).unwrap_err().is_invalid_input(),
        "no rate limit yet"
    );
    // A long tick: the bucket refills only when this test gives tokens back.
    let cfg = RateLimit::new(1000, 1000, 1000, 1000, Duration::from_secs(60)).unwrap();
    bev.set_rate_limit(Some(cfg)).unwrap();
    assert!(bev.has_rate_limit());
    bev.enable(Flags::READ).unwrap();
    bev.decrement_read_limit(5000).unwrap();
    assert_eq!(bev.read_limit(), -4000);
    assert!(bev.max_to_read() <= 0);
    peer.write_all(b"waits").unwrap();
    run_for(&base, Duration::from_millis(50));
    assert_eq!(
        total.get(),
        0,
        "reading is suspended while the bucket is overdrawn"
    );
    bev.decrement_read_limit(-4500).unwrap();
    assert_eq!(bev.read_limit(), 500);
    spin(&base, || total.get() == 5);
    assert!(bev
        .decrement_read_limit(isize::MIN)
        .unwrap_err()
        .is_invalid_input());
    assert!(bev.decrement_write_limit(isize::MIN).is_err());
    bev.decrement_write_limit(10).unwrap();
    assert_eq!(bev.write_limit(), 990);
}

#[test]
fn a_group_bucket_overdrawn_pauses_every_member_and_totals_reset() {
    let base = EventBase::new().unwrap();
    let cfg = RateLimit::new(1 << 16, 1 << 16, 1 << 16, 1 << 16, Duration::from_secs(60)).unwrap();
    let group = RateLimitGroup::new(&base, &cfg).unwrap();
    group.set_min_share(128).unwrap();
    let (mut x, mut px) = tcp_pair(&base);
    let (mut y, mut py) = tcp_pair(&base);
    let total = Rc::new(Cell::new(0usize));
    count_and_drain(&mut x, &total);
    count_and_drain(&mut y, &total);
    for b in [&mut x, &mut y] {
        b.join_rate_limit_group(&group).unwrap();
        b.enable(Flags::READ).unwrap();
    }
    px.write_all(b"abc").unwrap();
    spin(&base, || total.get() == 3);
    assert_eq!(group.totals().0, 3);
    group.reset_totals();
    assert_eq!(group.totals(), (0, 0));
    group.decrement_read(group.read_limit() + 10).unwrap();
    assert_eq!(group.read_limit(), -10);
    px.write_all(b"1").unwrap();
    py.write_all(b"2").unwrap();
    run_for(&base, Duration::from_millis(50));
    assert_eq!(total.get(), 3, "both members wait for the group's bucket");
    group.decrement_read(-1000).unwrap();
    spin(&base, || total.get() == 5);
    assert!(group
        .decrement_read(isize::MIN)
        .unwrap_err()
        .is_invalid_input());
    group.decrement_write(5).unwrap();
    assert_eq!(group.write_limit(), (1 << 16) - 5);
    // Another bucket, copied in: a full one of its rate.
    let more = RateLimit::new(2000, 2000, 3000, 3000, Duration::from_secs(60)).unwrap();
    group.set_rate_limit(&more).unwrap();
}
