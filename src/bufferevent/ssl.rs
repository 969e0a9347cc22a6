//! TLS bufferevents over OpenSSL (`event2/bufferevent_ssl.h`), configured with the
//! `openssl` crate's types: build an [`openssl::ssl::Ssl`] from your `SslContext` or
//! `SslAcceptor`/`SslConnector` (certificates, ALPN, verification, SNI) and hand it over.
//! Compiled with feature `openssl`, where libevent-sys links libevent_openssl (the root
//! build script's `libevent_openssl` cfg).

use super::owned::BufferEvent;
use super::{Kind, Options};
use crate::base::EventBase;
pub use crate::error::SslError;
use crate::error::{call, Error, Result};
use foreign_types::{ForeignType, ForeignTypeRef};
use libevent_sys as sys;
use openssl::ssl::{Ssl, SslRef};
use std::os::fd::{IntoRawFd, OwnedFd};

extern "C" {
    // OpenSSL 1.1 and 3 export these as functions (openssl-sys binds only the context's).
    fn SSL_set_options(ssl: *mut openssl_sys::SSL, options: u64) -> u64;
    fn SSL_get_options(ssl: *const openssl_sys::SSL) -> u64;
    #[cfg(openssl3)]
    fn SSL_clear_options(ssl: *mut openssl_sys::SSL, options: u64) -> u64;
}

/// Which side of the handshake a TLS bufferevent takes (`enum bufferevent_ssl_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(docsrs, doc(cfg(feature = "openssl")))]
pub enum SslState {
    /// `BUFFEREVENT_SSL_CONNECTING`: the client side.
    Connecting,
    /// `BUFFEREVENT_SSL_ACCEPTING`: the server side.
    Accepting,
    /// `BUFFEREVENT_SSL_OPEN`: the handshake is already done.
    Open,
}

impl SslState {
    fn to_c(self) -> sys::bufferevent_ssl_state {
        match self {
            SslState::Connecting => sys::bufferevent_ssl_state_BUFFEREVENT_SSL_CONNECTING,
            SslState::Accepting => sys::bufferevent_ssl_state_BUFFEREVENT_SSL_ACCEPTING,
            SslState::Open => sys::bufferevent_ssl_state_BUFFEREVENT_SSL_OPEN,
        }
    }
}

/// Gives `ssl` to C, with renegotiation refused unless `renegotiation` is set.
fn hand_over(ssl: Ssl, renegotiation: bool) -> *mut openssl_sys::SSL {
    let p = ssl.as_ptr();
    // Ownership goes to libevent (which SSL_frees it with the bufferevent).
    std::mem::forget(ssl);
    if !renegotiation {
        // SAFETY: p is a live SSL we own until libevent takes it.
        unsafe { SSL_set_options(p, openssl_sys::SSL_OP_NO_RENEGOTIATION) };
    }
    p
}

#[cfg_attr(docsrs, doc(cfg(feature = "openssl")))]
impl BufferEvent {
    /// `bufferevent_openssl_socket_new`: TLS over a socket (`None`: one made later by
    /// [`connect`](crate::BufferEventRef::connect) or
    /// [`connect_hostname`](BufferEvent::connect_hostname), or set by evhttp). The
    /// bufferevent owns the socket and the `Ssl` (`CLOSE_ON_FREE` is always added).
    /// Renegotiation is refused (`SSL_OP_NO_RENEGOTIATION`); see
    /// [`openssl_socket_with`](Self::openssl_socket_with).
    pub fn openssl_socket(
        base: &EventBase,
        fd: Option<OwnedFd>,
        ssl: Ssl,
        state: SslState,
        options: Options,
    ) -> Result<BufferEvent> {
        Self::openssl_socket_with(base, fd, ssl, state, options, false)
    }

