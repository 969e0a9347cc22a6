//! Rust code living inside a C program's libevent loop, and the other way round.

use c_interop::*;
use libevent::bufferevent::Options;
use libevent::event::Flags;
use libevent::{BufferEvent, Event, EventBase};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

#[test]
fn rust_events_run_inside_a_loop_that_c_owns_and_runs() {
    // SAFETY: plain C calls; the base is freed at the end, after every Rust handle.
    let raw = unsafe { c_program_make_base() };
    assert!(!raw.is_null());
    {
        // SAFETY: raw stays alive until c_program_free_base below, after this scope.
        let base = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        assert!(!base.is_owned());
        let fired = Rc::new(Cell::new(0));
        let f = fired.clone();
        let t = Event::timer(&base, move |_| f.set(f.get() + 1)).unwrap();
        t.add(Some(Duration::from_millis(5))).unwrap();
        let (mut a, mut b) = BufferEvent::pair(&base, Options::empty()).unwrap();
        let got = Rc::new(RefCell::new(Vec::new()));
        let g = got.clone();
        b.on_read(move |me| g.borrow_mut().extend(me.input_mut().remove_all()));
        b.enable(Flags::READ).unwrap();
        a.write(b"from rust, in a C loop").unwrap();
        // The C program runs its loop; Rust callbacks run inside it.
        // SAFETY: raw is live.
        let rc = unsafe { c_program_run_loop(raw) };
        assert!(rc >= 0);
        assert_eq!(fired.get(), 1);
        assert_eq!(&*got.borrow(), b"from rust, in a C loop");
    }
    // SAFETY: every Rust object on the base was dropped with the scope above.
    unsafe { c_program_free_base(raw) };
}

#[test]
fn a_panic_inside_a_c_driven_loop_is_resumed_by_the_rust_side() {
    // SAFETY: as above.
    let raw = unsafe { c_program_make_base() };
    {
        // SAFETY: raw outlives this scope.
        let base = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        let t = Event::timer(&base, |_| panic!("inside C's loop")).unwrap();
        t.add(Some(Duration::from_millis(1))).unwrap();
        // SAFETY: raw is live; the panic does not unwind through C.
        unsafe { c_program_run_loop(raw) };
        let p = base
            .take_panic()
            .expect("the panic was parked for the Rust side");
        assert_eq!(p.downcast_ref::<&str>(), Some(&"inside C's loop"));
    }
    // SAFETY: no Rust object is left on it.
    unsafe { c_program_free_base(raw) };
}

#[test]
fn c_events_run_inside_a_loop_that_rust_owns_and_runs() {
    let base = EventBase::new().unwrap();
    // SAFETY: base is live while the loop runs; the counter is freed below.
    let c = unsafe { c_add_timer(base.as_raw(), 2000) };
    assert!(!c.is_null());
    base.dispatch().unwrap();
    // SAFETY: c is live until c_counter_free.
    assert_eq!(unsafe { c_counter_fired(c) }, 1);
    // SAFETY: freed once.
    unsafe { c_counter_free(c) };
}

/// GET `path` on 127.0.0.1:`port` with a blocking client; the body of the reply.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned()
}

#[test]
fn rust_handlers_on_an_evhttp_that_c_made_and_runs() {
    use libevent::Http;
    // SAFETY: plain C calls; the server and base are freed at the end, after every Rust
    // handle on them.
    let raw = unsafe { c_program_make_base() };
    let mut port = 0;
    // SAFETY: raw is a live base; port a valid out pointer.
    let http_raw = unsafe { c_http_start(raw, &mut port) };
    assert!(!http_raw.is_null());
    {
        // SAFETY: raw and http_raw stay alive until freed below, after this scope.
        let base = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        // SAFETY: as above; http_raw runs on raw.
        let http = unsafe { Http::from_raw_borrowed(&base, http_raw) }.unwrap();
        let served = Rc::new(Cell::new(0));
        let s = served.clone();
        http.on_path("/rust", move |mut req| {
            s.set(s.get() + 1);
            req.output_headers().add("X-Served-By", "rust").unwrap();
            req.send_reply(200, None, b"from Rust").unwrap();
        })
        .unwrap();
        // C already routes /c: Rust cannot take it over.
        assert!(http.on_path("/c", |_| {}).is_err());
        let port = port as u16;
        let client = std::thread::spawn(move || {
            let got = (
                http_get(port, "/c"),
                http_get(port, "/rust"),
                http_get(port, "/nope"),
            );
            http_get(port, "/stop");
            got
        });
        // The C program runs its loop; the Rust handler runs inside it.
        // SAFETY: raw is live.
        let rc = unsafe { c_program_run_loop(raw) };
        assert!(rc >= 0);
        let (c, rust, nope) = client.join().unwrap();
        assert_eq!(c, "from C");
        assert_eq!(rust, "from Rust");
        assert!(nope.contains("Not Found"), "{nope}");
        assert_eq!(served.get(), 1);
        drop(http);
        // Dropping the Rust handle took its route back: C's server no longer has it.
        // SAFETY: http_raw is live.
        let r = unsafe { libevent::sys::evhttp_del_cb(http_raw, c"/rust".as_ptr()) };
        assert_eq!(r, -1);
    }
    // SAFETY: no Rust handle on either is left.
    unsafe {
        c_http_free(http_raw);
        c_program_free_base(raw);
    }
}

