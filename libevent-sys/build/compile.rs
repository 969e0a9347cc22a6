//! The bundled build: the public headers and the generated configuration in one include
//! directory, then the static libraries compiled with `cc`.

use crate::bindings::generate_bindings;
use crate::config::Config;
use crate::fetch::{check_version, source_tree};
use crate::{fail, out_dir, Target, LIBEVENT_VERSION};
use std::fs;
use std::path::{Path, PathBuf};

/// The sources of `event_core`, before the backends the probes chose.
const CORE: &[&str] = &[
    "buffer.c",
    "bufferevent.c",
    "bufferevent_filter.c",
    "bufferevent_pair.c",
    "bufferevent_ratelim.c",
    "bufferevent_sock.c",
    "event.c",
    "evmap.c",
    "evthread.c",
    "evutil.c",
    "evutil_rand.c",
    "evutil_time.c",
    "listener.c",
    "log.c",
    "signal.c",
    "strlcpy.c",
];
const EXTRA: &[&str] = &["event_tagging.c", "http.c", "evdns.c", "evrpc.c"];

/// Force-included into buffer.c unless feature `exact-upstream` is on; it changes how
/// `evbuffer_read` reads, never what it reads:
///
/// - It asks `ioctl(FIONREAD)` before every `readv`, only to size the chunk it reads into
///   (`get_n_bytes_readable_on_socket`, compiled only where FIONREAD is defined). Without
///   it, libevent reads up to `EVBUFFER_MAX_READ` (4096) bytes at once, as upstream does
///   on platforms that lack FIONREAD. The header defining FIONREAD is included first, so
///   its include guard keeps buffer.c's own `#include <sys/ioctl.h>` from defining it
///   again.
/// - A `readv` into one buffer becomes a `recv` into it (the kernel's socket path skips
///   copying and checking an iovec array); on a descriptor that is not a socket `recv`
///   fails with ENOTSOCK and the `readv` is made as before.
///
/// One system call less per read, and a cheaper one; see vendor/README.md.
const READ_PATH_H: &str = "\
/* libevent-sys: force-included into buffer.c only (see libevent-sys/build/compile.rs). */\n\
#include <sys/types.h>\n\
#include <sys/ioctl.h>\n\
#include <sys/socket.h>\n\
#include <sys/uio.h>\n\
#include <errno.h>\n\
#undef FIONREAD\n\
static ssize_t libevent_sys_readv(int fd, const struct iovec *iov, int n)\n\
{\n\
\tif (n == 1) {\n\
\t\tssize_t r = recv(fd, iov[0].iov_base, iov[0].iov_len, 0);\n\
\t\tif (r >= 0 || errno != ENOTSOCK)\n\
\t\t\treturn r;\n\
\t}\n\
\treturn readv(fd, iov, n);\n\
}\n\
#define readv libevent_sys_readv\n";

/// Whether buffer.c is compiled with [`READ_PATH_H`] (the default).
fn own_read_path() -> bool {
    !cfg!(feature = "exact-upstream")
}

/// Where the compiler looks, and what it is told: the one list used for the libraries
/// and, through `cc-args.txt`, for upstream's regression suite compiled at test time.
struct CFlags {
    includes: Vec<PathBuf>,
    flags: Vec<&'static str>,
}

impl CFlags {
    fn new(target: &Target, include: &Path, private: &Path, src: &Path) -> CFlags {
        let mut flags = vec![
            "-DHAVE_CONFIG_H",
            // Upstream builds with -fno-strict-aliasing: it casts between sockaddr types.
            "-fno-strict-aliasing",
        ];
        if target.is_linux() {
            flags.push("-D_GNU_SOURCE=1");
        }
        CFlags {
            includes: vec![
                include.to_path_buf(),
                private.to_path_buf(),
                src.to_path_buf(),
                src.join("compat"),
            ],
            flags,
        }
    }

    /// A `cc::Build` of `files` (relative to `src`) with these flags.
    fn build(&self, src: &Path, files: &[&str]) -> cc::Build {
        let mut b = cc::Build::new();
        b.includes(&self.includes)
            // Upstream's own warnings are upstream's business, not this crate's users'.
            .warnings(false)
            .flag_if_supported("-w");
        for f in &self.flags {
            b.flag(f);
        }
        for f in files {
            b.file(src.join(f));
        }
        b
    }

    /// Records how this build invoked the C compiler, one argument a line, so that the
    /// regression suite in tests/ is compiled exactly like the library it tests.
    fn write_args(&self, out: &Path) {
        let compiler = cc::Build::new().get_compiler();
        let mut args = vec![compiler.path().display().to_string()];
        args.extend(
            compiler
                .args()
                .iter()
                .map(|a| a.to_string_lossy().into_owned()),
        );
        args.extend(self.includes.iter().map(|d| format!("-I{}", d.display())));
        args.extend(self.flags.iter().map(|f| f.to_string()));
        fs::write(out.join("cc-args.txt"), args.join("\n") + "\n").expect("write cc-args.txt");
    }
}

