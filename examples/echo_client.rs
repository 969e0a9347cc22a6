//! A bufferevent echo client: connects, sends each argument as a line, prints each line
//! that comes back, and exits when all have.
//!
//! `cargo run --example echo_client -- ADDR LINE...`

use libevent::buffer::Eol;
use libevent::bufferevent::{BevEvent, Options};
use libevent::event::Flags;
use libevent::{BufferEvent, EventBase};
use std::cell::Cell;
use std::rc::Rc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .ok_or("usage: echo_client ADDR LINE...")?
        .parse()?;
    let lines: Vec<String> = args.collect();
    let base = EventBase::new()?;
    let mut bev = BufferEvent::connect_tcp(&base, addr, Options::empty())?;
    let left = Rc::new(Cell::new(lines.len()));
    let (l, b) = (left.clone(), base.clone());
    bev.on_read(move |me| {
        while let Some(line) = me.input_mut().readln(Eol::Lf) {
            println!("echo: {}", String::from_utf8_lossy(&line));
            l.set(l.get() - 1);
        }
        if l.get() == 0 {
            let _ = b.loopbreak();
        }
    });
    let b = base.clone();
    bev.on_event(move |_, what| {
        if what.contains(BevEvent::CONNECTED) {
            println!("connected");
        } else if what.intersects(BevEvent::ERROR | BevEvent::EOF) {
            eprintln!("connection ended: {what:?}");
            let _ = b.loopbreak();
        }
    });
    for line in &lines {
        bev.write(line.as_bytes())?;
        bev.write(b"\n")?;
    }
    bev.enable(Flags::READ | Flags::WRITE)?;
    if !lines.is_empty() {
        base.dispatch()?;
    }
    if left.get() != 0 {
        return Err(format!("{} lines never came back", left.get()).into());
    }
    Ok(())
}
