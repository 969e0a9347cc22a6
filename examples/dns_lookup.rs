//! A port of libevent's sample/dns-example.c on the safe evdns:
//! `dns_lookup [--nameserver IP:PORT] [--hosts FILE] [--option NAME:VALUE]... [-x] NAME...`
//! (options as in resolv.conf: `timeout:0.5`, `attempts:2`...) resolves each name
//! (or, with `-x`, reverse-resolves each address) at once, asynchronously, and prints
//! `NAME: ADDR ADDR...` or `NAME: error: WHY` as the answers come. Without
//! `--nameserver`, the system's resolv.conf and hosts file are used.

use libevent::dns::Family;
use libevent::{DnsBase, EventBase};
use std::cell::Cell;
use std::rc::Rc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    let (mut nameserver, mut hosts, mut reverse, mut names) = (None, None, false, Vec::new());
    let mut options = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--nameserver" => {
                nameserver = Some(args.next().ok_or("--nameserver needs IP:PORT")?.parse()?)
            }
            "--hosts" => hosts = Some(args.next().ok_or("--hosts needs a file")?),
            "--option" => options.push(args.next().ok_or("--option needs NAME:VALUE")?),
            "-x" => reverse = true,
            _ => names.push(a),
        }
    }
    if names.is_empty() {
        return Err("usage: dns_lookup [--nameserver IP:PORT] [--hosts FILE] [--option NAME:VALUE]... [-x] NAME...".into());
    }
    let base = EventBase::new()?;
    let dns = match nameserver {
        Some(addr) => {
            let d = DnsBase::new(&base)?;
            d.add_nameserver(addr)?;
            d
        }
        None if hosts.is_some() => DnsBase::new(&base)?,
        None => DnsBase::from_system(&base)?,
    };
    for o in &options {
        let (name, value) = o.split_once(':').ok_or("--option takes NAME:VALUE")?;
        dns.set_option(name, value)?;
    }
    if let Some(h) = &hosts {
        dns.load_hosts(std::path::Path::new(h))?;
    }
    let left = Rc::new(Cell::new(names.len()));
    let mut pending = Vec::new();
    for name in names {
        let (l, b) = (left.clone(), base.clone());
        let finish = move |line: String| {
            println!("{line}");
            l.set(l.get() - 1);
            if l.get() == 0 {
                let _ = b.loopexit(None);
            }
        };
        if reverse {
            let ip = name.parse()?;
            pending.push(Box::new(dns.resolve_reverse(ip, move |r| match r {
                Ok(host) => finish(format!("{name}: {host}")),
                Err(e) => finish(format!("{name}: error: {e}")),
            })?) as Box<dyn std::any::Any>);
        } else {
            let n = name.clone();
            pending.push(Box::new(dns.getaddrinfo(
                &name,
                0,
                Family::Any,
                move |r| match r {
                    Ok(addrs) => {
                        let ips: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
                        finish(format!("{n}: {}", ips.join(" ")))
                    }
                    Err(e) => finish(format!("{n}: error: {e}")),
                },
            )?));
        }
    }
    if left.get() > 0 {
        base.dispatch()?;
    }
    Ok(())
}
