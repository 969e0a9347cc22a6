//! Async streams over bufferevents: [`TcpStream`] (`futures_io::AsyncRead`/`AsyncWrite`,
//! and tokio's with the `tokio` feature) and [`TcpListener`], whose connections come from
//! an evconnlistener.
//!
//! A stream is a [`BufferEvent`] whose callbacks only record what happened and wake the
//! task waiting for it: reading takes bytes out of the input buffer, writing puts them in
//! the output buffer (or straight on the socket when nothing is queued).
//!
//! Backpressure, both ways, without spinning:
//! - Writing waits while the output buffer holds [`write_high_water`](TcpStream::set_write_high_water)
//!   bytes or more (64 KiB by default), and resumes once libevent has drained it to half
//!   that (the write low watermark, where libevent calls the write callback).
//! - Reading from the socket stops while the input buffer holds
//!   [`read_limit`](TcpStream::set_read_limit) bytes (64 KiB) the task has not taken,
//!   and resumes when it takes them. This disables reading rather than setting the read
//!   high watermark: libevent 2.1 keeps calling the read callback of a bufferevent that
//!   sits at its high watermark, which would spin.

use super::current_base;
use super::WakeSlot;
use crate::base::EventBase;
use crate::bufferevent::{BevEvent, BufferEvent, BufferEventRef, Options};
use crate::event::Flags;
use crate::listener::{Listener, ListenerFlags};
use crate::util::sockaddr;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Default write high-water mark and read limit.
const DEFAULT_BUFFER: usize = 64 * 1024;
/// How long a stream dropped with output unsent keeps the connection to write it.
pub const LINGER: Duration = Duration::from_secs(30);

/// An error that stays (the socket failed) or a timeout (reported once).
#[derive(Clone, Copy)]
enum Failure {
    Os(i32),
    /// The bufferevent reported an error without an errno.
    Unknown,
}

impl Failure {
    fn to_io(self) -> io::Error {
        match self {
            Failure::Os(e) => io::Error::from_raw_os_error(e),
            Failure::Unknown => io::Error::other("the bufferevent reported an error"),
        }
    }
}

/// What the bufferevent's callbacks record for the stream.
struct State {
    /// The bufferevent's base: its callbacks may poll a task of it directly.
    base: *mut libevent_sys::event_base,
    read_waker: WakeSlot,
    write_waker: WakeSlot,
    connected: Cell<bool>,
    eof: Cell<bool>,
    failure: Cell<Option<Failure>>,
    read_timed_out: Cell<bool>,
    write_timed_out: Cell<bool>,
    /// Reading disabled by the read callback: the input buffer is at the limit.
    read_paused: Cell<bool>,
    read_limit: Cell<usize>,
    write_high: Cell<usize>,
    write_shut: Cell<bool>,
    write_timeout: Cell<Option<Duration>>,
}

struct Core {
    /// Always `Some` until the core is dropped.
    bev: RefCell<Option<BufferEvent>>,
    st: Rc<State>,
}

/// An async byte stream over a bufferevent (a TCP connection, or any bufferevent given to
/// [`from_bufferevent`](Self::from_bufferevent): a pair, a filter, TLS).
///
/// EOF reads as 0 bytes; a socket error, or a read or write timeout
/// ([`set_timeouts`](Self::set_timeouts)), is an `io::Error` (a timeout is
/// `ErrorKind::TimedOut`, reported once: the stream can be used again after it).
///
/// Dropping a stream whose output is not all written yet leaves the connection open in
/// the background while the loop runs, until that output is written (then it closes),
/// the peer fails, or [`LINGER`] passes (or the write timeout, if set). To know the
/// output went out, `close().await` it (`AsyncWriteExt::close`, or tokio's `shutdown`):
/// that flushes, reports any error, and sends FIN.
///
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use libevent::task::{TcpListener, TcpStream};
/// use libevent::EventBase;
/// let base = EventBase::new()?;
/// let echoed = base.block_on(async {
///     let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
///     let addr = listener.local_addr()?;
///     let server = libevent::task::spawn(async move {
///         let (mut s, _) = listener.accept().await?;
///         let mut buf = [0u8; 5];
///         s.read_exact(&mut buf).await?;
///         s.write_all(&buf).await?;
///         s.close().await
///     })?;
///     let mut c = TcpStream::connect(addr).await?;
///     c.write_all(b"hello").await?;
///     let mut back = Vec::new();
///     c.read_to_end(&mut back).await?;
///     server.await?;
///     Ok::<_, std::io::Error>(back)
/// })??;
/// assert_eq!(echoed, b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpStream {
    core: Rc<Core>,
}

