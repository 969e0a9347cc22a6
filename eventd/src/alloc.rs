//! Where libevent's smallest allocations go: a pool of their own, apart from the heap.
//!
//! libevent allocates a small record (`evmap_io`, 16 bytes) for each descriptor number
//! the first time an event uses it, and keeps it until the base is freed. Under a flood
//! those records are allocated between the connections' buffers; when the connections
//! have gone, each one pins the heap page it sits on, and glibc can give none of those
//! pages back (measured: 25 MB resident after 19,000 connections came and went, 0.9 MB
//! of it in use, and `malloc_trim` freed nothing).
//!
//! [`install`] hands libevent allocation functions (`event_set_mem_functions`) that
//! serve requests of at most [`SLOT`] bytes from slots in one reserved region of
//! address space, touched a page at a time and never returned, and everything larger
//! from the C library's `malloc`. The records then live together, and the heap that
//! the connections' buffers used can shrink back when they close.

use std::ffi::c_void;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, PoisonError};

/// The largest request served from the pool, and the size of a slot.
pub const SLOT: usize = 16;

/// Address space reserved for slots: 4 Mi slots (64 MiB), of which only the pages used
/// become resident. Past it, small requests go to `malloc` too.
const RESERVE: usize = 64 << 20;

struct Pool {
    /// The reserved region (null until the first small request, or if mmap failed).
    base: *mut u8,
    /// Bytes of the region handed out so far (the bump pointer).
    used: usize,
    /// Freed slots, each holding the address of the next.
    free: *mut u8,
    failed: bool,
}

// SAFETY: the pointers are into memory the pool owns; every access is under POOL's lock.
unsafe impl Send for Pool {}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    base: ptr::null_mut(),
    used: 0,
    free: ptr::null_mut(),
    failed: false,
});

/// The region's bounds, readable without the lock once set (0 before).
static BASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn in_pool(p: *mut c_void) -> bool {
    let base = BASE.load(std::sync::atomic::Ordering::Acquire);
    base != 0 && (p as usize).wrapping_sub(base) < RESERVE
}

impl Pool {
    fn take(&mut self) -> Option<NonNull<u8>> {
        if let Some(p) = NonNull::new(self.free) {
            // SAFETY: a freed slot holds the next free slot's address (written by give).
            self.free = unsafe { p.as_ptr().cast::<*mut u8>().read() };
            return Some(p);
        }
        if self.base.is_null() {
            if self.failed {
                return None;
            }
            // SAFETY: an anonymous private mapping; no existing memory is touched.
            let m = unsafe {
                libc::mmap(
                    ptr::null_mut(),
                    RESERVE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if m == libc::MAP_FAILED {
                self.failed = true;
                return None;
            }
            self.base = m.cast();
            BASE.store(m as usize, std::sync::atomic::Ordering::Release);
        }
        if self.used + SLOT > RESERVE {
            return None;
        }
        // SAFETY: used + SLOT <= RESERVE, so the slot is inside the mapping.
        let p = unsafe { self.base.add(self.used) };
        self.used += SLOT;
        NonNull::new(p)
    }

    /// # Safety
    /// `p` is a slot of this pool, not already free.
    unsafe fn give(&mut self, p: *mut u8) {
        // SAFETY: the slot is SLOT (16) bytes, aligned to 16, and ours again.
        unsafe { p.cast::<*mut u8>().write(self.free) };
        self.free = p;
    }
}

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    // Nothing panics while the lock is held; a poisoned lock's data is still sound.
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

unsafe extern "C" fn pool_malloc(n: usize) -> *mut c_void {
    if n <= SLOT {
        if let Some(p) = pool().take() {
            return p.as_ptr().cast();
        }
    }
    // SAFETY: plain malloc.
    unsafe { libc::malloc(n) }
}

unsafe extern "C" fn pool_free(p: *mut c_void) {
    if in_pool(p) {
        // SAFETY: libevent frees only what it was given, once.
        unsafe { pool().give(p.cast()) };
    } else {
        // SAFETY: p came from malloc/realloc (or is null).
        unsafe { libc::free(p) }
    }
}

unsafe extern "C" fn pool_realloc(p: *mut c_void, n: usize) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as malloc.
        return unsafe { pool_malloc(n) };
    }
    if !in_pool(p) {
        // SAFETY: p came from malloc/realloc.
        return unsafe { libc::realloc(p, n) };
    }
    if n <= SLOT {
        return p;
    }
    // SAFETY: plain malloc; on success the slot's SLOT bytes (at least the old
    // request) are copied and the slot freed.
    unsafe {
        let q = libc::malloc(n);
        if !q.is_null() {
            ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), SLOT);
            pool().give(p.cast());
        }
        q
    }
}

/// Gives libevent the pool's allocation functions. Must run before any other libevent
/// call (libevent's rule for `event_set_mem_functions`); eventd's `main` does it first.
pub fn install() {
    // SAFETY: called before anything in the process has used libevent; the functions
    // follow malloc/realloc/free's contracts and never unwind.
    unsafe { libevent::base::set_mem_functions(pool_malloc, pool_realloc, pool_free) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool is the process's: tests that look at which slot comes next take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn small_requests_come_from_the_pool_and_large_ones_from_malloc() {
        let _turn = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: each pointer is used within its size and freed once.
        unsafe {
            let a = pool_malloc(16);
            let b = pool_malloc(1);
            let big = pool_malloc(17);
            assert!(in_pool(a) && in_pool(b), "16 bytes and less: the pool");
            assert!(!in_pool(big), "17 bytes: malloc");
            assert_eq!(a as usize % 16, 0, "aligned as malloc's");
            assert_eq!((a as usize).abs_diff(b as usize) % SLOT, 0);
            a.cast::<u8>().write_bytes(0xab, 16);
            // A freed slot is the next one handed out.
            pool_free(a);
            assert_eq!(pool_malloc(8), a);
            pool_free(a);
            pool_free(b);
            pool_free(big);
            pool_free(ptr::null_mut());
        }
    }

    #[test]
    fn realloc_moves_out_of_the_pool_with_the_contents() {
        let _turn = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: each pointer is used within its size and freed once.
        unsafe {
            let p = pool_realloc(ptr::null_mut(), 12);
            assert!(in_pool(p));
            for i in 0..12u8 {
                p.cast::<u8>().add(i as usize).write(i);
            }
            // Still small: the same slot.
            assert_eq!(pool_realloc(p, 16), p);
            let q = pool_realloc(p, 4000);
            assert!(!in_pool(q));
            for i in 0..12u8 {
                assert_eq!(q.cast::<u8>().add(i as usize).read(), i);
            }
            // Out of the heap, realloc stays there, also when it shrinks.
            let r = pool_realloc(q, 8);
            assert!(!in_pool(r));
            assert_eq!(r.cast::<u8>().add(7).read(), 7);
            pool_free(r);
        }
    }
}