    /// [`openssl_socket`](Self::openssl_socket), allowing renegotiation if asked.
    pub fn openssl_socket_with(
        base: &EventBase,
        fd: Option<OwnedFd>,
        ssl: Ssl,
        state: SslState,
        options: Options,
        renegotiation: bool,
    ) -> Result<BufferEvent> {
        let fd = fd.map_or(-1, IntoRawFd::into_raw_fd);
        let ssl = hand_over(ssl, renegotiation);
        // SAFETY: base live; with CLOSE_ON_FREE the bufferevent owns fd and ssl (on
        // failure, libevent frees neither: done below).
        let raw = unsafe {
            call!(sys::bufferevent_openssl_socket_new(
                base.as_raw(),
                fd,
                ssl,
                state.to_c(),
                (options | Options::CLOSE_ON_FREE).0,
            ))
        };
        match raw {
            Ok(raw) => Ok(Self::adopt(base, raw, Kind::Ssl, None)),
            Err(e) => {
                // SAFETY: not taken by libevent: ours to free.
                unsafe {
                    openssl_sys::SSL_free(ssl);
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
                Err(e)
            }
        }
    }

    /// `bufferevent_openssl_filter_new`: TLS over another bufferevent, which the filter
    /// takes over (a pair, another filter...). Renegotiation is refused.
    pub fn openssl_filter(
        underlying: BufferEvent,
        ssl: Ssl,
        state: SslState,
        options: Options,
    ) -> Result<BufferEvent> {
        underlying.check("openssl_filter");
        let base = underlying.cbs.base.clone();
        let ssl = hand_over(ssl, false);
        // SAFETY: the underlying bufferevent is live; the filter replaces its callbacks
        // with its own.
        unsafe { super::edge::make_level_if_edge(underlying.raw.as_ptr()) };
        // SAFETY: the underlying bufferevent is live; with CLOSE_ON_FREE the filter owns
        // it and ssl.
        let raw = unsafe {
            call!(sys::bufferevent_openssl_filter_new(
                base.as_raw(),
                underlying.raw.as_ptr(),
                ssl,
                state.to_c(),
                (options | Options::CLOSE_ON_FREE).0,
            ))
        };
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                // SAFETY: not taken: ours to free (the underlying handle frees its own).
                unsafe { openssl_sys::SSL_free(ssl) };
                return Err(e);
            }
        };
        // What C links to the underlying bufferevent is linked to the filter now.
        let group = underlying.cbs.group().cloned();
        let kept = underlying.into_underlying();
        let mut bev = Self::adopt(&base, raw, Kind::Ssl, group);
        bev.extra_mut().filter_under = Some(Box::new(kept));
        Ok(bev)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "openssl")))]
impl super::BufferEventRef {
    fn ssl_ptr(&self) -> *mut openssl_sys::SSL {
        // SAFETY: the bufferevent is live; for a non-TLS one libevent returns null.
        unsafe { sys::bufferevent_openssl_get_ssl(self.as_raw()) }
    }

    /// [`write_direct`](crate::BufferEventRef::write_direct) over TLS: one `SSL_write` of
    /// `data` now, if libevent has nothing in flight for this bufferevent and OpenSSL
    /// will take the record whole or keep it whole. Returns how much is dealt with: what
    /// OpenSSL wrote, or all of it when the socket could not take the record (then it
    /// is queued here, under the lock, where libevent's retry will find it); 0 when it
    /// was not tried.
    pub(super) fn ssl_send_now(&mut self, data: &[u8]) -> Result<usize> {
        let raw = self.as_raw();
        // SAFETY: raw is live; the guard unlocks it however this returns (a panic of an
        // output callback while queueing, too).
        unsafe { sys::bufferevent_lock(raw) };
        struct Unlock(*mut sys::bufferevent);
        impl Drop for Unlock {
            fn drop(&mut self) {
                // SAFETY: locked above; the bufferevent outlives this call.
                unsafe { sys::bufferevent_unlock(self.0) };
            }
        }
        let _unlock = Unlock(raw);
        self.ssl_send_locked(data)
    }

