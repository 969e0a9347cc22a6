//! A small authoritative DNS server on evdns's server side (`dns::DnsServer`), in the
//! spirit of libevent's sample/dns-example.c `-s` mode, with a zone of its own:
//! `dns_server [ADDR]` (default 127.0.0.1:5353) serves, over UDP,
//!
//! - `www.example.test`: A 192.0.2.10 and 192.0.2.11, AAAA 2001:db8::10 (TTL 300);
//! - `alias.example.test`: CNAME to `www.example.test` (TTL 60), with its A records;
//! - `10.2.0.192.in-addr.arpa`: PTR `www.example.test` (TTL 3600);
//! - `txt.example.test`: TXT "hello from libevent";
//! - anything else under `example.test`: NXDOMAIN; outside it: REFUSED.
//!
//! It prints `listening on ADDR`, then one line per query; SIGINT stops it.
//! `dig @127.0.0.1 -p 5353 www.example.test` asks it.

use libevent::dns::{DnsServer, Section, ServerFlags, ServerRequest};
use libevent::{Event, EventBase};
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};

const WWW_V4: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 11)];

fn answer(mut req: ServerRequest) {
    let Some(q) = req.questions().into_iter().next() else {
        return drop(req); // no question: nothing to say
    };
    let name = q.name.to_ascii_lowercase();
    let name = name.trim_end_matches('.');
    println!("query {} type {} from {:?}", q.name, q.qtype, req.peer());
    let r = (|| -> libevent::Result<u8> {
        req.set_flags(ServerFlags::AUTHORITATIVE)?;
        Ok(match (name, q.qtype) {
            ("www.example.test", 1) => {
                req.add_a(&q.name, &WWW_V4, 300)?;
                0
            }
            ("www.example.test", 28) => {
                req.add_aaaa(&q.name, &["2001:db8::10".parse::<Ipv6Addr>().unwrap()], 300)?;
                0
            }
            ("alias.example.test", 1 | 5) => {
                req.add_cname(&q.name, "www.example.test", 60)?;
                if q.qtype == 1 {
                    req.add_a("www.example.test", &WWW_V4, 300)?;
                }
                0
            }
            ("10.2.0.192.in-addr.arpa", 12) => {
                req.add_ptr(&q.name, "www.example.test", 3600)?;
                0
            }
            ("txt.example.test", 16) => {
                let text = b"hello from libevent";
                let mut data = vec![text.len() as u8];
                data.extend_from_slice(text);
                req.add_reply(Section::Answer, &q.name, 16, 1, 300, &data)?;
                0
            }
            (n, _) if n == "example.test" || n.ends_with(".example.test") => {
                if matches!(
                    n,
                    "www.example.test" | "alias.example.test" | "txt.example.test"
                ) {
                    0 // the name exists, not with that type: an empty answer
                } else {
                    3
                }
            }
            ("10.2.0.192.in-addr.arpa", _) => 0,
            _ => 5,
        })
    })();
    let rcode = r.unwrap_or_else(|e| {
        eprintln!("building the reply: {e}");
        2
    });
    if let Err(e) = req.respond(rcode) {
        eprintln!("respond: {e}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5353".into());
    let base = EventBase::new()?;
    let server = DnsServer::new(&base, UdpSocket::bind(&addr)?, answer)?;
    println!("listening on {}", server.local_addr());
    let b = base.clone();
    let stop = Event::signal(&base, libc::SIGINT, move |_| {
        let _ = b.loopbreak();
    })?;
    stop.add(None)?;
    base.dispatch()?;
    println!("done");
    Ok(())
}
