//! Builds libevent 2.1.12-stable from its pristine upstream tree, or links the system's.
//!
//! Two paths, chosen by the `system` feature:
//! - `build_bundled`: get the tree (cargo fetches it, or `LIBEVENT_SRC_DIR` names one),
//!   probe the C compiler to write `event2/event-config.h` and `evconfig-private.h`, and
//!   compile the static libraries with `cc`. Nothing is written outside `OUT_DIR`.
//! - `build_linked`: find libevent with pkg-config.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The upstream release this crate binds. The bindings and the tests assume it.
const LIBEVENT_VERSION: &str = "2.1.12-stable";
/// `EVENT__NUMERIC_VERSION` for 2.1.12: 0xMMmmpp00.
const LIBEVENT_NUMERIC_VERSION: &str = "0x02010c00";
/// The crates.io package whose `libevent/` folder is the upstream tree, unmodified.
const CARRIER_PACKAGE: &str = "libevent-sys";
const CARRIER_VERSION: &str = "0.4.0";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-env-changed=LIBEVENT_SRC_DIR");

    #[cfg(feature = "system")]
    build_linked();
    #[cfg(not(feature = "system"))]
    build_bundled();
}

fn out_dir() -> PathBuf {
    PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
}

fn fail(msg: &str) -> ! {
    eprintln!("\nerror: libevent-sys: {msg}\n");
    std::process::exit(1);
}

// ---------------------------------------------------------------------------------------
// The system library
// ---------------------------------------------------------------------------------------

#[cfg(feature = "system")]
fn build_linked() {
    let mut libs = Vec::new();
    for name in ["libevent_core", "libevent_extra"]
        .into_iter()
        .chain(cfg!(feature = "threads").then_some("libevent_pthreads"))
        .chain(cfg!(feature = "openssl").then_some("libevent_openssl"))
    {
        match pkg_config::Config::new().atleast_version("2.1").probe(name) {
            Ok(lib) => libs.push(lib),
            Err(e) => fail(&format!(
                "feature `system` is on, but pkg-config cannot find {name} >= 2.1: {e}\n\
                 Install libevent's development package (Debian: libevent-dev), or build the \
                 bundled copy by turning the feature off."
            )),
        }
    }
    let include = libs[0]
        .include_paths
        .first()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    println!("cargo:include={}", include.display());
    println!("cargo:system=1");
    println!("cargo:version={}", libs[0].version);
    generate_bindings(&[include]);
}

// ---------------------------------------------------------------------------------------
// The bundled library
// ---------------------------------------------------------------------------------------

#[cfg(not(feature = "system"))]
fn build_bundled() {
    let out = out_dir();
    let src = source_tree(&out);
    check_version(&src);

    // One include directory holds the public headers and the generated configuration, so
    // crates that compile C against this build need a single `-I` (see `cargo:include`).
    let include = out.join("include");
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

    let target = Target::from_env();
    let probe_dir = out.join("probes");
    let config = Config::probe(&target, &probe_dir);
    fs::write(event2.join("event-config.h"), config.event_config_h())
        .expect("write event-config.h");
    let private = out.join("private");
    fs::create_dir_all(&private).expect("create private include dir");
    fs::write(
        private.join("evconfig-private.h"),
        config.evconfig_private_h(),
    )
    .expect("write evconfig-private.h");

    let base = |files: &[&str]| {
        let mut b = cc::Build::new();
        b.include(&include)
            .include(&private)
            .include(&src)
            .include(src.join("compat"))
            .define("HAVE_CONFIG_H", None)
            // Upstream builds with -fno-strict-aliasing: it casts between sockaddr types.
            .flag_if_supported("-fno-strict-aliasing")
            // Upstream's own warnings are upstream's business, not this crate's users'.
            .warnings(false)
            .flag_if_supported("-w");
        if target.is_linux() {
            b.define("_GNU_SOURCE", "1");
        }
        for f in files {
            b.file(src.join(f));
        }
        b
    };

    let mut core = vec![
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
    core.extend(config.backends.iter().map(|b| b.source()));
    base(&core).compile("event_core");
    base(&["event_tagging.c", "http.c", "evdns.c", "evrpc.c"]).compile("event_extra");
    if cfg!(feature = "threads") {
        base(&["evthread_pthread.c"]).compile("event_pthreads");
        println!("cargo:rustc-link-lib=pthread");
    }
    if cfg!(feature = "openssl") {
        let mut b = base(&["bufferevent_openssl.c"]);
        if let Some(inc) = env::var_os("DEP_OPENSSL_INCLUDE") {
            b.include(inc);
        }
        b.compile("event_openssl");
    }

    // For crates that compile C against this build (git2's convention), and for the
    // regression suite in tests/, which is compiled from the same tree at test time.
    println!("cargo:root={}", out.display());
    println!("cargo:include={}", include.display());
    println!("cargo:src={}", src.display());
    println!("cargo:version={LIBEVENT_VERSION}");
    println!("cargo:rustc-env=LIBEVENT_SYS_SRC_DIR={}", src.display());
    println!("cargo:rustc-env=LIBEVENT_SYS_OUT_DIR={}", out.display());
    write_compiler_file(&out, &include, &private, &src, &target);

    generate_bindings(&[include]);
}

/// Records how this build invoked the C compiler, one argument a line, so that the
/// regression suite in tests/ is compiled exactly like the library it tests.
fn write_compiler_file(out: &Path, include: &Path, private: &Path, src: &Path, target: &Target) {
    let compiler = cc::Build::new().get_compiler();
    let mut args = vec![compiler.path().display().to_string()];
    args.extend(
        compiler
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned()),
    );
    for dir in [include, private, src, &src.join("compat")] {
        args.push(format!("-I{}", dir.display()));
    }
    args.push("-DHAVE_CONFIG_H".into());
    args.push("-fno-strict-aliasing".into());
    if target.is_linux() {
        args.push("-D_GNU_SOURCE=1".into());
    }
    fs::write(out.join("cc-args.txt"), args.join("\n") + "\n").expect("write cc-args.txt");
}

