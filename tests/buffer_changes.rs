//! Change callbacks on the buffers of a bufferevent and of a request: what they see,
//! removal and disabling, a drop from inside one, and a bufferevent made by C.

mod common;

use common::spin;
use libevent::buffer::Change;
use libevent::bufferevent::{FilterResult, Options, Side};
use libevent::event::Flags;
use libevent::*;
use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

fn connected(base: &EventBase) -> (BufferEvent, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let s = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (peer, _) = l.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (
        BufferEvent::from_tcp(base, s, Options::empty()).unwrap(),
        peer,
    )
}

fn log_into(seen: &Rc<RefCell<Vec<Change>>>) -> impl FnMut(Change) + 'static {
    let seen = seen.clone();
    move |c| seen.borrow_mut().push(c)
}

#[test]
fn input_and_output_callbacks_see_what_libevent_reads_and_writes() {
    let base = EventBase::new().unwrap();
    let (mut bev, mut peer) = connected(&base);
    let (ins, outs) = (Rc::default(), Rc::default());
    bev.on_buffer_change(Side::Input, log_into(&ins)).unwrap();
    bev.on_buffer_change(Side::Output, log_into(&outs)).unwrap();
    bev.enable(Flags::READ | Flags::WRITE).unwrap();

    bev.write(b"to the peer").unwrap();
    // Our own write is an addition; libevent's send to the socket, a deletion.
    spin(&base, || {
        outs.borrow()
            .iter()
            .map(|c: &Change| c.deleted)
            .sum::<usize>()
            == 11
    });
    assert_eq!(
        outs.borrow()[0],
        Change {
            orig_size: 0,
            added: 11,
            deleted: 0
        }
    );
    let mut got = [0; 11];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"to the peer");

    peer.write_all(b"from the peer").unwrap();
    spin(&base, || {
        ins.borrow().iter().map(|c: &Change| c.added).sum::<usize>() == 13
    });
    assert!(ins.borrow().iter().all(|c| c.deleted == 0));
    // Draining through the view is a change of the input too.
    bev.with(|v| v.input_mut().drain(13)).unwrap();
    assert_eq!(ins.borrow().last().unwrap().deleted, 13);
}

