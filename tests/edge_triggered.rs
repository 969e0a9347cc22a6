//! Edge-triggered socket bufferevents (src/bufferevent/edge.rs): on plain epoll a socket
//! bufferevent's events carry `EV_ET`, and every case where no edge comes for what is
//! already there still delivers everything: a read that filled its room, data beyond the
//! read high watermark or a rate limit, paused reading, the end of stream or a reset that
//! came with the data, a write larger than one `writev`. Where the crate cannot measure
//! (a filter over the bufferevent, another backend, the changelist) it stays
//! level-triggered.

use libevent::base::Config;
use libevent::bufferevent::{BevEvent, FilterResult, Options, RateLimit};
use libevent::event::Flags;
use libevent::{BufferEvent, EventBase};
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::Duration;

mod common;
use common::{read_in_thread, run_for, spin, tcp_pair};

/// The flags of the base's added events on `bev`'s descriptor that wait for `what`.
fn registered(base: &EventBase, bev: &BufferEvent, what: Flags) -> Vec<Flags> {
    let fd = bev.fd().expect("a socket");
    base.events()
        .into_iter()
        .filter(|e| e.fd == fd && e.flags.intersects(what))
        .map(|e| e.flags)
        .collect()
}

fn is_edge(base: &EventBase, bev: &BufferEvent) -> bool {
    let read = registered(base, bev, Flags::READ);
    assert_eq!(read.len(), 1, "one read event on the socket: {read:?}");
    read[0].contains(Flags::ET)
}

/// A read callback that drains the input into `got`.
fn collect(bev: &mut BufferEvent, got: &Rc<RefCell<Vec<u8>>>) {
    let g = got.clone();
    bev.on_read(move |me| g.borrow_mut().extend(me.input_mut().remove_all()));
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn socket_bufferevents_are_edge_triggered_on_epoll_and_level_elsewhere() {
    let base = EventBase::new().unwrap();
    if base.method() != "epoll" {
        eprintln!(
            "backend {}: edge-triggering is for epoll only",
            base.method()
        );
        return;
    }
    let (mut bev, _peer) = tcp_pair(&base);
    bev.enable(Flags::READ).unwrap();
    assert!(is_edge(&base, &bev));

    let changelist = EventBase::with_epoll_changelist().unwrap();
    let (mut bev, _peer) = tcp_pair(&changelist);
    bev.enable(Flags::READ).unwrap();
    assert!(
        !is_edge(&changelist, &bev),
        "the changelist merges a delete and an add"
    );

    let mut cfg = Config::new().unwrap();
    cfg.avoid_method("epoll").unwrap();
    let poll = EventBase::with_config(&cfg).unwrap();
    let (mut bev, _peer) = tcp_pair(&poll);
    bev.enable(Flags::READ).unwrap();
    assert!(
        !is_edge(&poll, &bev),
        "{} has no edge-triggered mode",
        poll.method()
    );
}

#[test]
fn a_message_larger_than_one_read_arrives_whole() {
    // libevent reads at most 4,096 bytes at a time; the rest of 1 MiB raises no new edge.
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    let got = Rc::new(RefCell::new(Vec::new()));
    collect(&mut bev, &got);
    bev.enable(Flags::READ).unwrap();
    let data = pattern(1 << 20);
    let d = data.clone();
    let writer = std::thread::spawn(move || {
        peer.write_all(&d).unwrap();
        peer // kept open: no end of stream to wake the loop
    });
    spin(&base, || got.borrow().len() == data.len());
    assert!(*got.borrow() == data);
    let _peer = writer.join().unwrap();
}

#[test]
fn one_small_read_at_a_time_still_gets_everything() {
    // max_single_read below the 4,096 libevent reads otherwise: each read fills its room.
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    bev.set_max_single_read(100).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    collect(&mut bev, &got);
    bev.enable(Flags::READ).unwrap();
    let data = pattern(10_000);
    peer.write_all(&data).unwrap();
    spin(&base, || got.borrow().len() == data.len());
    assert!(*got.borrow() == data);
}

#[test]
fn reads_cut_short_by_the_read_high_watermark_get_everything() {
    // Each read has room for 1,000 bytes only (the high watermark less the input), far
    // below the 4,096 libevent reads otherwise; the callback drains each time.
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    bev.set_read_watermark(0, 1000).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    bev.on_read(move |me| {
        assert!(me.input_len() <= 1000, "read past the high watermark");
        g.borrow_mut().extend(me.input_mut().remove_all());
    });
    bev.enable(Flags::READ).unwrap();
    let data = pattern(50_000);
    peer.write_all(&data).unwrap();
    spin(&base, || got.borrow().len() == data.len());
    assert!(*got.borrow() == data);
}

#[test]
fn a_rate_limited_read_gets_everything() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    let cfg = RateLimit::new(2000, 2000, 1 << 20, 1 << 20, Duration::from_millis(10)).unwrap();
    bev.set_rate_limit(Some(cfg)).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    collect(&mut bev, &got);
    bev.enable(Flags::READ).unwrap();
    let data = pattern(30_000);
    peer.write_all(&data).unwrap();
    spin(&base, || got.borrow().len() == data.len());
    assert!(*got.borrow() == data);
}

