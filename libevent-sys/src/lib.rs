//! Raw bindings to libevent 2.1.12-stable.
//!
//! By default the library is compiled from the pristine upstream tree, which build.rs
//! fetches through cargo (or takes from `LIBEVENT_SRC_DIR`), with a configuration header
//! generated from probes of the target compiler. Feature `system` links the system's
//! libevent through pkg-config instead.
//!
//! Everything here is `unsafe` C API, named as in libevent's headers. The `libevent`
//! crate is the safe wrapper.
//!
//! ```
//! use std::ffi::CStr;
//! // SAFETY: event_get_version returns a pointer to a static NUL-terminated string.
//! let version = unsafe { CStr::from_ptr(libevent_sys::event_get_version()) };
//! assert!(version.to_str().unwrap().starts_with("2.1."));
//! ```
#![cfg_attr(not(test), no_std)]
#![allow(non_camel_case_types, non_snake_case, non_upper_case_globals)]
#![allow(clippy::all)]

#[cfg(not(feature = "bindgen"))]
include!("bindings.rs");
#[cfg(feature = "bindgen")]
include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

#[cfg(all(feature = "openssl", not(feature = "bindgen")))]
mod openssl_bindings {
    include!("bindings_openssl.rs");
}
#[cfg(all(feature = "openssl", feature = "bindgen"))]
mod openssl_bindings {
    include!(concat!(env!("OUT_DIR"), "/bindings_openssl.rs"));
}
#[cfg(feature = "openssl")]
pub use openssl_bindings::*;

// util.h defines these with `#define`, which bindgen cannot turn into types; the
// functions that use them were bound with the types they expand to.
/// A socket descriptor: `int` on every Unix (`intptr_t` on Windows, unsupported here).
pub type evutil_socket_t = ::core::ffi::c_int;
pub type ev_uint64_t = u64;
pub type ev_int64_t = i64;
pub type ev_uint32_t = u32;
pub type ev_int32_t = i32;
pub type ev_uint16_t = u16;
pub type ev_int16_t = i16;
pub type ev_uint8_t = u8;
pub type ev_int8_t = i8;
pub type ev_uintptr_t = usize;
pub type ev_intptr_t = isize;
pub type ev_ssize_t = isize;
pub type ev_off_t = i64;
pub type ev_socklen_t = libc::socklen_t;

/// The version of libevent the bundled build compiles, and the committed bindings match.
pub const BUNDLED_VERSION: &str = "2.1.12-stable";

// openssl-sys must be linked in when bufferevent_openssl.c is.
#[cfg(feature = "openssl")]
extern crate openssl_sys;
