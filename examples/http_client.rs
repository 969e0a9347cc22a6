//! An HTTP request with libevent's evhttp client:
//! `http_client ADDR METHOD PATH [BODY]` prints the status line, the response headers,
//! a blank line and the body; with `--chunks`, each piece of the body as it arrives on a
//! line `piece N: BYTES` instead. Exits 1 if the request failed.

use libevent::http::{HttpConnection, Method};
use libevent::EventBase;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let chunks = args
        .iter()
        .position(|a| a == "--chunks")
        .map(|i| args.remove(i))
        .is_some();
    let [addr, method, path, rest @ ..] = &args[..] else {
        return Err("usage: http_client [--chunks] ADDR METHOD PATH [BODY]".into());
    };
    let base = EventBase::new()?;
    let conn = HttpConnection::new(&base, addr.parse()?)?;
    conn.set_timeout(Duration::from_secs(10))?;
    let failed = Rc::new(Cell::new(false));
    let pieces = Rc::new(Cell::new(0));
    let out = Rc::new(RefCell::new(Vec::new()));
    let mut req = conn.request(method.parse::<Method>()?, path);
    if let Some(body) = rest.first() {
        req = req
            .header("Content-Type", "text/plain")
            .body(body.as_bytes());
    }
    if chunks {
        let (p, o) = (pieces.clone(), out.clone());
        req = req.on_chunk(move |r| {
            p.set(p.get() + 1);
            let piece = r.input_buffer().remove_all();
            let mut o = o.borrow_mut();
            let _ = write!(o, "piece {}: ", p.get());
            o.extend_from_slice(&piece);
            o.push(b'\n');
        });
    }
    let (f, o, b) = (failed.clone(), out.clone(), base.clone());
    req.send(move |r| {
        // The connection stays open for more requests; this program has no more.
        let _ = b.loopexit(None);
        match r {
            Ok(resp) => {
                let mut head = format!(
                    "{} {}\n",
                    resp.response_code(),
                    resp.response_reason().unwrap_or("")
                );
                for (k, v) in resp.input_headers() {
                    head.push_str(&format!(
                        "{}: {}\n",
                        String::from_utf8_lossy(k),
                        String::from_utf8_lossy(v)
                    ));
                }
                head.push('\n');
                let body = resp.input_buffer().remove_all();
                let mut o = o.borrow_mut();
                o.splice(0..0, head.into_bytes());
                o.extend_from_slice(&body);
            }
            Err(e) => {
                eprintln!("request failed: {e}");
                f.set(true);
            }
        }
    })?;
    base.dispatch()?;
    std::io::stdout().write_all(&out.borrow())?;
    if failed.get() {
        std::process::exit(1);
    }
    Ok(())
}