impl TcpStream {
    /// Connects to `addr` on the current task's base.
    pub async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        let base = current_base("TcpStream::connect")?;
        Self::connect_on(&base, addr).await
    }

    /// Connects to `addr` on `base` (the connect starts at once; the future waits for
    /// it to finish).
    pub fn connect_on(
        base: &EventBase,
        addr: SocketAddr,
    ) -> impl std::future::Future<Output = io::Result<TcpStream>> + 'static {
        let started = BufferEvent::connect_tcp(base, addr, Options::empty())
            .map_err(io::Error::from)
            .and_then(Self::wrap);
        async move {
            let s = started?;
            std::future::poll_fn(|cx| {
                let st = &s.core.st;
                if let Some(f) = st.failure.get() {
                    return Poll::Ready(Err(f.to_io()));
                }
                if st.connected.get() {
                    return Poll::Ready(Ok(()));
                }
                if st.write_timed_out.take() {
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
                st.write_waker.register(cx, st.base);
                Poll::Pending
            })
            .await?;
            Ok(s)
        }
    }

    /// A stream over a connected `std` stream, on `base`.
    pub fn from_std(base: &EventBase, stream: std::net::TcpStream) -> io::Result<TcpStream> {
        let bev = BufferEvent::from_tcp(base, stream, Options::empty())?;
        let s = Self::wrap(bev)?;
        s.core.st.connected.set(true);
        Ok(s)
    }

    /// A stream over `bev` (its callbacks are replaced; reading and writing are enabled).
    ///
    /// ```
    /// use futures_util::{AsyncReadExt, AsyncWriteExt};
    /// use libevent::{task::TcpStream, BufferEvent, EventBase};
    /// use libevent::bufferevent::Options;
    /// let base = EventBase::new()?;
    /// let (a, b) = BufferEvent::pair(&base, Options::empty())?;
    /// let (mut a, mut b) = (TcpStream::from_bufferevent(a)?, TcpStream::from_bufferevent(b)?);
    /// let got = base.block_on(async move {
    ///     a.write_all(b"over a pair").await?;
    ///     let mut buf = [0u8; 11];
    ///     b.read_exact(&mut buf).await?;
    ///     Ok::<_, std::io::Error>(buf)
    /// })??;
    /// assert_eq!(&got, b"over a pair");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_bufferevent(bev: BufferEvent) -> io::Result<TcpStream> {
        let s = Self::wrap(bev)?;
        s.core.st.connected.set(true);
        Ok(s)
    }

    fn wrap(mut bev: BufferEvent) -> io::Result<TcpStream> {
        let st = Rc::new(State {
            base: bev.base().as_raw(),
            read_waker: WakeSlot::default(),
            write_waker: WakeSlot::default(),
            connected: Cell::new(false),
            eof: Cell::new(false),
            failure: Cell::new(None),
            read_timed_out: Cell::new(false),
            write_timed_out: Cell::new(false),
            read_paused: Cell::new(false),
            read_limit: Cell::new(DEFAULT_BUFFER),
            write_high: Cell::new(DEFAULT_BUFFER),
            write_shut: Cell::new(false),
            write_timeout: Cell::new(None),
        });
        // Each callback wakes its task last, after `release`: the task may be polled
        // right there (see WakeSlot) and use the stream's bufferevent through its owner.
        let s = st.clone();
        bev.on_read_internal(move |bev, cbs| {
            if bev.input().len() >= s.read_limit.get() && bev.disable(Flags::READ).is_ok() {
                s.read_paused.set(true);
            }
            s.read_waker.wake_after(cbs.release());
        });
        let s = st.clone();
        bev.on_write_internal(move |_, cbs| s.write_waker.wake_after(cbs.release()));
        let s = st.clone();
        bev.on_event_internal(move |bev, what, cbs| {
            // First, before anything can change errno.
            let errno = io::Error::last_os_error().raw_os_error();
            let (mut read, mut write) = (false, false);
            if what.contains(BevEvent::CONNECTED) {
                s.connected.set(true);
                write = true;
            }
            if what.contains(BevEvent::EOF) {
                s.eof.set(true);
                read = true;
            }
            if what.contains(BevEvent::ERROR) {
                let e = bev.socket_error().or(errno.filter(|&e| e != 0));
                s.failure.set(Some(e.map_or(Failure::Unknown, Failure::Os)));
                (read, write) = (true, true);
            }
            if what.contains(BevEvent::TIMEOUT) {
                if what.contains(BevEvent::READING) {
                    s.read_timed_out.set(true);
                    read = true;
                }
                if what.contains(BevEvent::WRITING) {
                    s.write_timed_out.set(true);
                    write = true;
                }
            }
            // Last: a task polled from here may drop the stream.
            let now = cbs.release();
            if read {
                s.read_waker.wake_after(now);
            }
            if write {
                s.write_waker.wake_after(now);
            }
        });
        let half = DEFAULT_BUFFER / 2;
        bev.set_write_watermark(half, 0)?;
        bev.enable(Flags::READ | Flags::WRITE)?;
        Ok(TcpStream {
            core: Rc::new(Core {
                bev: RefCell::new(Some(bev)),
                st,
            }),
        })
    }

    /// Appends up to `max` bytes of what has arrived to `out`, taken straight from the
    /// bufferevent's input (no read buffer of the caller's to size and keep); waits if
    /// nothing has. 0 means end of stream (or `max` was 0).
    ///
    /// ```
    /// use futures_util::AsyncWriteExt;
    /// use libevent::{task::TcpStream, BufferEvent, EventBase};
    /// use libevent::bufferevent::Options;
    /// let base = EventBase::new()?;
    /// let (a, b) = BufferEvent::pair(&base, Options::empty())?;
    /// let (mut a, mut b) = (TcpStream::from_bufferevent(a)?, TcpStream::from_bufferevent(b)?);
    /// let got = base.block_on(async move {
    ///     a.write_all(b"abcdef").await?;
    ///     let mut v = b"<".to_vec();
    ///     b.read_append(&mut v, 4).await?;
    ///     Ok::<_, std::io::Error>(v)
    /// })??;
    /// assert_eq!(got, b"<abcd");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn read_append(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.core.poll_append(cx, out, max)).await
    }

    /// Splits the stream into a reading and a writing half, usable from two tasks; the
    /// connection closes when both are dropped.
    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        (
            ReadHalf {
                core: self.core.clone(),
            },
            WriteHalf { core: self.core },
        )
    }

    /// `bufferevent_set_timeouts`: reading (or writing) that waits longer than this on
    /// the socket fails with `ErrorKind::TimedOut`. `None` turns one off. A duration
    /// many streams share (an idle timeout) becomes a libevent common timeout, as for
    /// [`sleep`](super::sleep).
    pub fn set_timeouts(&self, read: Option<Duration>, write: Option<Duration>) -> io::Result<()> {
        let base = self.core.base();
        self.core.with(|b| {
            let common = |d: Option<Duration>| d.map(|d| super::time::common_for(&base, d));
            match (common(read), common(write)) {
                (Some(None), _) | (_, Some(None)) => b.set_timeouts(read, write),
                (r, w) => b.set_common_timeouts(r.flatten(), w.flatten()),
            }
        })?;
        self.core.st.write_timeout.set(write);
        Ok(())
    }

    /// Writing waits while this many bytes or more are queued (default 64 KiB); it
    /// resumes when libevent has written the queue down to half of it.
    pub fn set_write_high_water(&self, bytes: usize) -> io::Result<()> {
        let bytes = bytes.max(1);
        self.core.st.write_high.set(bytes);
        self.core.with(|b| b.set_write_watermark(bytes / 2, 0))?;
        Ok(())
    }

    /// Reading from the socket pauses while this many bytes or more wait in the input
    /// buffer (default 64 KiB).
    pub fn set_read_limit(&self, bytes: usize) {
        self.core.st.read_limit.set(bytes.max(1));
    }

    /// The peer's address (`ErrorKind::NotConnected` for a bufferevent without a socket,
    /// such as a pair).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.core.fd_addr(true)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.core.fd_addr(false)
    }

    /// Bytes read from the socket that no read has taken yet.
    pub fn buffered_input(&self) -> usize {
        self.core.with(|b| b.input_len())
    }

    /// Bytes written that libevent has not yet handed to the socket.
    pub fn buffered_output(&self) -> usize {
        self.core.with(|b| b.output_len())
    }

    /// The bufferevent underneath, for what this type does not wrap (priorities, rate
    /// limits, a TLS session). Its callbacks belong to the stream: do not replace them.
    pub fn with_bufferevent<R>(&self, f: impl FnOnce(&mut BufferEventRef) -> R) -> R {
        self.core.with(|b| f(b))
    }
}