/// Copies the public headers into `include/` (one `-I` for crates that compile C against
/// this build, see `cargo:include`).
fn copy_headers(src: &Path, include: &Path) {
    let event2 = include.join("event2");
    fs::create_dir_all(&event2)
        .unwrap_or_else(|e| fail(&format!("creating {}: {e}", event2.display())));
    for entry in fs::read_dir(src.join("include/event2")).expect("tree checked above") {
        let entry = entry.expect("readable tree");
        fs::copy(entry.path(), event2.join(entry.file_name())).expect("copy a public header");
    }
    for compat in ["event.h", "evhttp.h", "evdns.h", "evrpc.h", "evutil.h"] {
        fs::copy(src.join("include").join(compat), include.join(compat))
            .expect("copy a compat header");
    }
}

/// Writes the generated configuration headers.
fn write_config(config: &Config, include: &Path, private: &Path) {
    fs::write(
        include.join("event2/event-config.h"),
        config.event_config_h(),
    )
    .expect("write event-config.h");
    fs::create_dir_all(private).expect("create private include dir");
    fs::write(
        private.join("evconfig-private.h"),
        config.evconfig_private_h(),
    )
    .expect("write evconfig-private.h");
}

pub(crate) fn build_bundled() {
    let out = out_dir();
    let src = source_tree(&out);
    check_version(&src);
    let target = Target::from_env();

    let include = out.join("include");
    let private = out.join("private");
    copy_headers(&src, &include);
    let config = Config::probe(&target, &out.join("probes"));
    write_config(&config, &include, &private);

    let cflags = CFlags::new(&target, &include, &private, &src);
    let mut core = CORE.to_vec();
    core.extend(config.backends.iter().map(|b| b.source()));
    let core_build = if own_read_path() {
        core.retain(|f| *f != "buffer.c");
        let header = private.join("read-path.h");
        fs::write(&header, READ_PATH_H).expect("write read-path.h");
        let buffer = cflags
            .build(&src, &["buffer.c"])
            .flag("-include")
            .flag(header.to_str().expect("OUT_DIR is UTF-8"))
            .compile_intermediates();
        let mut b = cflags.build(&src, &core);
        b.objects(buffer);
        b
    } else {
        cflags.build(&src, &core)
    };
    core_build.compile("event_core");
    cflags.build(&src, EXTRA).compile("event_extra");
    if cfg!(feature = "threads") {
        cflags
            .build(&src, &["evthread_pthread.c"])
            .compile("event_pthreads");
        println!("cargo:rustc-link-lib=pthread");
    }
    if cfg!(feature = "openssl") {
        let mut b = cflags.build(&src, &["bufferevent_openssl.c"]);
        if let Some(inc) = std::env::var_os("DEP_OPENSSL_INCLUDE") {
            b.include(inc);
        }
        b.compile("event_openssl");
    }

    link_shared(&out);

    // For crates that compile C against this build (git2's convention), and for the
    // regression suite in tests/, which is compiled from the same tree at test time.
    println!("cargo:root={}", out.display());
    println!("cargo:include={}", include.display());
    println!("cargo:src={}", src.display());
    println!("cargo:version={LIBEVENT_VERSION}");
    // DEP_EVENT_READ_FIONREAD for crates built on this one: 1 when evbuffer_read asks
    // ioctl(FIONREAD) before each read (upstream's exact configuration).
    println!("cargo:read_fionread={}", u8::from(!own_read_path()));
    // DEP_EVENT_OPENSSL: 1 when libevent_openssl (bufferevent_openssl.c) is linked.
    println!("cargo:openssl={}", u8::from(cfg!(feature = "openssl")));
    println!("cargo:rustc-env=LIBEVENT_SYS_SRC_DIR={}", src.display());
    println!("cargo:rustc-env=LIBEVENT_SYS_OUT_DIR={}", out.display());
    cflags.write_args(&out);

    generate_bindings(&[include]);
}

/// Links the static libraries just built into one shared library,
/// `OUT_DIR/shared/libevent-2.1.so`, for programs that load libevent at run time (the
/// PHP compatibility layer in `compat/php` loads it through PHP's FFI). Its path goes to
/// dependents as `DEP_EVENT_SHARED`. TLS is left out (it would pull OpenSSL in); a target
/// where the link fails gets a warning and no shared library, the crate itself is not
/// affected.
fn link_shared(out: &Path) {
    let dir = out.join("shared");
    fs::create_dir_all(&dir).expect("create OUT_DIR/shared");
    let lib = dir.join("libevent-2.1.so");
    let compiler = cc::Build::new().get_compiler();
    let mut cmd = compiler.to_command();
    cmd.arg("-shared")
        .arg("-o")
        .arg(&lib)
        .arg("-Wl,--whole-archive")
        .arg(out.join("libevent_core.a"))
        .arg(out.join("libevent_extra.a"));
    if cfg!(feature = "threads") {
        cmd.arg(out.join("libevent_pthreads.a"));
    }
    cmd.arg("-Wl,--no-whole-archive").arg("-lpthread");
    match cmd.output() {
        Ok(o) if o.status.success() => println!("cargo:shared={}", lib.display()),
        Ok(o) => println!(
            "cargo:warning=libevent-sys: no shared library (the link failed: {})",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ),
        Err(e) => println!("cargo:warning=libevent-sys: no shared library ({e})"),
    }
}