#[test]
fn reading_paused_with_data_waiting_resumes_where_it_stopped() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    // Takes one read, then pauses: the rest stays in the socket.
    bev.on_read(move |me| {
        g.borrow_mut().extend(me.input_mut().remove_all());
        me.disable(Flags::READ).unwrap();
    });
    bev.enable(Flags::READ).unwrap();
    let data = pattern(100_000);
    peer.write_all(&data).unwrap();
    spin(&base, || !got.borrow().is_empty());
    while got.borrow().len() < data.len() {
        let before = got.borrow().len();
        bev.enable(Flags::READ).unwrap();
        spin(&base, || got.borrow().len() > before);
    }
    assert!(*got.borrow() == data);
}

#[test]
fn the_end_of_stream_that_came_with_the_data_is_reported() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    let got = Rc::new(RefCell::new(Vec::new()));
    collect(&mut bev, &got);
    let seen = Rc::new(Cell::new(BevEvent::empty()));
    let s = seen.clone();
    bev.on_event(move |_, what| s.set(what));
    // Both are in the socket before the loop first looks: one edge for the two.
    peer.write_all(b"last words").unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    bev.enable(Flags::READ).unwrap();
    spin(&base, || !seen.get().is_empty());
    assert_eq!(*got.borrow(), b"last words");
    assert_eq!(seen.get(), BevEvent::READING | BevEvent::EOF);
}

/// Data, then a reset (`SO_LINGER` 0), both in the socket before the loop looks.
fn data_then_reset(reply: bool) {
    let base = EventBase::new().unwrap();
    let (mut bev, peer) = tcp_pair(&base);
    let got = Rc::new(RefCell::new(Vec::new()));
    let g = got.clone();
    bev.on_read(move |me| {
        g.borrow_mut().extend(me.input_mut().remove_all());
        if reply {
            me.write_direct(b"answer").unwrap();
        }
    });
    let seen = Rc::new(Cell::new(BevEvent::empty()));
    let s = seen.clone();
    bev.on_event(move |_, what| s.set(what));
    bev.enable(if reply {
        Flags::READ | Flags::WRITE
    } else {
        Flags::READ
    })
    .unwrap();
    (&peer).write_all(b"request").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&peer);
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: fd is the peer's open socket; linger is a valid option value.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
    drop(peer);
    std::thread::sleep(Duration::from_millis(20));
    spin(&base, || !seen.get().is_empty());
    assert_eq!(*got.borrow(), b"request");
    assert!(
        seen.get().contains(BevEvent::ERROR) || seen.get().contains(BevEvent::EOF),
        "the reset was reported as {:?}",
        seen.get()
    );
}

#[test]
fn a_reset_that_came_with_the_data_is_reported_to_a_reader() {
    data_then_reset(false);
}

#[test]
fn a_reset_that_came_with_the_data_is_reported_to_a_server_that_replies() {
    data_then_reset(true);
}

#[test]
fn a_write_larger_than_the_socket_takes_goes_out_whole() {
    let base = EventBase::new().unwrap();
    let (mut bev, peer) = tcp_pair(&base);
    let data = pattern(8 << 20);
    let reader = read_in_thread(peer, data.len());
    let drained = Rc::new(Cell::new(false));
    let d = drained.clone();
    bev.on_write(move |me| d.set(me.output_len() == 0));
    bev.enable(Flags::WRITE).unwrap();
    bev.write(&data).unwrap();
    spin(&base, || drained.get());
    assert!(reader.join().unwrap() == data);
}

