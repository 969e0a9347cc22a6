//! read-chunks: what libevent allocates for the reads of a socket bufferevent, and what
//! a busy connection's input holds, in this build's configuration (compare the default
//! build with `--features libevent/exact-upstream`, which asks FIONREAD before each read).
//!
//! ```text
//! cargo run --release -p bench --bin read-chunks
//! cargo run --release -p bench --bin read-chunks --features libevent/exact-upstream
//! ```
//!
//! libevent's allocations go through `event_set_mem_functions` to a counting allocator,
//! installed before anything else touches libevent.

use libevent::bufferevent::Options;
use libevent::event::Flags;
use libevent::{BufferEvent, EventBase, LoopFlags};
use std::cell::Cell;
use std::ffi::c_void;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

/// Each block carries its size in a header of this many bytes (keeps 16-byte alignment).
const HEADER: usize = 16;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static RECORDING: AtomicBool = AtomicBool::new(false);
static SIZES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

fn record(size: usize) {
    if RECORDING.load(Relaxed) {
        SIZES.lock().unwrap_or_else(|e| e.into_inner()).push(size);
    }
}

unsafe extern "C" fn counting_malloc(size: usize) -> *mut c_void {
    // SAFETY: malloc of the header plus the block; null is passed on.
    let p = unsafe { libc::malloc(size + HEADER) } as *mut u8;
    if p.is_null() {
        return p.cast();
    }
    // SAFETY: p has room for the header, aligned for usize.
    unsafe { (p as *mut usize).write(size) };
    LIVE.fetch_add(size, Relaxed);
    record(size);
    // SAFETY: within the block just allocated.
    unsafe { p.add(HEADER).cast() }
}

unsafe extern "C" fn counting_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: ptr came from counting_malloc/realloc, HEADER bytes past the real block.
    unsafe {
        let p = (ptr as *mut u8).sub(HEADER);
        LIVE.fetch_sub((p as *const usize).read(), Relaxed);
        libc::free(p.cast());
    }
}

unsafe extern "C" fn counting_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        // SAFETY: as malloc.
        return unsafe { counting_malloc(size) };
    }
    // SAFETY: ptr came from this allocator; the header is read before the block moves.
    unsafe {
        let p = (ptr as *mut u8).sub(HEADER);
        let old = (p as *const usize).read();
        let q = libc::realloc(p.cast(), size + HEADER) as *mut u8;
        if q.is_null() {
            return q.cast();
        }
        (q as *mut usize).write(size);
        LIVE.fetch_sub(old, Relaxed);
        LIVE.fetch_add(size, Relaxed);
        record(size);
        q.add(HEADER).cast()
    }
}

/// A socket bufferevent reading from one end of a loopback TCP connection, and the
/// other end to write into.
fn connection(base: &EventBase) -> (BufferEvent, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let peer = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
    let (ours, _) = l.accept().expect("accept");
    peer.set_nodelay(true).expect("nodelay");
    let bev = BufferEvent::from_tcp(base, ours, Options::empty()).expect("bufferevent");
    (bev, peer)
}

fn take_sizes() -> Vec<usize> {
    std::mem::take(&mut *SIZES.lock().unwrap_or_else(|e| e.into_inner()))
}

/// `n` requests of `msg`, each read and drained by the read callback, as a ping-pong
/// server does: the allocations made while reading.
fn ping_pong(base: &EventBase, msg: &[u8], n: usize, max_read: Option<usize>) -> Vec<usize> {
    let (mut bev, mut peer) = connection(base);
    if let Some(max) = max_read {
        bev.set_max_single_read(max).expect("max single read");
    }
    let reads = Rc::new(Cell::new(0usize));
    let r = reads.clone();
    bev.on_read(move |bev| {
        let len = bev.input_len();
        bev.input_mut().drain(len).expect("drain");
        r.set(r.get() + 1);
    });
    bev.enable(Flags::READ).expect("enable");
    RECORDING.store(true, Relaxed);
    for i in 1..=n {
        peer.write_all(msg).expect("write");
        while reads.get() < i {
            base.run(LoopFlags::ONCE).expect("loop");
        }
    }
    RECORDING.store(false, Relaxed);
    take_sizes()
}

/// Bytes libevent holds for a connection whose input has `msg` pending, not yet taken.
fn held_by_pending(base: &EventBase, msg: &[u8], max_read: Option<usize>) -> usize {
    // libevent frees a dropped bufferevent from the loop: let it, before counting.
    base.run(LoopFlags::NONBLOCK).expect("loop");
    let (mut bev, mut peer) = connection(base);
    if let Some(max) = max_read {
        bev.set_max_single_read(max).expect("max single read");
    }
    let got = Rc::new(Cell::new(false));
    let g = got.clone();
    bev.on_read(move |bev| {
        g.set(true);
        bev.disable(Flags::READ).expect("disable");
    });
    bev.enable(Flags::READ).expect("enable");
    let before = LIVE.load(Relaxed);
    peer.write_all(msg).expect("write");
    while !got.get() {
        base.run(LoopFlags::ONCE).expect("loop");
    }
    assert_eq!(bev.input_len(), msg.len(), "one read took it all");
    LIVE.load(Relaxed).saturating_sub(before)
}

fn summary(sizes: &[usize], reads: usize) -> String {
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
    let total: usize = sizes.iter().sum();
    format!(
        "{:.2} allocations per read, median {median} bytes, {:.0} bytes per read",
        sizes.len() as f64 / reads as f64,
        total as f64 / reads as f64
    )
}

fn main() {
    // SAFETY: before any other libevent call (nothing has been made yet); the three
    // functions agree on the header layout.
    unsafe {
        libevent::sys::event_set_mem_functions(
            Some(counting_malloc),
            Some(counting_realloc),
            Some(counting_free),
        )
    };
    let base = EventBase::new().expect("base");
    println!(
        "evbuffer_read asks FIONREAD before each read: {}",
        libevent::sys::READ_ASKS_FIONREAD
    );
    const N: usize = 1000;
    // The second setting caps each read below 4096 bytes minus libevent's chain header,
    // so that a read's chain fits a 4096-byte allocation instead of an 8192-byte one.
    for max_read in [None, Some(4000)] {
        let setting = max_read.map_or("default max single read".to_string(), |m| {
            format!("max single read {m}")
        });
        println!("-- {setting}");
        let small = ping_pong(&base, b"hello world\r\n", N, max_read);
        println!("ping-pong, 13-byte requests: {}", summary(&small, N));
        let large = ping_pong(&base, &[b'x'; 3000], N, max_read);
        println!("ping-pong, 3000-byte requests: {}", summary(&large, N));
        for len in [13, 1000, 3000] {
            let held = held_by_pending(&base, &vec![b'y'; len], max_read);
            println!("a connection with {len} bytes pending holds {held} bytes of libevent memory");
        }
    }
}
