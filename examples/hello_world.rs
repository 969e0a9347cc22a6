//! Port of libevent's sample/hello-world.c: a listener that writes "Hello, World!\n" to
//! each client and closes once it is written. SIGINT exits cleanly after two seconds.
//!
//! `cargo run --example hello_world -- [ADDR]` (default 127.0.0.1:9995; port 0 picks one).

use libevent::bufferevent::Options;
use libevent::event::Flags;
use libevent::listener::ListenerFlags;
use libevent::{BufferEvent, Event, EventBase, Listener};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9995".into())
        .parse()?;
    let base = EventBase::new()?;
    let conns: Rc<RefCell<HashMap<u64, BufferEvent>>> = Rc::default();
    let (b, c) = (base.clone(), conns.clone());
    let mut next = 0u64;
    let listener = Listener::bind(
        &base,
        addr,
        -1,
        ListenerFlags::REUSEABLE,
        move |stream, _peer| {
            next += 1;
            let id = next;
            let mut bev = match BufferEvent::from_tcp(&b, stream, Options::empty()) {
                Ok(bev) => bev,
                Err(e) => return eprintln!("Error constructing bufferevent: {e}"),
            };
            let c2 = c.clone();
            // Close once the greeting is flushed, as the C sample's conn_writecb does.
            bev.on_write(move |me| {
                if me.output().is_empty() {
                    println!("flushed answer");
                    c2.borrow_mut().remove(&id);
                }
            });
            bev.enable(Flags::WRITE)
                .and_then(|_| bev.disable(Flags::READ))
                .and_then(|_| bev.write(b"Hello, World!\n"))
                .unwrap_or_else(|e| eprintln!("{e}"));
            c.borrow_mut().insert(id, bev);
        },
    )?;
    println!("listening on {}", listener.local_addr()?);
    let b = base.clone();
    let sigint = Event::signal(&base, libc::SIGINT, move |_| {
        println!("Caught an interrupt signal; exiting cleanly in two seconds.");
        let _ = b.loopexit(Some(Duration::from_secs(2)));
    })?;
    sigint.add(None)?;
    base.dispatch()?;
    conns.borrow_mut().clear();
    println!("done");
    Ok(())
}
