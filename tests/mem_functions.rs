//! A program that replaced libevent's allocator (`event_set_mem_functions`, as eventd
//! does and a C host program may): whatever libevent hands the safe crate to free
//! (`evbuffer_readln`'s line, `evhttp_uriencode`'s and `evhttp_uridecode`'s strings) must
//! go back through that allocator, not `free(3)`.
//!
//! One test in its own binary: the functions must be set before libevent allocates
//! anything, and they stay for the life of the process.

use std::ffi::c_void;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::SeqCst};

/// Every block carries this many bytes in front, the first of them a mark: `free(3)` on
/// the pointer libevent got would be a pointer glibc never handed out (it aborts), and
/// our free finds the mark or aborts itself.
const HEADER: usize = 16;
const MARK: u64 = 0x6c69_6265_7665_6e74;

/// Blocks ours and not yet freed; frees that came through us.
static LIVE: AtomicIsize = AtomicIsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn marked_malloc(n: usize) -> *mut c_void {
    // SAFETY: a fresh block of HEADER + n bytes, aligned for the u64 mark; the caller
    // gets the part after the header (16-aligned, as malloc's).
    unsafe {
        let p = libc::malloc(HEADER + n).cast::<u64>();
        if p.is_null() {
            return p.cast();
        }
        p.write(MARK);
        LIVE.fetch_add(1, SeqCst);
        p.cast::<u8>().add(HEADER).cast()
    }
}

/// The block behind `p`, after checking its mark.
///
/// # Safety
/// `p` is non-null.
unsafe fn block_of(p: *mut c_void) -> *mut u64 {
    // SAFETY: per the caller p came from marked_malloc, so a header precedes it; if it
    // did not, the mark check below catches it (reading 16 bytes before a heap pointer).
    unsafe {
        let b = p.cast::<u8>().sub(HEADER).cast::<u64>();
        if b.read() != MARK {
            // Not ours: libevent freeing what it did not allocate. Cannot unwind here.
            libc::abort();
        }
        b
    }
}

unsafe extern "C" fn marked_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    // SAFETY: libevent frees only what its malloc functions gave it, once.
    unsafe {
        let b = block_of(p);
        b.write(0);
        libc::free(b.cast());
    }
    LIVE.fetch_sub(1, SeqCst);
    FREED.fetch_add(1, SeqCst);
}

unsafe extern "C" fn marked_realloc(p: *mut c_void, n: usize) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as malloc.
        return unsafe { marked_malloc(n) };
    }
    // SAFETY: p is ours (checked); realloc keeps the header and its mark.
    unsafe {
        let b = libc::realloc(block_of(p).cast(), HEADER + n);
        if b.is_null() {
            return b;
        }
        b.cast::<u8>().add(HEADER).cast()
    }
}

#[test]
fn memory_libevent_returns_goes_back_through_its_allocator() {
    // SAFETY: first thing in this process that touches libevent; the functions keep
    // malloc's contracts and never unwind.
    unsafe {
        libevent::sys::event_set_mem_functions(
            Some(marked_malloc),
            Some(marked_realloc),
            Some(marked_free),
        );
    }
    use libevent::buffer::Eol;
    use libevent::http::{decode_uri, encode_uri};
    use libevent::EvBuffer;

    // A first round sets up what libevent keeps for the process (locks and the like).
    let mut buf = EvBuffer::new().unwrap();
    buf.add(b"warm\r\n").unwrap();
    assert_eq!(buf.readln(Eol::Crlf).unwrap(), b"warm");
    drop(buf);
    let (live, freed) = (LIVE.load(SeqCst), FREED.load(SeqCst));

    let mut buf = EvBuffer::new().unwrap();
    buf.add(b"one\r\ntwo\nthree\0").unwrap();
    assert_eq!(buf.readln(Eol::Crlf).unwrap(), b"one");
    assert_eq!(buf.readln(Eol::Lf).unwrap(), b"two");
    assert_eq!(buf.readln(Eol::Nul).unwrap(), b"three");
    assert_eq!(encode_uri("a b/c"), "a%20b%2Fc");
    assert_eq!(decode_uri("a%20b+c", true).unwrap(), "a b c");
    drop(buf);

    // Three lines and two strings came back to the crate; each went through our free,
    // and nothing libevent allocated in between is left.
    assert!(
        FREED.load(SeqCst) >= freed + 5,
        "{} frees through libevent's allocator",
        FREED.load(SeqCst) - freed
    );
    assert_eq!(LIVE.load(SeqCst), live, "blocks left over");
}
