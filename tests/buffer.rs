//! Evbuffers: every operation of the safe API against what libevent documents.

use libevent::buffer::{Change, Eol};
use libevent::EvBuffer;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn add_prepend_remove_copyout_drain() {
    let mut b = EvBuffer::new().unwrap();
    assert!(b.is_empty());
    b.add(b"world").unwrap();
    b.prepend(b"hello ").unwrap();
    assert_eq!(b.len(), 11);
    let mut head = [0u8; 5];
    assert_eq!(b.copyout(&mut head), 5);
    assert_eq!(&head, b"hello");
    assert_eq!(b.len(), 11, "copyout leaves the bytes");
    b.drain(6).unwrap();
    let mut rest = [0u8; 16];
    let n = b.remove(&mut rest);
    assert_eq!(&rest[..n], b"world");
    assert!(b.is_empty());
    assert_eq!(b.remove(&mut []), 0);
    b.drain(100).unwrap(); // more than there is: empties, no error
}

#[test]
fn add_buffer_moves_everything() {
    let mut a = EvBuffer::new().unwrap();
    let mut b = EvBuffer::new().unwrap();
    a.add(b"one,").unwrap();
    b.add(b"two").unwrap();
    a.add_buffer(&mut b).unwrap();
    assert!(b.is_empty());
    assert_eq!(a.remove_all(), b"one,two");
    b.add(b"abcdef").unwrap();
    assert_eq!(b.remove_buffer(&mut a, 4).unwrap(), 4);
    assert_eq!(a.remove_all(), b"abcd");
    assert_eq!(b.remove_all(), b"ef");
}

#[test]
fn readln_in_every_style() {
    type Case<'a> = (Eol, &'a [u8], &'a [&'a [u8]]);
    let cases: &[Case] = &[
        (Eol::Any, b"a\r\n\r\nb\n\nc\r", &[b"a", b"b", b"c"]),
        (Eol::Crlf, b"a\r\nb\nc\r\n", &[b"a", b"b", b"c"]),
        (Eol::CrlfStrict, b"a\r\nb\nc\r\n", &[b"a", b"b\nc"]),
        (Eol::Lf, b"a\r\nb\n", &[b"a\r", b"b"]),
        (Eol::Nul, b"a\0b\0", &[b"a", b"b"]),
    ];
    for (style, input, lines) in cases {
        let mut b = EvBuffer::new().unwrap();
        b.add(input).unwrap();
        for want in *lines {
            assert_eq!(b.readln(*style).as_deref(), Some(*want), "{style:?}");
        }
        if *style != Eol::Any {
            assert_eq!(
                b.readln(*style),
                None,
                "{style:?}: nothing complete is left"
            );
        }
    }
}

#[test]
fn search_peek_and_pullup() {
    let mut b = EvBuffer::new().unwrap();
    // Several chunks: a reference adds its own chunk.
    b.add(b"abc").unwrap();
    b.add_reference(b"defabc", |_| {}).unwrap();
    b.add(b"xyz").unwrap();
    assert_eq!(b.search(b"abc", 0), Some(0));
    assert_eq!(b.search(b"abc", 1), Some(6));
    assert_eq!(b.search(b"cd", 0), Some(2), "a match across chunks");
    assert_eq!(b.search(b"nope", 0), None);
    assert_eq!(b.search(b"", 0), None);
    let chunks = b.peek();
    assert!(chunks.len() >= 2, "{chunks:?}");
    assert_eq!(chunks.concat(), b"abcdefabcxyz");
    assert_eq!(b.pullup(Some(5)).unwrap(), b"abcde");
    assert_eq!(b.pullup(None).unwrap(), b"abcdefabcxyz");
    assert!(b.pullup(Some(100)).is_none());
    assert_eq!(b.contiguous_space(), 12);
}

#[test]
fn add_reference_releases_when_drained_and_on_free() {
    let released = Rc::new(RefCell::new(Vec::new()));
    let mut b = EvBuffer::new().unwrap();
    let r = released.clone();
    b.add_reference(String::from("first"), move |s| r.borrow_mut().push(s))
        .unwrap();
    let r = released.clone();
    b.add_reference(String::from("second"), move |s| r.borrow_mut().push(s))
        .unwrap();
    assert_eq!(b.len(), 11);
    b.drain(5).unwrap();
    assert_eq!(*released.borrow(), vec!["first".to_string()]);
    drop(b);
    assert_eq!(
        *released.borrow(),
        vec!["first".to_string(), "second".to_string()]
    );
}

