//! hiredis's libevent adapter on a Rust base, against a real redis-server that each test
//! starts on a loopback port of its own: commands and replies, pub/sub, a server that
//! goes away, a link dropped inside its own callback, and Rust timers and tasks on the
//! same loop.

use c_libs::redis::Redis;
use libevent::{Event, EventBase, LoopFlags};
use std::cell::{Cell, RefCell};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A redis-server on 127.0.0.1, without persistence, killed when dropped.
struct Server {
    child: Option<Child>,
    port: u16,
    _turn: std::sync::MutexGuard<'static, ()>,
}

/// One redis-server at a time: two tests picking a free port at once could pick the
/// same one, and then share one server (the other's fails to bind), each killing or
/// dropping it under the other.
static ONE_SERVER: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Server {
    fn start() -> Server {
        let turn = ONE_SERVER.lock().unwrap_or_else(|e| e.into_inner());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian: redis-server) runs");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "redis-server exited (port {port} taken?)"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Server {
            child: Some(child),
            port,
            _turn: turn,
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spin(base: &EventBase, until: impl Fn() -> bool) {
    let start = Instant::now();
    while !until() {
        assert!(start.elapsed() < Duration::from_secs(10), "timed out");
        base.run(LoopFlags::ONCE | LoopFlags::NONBLOCK).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
}

type Replies = Rc<RefCell<Vec<Option<String>>>>;

fn into(r: &Replies) -> impl FnMut(Option<String>) + 'static {
    let r = r.clone();
    move |x| r.borrow_mut().push(x)
}

#[test]
fn commands_and_replies_beside_rust_timers_and_tasks() {
    let server = Server::start();
    let base = EventBase::new().unwrap();
    let redis = Rc::new(Redis::connect(&base, "127.0.0.1", server.port).unwrap());
    let got: Replies = Rc::default();
    let value = b"v\0with a NUL";
    assert!(redis.command(&[b"SET", b"k", value], into(&got)));
    assert!(redis.command(&[b"GET", b"k"], into(&got)));
    for _ in 0..3 {
        assert!(redis.command(&[b"INCR", b"n"], into(&got)));
    }
    assert!(redis.command(&[b"RPUSH", b"l", b"a", b"b"], into(&got)));
    assert!(redis.command(&[b"LRANGE", b"l", b"0", b"-1"], into(&got)));
    assert!(redis.command(&[b"GET", b"absent"], into(&got)));
    assert!(redis.command(&[b"NOSUCHCOMMAND"], into(&got)));
    // A Rust timer and a Rust task on the same loop, the task awaiting a reply.
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let _tick =
        Event::interval(&base, Duration::from_millis(1), move |_| t.set(t.get() + 1)).unwrap();
    let asked = Rc::new(RefCell::new(None));
    let (r, a) = (redis.clone(), asked.clone());
    base.spawn_local(async move {
        *a.borrow_mut() = Some(r.ask(&[b"PING"]).await);
    })
    .unwrap()
    .detach();
    spin(&base, || {
        got.borrow().len() == 9 && asked.borrow().is_some() && ticks.get() > 2
    });
    assert_eq!(redis.events(), ["connected"]);
    let got = got.borrow();
    assert_eq!(got[0].as_deref(), Some("+OK"));
    assert_eq!(got[1].as_deref(), Some("$v\0with a NUL"));
    assert_eq!(got[4].as_deref(), Some(":3"));
    assert_eq!(got[5].as_deref(), Some(":2"));
    assert_eq!(got[6].as_deref(), Some("*2[$a,$b]"));
    assert_eq!(got[7].as_deref(), Some("nil"));
    assert!(
        got[8].as_deref().unwrap().starts_with("-ERR"),
        "{:?}",
        got[8]
    );
    assert_eq!(asked.borrow().clone(), Some(Some("+PONG".to_owned())));
    // A clean end: the disconnect event, and no command goes out after it.
    redis.disconnect();
    spin(&base, || !redis.is_alive());
    assert_eq!(redis.events(), ["connected", "disconnected"]);
    assert!(!redis.command(&[b"PING"], |_| panic!("not sent")));
}

#[test]
fn publish_and_subscribe_between_two_links() {
    let server = Server::start();
    let base = EventBase::new().unwrap();
    let sub = Redis::connect(&base, "127.0.0.1", server.port).unwrap();
    let publisher = Redis::connect(&base, "127.0.0.1", server.port).unwrap();
    let messages: Replies = Rc::default();
    assert!(sub.subscribe(&[b"SUBSCRIBE", b"news"], into(&messages)));
    spin(&base, || messages.borrow().len() == 1);
    assert_eq!(
        messages.borrow()[0].as_deref(),
        Some("*3[$subscribe,$news,:1]")
    );
    let counts: Replies = Rc::default();
    for m in [&b"first"[..], b"second"] {
        assert!(publisher.command(&[b"PUBLISH", b"news", m], into(&counts)));
    }
    spin(&base, || {
        messages.borrow().len() == 3 && counts.borrow().len() == 2
    });
    assert_eq!(
        messages.borrow()[1].as_deref(),
        Some("*3[$message,$news,$first]")
    );
    assert_eq!(
        messages.borrow()[2].as_deref(),
        Some("*3[$message,$news,$second]")
    );
    assert!(counts.borrow().iter().all(|c| c.as_deref() == Some(":1")));
}

#[test]
fn a_server_that_goes_away_fails_what_was_waiting() {
    let mut server = Server::start();
    let base = EventBase::new().unwrap();
    let redis = Redis::connect(&base, "127.0.0.1", server.port).unwrap();
    let got: Replies = Rc::default();
    redis.command(&[b"PING"], into(&got));
    spin(&base, || got.borrow().len() == 1);
    // Blocks on the server until the server is killed.
    redis.command(&[b"BLPOP", b"never", b"0"], into(&got));
    base.run(LoopFlags::NONBLOCK).unwrap();
    server.kill();
    spin(&base, || !redis.is_alive());
    assert_eq!(got.borrow()[1], None, "the waiting command got no reply");
    let events = redis.events();
    assert_eq!(events[0], "connected");
    assert!(events[1].starts_with("disconnected"), "{events:?}");
    // Nothing listens any more: a new link fails to connect.
    let late = Redis::connect(&base, "127.0.0.1", server.port).unwrap();
    spin(&base, || !late.events().is_empty());
    assert!(
        late.events()[0].starts_with("connect failed"),
        "{:?}",
        late.events()
    );
    assert!(!late.is_alive());
}

#[test]
fn a_link_dropped_inside_its_own_reply_callback() {
    let server = Server::start();
    let base = EventBase::new().unwrap();
    let slot: Rc<RefCell<Option<Redis>>> = Rc::new(RefCell::new(Some(
        Redis::connect(&base, "127.0.0.1", server.port).unwrap(),
    )));
    let (s, done) = (slot.clone(), Rc::new(Cell::new(false)));
    let d = done.clone();
    let pending: Replies = Rc::default();
    {
        let link = slot.borrow();
        let link = link.as_ref().unwrap();
        link.command(&[b"PING"], move |r| {
            assert_eq!(r.as_deref(), Some("+PONG"));
            drop(s.borrow_mut().take()); // frees the hiredis context under its callback
            d.set(true);
        });
        // Owed when the link goes: its handler is not called (the link is gone).
        link.command(&[b"BLPOP", b"never", b"0"], into(&pending));
    }
    spin(&base, || done.get());
    base.run(LoopFlags::NONBLOCK).unwrap();
    assert!(slot.borrow().is_none());
    assert!(pending.borrow().is_empty());
}
