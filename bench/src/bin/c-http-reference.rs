//! The C HTTP reference server (bench/c/http_reference.c): examples/http_server.rs in C,
//! built by cargo against the same libevent. `c-http-reference HOST:PORT`.

fn main() {
    bench::run_c_main(bench::c_http_reference_main)
}
