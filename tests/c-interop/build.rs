// Compiles the C side against the headers libevent-sys exports (DEP_EVENT_INCLUDE), the
// way any crate that mixes C and Rust on one libevent would. The evrpc half is generated
// here from c/calc.rpc by upstream's own event_rpcgen.py, from the source tree the build
// used (DEP_EVENT_SRC); with a system libevent there is no tree, and no evrpc tests.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=c/interop.c");
    println!("cargo:rerun-if-changed=c/bench.c");
    println!("cargo:rerun-if-changed=c/rpc.c");
    println!("cargo:rerun-if-changed=c/calc.rpc");
    println!("cargo::rustc-check-cfg=cfg(rpcgen)");
    let include = std::env::var("DEP_EVENT_INCLUDE").expect("libevent-sys exports cargo:include");
    cc::Build::new()
        .file("c/interop.c")
        .file("c/bench.c")
        .opt_level(2)
        .include(&include)
        .warnings(true)
        .compile("interop");

    let Some(src) = std::env::var_os("DEP_EVENT_SRC").map(PathBuf::from) else {
        println!("cargo:warning=c-interop: a system libevent has no event_rpcgen.py; evrpc interop not built");
        return;
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let status = Command::new("python3")
        .arg(src.join("event_rpcgen.py"))
        .arg("--quiet")
        .arg("c/calc.rpc")
        .arg(out.join("calc.gen.h"))
        .arg(out.join("calc.gen.c"))
        .status()
        .expect("python3 runs event_rpcgen.py");
    assert!(status.success(), "event_rpcgen.py failed on c/calc.rpc");
    // c/rpc.c first: it uses the generated code, and archives link in this order.
    cc::Build::new()
        .file("c/rpc.c")
        .opt_level(2)
        .include(&include)
        .include(&out)
        .warnings(true)
        .compile("interop_rpc");
    // Upstream's generated code, compiled as upstream ships it (it has unused parameters).
    cc::Build::new()
        .file(out.join("calc.gen.c"))
        .opt_level(2)
        .include(&include)
        .include(&out)
        .warnings(false)
        .compile("interop_rpcgen");
    println!("cargo:rustc-cfg=rpcgen");
}
