// A call's request is borrowed from the call: responding consumes the call (and evrpc
// frees the request), so the request cannot be used after.
use libevent::buffer::EvBufferRef;
use libevent::rpc::{Message, RpcCall, RpcServer};
use libevent::{EventBase, Http, Result};

struct M(u32);
impl Message for M {
    fn marshal(&self, buf: &mut EvBufferRef) {
        libevent::tag::marshal_int(buf, 1, self.0).unwrap();
    }
    fn unmarshal(buf: &mut EvBufferRef) -> Result<Self> {
        Ok(M(libevent::tag::unmarshal_int(buf, 1)?))
    }
}

fn main() {
    let base = EventBase::new().unwrap();
    let http = Http::new(&base).unwrap();
    let server = RpcServer::new(&http).unwrap();
    server
        .register("Echo", |call: RpcCall<M, M>| {
            let req = call.request();
            call.respond(M(1));
            println!("{}", req.0);
        })
        .unwrap();
}
