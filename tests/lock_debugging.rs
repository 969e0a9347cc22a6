//! `thread::enable_lock_debugging` in a binary of its own (it must come before the first
//! base): with libevent's debug locks, a base, a bufferevent pair, evbuffers with locks
//! and a second thread activating an event all run without a locking error (the checks
//! abort the process on one); calling it again is harmless.

use libevent::bufferevent::Options;
use libevent::event::Flags;
use libevent::{BufferEvent, EvBuffer, Event, EventBase, LoopFlags};
use std::time::{Duration, Instant};

#[test]
fn debug_locks_see_no_locking_error_in_ordinary_use() {
    libevent::thread::enable_lock_debugging().unwrap();
    libevent::thread::enable_lock_debugging().unwrap(); // again: nothing to do
    let base = EventBase::new().unwrap();
    assert!(
        libevent::thread::enable_lock_debugging().is_ok(),
        "already on"
    );
    let (mut a, mut b) = BufferEvent::pair(&base, Options::THREADSAFE).unwrap();
    b.enable(Flags::READ).unwrap();
    a.write(b"through debug locks").unwrap();
    let mut buf = EvBuffer::new().unwrap();
    buf.enable_locking().unwrap();
    buf.with_lock(|x| x.add(b"locked").unwrap());
    // Another thread activates an event of this base: the base's lock and notification.
    let fired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = fired.clone();
    let ev = Event::new(&base, -1, Flags::empty(), move |_| {
        f.store(true, std::sync::atomic::Ordering::SeqCst)
    })
    .unwrap();
    let raw = ev.as_raw() as usize;
    let t = std::thread::spawn(move || {
        // SAFETY: the event outlives the thread (joined below); libevent locks the base.
        unsafe { libevent::sys::event_active(raw as *mut _, 0, 0) };
    });
    t.join().unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while !fired.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(Instant::now() < until);
        base.run(LoopFlags::ONCE).unwrap();
    }
    assert_eq!(b.input_len(), 19);
}
