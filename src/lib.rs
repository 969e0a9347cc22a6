//! Safe bindings to [libevent](https://libevent.org) 2.1, built on [`libevent_sys`].
//!
//! One module per C object, with libevent's own names, so a C programmer finds each thing
//! where they expect it. Every object keeps its [`EventBase`] alive; dropping an object
//! frees the C object (also from inside its own callback). Callbacks are Rust closures;
//! a panic in one never unwinds into C: it is caught, the loop is broken, and the panic
//! resumes when the loop call ([`EventBase::dispatch`], [`EventBase::run`]) returns.
//!
//! | C | Rust |
//! |---|---|
//! | `event_base_new`, `event_base_new_with_config` | [`EventBase::new`], [`EventBase::with_config`] |
//! | `event_config_new`, `_avoid_method`, `_require_features`, `_set_flag` | [`Config`](base::Config) |
//! | `event_base_loop`, `event_base_dispatch` | [`EventBase::run`], [`EventBase::dispatch`] |
//! | `event_base_loopexit`, `_loopbreak`, `_loopcontinue`, `_got_exit`, `_got_break` | [`EventBase::loopexit`], [`EventBase::loopbreak`], [`EventBase::loopcontinue`], [`EventBase::got_exit`], [`EventBase::got_break`] |
//! | `event_base_get_method`, `_get_features`, `_priority_init` | [`EventBase::method`], [`EventBase::features`], [`EventBase::priority_init`] |
//! | `event_base_init_common_timeout` | [`EventBase::common_timeout`], [`Event::add_common`], [`BufferEventRef::set_common_timeouts`] |
//! | `event_base_gettimeofday_cached`, `_get_num_events`, `_dump_events`, `event_reinit` | [`EventBase::cached_time`], [`EventBase::num_events`], [`EventBase::dump_events`], [`EventBase::reinit`] |
//! | a `struct event_base *` owned by C | [`EventBase::from_raw_borrowed`], [`EventBase::as_raw`] |
//! | `event_new`, `evtimer_new`, `evsignal_new`, `event_free` | [`Event::new`], [`Event::timer`], [`Event::interval`], [`Event::signal`], `drop` |
//! | `event_add`, `event_del`, `event_active`, `event_pending`, `event_priority_set` | [`Event::add`], [`Event::del`], [`Event::activate`], [`Event::pending`], [`Event::set_priority`] |
//! | `EV_READ`, `EV_WRITE`, `EV_PERSIST`, `EV_ET`, `EV_CLOSED`... | [`Flags`](event::Flags) |
//! | `bufferevent_socket_new`, `_socket_connect`, `bufferevent_free` | [`BufferEvent::socket`], [`BufferEvent::from_tcp`], [`BufferEvent::connect_tcp`], `drop` |
//! | `bufferevent_setcb` | [`BufferEvent::on_read`], [`BufferEvent::on_write`], [`BufferEvent::on_event`] |
//! | `bufferevent_setcb`'s `cbarg` (one context for the three callbacks) | [`BufferEvent::set_context`], [`BufferEvent::on_read_with`], [`BufferEvent::on_write_with`], [`BufferEvent::on_event_with`], [`BufferEvent::with_context`] |
//! | `bufferevent_enable`, `_disable`, `_get_enabled`, `_set_timeouts` | [`BufferEventRef::enable`], [`BufferEventRef::disable`], [`BufferEventRef::enabled`], [`BufferEventRef::set_timeouts`] |
//! | `bufferevent_setwatermark`, `bufferevent_getwatermark` | [`BufferEventRef::set_read_watermark`], [`BufferEventRef::set_write_watermark`], [`BufferEventRef::read_watermark`], [`BufferEventRef::write_watermark`] |
//! | `bufferevent_get_input`, `_get_output`, `_write`, `_read`, `_flush` | [`BufferEventRef::input`], [`BufferEventRef::output`], [`BufferEventRef::write`], [`BufferEventRef::read`], [`BufferEventRef::flush`] |
//! | `bufferevent_write` sent at once when nothing is queued (no C counterpart; one `send` instead of a deferred `writev` and two `epoll_ctl`) | [`BufferEvent::write_direct`] |
//! | `bufferevent_pair_new`, `bufferevent_filter_new` | [`BufferEvent::pair`], [`BufferEvent::filter`] |
//! | `ev_token_bucket_cfg_new`, `bufferevent_set_rate_limit`, rate limit groups | [`RateLimit`](bufferevent::RateLimit), [`BufferEvent::set_rate_limit`], [`RateLimitGroup`](bufferevent::RateLimitGroup) |
//! | `BEV_EVENT_*`, `BEV_OPT_*` | [`BevEvent`](bufferevent::BevEvent), [`Options`](bufferevent::Options) |
//! | `evbuffer_new`, `_add`, `_add_buffer`, `_prepend`, `_remove`, `_copyout`, `_drain`, `_pullup` | [`EvBuffer`], [`EvBufferRef`] |
//! | `evbuffer_readln`, `_search`, `_peek`, `_add_reference`, `_add_file`, `_freeze`, `_add_cb` | [`EvBufferRef::readln`], [`EvBufferRef::search`], [`EvBufferRef::peek`], [`EvBufferRef::add_reference`], [`EvBufferRef::add_file`], [`EvBufferRef::freeze`], [`EvBuffer::on_change`] |
//! | `evbuffer_reserve_space`, `_search_range`, `_read`, `_write`, `evbuffer_file_segment_new`... | [`EvBufferRef::reserve_space`], [`EvBufferRef::search_range`], [`EvBufferRef::read_fd`], [`EvBufferRef::write_fd`], [`FileSegment`](buffer::FileSegment) |
//! | every other function of the headers | its row in [`c_api`] (API.md) |
//! | `evconnlistener_new_bind`, `_new`, `_enable`, `_disable`, `_set_error_cb`, `_get_fd` | [`Listener::bind`], [`Listener::from_tcp`], [`Listener::enable`], [`Listener::disable`], [`Listener::on_error`], [`Listener::fd`] |
//! | `evhttp_new`, `evhttp_free`, `evhttp_bind_socket_with_handle`, `_bind_listener`, `_accept_socket`, `_del_accept_socket` | [`Http::new`], `drop`, [`Http::bind`], [`Http::bind_listener`], [`Http::accept_socket`], [`Http::del_accept_socket`] |
//! | `evhttp_set_cb`, `_del_cb`, `_set_gencb`, `_set_bevcb`, `_set_allowed_methods` | [`Http::on_path`], [`Http::del_cb`], [`Http::on_request`], [`Http::on_connection`], [`Http::set_allowed_methods`] |
//! | `evhttp_set_timeout_tv`, `_set_max_headers_size`, `_set_max_body_size`, `_set_default_content_type`, `_set_flags` | [`Http::set_timeout`], [`Http::set_max_headers_size`], [`Http::set_max_body_size`], [`Http::set_default_content_type`], [`Http::set_lingering_close`] |
//! | `evhttp_add_virtual_host`, `_add_server_alias`, `_remove_server_alias` | [`Http::add_virtual_host`], [`Http::add_server_alias`], [`Http::remove_server_alias`] |
//! | a `struct evhttp *` owned by C | [`Http::from_raw_borrowed`], [`Http::as_raw`] |
//! | `evhttp_send_reply`, `_send_error`, `_send_reply_start`, `_chunk`, `_end` | [`Request::send_reply`], [`Request::send_reply_buffer`], [`Request::send_error`], [`Request::start_reply`], [`ChunkedReply::send_chunk`](http::ChunkedReply::send_chunk), [`ChunkedReply::end`](http::ChunkedReply::end) |
//! | `evhttp_request_set_on_complete_cb`, `evhttp_connection_set_closecb` (server side), `evhttp_request_get_connection` | [`Request::on_complete`], [`Request::on_abandon`], [`Request::is_abandoned`] |
//! | `evhttp_request_get_command`, `_get_uri`, `_get_evhttp_uri`, `_get_host`, `_get_input_headers`, `_get_output_headers`, `_get_input_buffer`, `_get_output_buffer`, `_get_response_code`, `_get_response_code_line`, `evhttp_connection_get_peer` | [`RequestRef::method`](http::RequestRef::method), [`RequestRef::uri`](http::RequestRef::uri), [`RequestRef::parsed_uri`](http::RequestRef::parsed_uri), [`RequestRef::host`](http::RequestRef::host), [`RequestRef::input_headers`](http::RequestRef::input_headers), [`RequestRef::output_headers`](http::RequestRef::output_headers), [`RequestRef::input_buffer`](http::RequestRef::input_buffer), [`RequestRef::output_buffer`](http::RequestRef::output_buffer), [`RequestRef::response_code`](http::RequestRef::response_code), [`RequestRef::response_reason`](http::RequestRef::response_reason), [`RequestRef::peer`](http::RequestRef::peer) |
//! | `evhttp_find_header`, `_add_header`, `_remove_header`, `_clear_headers` | [`HeadersRef::get`](http::HeadersRef::get), [`HeadersRef::add`](http::HeadersRef::add), [`HeadersRef::remove`](http::HeadersRef::remove), [`HeadersRef::clear`](http::HeadersRef::clear), [`HeadersRef::iter`](http::HeadersRef::iter) |
//! | `evhttp_uri_parse_with_flags`, `evhttp_uri_get_*`, `evhttp_uri_join`, `evhttp_uri_free` | [`Uri::parse`](http::Uri::parse), [`Uri::parse_with`](http::Uri::parse_with), [`UriRef::scheme`](http::UriRef::scheme)...[`UriRef::fragment`](http::UriRef::fragment), `to_string`, `drop` |
//! | `evhttp_parse_query_str`, `evhttp_uriencode`, `evhttp_uridecode` | [`parse_query`](http::parse_query), [`UriRef::query_pairs`](http::UriRef::query_pairs), [`RequestRef::query_pairs`](http::RequestRef::query_pairs), [`encode_uri`](http::encode_uri), [`decode_uri`](http::decode_uri) |
//! | `evhttp_connection_base_new`, `evhttp_connection_free`, `evhttp_request_new` + `evhttp_make_request` | [`HttpConnection::new`](http::HttpConnection::new), `drop`, [`HttpConnection::request`](http::HttpConnection::request) + [`RequestBuilder::send`](http::RequestBuilder::send) |
//! | `evhttp_request_set_chunked_cb`, `_set_error_cb` | [`RequestBuilder::on_chunk`](http::RequestBuilder::on_chunk), [`Error::request_error`] |
//! | `evhttp_connection_set_timeout_tv`, `_set_retries`, `_set_initial_retry_tv`, `_set_max_headers_size`, `_set_max_body_size`, `_set_closecb` | [`HttpConnection::set_timeout`](http::HttpConnection::set_timeout), [`HttpConnection::set_retries`](http::HttpConnection::set_retries), [`HttpConnection::set_initial_retry`](http::HttpConnection::set_initial_retry), [`HttpConnection::set_max_headers_size`](http::HttpConnection::set_max_headers_size), [`HttpConnection::set_max_body_size`](http::HttpConnection::set_max_body_size), [`HttpConnection::on_close`](http::HttpConnection::on_close) |
//! | `evdns_base_new`, `evdns_base_free`, `_resolv_conf_parse`, `_nameserver_sockaddr_add`, `_count_nameservers` | [`DnsBase::new`], [`DnsBase::from_system`], `drop`, [`DnsBase::resolv_conf`], [`DnsBase::add_nameserver`], [`DnsBase::nameservers`] |
//! | `evdns_base_search_add`, `_search_clear`, `_search_ndots_set`, `_set_option`, `_load_hosts` | [`DnsBase::add_search`], [`DnsBase::clear_search`], [`DnsBase::set_ndots`], [`DnsBase::set_option`], [`DnsBase::load_hosts`] |
//! | `evdns_getaddrinfo`, `evdns_getaddrinfo_cancel`, `EVUTIL_EAI_*` | [`DnsBase::getaddrinfo`], drop of the [`Lookup`](dns::Lookup), [`DnsError`](dns::DnsError) |
//! | `evdns_base_resolve_reverse`, `_reverse_ipv6`, `evdns_cancel_request`, `DNS_ERR_*` | [`DnsBase::resolve_reverse`], drop of the [`ReverseLookup`](dns::ReverseLookup), [`DnsError`](dns::DnsError) |
//! | a `struct evdns_base *` owned by C | [`DnsBase::from_raw_borrowed`], [`DnsBase::as_raw`] |
//! | `bufferevent_socket_connect_hostname`, `bufferevent_socket_get_dns_error` | [`BufferEvent::connect_hostname`], [`BufferEventRef::dns_error`] |
//! | `evhttp_connection_base_new` with a DNS base | [`HttpConnection::with_dns`](http::HttpConnection::with_dns) |
//! | `bufferevent_openssl_socket_new`, `_filter_new` (feature `openssl`) | `BufferEvent::openssl_socket`, `BufferEvent::openssl_filter`, `SslState` |
//! | `bufferevent_openssl_get_ssl`, `bufferevent_get_openssl_error`, `_set_allow_dirty_shutdown` (feature `openssl`) | `BufferEventRef::ssl`, `BufferEventRef::openssl_error` (`SslError`), `BufferEventRef::set_allow_dirty_shutdown` |
//! | `evhttp_connection_base_bufferevent_new` (HTTPS with a TLS bufferevent) | [`HttpConnection::with_bufferevent`](http::HttpConnection::with_bufferevent) |
//! | a task per future, woken through `event_active` (no C counterpart) | [`EventBase::spawn_local`], [`task::spawn`], [`EventBase::block_on`], [`JoinHandle`](task::JoinHandle), [`EventBase::cancel_tasks`] |
//! | `evtimer_new` + `event_add` (common timeouts for often-used durations), as futures | [`task::sleep`], [`task::sleep_until`], [`task::timeout`], [`task::interval`] |
//! | a bufferevent as `AsyncRead`/`AsyncWrite`, an evconnlistener as a stream of them | [`task::TcpStream`], [`task::TcpListener`] |
//! | `evdns_getaddrinfo`, `evhttp_make_request` awaited | [`DnsBase::resolve`], [`RequestBuilder::send_async`](http::RequestBuilder::send_async) |
//! | `evthread_use_pthreads` | [`use_pthreads`](thread::use_pthreads) (done by the first base) |
//! | `event_set_log_callback`, `event_set_fatal_callback`, `event_enable_debug_mode` | [`route_to_log_crate`](log::route_to_log_crate) (done by the first base), [`set_fatal_callback`](log::set_fatal_callback), [`enable_debug_mode`](thread::enable_debug_mode) |
//!
//! ```
//! use libevent::bufferevent::Options;
//! use libevent::event::Flags;
//! use libevent::listener::ListenerFlags;
//! use libevent::{BufferEvent, EventBase, Listener};
//! use std::cell::RefCell;
//! use std::io::{Read, Write};
//! use std::rc::Rc;
//!
//! // An echo server on the loop, and a blocking client in a thread.
//! let base = EventBase::new()?;
//! let conns: Rc<RefCell<Vec<BufferEvent>>> = Rc::default();
//! let (b, c) = (base.clone(), conns.clone());
//! let listener = Listener::bind(&base, "127.0.0.1:0".parse().unwrap(), 8, ListenerFlags::REUSEABLE, move |stream, _peer| {
//!     let mut bev = BufferEvent::from_tcp(&b, stream, Options::empty()).unwrap();
//!     let b2 = b.clone();
//!     bev.on_read(move |bev| {
//!         let data = bev.input_mut().remove_all();
//!         bev.write(&data).unwrap();
//!         b2.loopexit(Some(std::time::Duration::from_millis(50))).unwrap();
//!     });
//!     bev.enable(Flags::READ).unwrap();
//!     c.borrow_mut().push(bev);
//! })?;
//! let addr = listener.local_addr().unwrap();
//! let client = std::thread::spawn(move || {
//!     let mut s = std::net::TcpStream::connect(addr).unwrap();
//!     s.write_all(b"echo").unwrap();
//!     let mut buf = [0u8; 4];
//!     s.read_exact(&mut buf).unwrap();
//!     buf
//! });
//! base.dispatch()?;
//! assert_eq!(&client.join().unwrap(), b"echo");
//! # Ok::<(), libevent::Error>(())
//! ```
//!
//! # Threads: which types are `Send` or `Sync`, and why
//!
//! None is. libevent allows a base to be used from several threads only when locking was
//! set up (the `threads` feature does this once, before the first base) and the objects
//! were made thread-safe; even then callbacks run on whichever thread runs the loop. What
//! this crate adds on top decides the rest:
//!
//! | type | `Send` | `Sync` | why |
//! |---|---|---|---|
//! | [`EventBase`] | no | no | an `Rc` handle shared by every object made on it; its callbacks are `FnMut` closures that need not be `Send` |
//! | [`Event`], [`BufferEvent`], [`Listener`] | no | no | each holds its closures and an `EventBase` clone (an `Rc`) |
//! | [`BufferEventRef`], [`EvBufferRef`] | no | no | borrowed views handed to callbacks, valid on the loop's thread for the call |
//! | [`EvBuffer`] | no | no | unlocked by default (libevent locks an evbuffer only after `evbuffer_enable_locking`), and its change callbacks are not `Send` |
//! | [`Config`](base::Config) | no | no | kept with the base it configures; cheap to make per thread |
//! | [`RateLimit`](bufferevent::RateLimit), [`RateLimitGroup`](bufferevent::RateLimitGroup) | no | no | shared through `Rc` by the bufferevents that use them |
//! | [`Error`], the flag types | yes | yes | plain data |
//!
//! The libevent way to use threads is a base (and its loop) per thread, with work handed
//! between them by the program's own means; C code that shares a base across threads can
//! still do so, as the base carries its lock.
//!
//! # One view of a C object at a time
//!
//! No safe program can reach memory libevent has freed or hold two mutable views of one C
//! object. Most of that is the borrow checker's: every reference into C memory borrows
//! the handle or view it came from, and everything that changes the object takes `&mut`.
//! A bufferevent is also reached by its callbacks, so it is kept at run time: the view a
//! callback receives is its only one in use while the callback runs. Its owner
//! ([`BufferEvent`]) hands out no references (its buffers are reached through
//! [`BufferEvent::with`], inside which no loop runs), and panics if used inside a callback
//! of its own, or of its pair's other end; keep a connection's state in its context
//! ([`BufferEvent::set_context`]) rather than capturing the owner. ARCHITECTURE.md ("The
//! aliasing model") has the rules for every object.
#![deny(missing_docs, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod base;
pub mod buffer;
pub mod bufferevent;
pub mod dns;
pub mod error;
pub mod event;
pub mod evutil;
mod handle;
pub mod http;
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub mod hyper;
pub mod listener;
pub mod log;
mod panic;
pub mod rpc;
pub mod tag;
pub mod task;
pub mod thread;
mod util;

// What most programs start with; everything else is reached through its module
// (`libevent::bufferevent::Options`, `libevent::http::Uri`, `libevent::dns::Family`...).
pub use base::{version, EventBase, LoopFlags};
pub use buffer::{EvBuffer, EvBufferRef};
pub use bufferevent::{BufferEvent, BufferEventRef};
pub use dns::DnsBase;
pub use error::{Error, ErrorKind, Result};
pub use event::Event;
pub use http::{Http, Request};
pub use listener::Listener;

/// The README's first program, compiled with the doc tests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// libevent's C API, function by function: API.md, rendered here so that every Rust item
/// it names is a link rustdoc resolves (tests/api_table.rs keeps the rows true). Its rows
/// for the TLS bufferevents link to items that exist with feature `openssl`: built
/// without it, those links are left unresolved (CI builds it with the feature, every
/// link checked).
#[cfg(doc)]
#[cfg_attr(not(libevent_openssl), allow(rustdoc::broken_intra_doc_links))]
pub mod c_api {
    #![doc = include_str!("../API.md")]
    #[allow(unused_imports)]
    use super::*;
}

/// The raw bindings this crate is built on.
pub use libevent_sys as sys;