    fn ssl_send_locked(&mut self, data: &[u8]) -> Result<usize> {
        /// The most plaintext one TLS record carries (`SSL3_RT_MAX_PLAIN_LENGTH`): one
        /// `SSL_write` of at most this is written whole or not at all.
        const RECORD: usize = 16384;
        let raw = self.as_raw();
        let write = sys::EV_WRITE as std::ffi::c_short;
        // SAFETY: raw is live and ours (its view is in use: &mut self), and so are its SSL
        // and output. ev_write is read in place through a raw pointer (`struct
        // bufferevent` is public, event2/bufferevent_struct.h); no reference to C's
        // memory is made.
        let (ssl, output, queued, ready) = unsafe {
            let ssl = sys::bufferevent_openssl_get_ssl(raw);
            let output = sys::bufferevent_get_output(raw);
            let queued = sys::evbuffer_get_length(output);
            let limit = RECORD.min(sys::bufferevent_get_max_single_write(raw).max(0) as usize);
            // Nothing queued and libevent not waiting for writability (it waits with an
            // empty output while a read needs a write): its TLS state machine has no
            // write in flight. Handshake over, no shutdown, no renegotiation: SSL_write
            // does nothing but write this record.
            let ready = !ssl.is_null()
                && sys::bufferevent_get_underlying(raw).is_null()
                && queued == 0
                && !data.is_empty()
                && data.len() <= limit
                && sys::bufferevent_get_enabled(raw) & write != 0
                && sys::event_pending(
                    std::ptr::addr_of_mut!((*raw).ev_write),
                    write,
                    std::ptr::null_mut(),
                ) == 0
                && openssl_sys::SSL_is_init_finished(ssl) == 1
                && openssl_sys::SSL_get_shutdown(ssl) == 0
                && SSL_get_options(ssl) & openssl_sys::SSL_OP_NO_RENEGOTIATION != 0;
            (ssl, output, queued, ready)
        };
        let pending = |n: usize| {
            if let Some(c) = self.callbacks() {
                // n is at most RECORD, which fits.
                c.tls_pending.set(u16::try_from(n).unwrap_or(u16::MAX));
            }
        };
        if queued == 0 {
            // libevent drains the output only once OpenSSL has taken the record.
            pending(0);
        }
        if !ready {
            return Ok(0);
        }
        // SAFETY: the session is live and open (checked above); data is valid for its
        // length, at most RECORD, which fits a c_int.
        let r = unsafe {
            openssl_sys::ERR_clear_error();
            openssl_sys::SSL_write(ssl, data.as_ptr().cast(), data.len() as i32)
        };
        if r > 0 {
            return Ok((r as usize).min(data.len()));
        }
        // Would block, or the socket is broken: OpenSSL keeps the record (or its failure)
        // for the next SSL_write, libevent's, which must pass at least these bytes, first
        // and in one piece: they are queued now, before anything else can be, into one
        // chain. A real error is reported there, through the event callback. OpenSSL's
        // queue is cleared, so this failure is not blamed on a later call.
        pending(data.len());
        // SAFETY: output is the live output buffer; expanding reserves room only.
        unsafe {
            openssl_sys::ERR_clear_error();
            call!(sys::evbuffer_expand(output, data.len()))?;
        }
        self.write(data)?;
        Ok(data.len())
    }

    /// `bufferevent_openssl_get_ssl`: the TLS session (peer certificate, ALPN, version,
    /// cipher...); `None` for a bufferevent that is not TLS.
    pub fn ssl(&self) -> Option<&SslRef> {
        let p = self.ssl_ptr();
        // SAFETY: a live SSL owned by the bufferevent, borrowed for &self of its only view
        // in use (ARCHITECTURE.md, "The aliasing model"); OpenSSL types are opaque cells.
        (!p.is_null()).then(|| unsafe { SslRef::from_ptr(p) })
    }

    /// `bufferevent_get_openssl_error`: the next error OpenSSL reported on this
    /// bufferevent (after an `ERROR` event), oldest first; `None` when there is none.
    pub fn openssl_error(&mut self) -> Option<SslError> {
        // SAFETY: the bufferevent is live.
        let code = unsafe { sys::bufferevent_get_openssl_error(self.as_raw()) };
        (code != 0).then(|| SslError::from_code(code))
    }