impl Core {
    fn base(&self) -> EventBase {
        let b = self.bev.borrow();
        b.as_ref()
            .expect("the bufferevent lives as long as the stream")
            .base()
            .clone()
    }

    #[track_caller]
    fn with<R>(&self, f: impl FnOnce(&mut BufferEventRef) -> R) -> R {
        let Ok(mut b) = self.bev.try_borrow_mut() else {
            panic!("a TcpStream was used inside its own with_bufferevent")
        };
        b.as_mut()
            .expect("the bufferevent lives as long as the stream")
            .with(f)
    }

    fn fd_addr(&self, peer: bool) -> io::Result<SocketAddr> {
        let fd = self
            .with(|b| b.fd())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no socket"))?;
        if peer {
            sockaddr::peer_addr(fd)
        } else {
            sockaddr::local_addr(fd)
        }
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_read_with(cx, |bev| bev.read(buf))
    }

    /// [`poll_read`](Self::poll_read) into uninitialized memory (hyper's read buffers).
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_read_with(cx, |bev| bev.read_uninit(buf))
    }

    fn poll_append(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        if max == 0 {
            return Poll::Ready(Ok(0));
        }
        self.poll_read_with(cx, |bev| {
            let take = bev.input().len().min(max);
            let old = out.len();
            out.resize(old + take, 0);
            let n = bev.read(&mut out[old..]);
            out.truncate(old + n);
            n
        })
    }

    /// Takes input with `take` (which returns how much it took); else EOF, the error,
    /// or waits.
    fn poll_read_with(
        &self,
        cx: &mut Context<'_>,
        take: impl FnOnce(&mut BufferEventRef) -> usize,
    ) -> Poll<io::Result<usize>> {
        let st = &self.st;
        self.with(|bev| {
            let n = take(bev);
            if n > 0 {
                if st.read_paused.get() && bev.input().len() < st.read_limit.get() {
                    st.read_paused.set(false);
                    bev.enable(Flags::READ)?;
                }
                return Poll::Ready(Ok(n));
            }
            if let Some(f) = st.failure.get() {
                return Poll::Ready(Err(f.to_io()));
            }
            if st.eof.get() {
                return Poll::Ready(Ok(0));
            }
            if st.read_timed_out.take() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "read timed out",
                )));
            }
            st.read_waker.register(cx, st.base);
            // libevent disables reading after a timeout (and we do at the limit).
            st.read_paused.set(false);
            if !bev.enabled().contains(Flags::READ) {
                bev.enable(Flags::READ)?;
            }
            Poll::Pending
        })
        .map_err(io::Error::from)
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let st = &self.st;
        if let Some(e) = self.write_error() {
            return Poll::Ready(Err(e));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.with(|bev| {
            if bev.output().len() >= st.write_high.get() {
                st.write_waker.register(cx, st.base);
                return Poll::Pending;
            }
            Poll::Ready(
                bev.write_direct(data)
                    .map(|()| data.len())
                    .map_err(Into::into),
            )
        })
    }

    fn write_error(&self) -> Option<io::Error> {
        let st = &self.st;
        if let Some(f) = st.failure.get() {
            return Some(f.to_io());
        }
        if st.write_timed_out.take() {
            return Some(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
        }
        if st.write_shut.get() {
            return Some(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the stream was closed for writing",
            ));
        }
        None
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.with(|b| b.output().is_empty()) {
            return Poll::Ready(Ok(()));
        }
        if let Some(e) = self.write_error() {
            return Poll::Ready(Err(e));
        }
        self.st.write_waker.register(cx, self.st.base);
        Poll::Pending
    }

    fn poll_close(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.st.write_shut.get() {
            return Poll::Ready(Ok(()));
        }
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        self.st.write_shut.set(true);
        // A bufferevent without a socket (a pair) has nothing to shut down.
        if self.with(|b| b.fd()).is_some() {
            self.with(|b| b.shutdown(Shutdown::Write))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        let Some(bev) = self.bev.get_mut().take() else {
            return;
        };
        if bev.output_len() == 0 || self.st.failure.get().is_some() {
            return; // freed here, closing the socket
        }
        linger(bev, self.st.write_timeout.get());
    }
}

