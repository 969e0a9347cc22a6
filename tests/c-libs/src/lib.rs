//! C libraries written for libevent, driven from a Rust [`EventBase`](libevent::EventBase):
//! hiredis's asynchronous client through its own libevent adapter ([`redis`]), and
//! libcurl's multi-socket interface on the crate's events ([`curl`]). A test crate of its
//! own, so that the main crate gains no C dependency.
//!
//! One libevent per process: hiredis's adapter is a header, compiled here against the
//! headers of the libevent the crate built, so its events land on that libevent; libcurl
//! does not link libevent at all. A C library that links the distribution's
//! `libevent.so` itself would bring a second copy into the process, whose functions
//! cannot take a base of the first: build the crate with feature `system` then, so both
//! use the one the system has.

pub mod curl;
pub mod redis;
