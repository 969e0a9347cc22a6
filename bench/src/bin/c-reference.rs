//! The C reference server (bench/c/c_reference.c), started from Rust so cargo builds it
//! against the same libevent as eventd.

fn main() {
    bench::run_c_main(bench::c_reference_main)
}
