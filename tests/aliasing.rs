//! The soundness suite's run-time half (the compile-time half is `soundness.rs`): safe
//! programs that try each way of reaching one bufferevent through two views at once, or
//! memory libevent frees, and what stops them: a panic or an `Err` that says what was
//! wrong. CI runs them under valgrind (scripts/valgrind.sh), which would report the
//! invalid read each of them used to make.

mod common;

use common::spin;
use libevent::bufferevent::{BevEvent, FilterResult, Options};
use libevent::event::Flags;
use libevent::{BufferEvent, EventBase, LoopFlags};
use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

/// The message of a panic caught from `f`.
fn panic_of(f: impl FnOnce()) -> String {
    let e = catch_unwind(AssertUnwindSafe(f)).expect_err("it must panic");
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The program of the issue: a read callback holds a slice of its input (`pullup`) and
/// drains that input through the owner it captured. It used to read freed memory; now
/// the owner refuses at once, and the panic comes out of the loop call.
#[test]
fn an_owner_captured_in_its_own_callback_is_refused() {
    let base = EventBase::new().unwrap();
    let (mut a, b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let owner: Rc<RefCell<Option<BufferEvent>>> = Rc::new(RefCell::new(Some(b)));
    let o = owner.clone();
    let read_after = Rc::new(Cell::new(0usize));
    let r = read_after.clone();
    {
        let mut b = owner.borrow_mut();
        let b = b.as_mut().unwrap();
        b.on_read(move |me| {
            let first = me.input_mut().pullup(None).map(|s| s.to_vec());
            let mut held = o.borrow_mut();
            // Drain through the owner while `first`'s slice would still be in use.
            held.as_mut()
                .unwrap()
                .with(|owner| owner.input_mut().drain(usize::MAX))
                .unwrap();
            r.set(first.map_or(0, |f| f.len()));
        });
        b.enable(Flags::READ).unwrap();
    }
    a.write(&[7u8; 4096]).unwrap();
    let msg = panic_of(|| {
        let _ = base.run(LoopFlags::NONBLOCK);
    });
    assert!(
        msg.contains("BufferEvent::with on the owner while a callback of this bufferevent"),
        "{msg}"
    );
    assert_eq!(read_after.get(), 0, "the callback stopped at the refusal");
    // The data is all there, untouched, and the owner works again after the callback.
    let left = owner.borrow_mut().as_mut().unwrap().input_len();
    assert_eq!(left, 4096);
    // The callback captured its own owner: break the cycle.
    owner.borrow_mut().take();
}

/// The owner's plain methods are refused inside its callback too, with the same advice.
#[test]
fn owner_methods_inside_its_own_callback_panic_with_advice() {
    let base = EventBase::new().unwrap();
    let (mut a, b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let owner = Rc::new(RefCell::new(Some(b)));
    let o = owner.clone();
    owner.borrow_mut().as_mut().unwrap().on_read(move |_| {
        let _ = o.borrow_mut().as_mut().unwrap().write(b"echo");
    });
    owner
        .borrow_mut()
        .as_mut()
        .unwrap()
        .enable(Flags::READ)
        .unwrap();
    a.write(b"x").unwrap();
    let msg = panic_of(|| {
        let _ = base.run(LoopFlags::NONBLOCK);
    });
    assert!(
        msg.contains("BufferEvent::write on the owner while a callback"),
        "{msg}"
    );
    assert!(
        msg.contains("use the `&mut BufferEventRef` the callback receives"),
        "{msg}"
    );
    owner.borrow_mut().take();
}

/// A pair's ends share their buffers (a write to one fills the other's input; enabling
/// reading on one moves the other's output): in one end's callback, the other end's
/// owner is refused as well.
#[test]
fn the_other_end_of_a_pair_is_refused_inside_a_callback() {
    let base = EventBase::new().unwrap();
    let (a, mut b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let a = Rc::new(RefCell::new(Some(a)));
    let a2 = a.clone();
    b.on_read(move |me| {
        let _slice = me.input().len();
        let _ = a2.borrow_mut().as_mut().unwrap().enable(Flags::READ);
    });
    b.enable(Flags::READ).unwrap();
    a.borrow_mut().as_mut().unwrap().write(b"x").unwrap();
    let msg = panic_of(|| {
        let _ = base.run(LoopFlags::NONBLOCK);
    });
    assert!(msg.contains("BufferEvent::enable on the owner while a callback of this bufferevent (or of the other end of its pair)"), "{msg}");
    // Outside the callback both ends are free again. (The loop runs once more: libevent
    // holds a pair end for its deferred callback until the callback has run, and frees
    // neither if the base goes first.)
    a.borrow_mut().as_mut().unwrap().write(b"y").unwrap();
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert_eq!(b.with(|b| b.input_mut().remove_all()), b"xy");
}

/// Inside `with`, the loop does not run: it would read into and drain the buffers the
/// closure may hold slices of, with or without a callback.
#[test]
fn the_loop_does_not_run_inside_with() {
    let base = EventBase::new().unwrap();
    let (mut a, mut b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    b.enable(Flags::READ).unwrap();
    a.write(b"abc").unwrap();
    let (err, seen) = b.with(|view| {
        let seen = view.input_mut().pullup(None).map(|s| s.to_vec());
        (base.run(LoopFlags::NONBLOCK).unwrap_err(), seen)
    });
    assert!(
        err.to_string()
            .contains("cannot run inside BufferEvent::with"),
        "{err}"
    );
    assert_eq!(seen.as_deref(), Some(&b"abc"[..]));
    assert!(
        base.dispatch().is_ok(),
        "outside `with` the loop runs again"
    );
}

/// A timer's callback (another object) that reaches a bufferevent through its owner
/// while that bufferevent's own callback is using it (nested in a loop of another base,
/// the only way both can run at once): refused.
#[test]
fn another_objects_callback_cannot_reach_a_bufferevent_in_use() {
    let base = EventBase::new().unwrap();
    let other = EventBase::new().unwrap();
    let (mut a, b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let b = Rc::new(RefCell::new(Some(b)));
    let b2 = b.clone();
    let timer = libevent::Event::timer(&other, move |_| {
        // The bufferevent's read callback is running beneath this one.
        if let Ok(mut g) = b2.try_borrow_mut() {
            let _ = g.as_mut().unwrap().disable(Flags::READ);
        }
    })
    .unwrap();
    let other2 = other.clone();
    let timer = Rc::new(timer);
    let t = timer.clone();
    let result = Rc::new(RefCell::new(None));
    let res = result.clone();
    let mut guard = b.borrow_mut();
    let bev = guard.as_mut().unwrap();
    bev.on_read(move |me| {
        let held = me.input().len();
        t.add(Some(std::time::Duration::ZERO)).unwrap();
        // A loop of another base runs from inside this callback; its timer reaches for
        // this bufferevent's owner.
        let r = catch_unwind(AssertUnwindSafe(|| other2.run(LoopFlags::ONCE)));
        *res.borrow_mut() = Some((held, r.is_err()));
    });
    bev.enable(Flags::READ).unwrap();
    drop(guard);
    a.write(b"hello").unwrap();
    base.run(LoopFlags::NONBLOCK).unwrap();
    let (held, panicked) = result.borrow_mut().take().expect("the read callback ran");
    assert_eq!(held, 5);
    assert!(
        panicked,
        "the timer's use of the owner panicked out of the inner loop"
    );
    drop(timer);
    b.borrow_mut().take();
}

/// libevent refuses to run a base's loop from inside one of its own callbacks; the call
/// is an `Err`, and the callback's view stays valid.
#[test]
fn a_loop_run_from_inside_its_own_callback_is_an_error() {
    let base = EventBase::new().unwrap();
    let (mut a, mut b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let b2 = base.clone();
    let out = Rc::new(RefCell::new(None));
    let o = out.clone();
    b.on_read(move |me| {
        let before = me.input_mut().pullup(None).map(|s| s.to_vec());
        let r = b2.run(LoopFlags::NONBLOCK);
        *o.borrow_mut() = Some((before, r.is_err(), me.input_mut().remove_all()));
    });
    b.enable(Flags::READ).unwrap();
    a.write(b"data").unwrap();
    base.run(LoopFlags::NONBLOCK).unwrap();
    let (before, refused, after) = out.borrow_mut().take().unwrap();
    assert_eq!(before.as_deref(), Some(&b"data"[..]));
    assert!(refused, "the reentrant loop call failed");
    assert_eq!(after, b"data");
}

/// A filter runs its closures and its callbacks synchronously, from inside the calls
/// that move data: a read callback's write through its own view runs the output filter
/// and then the write callback before it returns. Each nested run gets the bufferevent
/// while the outer one is inside that call, never at once; a typed callback whose
/// context the outer one holds waits for the loop instead.
#[test]
fn filters_without_deferred_callbacks_nest_one_view_at_a_time() {
    let base = EventBase::new().unwrap();
    let (under, mut peer) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let pass = |src: &mut libevent::EvBufferRef, dst: &mut libevent::EvBufferRef, _l: isize, _m| {
        if src.is_empty() {
            return FilterResult::NeedMore;
        }
        dst.add_buffer(src)
            .map_or(FilterResult::Error, |_| FilterResult::Ok)
    };
    let mut f = BufferEvent::filter(under, pass, pass, Options::empty()).unwrap();
    #[derive(Default)]
    struct Seen {
        reads: usize,
        writes: usize,
        write_inside_read: bool,
        in_read: bool,
    }
    f.set_context(Seen::default());
    f.on_read_with(|me, seen: &mut Seen| {
        seen.in_read = true;
        seen.reads += 1;
        let data = me.input_mut().remove_all();
        me.write(&data).unwrap(); // echo: runs the output filter now
        seen.in_read = false;
    })
    .unwrap();
    f.on_write_with(|_, seen: &mut Seen| {
        seen.writes += 1;
        seen.write_inside_read |= seen.in_read;
    })
    .unwrap();
    f.enable(Flags::READ | Flags::WRITE).unwrap();
    let echoed = Rc::new(RefCell::new(Vec::new()));
    let e = echoed.clone();
    peer.on_read(move |me| e.borrow_mut().extend(me.input_mut().remove_all()));
    peer.enable(Flags::READ).unwrap();
    peer.write(b"round trip").unwrap();
    spin(&base, || echoed.borrow().len() == 10);
    assert_eq!(&*echoed.borrow(), b"round trip");
    common::run_for(&base, std::time::Duration::from_millis(50));
    let (reads, writes, inside) =
        f.with_context(|_, s: &mut Seen| (s.reads, s.writes, s.write_inside_read));
    assert_eq!(reads, 1);
    assert!(writes >= 1);
    assert!(
        !inside,
        "the typed write callback waited for the read callback's end"
    );
}

/// An async stream owns its bufferevent; `with_bufferevent` lends it, and the stream
/// itself is refused meanwhile, with a message.
#[test]
fn an_async_stream_and_its_bufferevent_are_not_used_at_once() {
    let base = EventBase::new().unwrap();
    let (a, _b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let stream = libevent::task::TcpStream::from_bufferevent(a).unwrap();
    let msg = panic_of(|| {
        stream.with_bufferevent(|bev| {
            let _held = bev.input().len();
            let _ = stream.buffered_input();
        })
    });
    assert!(msg.contains("inside its own with_bufferevent"), "{msg}");
    assert_eq!(stream.buffered_input(), 0, "usable again afterwards");
}

/// Dropping the owner inside each kind of callback (plain and typed, read, write, event,
/// and inside a filter's closure) frees the bufferevent once the callback is done with
/// it. Valgrind checks no view reads freed memory.
#[test]
fn dropping_the_owner_inside_every_kind_of_callback() {
    for kind in [
        "read",
        "write",
        "event",
        "read_with",
        "write_with",
        "event_with",
        "filter",
    ] {
        let base = EventBase::new().unwrap();
        let (mut a, b) = BufferEvent::pair(&base, Options::empty()).unwrap();
        let holder: Rc<RefCell<Option<BufferEvent>>> = Rc::new(RefCell::new(None));
        let dropped = Rc::new(Cell::new(false));
        let (h, d) = (holder.clone(), dropped.clone());
        let drop_it = move || {
            if let Some(owner) = h.borrow_mut().take() {
                drop(owner);
                d.set(true);
            }
        };
        let mut b = if kind == "filter" {
            let mut drop_it = Some(drop_it.clone());
            let input = move |src: &mut libevent::EvBufferRef,
                              dst: &mut libevent::EvBufferRef,
                              _l: isize,
                              _m| {
                let r = dst
                    .add_buffer(src)
                    .map_or(FilterResult::Error, |_| FilterResult::Ok);
                if let Some(f) = drop_it.take() {
                    f();
                }
                r
            };
            let pass = |src: &mut libevent::EvBufferRef,
                        dst: &mut libevent::EvBufferRef,
                        _l: isize,
                        _m| {
                dst.add_buffer(src)
                    .map_or(FilterResult::Error, |_| FilterResult::Ok)
            };
            BufferEvent::filter(b, input, pass, Options::empty()).unwrap()
        } else {
            b
        };
        b.set_context(0u32);
        let f = drop_it.clone();
        match kind {
            "read" => {
                b.on_read(move |me| {
                    let _ = me.input_mut().pullup(None);
                    f();
                    let _ = me.input_mut().drain(usize::MAX);
                });
                Ok(())
            }
            "write" => {
                b.on_write(move |me| {
                    f();
                    let _ = me.output().len();
                });
                Ok(())
            }
            "event" => {
                b.on_event(move |me, _| {
                    f();
                    let _ = me.input().len();
                });
                Ok(())
            }
            "read_with" => b.on_read_with(move |me, n: &mut u32| {
                *n += 1;
                f();
                let _ = me.input_mut().remove_all();
            }),
            "write_with" => b.on_write_with(move |_, n: &mut u32| {
                *n += 1;
                f();
            }),
            "event_with" => b.on_event_with(move |_, n: &mut u32, _| {
                *n += 1;
                f();
            }),
            _ => Ok(()),
        }
        .unwrap();
        b.enable(Flags::READ | Flags::WRITE).unwrap();
        a.enable(Flags::READ).unwrap();
        *holder.borrow_mut() = Some(b);
        match kind {
            "write" | "write_with" => {
                let mut g = holder.borrow_mut();
                g.as_mut().unwrap().write(b"out").unwrap();
            }
            // The other end finishes: this one gets EOF.
            "event" | "event_with" => {
                a.flush(Flags::WRITE, libevent::bufferevent::FlushMode::Finished)
                    .unwrap();
            }
            _ => a.write(b"in").unwrap(),
        }
        spin(&base, || dropped.get());
        drop(a);
        assert!(holder.borrow().is_none(), "{kind}");
        base.run(LoopFlags::NONBLOCK).unwrap();
    }
}

/// A typed callback's context: `with_context` outside callbacks, refused inside, and a
/// context of another type is a clear error at registration and a panic at use.
#[test]
fn context_types_are_checked() {
    let base = EventBase::new().unwrap();
    let (mut a, _b) = BufferEvent::pair(&base, Options::empty()).unwrap();
    let e = a.on_read_with(|_, _: &mut String| {}).unwrap_err();
    assert!(e.to_string().contains("set_context"), "{e}");
    a.set_context(5u8);
    assert!(a.on_read_with(|_, _: &mut String| {}).is_err());
    assert_eq!(a.with_context(|_, n: &mut u8| *n), 5);
    let msg = panic_of(|| {
        a.with_context(|_, _: &mut String| ());
    });
    assert!(msg.contains("is not a alloc::string::String"), "{msg}");
    assert_eq!(
        a.with_context(|_, n: &mut u8| *n),
        5,
        "the context survived"
    );
    let _ = BevEvent::EOF;
}
