//! The echo server over TLS (feature `openssl`): every byte a client sends comes back,
//! encrypted. `cargo run --features openssl --example tls_echo_server -- ADDR CERT KEY`
//! (PEM files; port 0 picks one). Try it with `openssl s_client -connect ADDR`.

use libevent::bufferevent::{BevEvent, Options, SslState};
use libevent::event::Flags;
use libevent::listener::ListenerFlags;
use libevent::{BufferEvent, Event, EventBase, Listener};
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, cert, key] = &args[..] else {
        return Err("usage: tls_echo_server ADDR CERT.pem KEY.pem".into());
    };
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    acceptor.set_certificate_chain_file(cert)?;
    acceptor.set_private_key_file(key, SslFiletype::PEM)?;
    acceptor.check_private_key()?;
    let acceptor = acceptor.build();

    let base = EventBase::new()?;
    let conns: Rc<RefCell<HashMap<u64, BufferEvent>>> = Rc::default();
    let (b, c) = (base.clone(), conns.clone());
    let mut next = 0;
    let listener = Listener::bind(
        &base,
        addr.parse()?,
        -1,
        ListenerFlags::REUSEABLE,
        move |stream, peer| {
            next += 1;
            let id = next;
            let setup = || -> Result<BufferEvent, Box<dyn std::error::Error>> {
                let ssl = Ssl::new(acceptor.context())?;
                let mut bev = BufferEvent::openssl_socket(
                    &b,
                    Some(stream.into()),
                    ssl,
                    SslState::Accepting,
                    Options::empty(),
                )?;
                bev.on_read(|me| {
                    let (input, output) = me.buffers_mut();
                    let _ = output.add_buffer(input);
                });
                let c2 = c.clone();
                bev.on_event(move |me, what| {
                    if what.contains(BevEvent::CONNECTED) {
                        let version = me.ssl().map_or("?", |s| s.version_str());
                        println!("client {id}: {version}");
                    }
                    if what.intersects(BevEvent::EOF | BevEvent::ERROR) {
                        if let Some(e) = me.openssl_error() {
                            println!("client {id}: {e}");
                        }
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
    println!("done");
    Ok(())
}
