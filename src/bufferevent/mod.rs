//! `struct bufferevent`: an input and an output evbuffer over a socket (or a pair, or a
//! filter, or TLS), with callbacks, timeouts, watermarks and rate limits.
//!
//! [`BufferEvent`] owns one; its callbacks receive a [`BufferEventRef`], the one view of
//! it in use while they run, and [`BufferEvent::with`] lends the same view outside them.

// The parts:
// - `owned`: [`BufferEvent`], the handle that frees it: constructors (socket, pair,
//   adopted from C), callbacks and context, `with`, the owner's checked calls, drop.
// - `borrowed`: [`BufferEventRef`], the view callbacks receive and `with` lends:
//   enable, timeouts, watermarks, buffers, reads and writes.
// - `callbacks`: the three callback slots, the context, the borrow state that keeps one
//   view in use at a time (ARCHITECTURE.md, "The aliasing model") and the `extern "C"`
//   trampolines.
// - `changes`: change callbacks on its own buffers ([`BufferEvent::on_buffer_change`]).
// - `filter`: [`BufferEvent::filter`] and its closures.
// - `ratelimit`: [`RateLimit`], [`RateLimitGroup`] and their use by a bufferevent.

mod borrowed;
mod callbacks;
mod changes;
mod edge;
mod filter;
mod owned;
mod ratelimit;
#[cfg(all(feature = "openssl", libevent_openssl))]
mod ssl;

pub use borrowed::BufferEventRef;
pub use changes::Side;
pub use filter::FilterResult;
pub(crate) use owned::cancel_lookup;
pub use owned::BufferEvent;
pub use ratelimit::{RateLimit, RateLimitGroup};
#[cfg(all(feature = "openssl", libevent_openssl))]
pub use ssl::{SslError, SslState};

use crate::util::flag_type;
use libevent_sys as sys;
use std::ffi::c_short;

flag_type! {
    /// `BEV_EVENT_*`: what an event callback reports.
    ///
    /// ```
    /// use libevent::bufferevent::BevEvent;
    /// let what = BevEvent::READING | BevEvent::EOF;
    /// assert!(what.contains(BevEvent::EOF));
    /// ```
    BevEvent: c_short {
        /// `BEV_EVENT_READING`: the condition happened while reading.
        READING = sys::BEV_EVENT_READING;
        /// `BEV_EVENT_WRITING`: the condition happened while writing.
        WRITING = sys::BEV_EVENT_WRITING;
        /// `BEV_EVENT_EOF`: end of stream.
        EOF = sys::BEV_EVENT_EOF;
        /// `BEV_EVENT_ERROR`: an error; `errno` tells which.
        ERROR = sys::BEV_EVENT_ERROR;
        /// `BEV_EVENT_TIMEOUT`: a read or write timeout expired.
        TIMEOUT = sys::BEV_EVENT_TIMEOUT;
        /// `BEV_EVENT_CONNECTED`: a connect finished.
        CONNECTED = sys::BEV_EVENT_CONNECTED;
    }
}

flag_type! {
    /// `BEV_OPT_*`: how a bufferevent is made.
    ///
    /// ```
    /// # let base = libevent::EventBase::new()?;
    /// use libevent::bufferevent::Options;
    /// let (_a, _b) = libevent::BufferEvent::pair(&base, Options::DEFER_CALLBACKS)?;
    /// # Ok::<(), libevent::Error>(())
    /// ```
    Options: i32 {
        /// `BEV_OPT_CLOSE_ON_FREE`: free closes the socket (or frees the underlying bufferevent).
        CLOSE_ON_FREE = sys::bufferevent_options_BEV_OPT_CLOSE_ON_FREE;
        /// `BEV_OPT_THREADSAFE`: lock it (needs the `threads` feature).
        THREADSAFE = sys::bufferevent_options_BEV_OPT_THREADSAFE;
        /// `BEV_OPT_DEFER_CALLBACKS`: run callbacks from the loop, not from inside operations.
        DEFER_CALLBACKS = sys::bufferevent_options_BEV_OPT_DEFER_CALLBACKS;
        /// `BEV_OPT_UNLOCK_CALLBACKS`: with deferred callbacks, run them unlocked.
        UNLOCK_CALLBACKS = sys::bufferevent_options_BEV_OPT_UNLOCK_CALLBACKS;
    }
}

/// `enum bufferevent_flush_mode`.
///
/// ```
/// # use libevent::*;
/// # use libevent::bufferevent::{FlushMode, Options};
/// # use libevent::event::Flags;
/// # let base = EventBase::new()?;
/// # let (mut bev, mut other) = BufferEvent::pair(&base, Options::empty())?;
/// bev.enable(Flags::WRITE)?;
/// bev.write(b"x")?;
/// bev.flush(Flags::WRITE, FlushMode::Flush)?;
/// # Ok::<(), libevent::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// `BEV_NORMAL`.
    Normal,
    /// `BEV_FLUSH`: write out everything.
    Flush,
    /// `BEV_FINISHED`: everything, and no more will come.
    Finished,
}

impl FlushMode {
    fn raw(self) -> sys::bufferevent_flush_mode {
        match self {
            FlushMode::Normal => sys::bufferevent_flush_mode_BEV_NORMAL,
            FlushMode::Flush => sys::bufferevent_flush_mode_BEV_FLUSH,
            FlushMode::Finished => sys::bufferevent_flush_mode_BEV_FINISHED,
        }
    }
    fn from_raw(m: sys::bufferevent_flush_mode) -> FlushMode {
        match m {
            sys::bufferevent_flush_mode_BEV_FLUSH => FlushMode::Flush,
            sys::bufferevent_flush_mode_BEV_FINISHED => FlushMode::Finished,
            _ => FlushMode::Normal,
        }
    }
}

/// How a bufferevent was made, which decides what it may do beyond libevent's own API
/// (see [`BufferEvent::write_direct`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `bufferevent_socket_new`, made by this crate: a plain socket.
    Socket,
    /// One end of `bufferevent_pair_new`.
    Pair,
    /// `bufferevent_filter_new`.
    Filter,
    /// Made by C and adopted through [`BufferEvent::from_raw`]: it may be anything
    /// (TLS over the same descriptor, for one).
    Adopted,
    /// `bufferevent_openssl_socket_new` or `_filter_new`: TLS (feature `openssl`).
    #[cfg_attr(not(all(feature = "openssl", libevent_openssl)), allow(dead_code))]
    Ssl,
}

impl Kind {
    /// Whether [`BufferEventRef::write_direct`] may write at once (without a rate limit or
    /// group): a plain socket, or TLS (whose own checks leave out a filter's).
    fn sends_direct(self) -> bool {
        matches!(self, Kind::Socket | Kind::Ssl)
    }
}