#[test]
fn removed_and_disabled_callbacks_miss_changes_and_ids_are_checked() {
    let base = EventBase::new().unwrap();
    let (mut a, mut b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let id = a
        .on_buffer_change(Side::Output, move |_| c.set(c.get() + 1))
        .unwrap();
    // An id is its buffer's: neither the other end nor the other side knows it.
    assert!(b.remove_buffer_change(id).is_err());
    let other = a.on_buffer_change(Side::Input, |_| {}).unwrap();
    a.remove_buffer_change(other).unwrap();
    assert!(a.set_buffer_change_enabled(other, true).is_err());

    a.set_buffer_change_enabled(id, false).unwrap();
    a.write(b"unseen").unwrap();
    assert_eq!(calls.get(), 0);
    a.set_buffer_change_enabled(id, true).unwrap();
    a.write(b"seen").unwrap();
    let after_enable = calls.get();
    assert!(after_enable >= 1);
    a.remove_buffer_change(id).unwrap();
    a.write(b"unseen again").unwrap();
    assert_eq!(calls.get(), after_enable);
    assert!(a.remove_buffer_change(id).is_err());
    b.enable(Flags::READ).unwrap();
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(
        b.with(|v| v.input_mut().remove_all()),
        b"unseenseenunseen again"
    );
}

#[test]
fn a_callback_may_drop_its_bufferevent() {
    let base = EventBase::new().unwrap();
    let (bev, mut peer) = connected(&base);
    let slot: Rc<RefCell<Option<BufferEvent>>> = Rc::new(RefCell::new(Some(bev)));
    let s = slot.clone();
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    // A closure that owns state of its own, to show it is freed with the bufferevent.
    let held = Rc::new(());
    let h = held.clone();
    let mut bev = slot.borrow_mut().take().unwrap();
    bev.on_buffer_change(Side::Input, move |c| {
        let _keep = &h;
        if c.added > 0 {
            // libevent is reading into this buffer right now; the owner goes.
            drop(s.borrow_mut().take());
            d.set(true);
        }
    })
    .unwrap();
    bev.enable(Flags::READ).unwrap();
    *slot.borrow_mut() = Some(bev);
    peer.write_all(b"bye").unwrap();
    spin(&base, || dropped.get());
    assert!(slot.borrow().is_none());
    // The loop finalizes the bufferevent; the closure (and what it held) is gone.
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(Rc::strong_count(&held), 1);
}

#[test]
fn a_filters_underlying_buffers_keep_their_callbacks_until_the_filter_goes() {
    let base = EventBase::new().unwrap();
    let (mut under, mut peer) = connected(&base);
    let raw_in = Rc::new(Cell::new(0));
    let r = raw_in.clone();
    let held = Rc::new(());
    let h = held.clone();
    under
        .on_buffer_change(Side::Input, move |c| {
            let _keep = &h;
            r.set(r.get() + c.added)
        })
        .unwrap();
    let pass = |src: &mut EvBufferRef, dst: &mut EvBufferRef, _: isize, _| {
        if src.is_empty() {
            return FilterResult::NeedMore;
        }
        dst.add_buffer(src)
            .map_or(FilterResult::Error, |_| FilterResult::Ok)
    };
    let mut f = BufferEvent::filter(under, pass, pass, Options::empty()).unwrap();
    let filtered = Rc::new(Cell::new(0));
    let fl = filtered.clone();
    f.on_buffer_change(Side::Input, move |c| fl.set(fl.get() + c.added))
        .unwrap();
    f.enable(Flags::READ).unwrap();
    peer.write_all(b"through the filter").unwrap();
    spin(&base, || filtered.get() == 18);
    assert_eq!(raw_in.get(), 18);
    drop(f);
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(Rc::strong_count(&held), 1);
}

#[test]
fn a_bufferevent_made_by_c_gets_callbacks_that_see_cs_writes() {
    let base = EventBase::new().unwrap();
    // SAFETY: base is live; the pair's ends are freed below, each once.
    let (c_end, other) = unsafe {
        let mut pair = [std::ptr::null_mut(); 2];
        assert_eq!(
            sys::bufferevent_pair_new(base.as_raw(), 0, pair.as_mut_ptr()),
            0
        );
        (pair[0], pair[1])
    };
    // SAFETY: a live bufferevent of base that only this handle frees.
    let mut bev = unsafe { BufferEvent::from_raw(&base, c_end).unwrap() };
    let seen = Rc::default();
    bev.on_buffer_change(Side::Output, log_into(&seen)).unwrap();
    // C writes into it, as a C program sharing the bufferevent would.
    // SAFETY: c_end is live; the data is copied.
    let r = unsafe { sys::bufferevent_write(c_end, b"c".as_ptr().cast(), 1) };
    assert_eq!(r, 0);
    assert_eq!(seen.borrow()[0].added, 1);
    drop(bev);
    // SAFETY: the other end, freed once, after its partner.
    unsafe { sys::bufferevent_free(other) };
    base.run(LoopFlags::NONBLOCK).unwrap();
}

#[test]
fn a_requests_callbacks_run_until_its_reply() {
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    let addr = http
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .local_addr()
        .unwrap();
    let outs = Rc::new(RefCell::new(Vec::new()));
    let ins = Rc::new(Cell::new(0));
    let held = Rc::new(());
    let (o, i, h) = (outs.clone(), ins.clone(), held.clone());
    http.on_path("/x", move |mut req| {
        let h = h.clone();
        req.on_buffer_change(Side::Output, log_into(&o)).unwrap();
        let i2 = i.clone();
        let id = req
            .on_buffer_change(Side::Input, move |c| {
                let _keep = &h;
                i2.set(i2.get() + c.deleted)
            })
            .unwrap();
        // The body is in the input already; reading it is a change.
        assert_eq!(req.body(), b"ping");
        req.input_buffer().drain(2).unwrap();
        req.remove_buffer_change(id).unwrap();
        assert!(req.remove_buffer_change(id).is_err());
        req.input_buffer().drain(2).unwrap();
        req.output_buffer().add(b"po").unwrap();
        req.send_reply(200, None, b"ng").unwrap();
    })
    .unwrap();
    let t = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: close\r\n\r\nping",
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    });
    spin(&base, || t.is_finished());
    let reply = t.join().unwrap();
    assert!(reply.ends_with("\r\n\r\npong"), "{reply}");
    // Two deletions before the removal; two additions to the output before the reply
    // went out, and nothing of what evhttp did with the buffers after.
    assert_eq!(ins.get(), 2);
    let added: Vec<usize> = outs.borrow().iter().map(|c| c.added).collect();
    assert_eq!(added, [2, 2]);
    assert!(outs.borrow().iter().all(|c| c.deleted == 0));
    // Ours and the handler's: the callbacks' clones went with the reply.
    assert_eq!(Rc::strong_count(&held), 2);
}