/// Where the upstream tree comes from: `LIBEVENT_SRC_DIR`, or cargo itself.
fn source_tree(out: &Path) -> PathBuf {
    if let Some(dir) = env::var_os("LIBEVENT_SRC_DIR") {
        let dir = PathBuf::from(dir);
        if !dir.join("event.c").is_file() {
            fail(&format!(
                "LIBEVENT_SRC_DIR={} is not a libevent source tree (no event.c in it)",
                dir.display()
            ));
        }
        return dir;
    }
    fetch_with_cargo(out)
}

/// Fetches the carrier package with `cargo vendor` on a throwaway manifest inside OUT_DIR.
/// Cargo checks the package against the registry index's checksum, and honours the
/// user's offline mode and source replacement (a local mirror works unchanged).
fn fetch_with_cargo(out: &Path) -> PathBuf {
    let fetch = out.join("fetch");
    let tree = fetch
        .join("vendor")
        .join(format!("{CARRIER_PACKAGE}-{CARRIER_VERSION}"))
        .join("libevent");
    if tree.join("event.c").is_file() {
        return tree;
    }
    fs::create_dir_all(fetch.join("src")).expect("create fetch dir");
    fs::write(
        fetch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"libevent-sys-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[dependencies]\n\
             {CARRIER_PACKAGE} = {{ version = \"={CARRIER_VERSION}\", default-features = false }}\n"
        ),
    )
    .expect("write fetch manifest");
    fs::write(fetch.join("src/lib.rs"), "").expect("write fetch lib.rs");

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&fetch)
        .args(["vendor", "--versioned-dirs", "--quiet", "vendor"])
        // The outer build's target dir and flags must not leak into the throwaway one.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    if env::var_os("CARGO_NET_OFFLINE").is_some_and(|v| v == "true") {
        cmd.arg("--offline");
    }
    let output = cmd
        .output()
        .unwrap_or_else(|e| fail(&format!("running cargo vendor: {e}")));
    if !output.status.success() || !tree.join("event.c").is_file() {
        fail(&format!(
            "could not fetch the libevent {LIBEVENT_VERSION} tree through cargo \
             (package {CARRIER_PACKAGE} {CARRIER_VERSION}):\n{}\n\
             For an offline build, set LIBEVENT_SRC_DIR to an unpacked libevent-{LIBEVENT_VERSION} tree.",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    tree
}

/// The tree must be 2.1.12-stable: the bindings and the configuration assume it.
fn check_version(src: &Path) {
    let configure = src.join("configure.ac");
    let text = fs::read_to_string(&configure).unwrap_or_else(|e| {
        fail(&format!(
            "{} is unreadable ({e}); is this a libevent tree?",
            configure.display()
        ))
    });
    let found = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("AC_INIT(libevent,"))
        .map(|rest| rest.trim_end_matches(')').trim().to_string());
    match found {
        Some(v) if v == LIBEVENT_VERSION => {}
        Some(v) => fail(&format!(
            "{} is libevent {v}, but this crate builds exactly {LIBEVENT_VERSION}",
            src.display()
        )),
        None => fail(&format!(
            "{} names no libevent version",
            configure.display()
        )),
    }
    for needed in ["event.c", "include/event2/event.h", "event-config.h.cmake"] {
        if !src.join(needed).exists() {
            fail(&format!(
                "{} lacks {needed}; the tree is incomplete",
                src.display()
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Configuration: what CMake's and autoconf's checks compute, done with the target compiler
// ---------------------------------------------------------------------------------------

struct Target {
    os: String,
}

impl Target {
    fn from_env() -> Self {
        Target {
            os: env::var("CARGO_CFG_TARGET_OS").unwrap_or_default(),
        }
    }
    fn is_linux(&self) -> bool {
        self.os == "linux" || self.os == "android"
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Backend {
    Epoll,
    Kqueue,
    Poll,
    Select,
    Devpoll,
    EventPorts,
}

impl Backend {
    fn source(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll.c",
            Backend::Kqueue => "kqueue.c",
            Backend::Poll => "poll.c",
            Backend::Select => "select.c",
            Backend::Devpoll => "devpoll.c",
            Backend::EventPorts => "evport.c",
        }
    }
}

/// One question for the compiler. `Compile` asks whether a translation unit compiles,
/// `Link` whether a program links (functions exist in the target's libraries).
enum Check {
    Compile(String),
    Link(String),
}

struct Prober {
    dir: PathBuf,
    compiler: cc::Tool,
    defines: Vec<&'static str>,
}

impl Prober {
    fn new(target: &Target, dir: &Path) -> Self {
        fs::create_dir_all(dir).expect("create probe dir");
        let mut build = cc::Build::new();
        build.warnings(false).cargo_metadata(false);
        let mut defines = Vec::new();
        if target.is_linux() {
            defines.push("-D_GNU_SOURCE=1");
        }
        Prober {
            dir: dir.to_path_buf(),
            compiler: build.get_compiler(),
            defines,
        }
    }

    /// Runs every check, two at a time per core; returns the answers in order.
    fn run(&self, checks: &[(String, Check)]) -> Vec<bool> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        let chunk = checks.len().div_ceil(workers).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = checks
                .chunks(chunk)
                .enumerate()
                .map(|(w, part)| {
                    s.spawn(move || {
                        part.iter()
                            .enumerate()
                            .map(|(i, (_, c))| self.one(&format!("p{w}_{i}"), c))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("probe thread"))
                .collect()
        })
    }

    fn one(&self, name: &str, check: &Check) -> bool {
        let (code, link) = match check {
            Check::Compile(c) => (c, false),
            Check::Link(c) => (c, true),
        };
        let src = self.dir.join(format!("{name}.c"));
        fs::write(&src, code).expect("write probe");
        let mut cmd = self.compiler.to_command();
        cmd.args(&self.defines);
        if link {
            cmd.arg("-o").arg(self.dir.join(name));
        } else {
            cmd.arg("-c")
                .arg("-o")
                .arg(self.dir.join(format!("{name}.o")));
        }
        cmd.arg(&src);
        if link {
            // Libraries after the source, as the linker reads them in order.
            cmd.arg("-lpthread");
        }
        cmd.output().map(|o| o.status.success()).unwrap_or(false)
    }
}

const HEADERS: &[&str] = &[
    "arpa/inet.h",
    "dlfcn.h",
    "errno.h",
    "fcntl.h",
    "ifaddrs.h",
    "inttypes.h",
    "mach/mach.h",
    "mach/mach_time.h",
    "memory.h",
    "netdb.h",
    "netinet/in.h",
    "netinet/in6.h",
    "netinet/tcp.h",
    "poll.h",
    "port.h",
    "pthread.h",
    "stdarg.h",
    "stddef.h",
    "stdint.h",
    "stdlib.h",
    "string.h",
    "sys/devpoll.h",
    "sys/epoll.h",
    "sys/event.h",
    "sys/eventfd.h",
    "sys/ioctl.h",
    "sys/mman.h",
    "sys/param.h",
    "sys/queue.h",
    "sys/random.h",
    "sys/resource.h",
    "sys/select.h",
    "sys/sendfile.h",
    "sys/socket.h",
    "sys/stat.h",
    "sys/sysctl.h",
    "sys/time.h",
    "sys/timerfd.h",
    "sys/types.h",
    "sys/uio.h",
    "sys/un.h",
    "sys/wait.h",
    "unistd.h",
];

const FUNCTIONS: &[&str] = &[
    "accept4",
    "arc4random",
    "arc4random_addrandom",
    "arc4random_buf",
    "clock_gettime",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "eventfd",
    "fcntl",
    "getaddrinfo",
    "getegid",
    "geteuid",
    "gethostbyname_r",
    "getifaddrs",
    "getnameinfo",
    "getprotobynumber",
    "getrandom",
    "getservbyname",
    "gettimeofday",
    "inet_ntop",
    "inet_pton",
    "issetugid",
    "kqueue",
    "mach_absolute_time",
    "mmap",
    "nanosleep",
    "pipe",
    "pipe2",
    "poll",
    "port_create",
    "putenv",
    "select",
    "sendfile",
    "setenv",
    "setrlimit",
    "sigaction",
    "signal",
    "splice",
    "strlcpy",
    "strsep",
    "strtok_r",
    "strtoll",
    "sysctl",
    "timerfd_create",
    "umask",
    "unsetenv",
    "usleep",
    "vasprintf",
];

/// Headers that the type, member and size checks may need, included where present.
const TYPE_HEADERS: &[&str] = &[
    "sys/types.h",
    "sys/socket.h",
    "netinet/in.h",
    "netinet/in6.h",
    "sys/un.h",
    "netdb.h",
    "stdint.h",
    "inttypes.h",
    "stddef.h",
    "unistd.h",
    "sys/time.h",
    "pthread.h",
    "sys/select.h",
];

struct Config {
    defines: Vec<(String, String)>,
    backends: Vec<Backend>,
    linux: bool,
}

impl Config {
    fn probe(target: &Target, dir: &Path) -> Config {
        let prober = Prober::new(target, dir);
        let mut checks: Vec<(String, Check)> = Vec::new();

        for h in HEADERS {
            checks.push((
                format!("h:{h}"),
                Check::Compile(format!("#include <{h}>\nint probe;\n")),
            ));
        }
        for f in FUNCTIONS {
            // The autoconf way: declare the symbol with a dummy prototype and call it, so the
            // check does not depend on which header declares it, and no optimisation level
            // can drop the reference (taking its address can be folded away at -O2).
            checks.push((
                format!("f:{f}"),
                Check::Link(format!(
                    "char {f}(void);\nint main(void) {{ return {f}(); }}\n"
                )),
            ));
        }
        let std_includes = |extra: &[&str]| -> String {
            let mut s = String::new();
            for h in TYPE_HEADERS.iter().chain(extra) {
                // Each header is guarded by __has_include so one missing header does not
                // sink an unrelated check; compilers without it get the plain include.
                let _ = writeln!(
                    s,
                    "#if defined(__has_include)\n#if __has_include(<{h}>)\n#include <{h}>\n#endif\n#else\n#include <{h}>\n#endif"
                );
            }
            s
        };
        let compile = |extra: &[&str], body: &str| {
            Check::Compile(format!("{}\n{body}\n", std_includes(extra)))
        };

        for (name, ty) in [
            ("sa_family_t", "sa_family_t"),
            ("addrinfo", "struct addrinfo"),
            ("in6_addr", "struct in6_addr"),
            ("sockaddr_in6", "struct sockaddr_in6"),
            ("sockaddr_un", "struct sockaddr_un"),
            ("sockaddr_storage", "struct sockaddr_storage"),
            ("linger", "struct linger"),
            ("uint8_t", "uint8_t"),
            ("uint16_t", "uint16_t"),
            ("uint32_t", "uint32_t"),
            ("uint64_t", "uint64_t"),
            ("uintptr_t", "uintptr_t"),
            ("fd_mask", "fd_mask"),
        ] {
            checks.push((
                format!("t:{name}"),
                compile(&[], &format!("int probe = sizeof({ty});")),
            ));
        }
        for (name, ty, member) in [
            ("in6_addr.s6_addr16", "struct in6_addr", "s6_addr16"),
            ("in6_addr.s6_addr32", "struct in6_addr", "s6_addr32"),
            ("sockaddr_in6.sin6_len", "struct sockaddr_in6", "sin6_len"),
            ("sockaddr_in.sin_len", "struct sockaddr_in", "sin_len"),
            (
                "sockaddr_storage.ss_family",
                "struct sockaddr_storage",
                "ss_family",
            ),
            (
                "sockaddr_storage.__ss_family",
                "struct sockaddr_storage",
                "__ss_family",
            ),
        ] {
            checks.push((
                format!("m:{name}"),
                compile(
                    &[],
                    &format!("int probe(void) {{ {ty} x; return (int)sizeof(x.{member}); }}"),
                ),
            ));
        }
        for (name, header, sym) in [
            ("TAILQ_FOREACH", "sys/queue.h", "TAILQ_FOREACH"),
            ("timeradd", "sys/time.h", "timeradd"),
            ("timerclear", "sys/time.h", "timerclear"),
            ("timercmp", "sys/time.h", "timercmp"),
            ("timerisset", "sys/time.h", "timerisset"),
            ("F_SETFD", "fcntl.h", "F_SETFD"),
            ("CTL_KERN", "sys/sysctl.h", "CTL_KERN"),
            ("KERN_ARND", "sys/sysctl.h", "KERN_ARND"),
            ("__GNU_LIBRARY__", "features.h", "__GNU_LIBRARY__"),
        ] {
            checks.push((
                format!("s:{name}"),
                Check::Compile(format!(
                    "#include <sys/types.h>\n#include <{header}>\n#ifndef {sym}\nint probe = (int)sizeof({sym});\n#endif\nint probe2;\n"
                )),
            ));
        }
        for (name, body) in [
            ("__func__", "const char *probe(void) { return __func__; }"),
            ("__FUNCTION__", "const char *probe(void) { return __FUNCTION__; }"),
            ("time_with_sys_time", "#include <time.h>\nint probe;"),
            (
                "gethostbyname_r_6",
                "int probe(void) { struct hostent e, *r; char b[64]; int h; return gethostbyname_r(\"x\", &e, b, 64, &r, &h); }",
            ),
            (
                "gethostbyname_r_5",
                "struct hostent *probe(void) { struct hostent e; char b[64]; int h; return gethostbyname_r(\"x\", &e, b, 64, &h); }",
            ),
            (
                "gethostbyname_r_3",
                "int probe(void) { struct hostent e; struct hostent_data d; return gethostbyname_r(\"x\", &e, &d); }",
            ),
        ] {
            checks.push((format!("x:{name}"), compile(&[], body)));
        }

        // Type sizes without running anything (cross builds work): a negative array size
        // fails to compile unless the guess is right.
        let sized = [
            ("INT", "int"),
            ("LONG", "long"),
            ("LONG_LONG", "long long"),
            ("OFF_T", "off_t"),
            ("SSIZE_T", "ssize_t"),
            ("SHORT", "short"),
            ("SIZE_T", "size_t"),
            ("SOCKLEN_T", "socklen_t"),
            ("VOID_P", "void *"),
            ("TIME_T", "time_t"),
            ("PTHREAD_T", "pthread_t"),
        ];
        for (name, ty) in sized {
            for n in [1, 2, 4, 8, 16] {
                checks.push((
                    format!("z:{name}:{n}"),
                    compile(
                        &["time.h"],
                        &format!("char probe[sizeof({ty}) == {n} ? 1 : -1];"),
                    ),
                ));
            }
        }

        let answers = prober.run(&checks);
        let yes = |key: &str| {
            checks
                .iter()
                .zip(&answers)
                .find(|((k, _), _)| k == key)
                .map(|(_, a)| *a)
                .unwrap_or_else(|| panic!("no probe named {key}"))
        };
        let size_of = |name: &str| -> Option<u32> {
            [1, 2, 4, 8, 16]
                .into_iter()
                .find(|n| yes(&format!("z:{name}:{n}")))
        };

        // A compiler that cannot even find <stdlib.h> is not probing anything: stop here
        // with its own words rather than write a configuration of all "no".
        if !yes("h:stdlib.h") {
            fail(
                "the C compiler failed a trivial probe (#include <stdlib.h>); check CC and CFLAGS",
            );
        }

        let mut d: Vec<(String, String)> = Vec::new();
        let mut set = |name: &str, value: &str| d.push((name.to_string(), value.to_string()));

        for h in HEADERS {
            if yes(&format!("h:{h}")) && *h != "pthread.h" && *h != "sys/devpoll.h" {
                let macro_name =
                    format!("EVENT__HAVE_{}", h.to_uppercase().replace(['/', '.'], "_"));
                set(&macro_name, "1");
            }
        }
        for f in FUNCTIONS {
            if yes(&format!("f:{f}")) && !matches!(*f, "epoll_create") {
                set(&format!("EVENT__HAVE_{}", f.to_uppercase()), "1");
            }
        }
        // glibc's sysctl() stub links but its header is gone; libevent only wants it with the header.
        if !yes("h:sys/sysctl.h") {
            d.retain(|(k, _)| k != "EVENT__HAVE_SYSCTL");
        }
        let mut set = |name: &str, value: &str| d.push((name.to_string(), value.to_string()));

        let mut backends = Vec::new();
        if yes("h:sys/epoll.h") && yes("f:epoll_create") && yes("f:epoll_ctl") {
            set("EVENT__HAVE_EPOLL", "1");
            backends.push(Backend::Epoll);
        }
        if yes("h:sys/event.h") && yes("f:kqueue") {
            // CMake cannot run its pipe test when cross compiling or on Apple and assumes it
            // works; every kqueue this crate targets (macOS 10.5+, the BSDs) does.
            set("EVENT__HAVE_WORKING_KQUEUE", "1");
            backends.push(Backend::Kqueue);
        } else {
            d.retain(|(k, _)| k != "EVENT__HAVE_KQUEUE");
        }
        let mut set = |name: &str, value: &str| d.push((name.to_string(), value.to_string()));
        if yes("h:sys/devpoll.h") {
            set("EVENT__HAVE_DEVPOLL", "1");
            backends.push(Backend::Devpoll);
        }
        if yes("h:port.h") && yes("f:port_create") {
            set("EVENT__HAVE_EVENT_PORTS", "1");
            backends.push(Backend::EventPorts);
        }
        if yes("f:poll") && yes("h:poll.h") {
            backends.push(Backend::Poll);
        }
        if yes("f:select") {
            backends.push(Backend::Select);
        }
        if backends.is_empty() {
            fail("no event backend found: neither epoll, kqueue, poll nor select probed present");
        }

        if yes("f:clock_gettime") {
            set("EVENT__DNS_USE_CPU_CLOCK_FOR_ID", "1");
        } else if yes("f:gettimeofday") {
            set("EVENT__DNS_USE_GETTIMEOFDAY_FOR_ID", "1");
        }
        for (key, name) in [
            ("t:sa_family_t", "EVENT__HAVE_SA_FAMILY_T"),
            ("t:addrinfo", "EVENT__HAVE_STRUCT_ADDRINFO"),
            ("t:in6_addr", "EVENT__HAVE_STRUCT_IN6_ADDR"),
            ("t:sockaddr_in6", "EVENT__HAVE_STRUCT_SOCKADDR_IN6"),
            ("t:sockaddr_un", "EVENT__HAVE_STRUCT_SOCKADDR_UN"),
            ("t:sockaddr_storage", "EVENT__HAVE_STRUCT_SOCKADDR_STORAGE"),
            ("t:linger", "EVENT__HAVE_STRUCT_LINGER"),
            ("t:uint8_t", "EVENT__HAVE_UINT8_T"),
            ("t:uint16_t", "EVENT__HAVE_UINT16_T"),
            ("t:uint32_t", "EVENT__HAVE_UINT32_T"),
            ("t:uint64_t", "EVENT__HAVE_UINT64_T"),
            ("t:uintptr_t", "EVENT__HAVE_UINTPTR_T"),
            ("t:fd_mask", "EVENT__HAVE_FD_MASK"),
            (
                "m:in6_addr.s6_addr16",
                "EVENT__HAVE_STRUCT_IN6_ADDR_S6_ADDR16",
            ),
            (
                "m:in6_addr.s6_addr32",
                "EVENT__HAVE_STRUCT_IN6_ADDR_S6_ADDR32",
            ),
            (
                "m:sockaddr_in6.sin6_len",
                "EVENT__HAVE_STRUCT_SOCKADDR_IN6_SIN6_LEN",
            ),
            (
                "m:sockaddr_in.sin_len",
                "EVENT__HAVE_STRUCT_SOCKADDR_IN_SIN_LEN",
            ),
            (
                "m:sockaddr_storage.ss_family",
                "EVENT__HAVE_STRUCT_SOCKADDR_STORAGE_SS_FAMILY",
            ),
            (
                "m:sockaddr_storage.__ss_family",
                "EVENT__HAVE_STRUCT_SOCKADDR_STORAGE___SS_FAMILY",
            ),
            ("s:TAILQ_FOREACH", "EVENT__HAVE_TAILQFOREACH"),
            ("s:timeradd", "EVENT__HAVE_TIMERADD"),
            ("s:timerclear", "EVENT__HAVE_TIMERCLEAR"),
            ("s:timercmp", "EVENT__HAVE_TIMERCMP"),
            ("s:timerisset", "EVENT__HAVE_TIMERISSET"),
            ("s:F_SETFD", "EVENT__HAVE_SETFD"),
            ("x:__func__", "EVENT__HAVE___func__"),
            ("x:__FUNCTION__", "EVENT__HAVE___FUNCTION__"),
            ("x:time_with_sys_time", "EVENT__TIME_WITH_SYS_TIME"),
        ] {
            if yes(key) {
                set(name, "1");
            }
        }
        // Declarations libevent tests with #if, so they are always defined, to 0 or 1.
        set(
            "EVENT__HAVE_DECL_CTL_KERN",
            if yes("s:CTL_KERN") { "1" } else { "0" },
        );
        set(
            "EVENT__HAVE_DECL_KERN_ARND",
            if yes("s:KERN_ARND") { "1" } else { "0" },
        );
        if yes("f:gethostbyname_r") {
            set("EVENT__HAVE_GETHOSTBYNAME_R", "1");
            for n in ["6", "5", "3"] {
                if yes(&format!("x:gethostbyname_r_{n}")) {
                    set(&format!("EVENT__HAVE_GETHOSTBYNAME_R_{n}_ARG"), "1");
                    break;
                }
            }
        }
        if cfg!(feature = "threads") {
            if !yes("h:pthread.h") {
                fail("feature `threads` is on but <pthread.h> is missing");
            }
            set("EVENT__HAVE_PTHREADS", "1");
        }
        if cfg!(feature = "openssl") {
            set("EVENT__HAVE_OPENSSL", "1");
        }
        for (name, _) in sized {
            match size_of(name) {
                Some(n) => set(&format!("EVENT__SIZEOF_{name}"), &n.to_string()),
                None if name == "PTHREAD_T" && !cfg!(feature = "threads") => {}
                None => fail(&format!(
                    "could not determine sizeof({name}) for the target"
                )),
            }
        }
        Config {
            defines: d,
            backends,
            linux: target.is_linux() || yes("s:__GNU_LIBRARY__"),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.defines.iter().any(|(k, _)| k == name)
    }

    fn event_config_h(&self) -> String {
        let (major, minor, patch) = (2, 1, 12);
        let mut s = String::new();
        s.push_str(
            "/* event2/event-config.h: written by libevent-sys's build.rs from probes of the\n \
             * target C compiler, in place of CMake's event-config.h.cmake. Do not edit. */\n\
             #ifndef EVENT2_EVENT_CONFIG_H_INCLUDED_\n#define EVENT2_EVENT_CONFIG_H_INCLUDED_\n\n",
        );
        let _ = writeln!(
            s,
            "#define EVENT__NUMERIC_VERSION {LIBEVENT_NUMERIC_VERSION}"
        );
        let _ = writeln!(s, "#define EVENT__PACKAGE_VERSION \"{LIBEVENT_VERSION}\"");
        let _ = writeln!(s, "#define EVENT__VERSION_MAJOR {major}");
        let _ = writeln!(s, "#define EVENT__VERSION_MINOR {minor}");
        let _ = writeln!(s, "#define EVENT__VERSION_PATCH {patch}");
        let _ = writeln!(s, "#define EVENT__VERSION \"{LIBEVENT_VERSION}\"");
        s.push_str(
            "#define EVENT__PACKAGE \"libevent\"\n#define EVENT__PACKAGE_BUGREPORT \"\"\n\
             #define EVENT__PACKAGE_NAME \"\"\n#define EVENT__PACKAGE_STRING \"\"\n\
             #define EVENT__PACKAGE_TARNAME \"\"\n\n",
        );
        let mut defines = self.defines.clone();
        defines.sort();
        defines.dedup();
        for (k, v) in &defines {
            let _ = writeln!(s, "#define {k} {v}");
        }
        s.push_str(
            "\n#ifndef __cplusplus\n#define EVENT__inline inline\n#endif\n\
             #define EVENT__size_t size_t\n#define EVENT__ssize_t ssize_t\n\
             #define EVENT__socklen_t socklen_t\n\n#endif /* EVENT2_EVENT_CONFIG_H_INCLUDED_ */\n",
        );
        debug_assert!(self.has("EVENT__SIZEOF_INT"));
        s
    }

    fn evconfig_private_h(&self) -> String {
        let mut s = String::from(
            "/* evconfig-private.h: written by libevent-sys's build.rs. Do not edit. */\n\
             #ifndef EVCONFIG_PRIVATE_H_INCLUDED_\n#define EVCONFIG_PRIVATE_H_INCLUDED_\n",
        );
        if self.linux {
            s.push_str("#ifndef _GNU_SOURCE\n#define _GNU_SOURCE 1\n#endif\n");
        }
        s.push_str("#endif\n");
        s
    }
}

// ---------------------------------------------------------------------------------------
// Bindings
// ---------------------------------------------------------------------------------------

#[cfg(not(feature = "bindgen"))]
fn generate_bindings(_include: &[PathBuf]) {
    let target = env::var("TARGET").unwrap_or_default();
    if target != "x86_64-unknown-linux-gnu" {
        println!(
            "cargo:warning=libevent-sys: the committed bindings were generated for \
             x86_64-unknown-linux-gnu; on {target} enable feature `bindgen` for exact layouts"
        );
    }
}

#[cfg(feature = "bindgen")]
fn generate_bindings(include: &[PathBuf]) {
    let out = out_dir();
    let clang_args: Vec<String> = include
        .iter()
        .map(|i| format!("-I{}", i.display()))
        .collect();
    let common = |header: &str| {
        bindgen::Builder::default()
            .header(header)
            .clang_args(&clang_args)
            .use_core()
            .ctypes_prefix("::core::ffi")
            .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
            .derive_default(true)
            .generate_comments(false)
            .layout_tests(true)
            .formatter(bindgen::Formatter::Rustfmt)
            // libc already has these; sharing them lets callers pass libc values directly.
            .blocklist_type("timeval|sockaddr|sockaddr_in|sockaddr_in6|sockaddr_storage|addrinfo|sa_family_t|socklen_t|in_addr|in6_addr|in_port_t|in_addr_t|FILE|_IO_.*|iovec|tm")
            // va_list's layout is per target; Rust callers have the `...` versions.
            .blocklist_function(".*_vprintf|.*_vsnprintf")
            .blocklist_type("va_list|__va_list_tag|__builtin_va_list|__gnuc_va_list")
            .raw_line("#[allow(unused_imports)]")
            .raw_line("use libc::{addrinfo, in6_addr, in_addr, iovec, sa_family_t, sockaddr, sockaddr_in, sockaddr_in6, sockaddr_storage, socklen_t, timeval, tm, FILE};")
    };
    // Everything libevent declares: its functions, types and constants share these prefixes.
    let allow = "_?(ev|EV|event|EVENT|bufferevent|BEV|lev|LEV|evbuffer|EVBUFFER|evutil|EVUTIL|evthread|EVTHREAD|evhttp|EVHTTP|evdns|EVDNS|DNS|evrpc|EVRPC|evtag|evkeyval|evkeyvalq|HTTP|_EVENT|_EV).*";
    let bindings = common("wrapper.h")
        .allowlist_function(allow)
        .allowlist_type(allow)
        .allowlist_var(allow)
        .blocklist_function("bufferevent_openssl.*|bufferevent_ssl.*")
        // event-config.h's probe results describe this build, not the API; binding them
        // would make the committed file depend on the machine and the features.
        .blocklist_var("EVENT__.*|_EVENT_.*")
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen over wrapper.h failed: {e}")));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("write bindings.rs");

    if cfg!(feature = "openssl") {
        let ssl = common("wrapper_openssl.h")
            .allowlist_function("bufferevent_openssl.*|bufferevent_ssl.*")
            .allowlist_type("bufferevent_ssl_state")
            .allowlist_var("BUFFEREVENT_SSL_.*")
            .blocklist_type("bufferevent|event_base|ssl_st|SSL")
            .raw_line("use super::{bufferevent, event_base};")
            .raw_line("use openssl_sys::SSL as ssl_st;")
            .generate()
            .unwrap_or_else(|e| fail(&format!("bindgen over wrapper_openssl.h failed: {e}")));
        ssl.write_to_file(out.join("bindings_openssl.rs"))
            .expect("write bindings_openssl.rs");
    }
}
