//! evrpc between Rust and C code that upstream's `event_rpcgen.py` generated from
//! `c/calc.rpc` (at build time): the same bytes on the wire, a C client calling a Rust
//! server, and a Rust client calling a C server, on one loop.
#![cfg(rpcgen)]

use c_interop::*;
use libevent::buffer::EvBufferRef;
use libevent::rpc::{Message, RpcCall, RpcPool, RpcServer};
use libevent::{tag, EvBuffer, EventBase, Http, LoopFlags, Result};
use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// `struct Operands` of calc.rpc, field by field with its tags.
#[derive(Debug, PartialEq)]
struct Operands {
    a: u32,
    b: u32,
    label: String,
}

/// `struct Total` of calc.rpc.
#[derive(Debug, PartialEq)]
struct Total {
    sum: u32,
    label: String,
}

fn text(v: Vec<u8>) -> Result<String> {
    String::from_utf8(v).map_err(|_| libevent::Error::invalid_message("a label not in UTF-8"))
}

impl Message for Operands {
    fn marshal(&self, buf: &mut EvBufferRef) {
        tag::marshal_int(buf, 1, self.a).unwrap();
        tag::marshal_int(buf, 2, self.b).unwrap();
        tag::marshal_string(buf, 3, &self.label).unwrap();
    }
    fn unmarshal(buf: &mut EvBufferRef) -> Result<Self> {
        Ok(Operands {
            a: tag::unmarshal_int(buf, 1)?,
            b: tag::unmarshal_int(buf, 2)?,
            label: text(tag::unmarshal_string(buf, 3)?)?,
        })
    }
}

impl Message for Total {
    fn marshal(&self, buf: &mut EvBufferRef) {
        tag::marshal_int(buf, 1, self.sum).unwrap();
        tag::marshal_string(buf, 2, &self.label).unwrap();
    }
    fn unmarshal(buf: &mut EvBufferRef) -> Result<Self> {
        Ok(Total {
            sum: tag::unmarshal_int(buf, 1)?,
            label: text(tag::unmarshal_string(buf, 2)?)?,
        })
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

#[test]
fn rust_marshals_the_bytes_the_generated_c_marshals() {
    for (a, b, label) in [
        (0, 0, ""),
        (2, 40, "x"),
        (u32::MAX, 1 << 20, "a longer label"),
    ] {
        let mut c = EvBuffer::new().unwrap();
        let l = CString::new(label).unwrap();
        // SAFETY: c is a live evbuffer; the label is a C string for the call.
        let r = unsafe { c_rpc_marshal_operands(c.as_raw(), a, b, l.as_ptr()) };
        assert_eq!(r, 0);
        let mut rust = EvBuffer::new().unwrap();
        let op = Operands {
            a,
            b,
            label: label.into(),
        };
        op.marshal(&mut rust);
        let c_bytes = c.remove_all();
        assert_eq!(rust.remove_all(), c_bytes);
        // And Rust reads C's bytes back.
        let mut back = EvBuffer::new().unwrap();
        back.add(&c_bytes).unwrap();
        assert_eq!(Operands::unmarshal(&mut back).unwrap(), op);
    }
}

/// A Rust server of `Add` on 127.0.0.1, counting its calls.
fn rust_server(base: &EventBase) -> (Http, RpcServer, u16, Rc<Cell<u32>>) {
    let http = Http::new(base).unwrap();
    let port = http
        .bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = RpcServer::new(&http).unwrap();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    server
        .register("Add", move |call: RpcCall<Operands, Total>| {
            c.set(c.get() + 1);
            let op = call.request();
            let reply = Total {
                sum: op.a.wrapping_add(op.b),
                label: format!("rust saw {}", op.label),
            };
            call.respond(reply);
        })
        .unwrap();
    (http, server, port, calls)
}

/// Runs one call of the C client to `port`: (evrpc's error, sum, label).
fn c_call(base: &EventBase, port: u16, with_host: bool) -> (i32, u32, String) {
    let label = CString::new("from c").unwrap();
    // SAFETY: base is live until after the client is freed below.
    let c = unsafe {
        c_rpc_call(
            base.as_raw(),
            port.into(),
            2,
            40,
            label.as_ptr(),
            with_host.into(),
        )
    };
    assert!(!c.is_null());
    // SAFETY: c is live until freed at the end.
    spin(base, || unsafe { c_rpc_client_done(c) } != 0);
    // SAFETY: as above; the label is the client's own string.
    let got = unsafe {
        (
            c_rpc_client_error(c),
            c_rpc_client_sum(c),
            CStr::from_ptr(c_rpc_client_label(c))
                .to_string_lossy()
                .into_owned(),
        )
    };
    // SAFETY: freed once, after its call was answered.
    unsafe { c_rpc_client_free(c) };
    got
}

#[test]
fn a_c_client_calls_a_rust_server() {
    let base = EventBase::new().unwrap();
    let (http, server, port, calls) = rust_server(&base);
    let (error, sum, label) = c_call(&base, port, true);
    assert_eq!(error, libevent::sys::EVRPC_STATUS_ERR_NONE);
    assert_eq!((sum, label.as_str()), (42, "rust saw from c"));
    assert_eq!(calls.get(), 1);
    drop((server, http));
    base.run(LoopFlags::NONBLOCK).unwrap();
}

#[test]
fn a_c_client_without_a_host_header_is_refused_by_the_strict_server() {
    let base = EventBase::new().unwrap();
    let (http, server, port, calls) = rust_server(&base);
    // evrpc sends HTTP/1.1 without Host: the strict server answers 400, which the C
    // client reports as a reply it cannot read; the handler never runs.
    let (error, _, _) = c_call(&base, port, false);
    assert_eq!(error, libevent::sys::EVRPC_STATUS_ERR_BADPAYLOAD);
    assert_eq!(calls.get(), 0);
    drop((server, http));
    base.run(LoopFlags::NONBLOCK).unwrap();
}

#[test]
fn a_rust_client_calls_a_c_server() {
    let base = EventBase::new().unwrap();
    let mut port = 0;
    // SAFETY: base outlives the server, freed at the end.
    let srv = unsafe { c_rpc_server_start(base.as_raw(), &mut port) };
    assert!(!srv.is_null());
    let pool = RpcPool::new(&base).unwrap();
    pool.add_connection(format!("127.0.0.1:{port}").parse().unwrap())
        .unwrap();
    let got: Rc<RefCell<Vec<Result<Total>>>> = Rc::default();
    for (a, b) in [(1, 2), (40, 2)] {
        let g = got.clone();
        let op = Operands {
            a,
            b,
            label: format!("{a}+{b}"),
        };
        pool.send("Add", op, move |r: Result<Total>| g.borrow_mut().push(r))
            .unwrap();
    }
    spin(&base, || got.borrow().len() == 2);
    let got: Vec<Total> = got.take().into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        got,
        [
            Total {
                sum: 3,
                label: "c saw 1+2".into()
            },
            Total {
                sum: 42,
                label: "c saw 40+2".into()
            }
        ]
    );
    // SAFETY: srv is live.
    assert_eq!(unsafe { c_rpc_server_calls(srv) }, 2);
    drop(pool);
    base.run(LoopFlags::NONBLOCK).unwrap();
    // SAFETY: freed once; no Rust object uses it.
    unsafe { c_rpc_server_free(srv) };
}
