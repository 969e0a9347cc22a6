//! Load generator and reference servers for the eventd benchmarks (see README).

use std::ffi::{c_char, c_int};

extern "C" {
    /// The C reference server's `main` (c/c_reference.c), compiled by build.rs.
    pub fn c_reference_main(argc: c_int, argv: *mut *mut c_char) -> c_int;
}

// The C server calls libevent: keep libevent-sys linked into every binary using this.
pub use libevent_sys as _sys;