/// Keeps a dropped stream's bufferevent until its output is written (then frees it,
/// closing the socket), it fails, or the write timeout passes; what the peer sends
/// meanwhile is read and discarded, so that the close is a FIN and not a reset.
fn linger(mut bev: BufferEvent, write_timeout: Option<Duration>) {
    let holder: Rc<Cell<Option<BufferEvent>>> = Rc::new(Cell::new(None));
    let (h1, h2) = (holder.clone(), holder.clone());
    let set = (|| {
        bev.on_read(|b| {
            let n = b.input().len();
            let _ = b.input_mut().drain(n);
        });
        bev.on_write(move |_| drop(h1.take()));
        bev.on_event(move |_, _| drop(h2.take()));
        bev.set_write_watermark(0, 0)?;
        bev.set_timeouts(None, Some(write_timeout.unwrap_or(LINGER)))?;
        bev.enable(Flags::READ | Flags::WRITE)
    })();
    if set.is_ok() {
        holder.set(Some(bev));
    }
}

/// The reading half of a [`TcpStream::into_split`].
pub struct ReadHalf {
    core: Rc<Core>,
}

impl ReadHalf {
    /// [`TcpStream::read_append`] on this half.
    pub async fn read_append(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.core.poll_append(cx, out, max)).await
    }
}

