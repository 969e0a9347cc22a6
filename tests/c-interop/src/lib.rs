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

/// `struct c_rpc_server` / `struct c_rpc_client` of c/rpc.c.
#[cfg(rpcgen)]
#[repr(C)]
pub struct CRpc {
    _private: [u8; 0],
}

// The evrpc half, on C structs upstream's event_rpcgen.py generated from c/calc.rpc.
#[cfg(rpcgen)]
extern "C" {
    /// `Operands_marshal` of a, b and label into `out`.
    pub fn c_rpc_marshal_operands(
        out: *mut libevent_sys::evbuffer,
        a: u32,
        b: u32,
        label: *const libc::c_char,
    ) -> i32;
    /// A C program's evrpc server answering `Add` on its own evhttp, on 127.0.0.1.
    pub fn c_rpc_server_start(base: *mut event_base, port: *mut libc::c_int) -> *mut CRpc;
    pub fn c_rpc_server_calls(s: *const CRpc) -> i32;
    pub fn c_rpc_server_free(s: *mut CRpc);
    /// A C program's evrpc pool sending one `Add` to 127.0.0.1:`port`; with `with_host`,
    /// an output hook adds the `Host` header evrpc leaves out.
    pub fn c_rpc_call(
        base: *mut event_base,
        port: libc::c_int,
        a: u32,
        b: u32,
        label: *const libc::c_char,
        with_host: i32,
    ) -> *mut CRpc;
    pub fn c_rpc_client_done(c: *const CRpc) -> i32;
    pub fn c_rpc_client_error(c: *const CRpc) -> i32;
    pub fn c_rpc_client_sum(c: *const CRpc) -> u32;
    pub fn c_rpc_client_label(c: *const CRpc) -> *const libc::c_char;
    pub fn c_rpc_client_free(c: *mut CRpc);
}