    /// `bufferevent_openssl_set_allow_dirty_shutdown`: whether a peer that closes the
    /// socket without TLS's close_notify is an end of stream (`EOF`) rather than an
    /// `ERROR` (libevent's default: an error, since such a close can truncate data).
    ///
    /// With OpenSSL 3, which reports such a close as a protocol error that libevent 2.1
    /// does not recognise, this also sets `SSL_OP_IGNORE_UNEXPECTED_EOF` on the session
    /// (and clears it when `allow` is false), so the setting means what it says.
    pub fn set_allow_dirty_shutdown(&mut self, allow: bool) -> Result<()> {
        let ssl = self.ssl_ptr();
        if ssl.is_null() {
            return Err(Error::invalid(
                "bufferevent_openssl_set_allow_dirty_shutdown",
                "not a TLS bufferevent",
            ));
        }
        // SAFETY: a live TLS bufferevent.
        unsafe {
            sys::bufferevent_openssl_set_allow_dirty_shutdown(self.as_raw(), i32::from(allow))
        };
        #[cfg(openssl3)]
        // SAFETY: the bufferevent's live SSL; options are plain flags.
        unsafe {
            if allow {
                SSL_set_options(ssl, openssl_sys::SSL_OP_IGNORE_UNEXPECTED_EOF);
            } else {
                SSL_clear_options(ssl, openssl_sys::SSL_OP_IGNORE_UNEXPECTED_EOF);
            }
        }
        Ok(())
    }

    /// Sends TLS's close_notify now (`SSL_shutdown`), as the libevent book advises before
    /// closing: libevent 2.1's TLS bufferevent never sends it by itself, so a peer that
    /// insists on it sees a truncated stream. Call it once the output buffer has drained
    /// (the alert goes straight to the socket, after what was written); then shut the
    /// socket down or free the bufferevent.
    pub fn close_notify(&mut self) -> Result<()> {
        let ssl = self.ssl_ptr();
        if ssl.is_null() {
            return Err(Error::invalid("SSL_shutdown", "not a TLS bufferevent"));
        }
        // SAFETY: the bufferevent's live SSL. 0 (alert sent, the peer's not yet read) and
        // 1 are both fine here; a negative result means the socket would block or is
        // broken, and the caller closes either way.
        let r = unsafe { openssl_sys::SSL_shutdown(ssl) };
        if r < 0 {
            // OpenSSL's queue for this failure goes into the error (and is cleared, so a
            // later error on this thread is not blamed on it).
            return Err(Error::tls("SSL_shutdown"));
        }
        Ok(())
    }

    /// `bufferevent_ssl_renegotiate`: a new handshake on an open TLS 1.2 session (new
    /// keys; a server may ask for a client certificate this way). The session must have
    /// been made allowing it ([`openssl_socket_with`](BufferEvent::openssl_socket_with)),
    /// and so must the peer's, or the peer refuses and the connection fails. libevent
    /// runs the `CONNECTED` event again once its side of the handshake is done; data
    /// keeps flowing meanwhile.
    ///
    /// An error for a bufferevent that is not TLS, one that refuses renegotiation, or a
    /// TLS 1.3 session (which has none): libevent 2.1 does not check what
    /// `SSL_renegotiate` answers, and would report a handshake that never happened.
    pub fn renegotiate(&mut self) -> Result<()> {
        const FN: &str = "bufferevent_ssl_renegotiate";
        let ssl = self.ssl_ptr();
        if ssl.is_null() {
            return Err(Error::invalid(FN, "not a TLS bufferevent"));
        }
        // SAFETY: the bufferevent's live SSL.
        let (version, options) = unsafe { (openssl_sys::SSL_version(ssl), SSL_get_options(ssl)) };
        if version >= openssl_sys::TLS1_3_VERSION {
            return Err(Error::invalid(FN, "TLS 1.3 has no renegotiation"));
        }
        if options & openssl_sys::SSL_OP_NO_RENEGOTIATION != 0 {
            return Err(Error::invalid(
                FN,
                "the session refuses renegotiation (made without allowing it)",
            ));
        }
        // SAFETY: a live, open TLS bufferevent; the handshake step may run its event
        // callback before returning (a panic of it comes out of this call).
        crate::panic::sync(|| unsafe { call!(sys::bufferevent_ssl_renegotiate(self.as_raw())) })
            .map_err(|_| Error::tls(FN))?;
        Ok(())
    }

    /// `bufferevent_openssl_get_allow_dirty_shutdown`.
    pub fn allow_dirty_shutdown(&self) -> bool {
        // SAFETY: the bufferevent is live (libevent answers 0 for a non-TLS one).
        !self.ssl_ptr().is_null()
            && unsafe { sys::bufferevent_openssl_get_allow_dirty_shutdown(self.as_raw()) } != 0
    }
}