#[test]
fn add_file_reads_the_range() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("evbuffer-add-file.txt");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(b"0123456789")
        .unwrap();
    let f = std::fs::File::open(&path).unwrap();
    let mut b = EvBuffer::new().unwrap();
    b.add_file(f.into(), 2, 5).unwrap();
    assert_eq!(b.remove_all(), b"23456");
}

#[test]
fn freeze_refuses_changes_at_that_end() {
    let mut b = EvBuffer::new().unwrap();
    b.add(b"data").unwrap();
    b.freeze(false).unwrap();
    assert!(b.add(b"more").is_err());
    b.drain(1).unwrap(); // the front is not frozen
    b.unfreeze(false).unwrap();
    b.add(b"!").unwrap();
    b.freeze(true).unwrap();
    assert!(b.drain(1).is_err());
    b.unfreeze(true).unwrap();
    assert_eq!(b.remove_all(), b"ata!");
}

#[test]
fn change_callbacks_see_every_change() {
    let changes = Rc::new(RefCell::new(Vec::new()));
    let mut b = EvBuffer::new().unwrap();
    let c = changes.clone();
    b.on_change(move |ch| c.borrow_mut().push(ch)).unwrap();
    b.add(b"12345").unwrap();
    b.drain(2).unwrap();
    assert_eq!(
        *changes.borrow(),
        vec![
            Change {
                orig_size: 0,
                added: 5,
                deleted: 0
            },
            Change {
                orig_size: 5,
                added: 0,
                deleted: 2
            }
        ]
    );
}

#[test]
fn a_buffer_cannot_be_moved_into_itself() {
    let mut b = EvBuffer::new().unwrap();
    b.add(b"x").unwrap();
    let raw = b.as_raw();
    // SAFETY: the same live buffer, seen twice only to check the refusal.
    let again = unsafe { libevent::EvBufferRef::from_raw(raw) };
    let e = b.add_buffer(again).unwrap_err();
    assert!(e.is_invalid_input());
    assert_eq!(b.len(), 1);
}

#[test]
fn a_failure_that_sets_no_errno_reports_none_not_a_stale_one() {
    let mut b = EvBuffer::new().unwrap();
    b.add(b"data").unwrap();
    b.freeze(true).unwrap();
    // A stale errno from an unrelated call, as a program would leave it.
    assert!(std::fs::File::open("/nonexistent/libevent-test").is_err());
    let e = b.drain(1).unwrap_err();
    assert_eq!(e.function(), "evbuffer_drain");
    assert_eq!(e.errno(), None, "{e}");
    assert_eq!(e.to_string(), "evbuffer_drain failed");
}

#[test]
fn an_evbuffer_made_by_c_is_adopted_and_freed_once() {
    // SAFETY: a fresh evbuffer that nothing else frees.
    let mut b = unsafe { EvBuffer::from_raw(libevent::sys::evbuffer_new()) }.unwrap();
    b.add(b"from C").unwrap();
    assert_eq!(b.remove_all(), b"from C");
    // SAFETY: null is refused before anything is done with it.
    let e = unsafe { EvBuffer::from_raw(std::ptr::null_mut()) }.unwrap_err();
    assert!(e.is_invalid_input());
}

// ---- in-place writes, descriptors, segments, callback management ----

use libevent::buffer::{BufferFlags, FileSegment, SegmentFlags};
use libevent::{EventBase, LoopFlags};
use std::cell::Cell;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

#[test]
fn reserve_space_appends_what_fill_reports_and_nothing_on_a_lie_or_a_panic() {
    let mut b = EvBuffer::new().unwrap();
    b.add(b"<").unwrap();
    assert_eq!(
        b.reserve_space(8, |s| {
            assert_eq!(s, [0u8; 8], "zeroed before fill sees it");
            s[..3].copy_from_slice(b"abc");
            3
        })
        .unwrap(),
        3
    );
    let e = b.reserve_space(4, |_| 5).unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        b.reserve_space(4, |s| {
            s[0] = b'!';
            panic!("fill failed")
        })
    }));
    assert!(caught.is_err());
    assert_eq!(b.reserve_space(0, |_| unreachable!()).unwrap(), 0);
    b.add(b">").unwrap();
    assert_eq!(
        b.remove_all(),
        b"<abc>",
        "the lie and the panic appended nothing"
    );
}

