//! Raw-FFI round trips through `event_base_dispatch`: what a C user of libevent would
//! check first, written against the bindings exactly as C would use them.

use libevent_sys::*;
use std::ffi::{c_short, c_void, CStr};
use std::ptr;

fn base() -> *mut event_base {
    // SAFETY: event_base_new has no preconditions; a null return is checked.
    let base = unsafe { event_base_new() };
    assert!(!base.is_null(), "event_base_new failed");
    base
}

#[test]
fn version_is_the_bundled_one() {
    // SAFETY: returns a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(event_get_version()) }
        .to_str()
        .unwrap();
    if cfg!(feature = "system") {
        assert!(v.starts_with("2."), "system libevent {v}");
    } else {
        assert_eq!(v, "2.1.13-stable");
        assert_eq!(v, BUNDLED_VERSION);
        // SAFETY: no preconditions.
        assert_eq!(unsafe { event_get_version_number() }, 0x0201_0d00);
    }
}

#[test]
fn supported_methods_include_epoll_poll_select() {
    // SAFETY: returns a static NULL-terminated array of static strings.
    let mut p = unsafe { event_get_supported_methods() };
    let mut methods = Vec::new();
    // SAFETY: walking the array until its NULL terminator.
    unsafe {
        while !(*p).is_null() {
            methods.push(CStr::from_ptr(*p).to_str().unwrap().to_owned());
            p = p.add(1);
        }
    }
    for m in ["epoll", "poll", "select"] {
        assert!(
            methods.iter().any(|x| x == m),
            "{m} missing from {methods:?}"
        );
    }
    let b = base();
    // SAFETY: b is a live base.
    let used = unsafe { CStr::from_ptr(event_base_get_method(b)) }
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(used, "epoll");
    // SAFETY: b is live and freed once.
    unsafe { event_base_free(b) };
}

extern "C" fn count_fires(_fd: evutil_socket_t, what: c_short, arg: *mut c_void) {
    // SAFETY: arg is the &mut (u32, c_short) passed to event_new below, alive for the loop.
    let state = unsafe { &mut *(arg as *mut (u32, c_short)) };
    state.0 += 1;
    state.1 = what;
}

#[test]
fn a_timer_fires_once() {
    let b = base();
    let mut state: (u32, c_short) = (0, 0);
    // SAFETY: b is live; the callback's argument outlives the dispatch below.
    let ev = unsafe {
        event_new(
            b,
            -1,
            0,
            Some(count_fires),
            &mut state as *mut _ as *mut c_void,
        )
    };
    assert!(!ev.is_null());
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 20_000,
    };
    // SAFETY: ev is a live event; tv is read during the call only.
    assert_eq!(unsafe { event_add(ev, &tv) }, 0);
    // SAFETY: b is live; the loop ends when the one-shot timer has fired.
    // 1: the loop stopped because no event was left, as documented.
    assert_eq!(unsafe { event_base_dispatch(b) }, 1);
    assert_eq!(state.0, 1);
    assert_eq!(i32::from(state.1), EV_TIMEOUT);
    // SAFETY: freed once, event before base.
    unsafe {
        event_free(ev);
        event_base_free(b);
    }
}

struct PipeRead {
    fd: i32,
    got: Vec<u8>,
    base: *mut event_base,
}

extern "C" fn on_pipe_readable(fd: evutil_socket_t, what: c_short, arg: *mut c_void) {
    // SAFETY: arg points at the PipeRead on the test's stack, alive during dispatch.
    let st = unsafe { &mut *(arg as *mut PipeRead) };
    assert_eq!(fd, st.fd);
    assert_ne!(i32::from(what) & EV_READ, 0);
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer of the stated length.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut c_void, buf.len()) };
    assert!(n > 0);
    st.got.extend_from_slice(&buf[..n as usize]);
    // SAFETY: base is live; loopbreak only sets a flag.
    unsafe { event_base_loopbreak(st.base) };
}

