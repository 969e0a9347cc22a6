//! A bufferevent echo server: every byte a client sends comes back.
//!
//! `cargo run --example echo_server -- [ADDR]` (default 127.0.0.1:9996; port 0 picks one).

use libevent::bufferevent::{BevEvent, Options};
use libevent::event::Flags;
use libevent::listener::ListenerFlags;
use libevent::{BufferEvent, Event, EventBase, Listener};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9996".into())
        .parse()?;
    let base = EventBase::new()?;
    let conns: Rc<RefCell<HashMap<u64, BufferEvent>>> = Rc::default();
    let (b, c) = (base.clone(), conns.clone());
    let mut next = 0;
    let listener = Listener::bind(
        &base,
        addr,
        -1,
        ListenerFlags::REUSEABLE,
        move |stream, peer| {
            next += 1;
            let id = next;
            let setup = || -> libevent::Result<BufferEvent> {
                let mut bev = BufferEvent::from_tcp(&b, stream, Options::empty())?;
                bev.on_read(|me| {
                    // Move the input to the output without copying.
                    let (input, output) = me.buffers_mut();
                    let _ = output.add_buffer(input);
                });
                let c2 = c.clone();
                bev.on_event(move |_, what| {
                    if what.intersects(BevEvent::EOF | BevEvent::ERROR) {
                        c2.borrow_mut().remove(&id);
                    }
                });
                bev.enable(Flags::READ | Flags::WRITE)?;
                Ok(bev)
            };
            match setup() {
                Ok(bev) => {
                    println!("client {id} from {peer}");
                    c.borrow_mut().insert(id, bev);
                }
                Err(e) => eprintln!("{e}"),
            }
        },
    )?;
    println!("listening on {}", listener.local_addr()?);
    let b = base.clone();
    let sig = Event::signal(&base, libc::SIGINT, move |_| {
        let _ = b.loopbreak();
    })?;
    sig.add(None)?;
    base.dispatch()?;
    conns.borrow_mut().clear();
    Ok(())
}