#[test]
fn descriptor_io_moves_bytes_and_reports_the_os_error() {
    let (a, b) = UnixStream::pair().unwrap();
    let mut out = EvBuffer::new().unwrap();
    out.add(&vec![7u8; 100_000]).unwrap();
    let mut inb = EvBuffer::new().unwrap();
    b.set_nonblocking(true).unwrap();
    a.set_nonblocking(true).unwrap();
    // Move it all across, in whatever pieces the socket takes.
    let mut spins = 0;
    while !out.is_empty() || inb.len() < 100_000 {
        match out.write_fd_atmost(a.as_fd(), 30_000) {
            Ok(n) => assert!(n <= 30_000),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
        }
        match inb.read_fd(b.as_fd(), Some(8192)) {
            Ok(n) => assert!(n <= 8192),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
        }
        spins += 1;
        assert!(spins < 10_000, "no progress");
    }
    assert_eq!(inb.remove_all(), vec![7u8; 100_000]);
    // Nothing to read yet: EAGAIN, as an io::Error.
    assert_eq!(
        inb.read_fd(b.as_fd(), None).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    // End of file is Ok(0).
    drop(a);
    assert_eq!(inb.read_fd(b.as_fd(), None).unwrap(), 0);
    // Writing to a descriptor opened for reading: EBADF.
    let ro = std::fs::File::open("/dev/null").unwrap();
    out.add(b"x").unwrap();
    let e = out.write_fd(ro.as_fd()).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{e}");
    assert_eq!(out.len(), 1, "nothing drained on failure");
}

#[test]
fn text_goes_in_through_write_and_comes_out_through_read() {
    use std::io::Read;
    let mut b = EvBuffer::new().unwrap();
    let two = "two";
    write!(b, "{}-{two}", 1).unwrap();
    std::fmt::Write::write_fmt(&mut *b, format_args!("/{}", 3.5)).unwrap();
    let mut s = String::new();
    b.read_to_string(&mut s).unwrap();
    assert_eq!(s, "1-two/3.5");
}

#[test]
fn a_segment_range_past_the_file_is_refused_and_an_empty_one_adds_nothing() {
    let file = segment_file("segment-short.txt", b"abc");
    let e = FileSegment::new(file.into(), 4, None, SegmentFlags::empty()).unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    let file = segment_file("segment-short.txt", b"abc");
    let e = FileSegment::new(file.into(), 1, Some(3), SegmentFlags::empty()).unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    for flags in [SegmentFlags::empty(), SegmentFlags::DISABLE_SENDFILE] {
        let file = segment_file("segment-empty.txt", b"");
        let seg = FileSegment::new(file.into(), 0, None, flags).unwrap();
        assert!(seg.is_empty());
        let mut b = EvBuffer::new().unwrap();
        b.add_file_segment(&seg, 0, None).unwrap();
        assert!(b.is_empty());
    }
    let file = segment_file("segment-short.txt", b"abc");
    let seg = FileSegment::new(file.into(), 0, None, SegmentFlags::DISABLE_SENDFILE).unwrap();
    let mut b = EvBuffer::new().unwrap();
    b.add_file(std::fs::File::open("/dev/null").unwrap().into(), 0, 0)
        .unwrap();
    b.add_file_segment(&seg, 1, Some(1)).unwrap();
    assert_eq!(b.remove_all(), b"b");
}

fn segment_file(name: &str, data: &[u8]) -> std::fs::File {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, data).unwrap();
    std::fs::File::open(&path).unwrap()
}