/// The writing half of a [`TcpStream::into_split`].
pub struct WriteHalf {
    core: Rc<Core>,
}

macro_rules! io_traits {
    ($($t:ty),*) => {$(
        impl futures_io::AsyncRead for $t {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                self.core.poll_read(cx, buf)
            }
        }

        #[cfg(feature = "tokio")]
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
        impl tokio::io::AsyncRead for $t {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
                let n = std::task::ready!(self.core.poll_read(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("peer", &self.core.fd_addr(true).ok())
                    .finish()
            }
        }
    )*};
}

macro_rules! write_traits {
    ($($t:ty),*) => {$(
        impl futures_io::AsyncWrite for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.core.poll_write(cx, buf)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.core.poll_flush(cx)
            }
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.core.poll_close(cx)
            }
        }

        #[cfg(feature = "tokio")]
        #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
        impl tokio::io::AsyncWrite for $t {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.core.poll_write(cx, buf)
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.core.poll_flush(cx)
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.core.poll_close(cx)
            }
        }
    )*};
}

io_traits!(TcpStream, ReadHalf);
write_traits!(TcpStream, WriteHalf);

/// hyper's own I/O traits (feature `hyper`), so that a stream serves or sends HTTP with
/// hyper directly: reads go from the bufferevent's input straight into hyper's buffer
/// (which may be uninitialized; libevent only writes it).
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
impl ::hyper::rt::Read for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ::hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the bytes are only written (by libevent, up to what it returns), and the
        // cursor advances over exactly those.
        let n = std::task::ready!(self.core.poll_read_uninit(cx, unsafe { buf.as_mut() }))?;
        // SAFETY: n bytes were just initialized.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
impl ::hyper::rt::Write for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.core.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.core.poll_close(cx)
    }
}

impl std::fmt::Debug for WriteHalf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHalf")
            .field("queued", &self.core.with(|b| b.output_len()))
            .finish()
    }
}

/// How many accepted connections wait for `accept` before the listener pauses (the rest
/// wait in the kernel's backlog).
const ACCEPT_QUEUE: usize = 8;

struct AcceptState {
    base: *mut libevent_sys::event_base,
    queue: RefCell<VecDeque<(std::net::TcpStream, SocketAddr)>>,
    waker: WakeSlot,
    error: Cell<Option<i32>>,
    paused: Cell<bool>,
    /// The evconnlistener, set once it exists.
    raw: Cell<*mut libevent_sys::evconnlistener>,
}

