//! Evbuffers: every operation of the safe API against what libevent documents.

use libevent::buffer::{Change, Eol};
use libevent::EvBuffer;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

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