#[test]
fn a_read_event_on_a_pipe_delivers_the_written_bytes() {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let b = base();
    let mut st = PipeRead {
        fd: fds[0],
        got: Vec::new(),
        base: b,
    };
    // SAFETY: b is live; st outlives the dispatch.
    let ev = unsafe {
        event_new(
            b,
            fds[0],
            (EV_READ | EV_PERSIST) as c_short,
            Some(on_pipe_readable),
            &mut st as *mut _ as *mut c_void,
        )
    };
    // SAFETY: ev is live; no timeout.
    assert_eq!(unsafe { event_add(ev, ptr::null()) }, 0);
    let msg = b"through the pipe";
    // SAFETY: writing a byte slice to the pipe's write end.
    let written = unsafe { libc::write(fds[1], msg.as_ptr() as *const c_void, msg.len()) };
    assert_eq!(written, msg.len() as isize);
    // SAFETY: b is live; the callback breaks the loop.
    assert_eq!(unsafe { event_base_dispatch(b) }, 0);
    assert_eq!(st.got, msg);
    // SAFETY: each object freed once; fds closed once.
    unsafe {
        event_free(ev);
        event_base_free(b);
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
}

extern "C" fn pair_read(bev: *mut bufferevent, arg: *mut c_void) {
    // SAFETY: arg is the Vec<u8> on the test's stack, alive during dispatch.
    let got = unsafe { &mut *(arg as *mut Vec<u8>) };
    let mut buf = [0u8; 64];
    // SAFETY: bev is the live bufferevent this callback was registered on.
    let n = unsafe { bufferevent_read(bev, buf.as_mut_ptr() as *mut c_void, buf.len()) };
    got.extend_from_slice(&buf[..n]);
    // SAFETY: the bufferevent's base is live.
    unsafe { event_base_loopbreak(bufferevent_get_base(bev)) };
}

#[test]
fn a_bufferevent_pair_passes_bytes() {
    let b = base();
    let mut pair: [*mut bufferevent; 2] = [ptr::null_mut(); 2];
    // SAFETY: b is live; pair has room for both ends.
    assert_eq!(unsafe { bufferevent_pair_new(b, 0, pair.as_mut_ptr()) }, 0);
    let mut got: Vec<u8> = Vec::new();
    // SAFETY: both ends are live; got outlives the dispatch.
    unsafe {
        bufferevent_setcb(
            pair[1],
            Some(pair_read),
            None,
            None,
            &mut got as *mut _ as *mut c_void,
        );
        assert_eq!(bufferevent_enable(pair[1], EV_READ as c_short), 0);
        assert_eq!(bufferevent_enable(pair[0], EV_WRITE as c_short), 0);
        let msg = b"paired";
        assert_eq!(
            bufferevent_write(pair[0], msg.as_ptr() as *const c_void, msg.len()),
            0
        );
        assert_eq!(event_base_dispatch(b), 0);
    }
    assert_eq!(got, b"paired");
    // SAFETY: each freed once, before the base.
    unsafe {
        bufferevent_free(pair[0]);
        bufferevent_free(pair[1]);
        event_base_free(b);
    }
}

/// `evbuffer_read` from `fd` with `pending` bytes waiting; returns what the call returned,
/// the bytes it took, and the free space left in the chunk it read into.
fn read_once(fd: i32, mut writer: impl std::io::Write, pending: &[u8]) -> (i32, Vec<u8>, usize) {
    writer.write_all(pending).unwrap();
    // SAFETY: a fresh buffer, freed below.
    let buf = unsafe { evbuffer_new() };
    assert!(!buf.is_null());
    // SAFETY: buf is live; fd is open and readable.
    let n = unsafe { evbuffer_read(buf, fd, -1) };
    // SAFETY: buf is live.
    let len = unsafe { evbuffer_get_length(buf) };
    let mut got = vec![0u8; len];
    // SAFETY: got has room for len bytes.
    unsafe { evbuffer_copyout(buf, got.as_mut_ptr() as *mut c_void, len) };
    let mut vec = libc::iovec {
        iov_base: ptr::null_mut(),
        iov_len: 0,
    };
    // SAFETY: asks for one byte of space in one extent, without committing it; libevent
    // reports the whole free space of the chunk it would use (the last one read into).
    let extents = unsafe { evbuffer_reserve_space(buf, 1, &mut vec as *mut _ as *mut _, 1) };
    assert_eq!(extents, 1);
    // SAFETY: buf is live and freed once.
    unsafe { evbuffer_free(buf) };
    (n, got, vec.iov_len)
}

#[test]
fn evbuffer_read_takes_what_a_socket_has_up_to_4096_bytes() {
    use std::os::fd::AsRawFd;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let w = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (r, _) = l.accept().unwrap();
    let (n, got, _) = read_once(r.as_raw_fd(), &w, b"hello world\r\n");
    assert_eq!((n, got.as_slice()), (13, &b"hello world\r\n"[..]));
    // More than one read's worth: 4096 at a time, in both configurations.
    let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let (n, got, _) = read_once(r.as_raw_fd(), &w, &big);
    assert_eq!(n, 4096);
    assert_eq!(got, &big[..4096]);
}

#[test]
fn evbuffer_read_from_a_pipe_falls_back_to_readv() {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just made and are owned here only.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let w = std::fs::File::from(w);
    let (n, got, _) = read_once(r.as_raw_fd(), &w, b"not a socket");
    assert_eq!((n, got.as_slice()), (12, &b"not a socket"[..]));
    drop(w);
    // SAFETY: a fresh buffer, freed below; the pipe's write end is closed.
    let buf = unsafe { evbuffer_new() };
    // SAFETY: as above; end of file reads 0.
    assert_eq!(unsafe { evbuffer_read(buf, r.as_raw_fd(), -1) }, 0);
    // SAFETY: freed once.
    unsafe { evbuffer_free(buf) };
}

#[test]
fn the_read_chunk_is_sized_by_fionread_only_in_upstreams_configuration() {
    use std::os::fd::AsRawFd;
    let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
    let (n, _, free) = read_once(r.as_raw_fd(), &w, b"hello world\r\n");
    assert_eq!(n, 13);
    if READ_ASKS_FIONREAD {
        // Sized to the 13 bytes FIONREAD reported: libevent's smallest chunk.
        assert!(free < 1024, "free space {free}");
    } else {
        // Sized for a full read without asking.
        assert!(free >= 4096 - 13, "free space {free}");
    }
}