/// A listening socket whose connections are accepted as [`TcpStream`]s
/// ([`accept`](Self::accept), or [`incoming`](Self::incoming) as a `Stream`).
///
/// Connections are taken from the kernel only while a task asks for them (a few ahead);
/// while none does, the listener is disabled and they wait in the backlog.
pub struct TcpListener {
    listener: Listener,
    st: Rc<AcceptState>,
    base: EventBase,
}

impl TcpListener {
    /// Binds `addr` on the current task's base (`SO_REUSEADDR`, backlog 1024).
    pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
        let base = current_base("TcpListener::bind")?;
        Self::bind_on(&base, addr)
    }

    /// Binds `addr` on `base`.
    pub fn bind_on(base: &EventBase, addr: SocketAddr) -> io::Result<TcpListener> {
        let st = Self::state(base);
        let flags = ListenerFlags::REUSEABLE;
        let l = Listener::bind(base, addr, 1024, flags, Self::on_accept(st.clone()));
        Self::adopt(base, st, l)
    }

    /// Takes over a listening `std` listener, on `base`.
    pub fn from_std(base: &EventBase, l: std::net::TcpListener) -> io::Result<TcpListener> {
        let st = Self::state(base);
        let l = Listener::from_tcp(base, l, ListenerFlags::empty(), Self::on_accept(st.clone()));
        Self::adopt(base, st, l)
    }

    fn state(base: &EventBase) -> Rc<AcceptState> {
        Rc::new(AcceptState {
            base: base.as_raw(),
            queue: RefCell::new(VecDeque::new()),
            waker: WakeSlot::default(),
            error: Cell::new(None),
            paused: Cell::new(false),
            raw: Cell::new(std::ptr::null_mut()),
        })
    }

    fn on_accept(s: Rc<AcceptState>) -> impl FnMut(std::net::TcpStream, SocketAddr) {
        move |stream, peer| {
            let n = {
                let mut q = s.queue.borrow_mut();
                q.push_back((stream, peer));
                q.len()
            };
            let raw = s.raw.get();
            if n >= ACCEPT_QUEUE && !raw.is_null() && !s.paused.get() {
                s.paused.set(true);
                // SAFETY: the listener runs this callback, so it is live; libevent 2.1's
                // accept loop checks after each callback whether it was disabled.
                unsafe { libevent_sys::evconnlistener_disable(raw) };
            }
            // Last: a task polled from here may drop the listener.
            s.waker.wake();
        }
    }

    /// The listener made with `on_accept(st)`, wired to report accept errors.
    fn adopt(
        base: &EventBase,
        st: Rc<AcceptState>,
        listener: crate::Result<Listener>,
    ) -> io::Result<TcpListener> {
        let mut listener = listener?;
        st.raw.set(listener.as_raw());
        let s = st.clone();
        listener.on_error(move |e| {
            s.error
                .set(Some(io::Error::from(e).raw_os_error().unwrap_or(libc::EIO)));
            s.waker.wake();
        })?;
        Ok(TcpListener {
            listener,
            st,
            base: base.clone(),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection, as a stream on the listener's base, and its peer.
    pub async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The next connection, if one has come (else the task is woken when one does).
    /// An accept error (`EMFILE`, say) is returned once; accepting goes on after it.
    pub fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let next = self.st.queue.borrow_mut().pop_front();
        if let Some((s, peer)) = next {
            if self.st.paused.get() && self.st.queue.borrow().len() < ACCEPT_QUEUE / 2 {
                self.st.paused.set(false);
                self.listener.enable()?;
            }
            return Poll::Ready(TcpStream::from_std(&self.base, s).map(|s| (s, peer)));
        }
        if let Some(e) = self.st.error.take() {
            return Poll::Ready(Err(io::Error::from_raw_os_error(e)));
        }
        self.st.waker.register(cx, self.st.base);
        if self.st.paused.get() {
            self.st.paused.set(false);
            self.listener.enable()?;
        }
        Poll::Pending
    }

    /// The connections as a `futures_core::Stream` (it never ends).
    pub fn incoming(&mut self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

/// [`TcpListener::incoming`].
pub struct Incoming<'a> {
    listener: &'a mut TcpListener,
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept(cx)
            .map(|r| Some(r.map(|(s, _)| s)))
    }
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener")
            .field("addr", &self.local_addr().ok())
            .field("queued", &self.st.queue.borrow().len())
            .finish()
    }
}

impl std::fmt::Debug for Incoming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.listener.fmt(f)
    }
}