#[test]
fn a_segment_shared_by_buffers_is_cleaned_up_once_when_the_last_lets_go() {
    let file = segment_file("segment-shared.txt", b"0123456789");
    let mut seg = FileSegment::new(file.into(), 1, Some(8), SegmentFlags::empty()).unwrap();
    let cleaned = Rc::new(Cell::new(0));
    let replaced = Rc::new(Cell::new(0));
    let r = replaced.clone();
    seg.on_cleanup(move || r.set(r.get() + 1));
    let c = cleaned.clone();
    seg.on_cleanup(move || c.set(c.get() + 1)); // replaces the first, which never runs
    let (mut a, mut b) = (EvBuffer::new().unwrap(), EvBuffer::new().unwrap());
    a.add_file_segment(&seg, 0, Some(4)).unwrap();
    b.add_file_segment(&seg, 4, None).unwrap();
    assert_eq!(seg.len(), 8);
    // Refused before libevent sees them: its own failure path would release a
    // reference it never took (and free the segment under a and b).
    let e = b.add_file_segment(&seg, 0, Some(9)).unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    assert!(b
        .add_file_segment(&seg, 9, None)
        .unwrap_err()
        .is_invalid_input());
    let mut frozen = EvBuffer::new().unwrap();
    frozen.freeze(false).unwrap();
    let e = frozen.add_file_segment(&seg, 0, None).unwrap_err();
    assert!(e.to_string().contains("frozen"), "{e}");
    drop(frozen);
    drop(seg);
    assert_eq!(a.remove_all(), b"1234");
    assert_eq!(cleaned.get(), 0, "b still holds it");
    assert_eq!(b.pullup(Some(4)).unwrap(), b"5678");
    drop(b);
    assert_eq!((cleaned.get(), replaced.get()), (1, 0));
}

#[test]
fn a_segment_drained_to_a_socket_goes_by_sendfile_and_arrives_whole() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let file = segment_file("segment-sendfile.bin", &data);
    let seg = FileSegment::new(file.into(), 0, None, SegmentFlags::empty()).unwrap();
    let mut out = EvBuffer::new().unwrap();
    out.set_flags(BufferFlags::DRAINS_TO_FD).unwrap();
    out.add(b"head:").unwrap();
    out.add_file_segment(&seg, 0, None).unwrap();
    drop(seg);
    let (a, mut b) = UnixStream::pair().unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut b, &mut got).unwrap();
        got
    });
    while !out.is_empty() {
        out.write_fd(a.as_fd()).unwrap();
    }
    drop(a);
    let got = reader.join().unwrap();
    assert_eq!(&got[..5], b"head:");
    assert!(
        got[5..] == data[..],
        "{} bytes after the head",
        got.len() - 5
    );
}

#[test]
fn a_referenced_buffer_stays_readable_and_one_holding_references_cannot_be_referenced() {
    let mut src = EvBuffer::new().unwrap();
    src.add(b"shared").unwrap();
    let mut out = EvBuffer::new().unwrap();
    out.add_buffer_reference(&src).unwrap();
    src.add(b"+more").unwrap();
    src.drain(2).unwrap();
    assert_eq!(src.remove_all(), b"ared+more");
    drop(src);
    let mut third = EvBuffer::new().unwrap();
    let e = third.add_buffer_reference(&out).unwrap_err();
    assert_eq!(e.function(), "evbuffer_add_buffer_reference");
    assert_eq!(out.remove_all(), b"shared");
    assert!(
        out.add_buffer_reference(&EvBuffer::new().unwrap()).is_ok(),
        "empty: nothing to do"
    );
}

#[test]
fn callbacks_are_disabled_removed_and_told_apart_by_id() {
    let mut a = EvBuffer::new().unwrap();
    let mut b = EvBuffer::new().unwrap();
    let calls = Rc::new(RefCell::new(Vec::new()));
    let (c1, c2) = (calls.clone(), calls.clone());
    let one = a.on_change(move |_| c1.borrow_mut().push(1)).unwrap();
    let two = a.on_change(move |_| c2.borrow_mut().push(2)).unwrap();
    a.add(b"x").unwrap();
    a.set_change_callback_enabled(one, false).unwrap();
    a.add(b"y").unwrap();
    a.set_change_callback_enabled(one, true).unwrap();
    a.remove_change_callback(two).unwrap();
    a.add(b"z").unwrap();
    // The callback added last runs first.
    assert_eq!(*calls.borrow(), [2, 1, 2, 1]);
    assert!(
        b.remove_change_callback(one).is_err(),
        "another buffer's id"
    );
    assert!(
        a.set_change_callback_enabled(two, true).is_err(),
        "a removed id"
    );
    b.add(b"-").unwrap();
}

