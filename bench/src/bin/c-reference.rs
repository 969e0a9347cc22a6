//! The C reference server (bench/c/c_reference.c), started from Rust so cargo builds it
//! against the same libevent as eventd.

use bench::c_reference_main;
use std::ffi::{c_char, c_int, CString};

fn main() {
    let args: Vec<CString> = std::env::args()
        .map(|a| CString::new(a).expect("argument with NUL"))
        .collect();
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    argv.push(std::ptr::null_mut());
    // SAFETY: argv holds argc valid C strings and a terminating null, alive for the call.
    let rc = unsafe { c_reference_main(args.len() as c_int, argv.as_mut_ptr()) };
    std::process::exit(rc);
}