#[test]
fn a_filter_over_a_socket_bufferevent_makes_it_level_triggered() {
    let base = EventBase::new().unwrap();
    if base.method() != "epoll" {
        return;
    }
    let (under, mut peer) = tcp_pair(&base);
    let fd = under.fd().unwrap();
    let pass = |src: &mut libevent::EvBufferRef,
                dst: &mut libevent::EvBufferRef,
                _: isize,
                _: libevent::bufferevent::FlushMode| {
        let n = src.len();
        dst.add(&src.remove_all()).unwrap();
        if n > 0 {
            FilterResult::Ok
        } else {
            FilterResult::NeedMore
        }
    };
    let mut bev = BufferEvent::filter(under, pass, pass, Options::empty()).unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    collect(&mut bev, &got);
    bev.enable(Flags::READ).unwrap();
    let read: Vec<Flags> = base
        .events()
        .into_iter()
        .filter(|e| e.fd == fd && e.flags.contains(Flags::READ))
        .map(|e| e.flags)
        .collect();
    assert_eq!(read.len(), 1);
    assert!(!read[0].contains(Flags::ET), "{read:?}");
    let data = pattern(100_000);
    peer.write_all(&data).unwrap();
    spin(&base, || got.borrow().len() == data.len());
    assert!(*got.borrow() == data);
}

#[test]
fn a_connected_socket_is_edge_triggered_too() {
    let base = EventBase::new().unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut bev =
        BufferEvent::connect_tcp(&base, l.local_addr().unwrap(), Options::empty()).unwrap();
    let (mut peer, _) = l.accept().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    collect(&mut bev, &got);
    bev.enable(Flags::READ).unwrap();
    if base.method() == "epoll" {
        assert!(is_edge(&base, &bev));
    }
    let data = pattern(200_000);
    peer.write_all(&data).unwrap();
    spin(&base, || got.borrow().len() == data.len());
    assert!(*got.borrow() == data);
    bev.enable(Flags::WRITE).unwrap();
    bev.write(b"back").unwrap();
    let got_back = Rc::new(RefCell::new(Vec::new()));
    peer.set_nonblocking(true).unwrap();
    let g = got_back.clone();
    spin(&base, || {
        let mut buf = [0; 16];
        if let Ok(n) = (&peer).read(&mut buf) {
            g.borrow_mut().extend_from_slice(&buf[..n]);
        }
        g.borrow().len() >= 4
    });
    let four = got_back.borrow().clone();
    assert_eq!(&four, b"back");
}

#[test]
fn freeing_the_bufferevent_inside_a_read_that_filled_its_room() {
    // The wrapper would run the read again (4,096 bytes read, more waiting); the callback
    // drops the bufferevent first.
    let base = EventBase::new().unwrap();
    let (bev, mut peer) = tcp_pair(&base);
    let table: Rc<RefCell<Vec<BufferEvent>>> = Rc::new(RefCell::new(vec![bev]));
    let t = table.clone();
    let reads = Rc::new(Cell::new(0));
    let r = reads.clone();
    {
        let mut tb = table.borrow_mut();
        tb[0].on_read(move |me| {
            r.set(r.get() + 1);
            assert_eq!(me.input_len(), 4096);
            t.borrow_mut().clear();
        });
        tb[0].enable(Flags::READ).unwrap();
    }
    peer.write_all(&pattern(50_000)).unwrap();
    spin(&base, || table.borrow().is_empty());
    run_for(&base, Duration::from_millis(50));
    assert_eq!(reads.get(), 1);
}

#[test]
fn the_end_of_stream_behind_many_reads_is_reported_to_a_server_that_replies() {
    // 200 kB and the end of stream are in the socket when reading starts: one edge says
    // both, then some fifty reads run by hand; the last, short, must still see the end
    // although each read sent a reply.
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = tcp_pair(&base);
    let total = Rc::new(Cell::new(0));
    let t = total.clone();
    bev.on_read(move |me| {
        let data = me.input_mut().remove_all();
        t.set(t.get() + data.len());
        me.write_direct(&data[..1]).unwrap();
    });
    let seen = Rc::new(Cell::new(BevEvent::empty()));
    let s = seen.clone();
    bev.on_event(move |_, what| s.set(what));
    peer.write_all(&pattern(200_000)).unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    bev.enable(Flags::READ | Flags::WRITE).unwrap();
    spin(&base, || !seen.get().is_empty());
    assert_eq!(total.get(), 200_000);
    assert_eq!(seen.get(), BevEvent::READING | BevEvent::EOF);
}
