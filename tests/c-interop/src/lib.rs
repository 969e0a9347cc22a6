//! The C functions of `c/interop.c`.
#![allow(missing_docs)]

use libevent_sys::event_base;

#[repr(C)]
pub struct Counter {
    _private: [u8; 0],
}

/// `struct bench_counter` of c/bench.c.
#[repr(C)]
pub struct BenchCounter {
    pub count: libc::c_long,
    pub limit: libc::c_long,
    pub base: *mut event_base,
}

extern "C" {
    /// A plain C event callback: counts, and breaks the loop at the limit.
    pub fn c_bench_count_cb(fd: libc::c_int, what: libc::c_short, arg: *mut libc::c_void);
    pub fn c_program_make_base() -> *mut event_base;
    pub fn c_program_run_loop(base: *mut event_base) -> i32;
    pub fn c_program_free_base(base: *mut event_base);
    pub fn c_add_timer(base: *mut event_base, usec: libc::c_long) -> *mut Counter;
    pub fn c_counter_fired(c: *const Counter) -> i32;
    pub fn c_counter_free(c: *mut Counter);
    /// A C program's evhttp on `base`, bound to 127.0.0.1 (port written to `port`),
    /// serving `/c` and `/stop` (which ends the loop) itself.
    pub fn c_http_start(base: *mut event_base, port: *mut libc::c_int)
        -> *mut libevent_sys::evhttp;
    pub fn c_http_free(http: *mut libevent_sys::evhttp);
    /// A C program's evdns_base on `base`: no name server, the names of `hosts`.
    pub fn c_dns_start(
        base: *mut event_base,
        hosts: *const libc::c_char,
    ) -> *mut libevent_sys::evdns_base;
    pub fn c_dns_free(dns: *mut libevent_sys::evdns_base);
}
