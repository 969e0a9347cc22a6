//! hyper 1 on the loop (feature `hyper`): what hyper asks of a runtime, from this
//! crate's executor, timers and streams.
//!
//! - I/O: [`TcpStream`](crate::task::TcpStream) implements `hyper::rt::Read` and
//!   `hyper::rt::Write` (reads go straight from the bufferevent into hyper's buffer), so
//!   it goes to `serve_connection` or `handshake` as it is, plain or TLS (a stream over
//!   a TLS bufferevent, [`TcpStream::from_bufferevent`](crate::task::TcpStream::from_bufferevent)).
//! - [`LocalExec`]: `hyper::rt::Executor`, spawning on the loop's executor (what HTTP/2
//!   and a client connection need to run their background tasks).
//! - [`LocalTimer`]: `hyper::rt::Timer`, on the crate's timers (header read timeouts,
//!   HTTP/2 keep-alive pings).
//!
//! Everything runs on the base's thread, like the loop itself: hyper's futures need not
//! be `Send` (give hyper's builders [`LocalExec`], which spawns `!Send` futures). hyper's
//! `Timer` trait wants its sleeps `Send + Sync`; the crate's are tied to their base's
//! thread, so [`LocalTimer`] hands out a wrapper that is `Send + Sync` by checking, at each
//! use, that it is still on the thread that made it (it panics otherwise, and one dropped
//! on another thread is leaked rather than freed there). hyper, driven by the loop, never
//! moves them.
//!
//! ```
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use libevent::hyper::{LocalExec, LocalTimer};
//! use libevent::task::{self, TcpListener, TcpStream};
//! use libevent::EventBase;
//!
//! let base = EventBase::new()?;
//! let body = base.block_on(async {
//!     let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap())?;
//!     let addr = listener.local_addr()?;
//!     task::spawn(async move {
//!         let (stream, _) = listener.accept().await.unwrap();
//!         let hello = hyper::service::service_fn(|_req| async {
//!             Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hello\n"))))
//!         });
//!         let _ = hyper::server::conn::http1::Builder::new()
//!             .timer(LocalTimer)
//!             .serve_connection(stream, hello)
//!             .await;
//!     })?
//!     .detach();
//!     let stream = TcpStream::connect(addr).await?;
//!     let (mut send, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
//!     task::spawn(conn)?.detach();
//!     let req = hyper::Request::get("/").header("Host", "x").body(Full::new(Bytes::new())).unwrap();
//!     let res = send.send_request(req).await.unwrap();
//!     let body = http_body_util::BodyExt::collect(res.into_body()).await.unwrap().to_bytes();
//!     Ok::<_, std::io::Error>(body)
//! })??;
//! assert_eq!(body, "hello\n");
//! # let _ = LocalExec;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::task::{self, Sleep};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// `hyper::rt::Executor` on the loop: each future hyper hands over is a task of the
/// current base's executor (the base whose loop is running this code), detached.
///
/// Outside the loop there is no base to spawn on: the future is dropped, with an error
/// in the log (hyper spawns from inside connections and clients, which run on the loop).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExec;

impl<F> ::hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        match task::spawn(async move {
            fut.await;
        }) {
            Ok(t) => t.detach(),
            Err(e) => log::error!("hyper spawned a task outside the loop: {e}"),
        }
    }
}

/// `hyper::rt::Timer` on the crate's timers (which use the loop's common timeouts for
/// the same duration repeated, as hyper's per-connection timeouts are).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalTimer;

impl ::hyper::rt::Timer for LocalTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(LocalSleep::new(task::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(LocalSleep::new(task::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>, new_deadline: Instant) {
        // hyper gives back what this timer made, as the trait object; it cannot be
        // looked into, so a fresh one replaces it (as hyper's default does).
        *sleep = self.sleep_until(new_deadline);
    }
}

/// One of the crate's sleeps, `Send + Sync` for hyper by staying on its thread.
struct LocalSleep {
    /// Dropped only on `thread` (leaked on any other).
    inner: ManuallyDrop<Sleep>,
    thread: ThreadId,
}

impl LocalSleep {
    fn new(inner: Sleep) -> LocalSleep {
        LocalSleep {
            inner: ManuallyDrop::new(inner),
            thread: thread::current().id(),
        }
    }

    #[track_caller]
    fn check(&self) {
        assert_eq!(
            thread::current().id(),
            self.thread,
            "a libevent::hyper sleep was used on another thread than its loop's"
        );
    }
}

// SAFETY: the inner sleep (which holds `Rc`s of its base) is reached only through
// `poll` and `drop`: `poll` checks that it runs on the thread that made it, and `drop`
// on another thread leaks it instead of touching it. So the `Rc`s are only ever used on
// their own thread, wherever the wrapper itself travels.
unsafe impl Send for LocalSleep {}
// SAFETY: no method takes `&self` to reach the inner sleep: shared references give
// access to nothing but the thread id.
unsafe impl Sync for LocalSleep {}

impl Future for LocalSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.check();
        // SAFETY: structural pinning of `inner`, which is never moved out (only dropped
        // in place, in Drop).
        let inner = unsafe { self.map_unchecked_mut(|s| &mut *s.inner) };
        inner.poll(cx)
    }
}

impl ::hyper::rt::Sleep for LocalSleep {}

impl Drop for LocalSleep {
    fn drop(&mut self) {
        if thread::current().id() == self.thread {
            // SAFETY: dropped once, in place, on its own thread.
            unsafe { ManuallyDrop::drop(&mut self.inner) };
        } else {
            log::error!("a libevent::hyper sleep was dropped on another thread: leaked");
        }
    }
}

impl std::fmt::Debug for LocalSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSleep").finish_non_exhaustive()
    }
}