#[test]
fn rust_lookups_through_a_resolver_that_c_made() {
    use libevent::dns::Family;
    use libevent::DnsBase;
    let hosts = std::env::temp_dir().join(format!("interop-hosts-{}", std::process::id()));
    std::fs::write(&hosts, "10.20.30.40 c-host.example\n").unwrap();
    let path = std::ffi::CString::new(hosts.to_str().unwrap()).unwrap();
    // SAFETY: plain C calls; freed at the end, after every Rust handle.
    let raw = unsafe { c_program_make_base() };
    // SAFETY: raw is a live base; path a valid string.
    let dns_raw = unsafe { c_dns_start(raw, path.as_ptr()) };
    std::fs::remove_file(&hosts).unwrap();
    assert!(!dns_raw.is_null());
    {
        // SAFETY: both stay alive until freed below, after this scope.
        let base = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        // SAFETY: as above; dns_raw is on raw.
        let dns = unsafe { DnsBase::from_raw_borrowed(&base, dns_raw) }.unwrap();
        let got = Rc::new(RefCell::new(Vec::new()));
        for host in ["c-host.example", "192.0.2.1"] {
            let g = got.clone();
            let l = dns
                .getaddrinfo(host, 7, Family::V4, move |r| {
                    g.borrow_mut().push(r.unwrap())
                })
                .unwrap();
            assert!(l.is_done());
        }
        assert_eq!(
            *got.borrow(),
            [
                vec!["10.20.30.40:7".parse().unwrap()],
                vec!["192.0.2.1:7".parse().unwrap()]
            ]
        );
        drop(dns); // borrowed: C's resolver stays
                   // SAFETY: raw is live.
        unsafe { c_program_run_loop(raw) };
    }
    // SAFETY: no Rust handle on either is left.
    unsafe {
        c_dns_free(dns_raw);
        c_program_free_base(raw);
    }
}

#[test]
fn async_tasks_serve_connections_and_fire_timers_inside_a_loop_that_c_runs() {
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    use libevent::task::{self, TcpListener, TcpStream};
    // SAFETY: plain C calls; the base is freed at the end, after every Rust handle.
    let raw = unsafe { c_program_make_base() };
    // C's own timer, on its own base, beside the Rust tasks.
    // SAFETY: raw is live.
    let c_timer = unsafe { c_add_timer(raw, 30_000) };
    assert!(!c_timer.is_null());
    let ticks = Rc::new(Cell::new(0));
    let replies = Rc::new(RefCell::new(Vec::new()));
    {
        // SAFETY: raw outlives this scope and every Rust object made in it.
        let base = unsafe { EventBase::from_raw_borrowed(raw) }.unwrap();
        let mut listener = TcpListener::bind_on(&base, "127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        // A server task: three connections, each answered in upper case by a task of its own.
        base.spawn_local(async move {
            for _ in 0..3 {
                let (mut s, _) = listener.accept().await.unwrap();
                task::spawn(async move {
                    let mut buf = [0u8; 64];
                    let n = s.read(&mut buf).await.unwrap();
                    s.write_all(&buf[..n].to_ascii_uppercase()).await.unwrap();
                    s.close().await.unwrap();
                })
                .unwrap()
                .detach();
            }
        })
        .unwrap()
        .detach();
        // A timer task.
        let t = ticks.clone();
        base.spawn_local(async move {
            let mut every = task::interval(Duration::from_millis(5)).unwrap();
            for _ in 0..5 {
                every.tick().await;
                t.set(t.get() + 1);
            }
        })
        .unwrap()
        .detach();
        // Clients, as tasks too.
        for word in ["one", "two", "three"] {
            let r = replies.clone();
            base.spawn_local(async move {
                task::sleep(Duration::from_millis(2)).await;
                let mut c = TcpStream::connect(addr).await.unwrap();
                c.write_all(word.as_bytes()).await.unwrap();
                let mut back = String::new();
                c.read_to_string(&mut back).await.unwrap();
                r.borrow_mut().push(back);
            })
            .unwrap()
            .detach();
        }
        // The C program runs its loop until nothing is left: every task has ended.
        // SAFETY: raw is live.
        let rc = unsafe { c_program_run_loop(raw) };
        assert!(rc >= 0);
        assert_eq!(base.tasks(), 0);
    }
    replies.borrow_mut().sort();
    assert_eq!(*replies.borrow(), ["ONE", "THREE", "TWO"]);
    assert_eq!(ticks.get(), 5);
    // SAFETY: c_timer came from c_add_timer; its event was freed when it fired.
    unsafe {
        assert_eq!(c_counter_fired(c_timer), 1);
        c_counter_free(c_timer);
        c_program_free_base(raw);
    }
}