#[test]
fn a_deferred_callback_may_remove_callbacks_and_drop_its_own_buffer() {
    let base = EventBase::new().unwrap();
    let slot: Rc<RefCell<Option<EvBuffer>>> = Rc::new(RefCell::new(Some(EvBuffer::new().unwrap())));
    let ran = Rc::new(RefCell::new(Vec::new()));
    let ids = Rc::new(Cell::new(None));
    {
        let mut guard = slot.borrow_mut();
        let buf = guard.as_mut().unwrap();
        buf.defer_callbacks(&base).unwrap();
        // libevent runs the callback added last first. The dropper runs last.
        let (s, r) = (slot.clone(), ran.clone());
        buf.on_change(move |_| {
            r.borrow_mut().push("dropper");
            drop(s.borrow_mut().take());
        })
        .unwrap();
        let r = ran.clone();
        let second = buf
            .on_change(move |_| r.borrow_mut().push("second"))
            .unwrap();
        // The first to run removes itself and the next one, mid-walk of libevent's list.
        let (s, r, i) = (slot.clone(), ran.clone(), ids.clone());
        let first = buf
            .on_change(move |_| {
                r.borrow_mut().push("first");
                let (me, next) = i.get().unwrap();
                let mut g = s.borrow_mut();
                let buf = g.as_mut().unwrap();
                buf.remove_change_callback(me).unwrap();
                buf.remove_change_callback(next).unwrap();
            })
            .unwrap();
        ids.set(Some((first, second)));
        buf.add(b"change").unwrap();
    }
    assert!(ran.borrow().is_empty(), "deferred to the loop");
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(*ran.borrow(), ["first", "dropper"]);
    assert!(slot.borrow().is_none());
    base.run(LoopFlags::NONBLOCK).unwrap();
}

#[test]
fn a_buffer_dropped_with_a_deferred_run_pending_runs_no_closure() {
    let base = EventBase::new().unwrap();
    let ran = Rc::new(Cell::new(false));
    let mut buf = EvBuffer::new().unwrap();
    buf.defer_callbacks(&base).unwrap();
    let r = ran.clone();
    buf.on_change(move |_| r.set(true)).unwrap();
    buf.add(b"pending").unwrap();
    drop(buf); // libevent still holds the buffer for its pending run
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert!(!ran.get());
}

#[test]
fn c_code_changing_an_adopted_buffer_runs_its_rust_callbacks() {
    // SAFETY: a fresh evbuffer that nothing else frees.
    let mut b = unsafe { EvBuffer::from_raw(libevent::sys::evbuffer_new()) }.unwrap();
    let seen = Rc::new(Cell::new(0usize));
    let s = seen.clone();
    b.on_change(move |ch| s.set(s.get() + ch.added)).unwrap();
    let raw = b.as_raw();
    // What C code holding the same pointer does.
    // SAFETY: raw is live; nothing borrows the buffer during the call.
    let rc = unsafe { libevent::sys::evbuffer_add(raw, b"from C".as_ptr().cast(), 6) };
    assert_eq!(rc, 0);
    assert_eq!(seen.get(), 6);
    assert_eq!(b.search_eol(0, Eol::Any), None);
    assert_eq!(b.remove_all(), b"from C");
}

#[test]
fn with_lock_keeps_a_c_thread_out_of_a_locked_buffer() {
    let mut b = EvBuffer::new().unwrap();
    b.enable_locking().unwrap();
    let raw = b.as_raw() as usize;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let st = stop.clone();
    // What a C thread sharing the buffer does: lock, add, unlock (evbuffer_add locks).
    let writer = std::thread::spawn(move || {
        let mut n = 0;
        while !st.load(std::sync::atomic::Ordering::SeqCst) {
            // SAFETY: the buffer outlives this thread (joined below) and has a lock.
            unsafe { libevent::sys::evbuffer_add(raw as *mut _, b"x".as_ptr().cast(), 1) };
            n += 1;
        }
        n
    });
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..5 {
        b.with_lock(|b| {
            let before = b.len();
            std::thread::sleep(Duration::from_millis(10));
            assert_eq!(b.len(), before, "nothing is added while the lock is held");
        });
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let added = writer.join().unwrap();
    assert_eq!(b.len(), added);
}
