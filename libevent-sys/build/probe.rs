//! Questions for the target's C compiler: which headers, functions, types, struct members
//! and symbols it has, and how large its types are. What CMake's and autoconf's checks
//! compute, done with the compiler that builds the library (so cross builds work).
//!
//! [`probes`] is the one table: each probe carries the key the configuration rules ask
//! about and the macro its "yes" defines, if it defines one directly.

use crate::{fail, Target};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// One question for the compiler. `Compile` asks whether a translation unit compiles,
/// `Link` whether a program links (functions exist in the target's libraries).
pub(crate) enum Check {
    Compile(String),
    Link(String),
}

/// A probe: its key ("h:sys/epoll.h", "f:epoll_ctl", "z:INT:4"...), its check, and the
/// macro a "yes" defines to 1 (`None` where only the rules in config.rs use the answer).
pub(crate) struct Probe {
    pub(crate) key: String,
    pub(crate) check: Check,
    pub(crate) define: Option<String>,
}

impl Probe {
    fn new(key: String, check: Check, define: Option<String>) -> Probe {
        Probe { key, check, define }
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

/// Headers probed but not defined from the probe: `EVENT__HAVE_PTHREADS` comes from the
/// `threads` feature, `EVENT__HAVE_DEVPOLL` from the backend rule.
const HEADERS_NOT_DEFINED: &[&str] = &["pthread.h", "sys/devpoll.h"];

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

/// Functions probed but not defined from the probe: upstream has no
/// `EVENT__HAVE_EPOLL_CREATE` (the backend rule uses the answer).
const FUNCTIONS_NOT_DEFINED: &[&str] = &["epoll_create"];

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

/// Types: (key, C type, macro).
const TYPES: &[(&str, &str, &str)] = &[
    ("sa_family_t", "sa_family_t", "EVENT__HAVE_SA_FAMILY_T"),
    ("addrinfo", "struct addrinfo", "EVENT__HAVE_STRUCT_ADDRINFO"),
    ("in6_addr", "struct in6_addr", "EVENT__HAVE_STRUCT_IN6_ADDR"),
    (
        "sockaddr_in6",
        "struct sockaddr_in6",
        "EVENT__HAVE_STRUCT_SOCKADDR_IN6",
    ),
    (
        "sockaddr_un",
        "struct sockaddr_un",
        "EVENT__HAVE_STRUCT_SOCKADDR_UN",
    ),
    (
        "sockaddr_storage",
        "struct sockaddr_storage",
        "EVENT__HAVE_STRUCT_SOCKADDR_STORAGE",
    ),
    ("linger", "struct linger", "EVENT__HAVE_STRUCT_LINGER"),
    ("uint8_t", "uint8_t", "EVENT__HAVE_UINT8_T"),
    ("uint16_t", "uint16_t", "EVENT__HAVE_UINT16_T"),
    ("uint32_t", "uint32_t", "EVENT__HAVE_UINT32_T"),
    ("uint64_t", "uint64_t", "EVENT__HAVE_UINT64_T"),
    ("uintptr_t", "uintptr_t", "EVENT__HAVE_UINTPTR_T"),
    ("fd_mask", "fd_mask", "EVENT__HAVE_FD_MASK"),
];

/// Struct members: (key, struct, member, macro).
const MEMBERS: &[(&str, &str, &str, &str)] = &[
    (
        "in6_addr.s6_addr16",
        "struct in6_addr",
        "s6_addr16",
        "EVENT__HAVE_STRUCT_IN6_ADDR_S6_ADDR16",
    ),
    (
        "in6_addr.s6_addr32",
        "struct in6_addr",
        "s6_addr32",
        "EVENT__HAVE_STRUCT_IN6_ADDR_S6_ADDR32",
    ),
    (
        "sockaddr_in6.sin6_len",
        "struct sockaddr_in6",
        "sin6_len",
        "EVENT__HAVE_STRUCT_SOCKADDR_IN6_SIN6_LEN",
    ),
    (
        "sockaddr_in.sin_len",
        "struct sockaddr_in",
        "sin_len",
        "EVENT__HAVE_STRUCT_SOCKADDR_IN_SIN_LEN",
    ),
    (
        "sockaddr_storage.ss_family",
        "struct sockaddr_storage",
        "ss_family",
        "EVENT__HAVE_STRUCT_SOCKADDR_STORAGE_SS_FAMILY",
    ),
    (
        "sockaddr_storage.__ss_family",
        "struct sockaddr_storage",
        "__ss_family",
        "EVENT__HAVE_STRUCT_SOCKADDR_STORAGE___SS_FAMILY",
    ),
];

/// Symbols a header defines (macros or declarations): (key, header, symbol, macro).
const SYMBOLS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "TAILQ_FOREACH",
        "sys/queue.h",
        "TAILQ_FOREACH",
        Some("EVENT__HAVE_TAILQFOREACH"),
    ),
    (
        "timeradd",
        "sys/time.h",
        "timeradd",
        Some("EVENT__HAVE_TIMERADD"),
    ),
    (
        "timerclear",
        "sys/time.h",
        "timerclear",
        Some("EVENT__HAVE_TIMERCLEAR"),
    ),
    (
        "timercmp",
        "sys/time.h",
        "timercmp",
        Some("EVENT__HAVE_TIMERCMP"),
    ),
    (
        "timerisset",
        "sys/time.h",
        "timerisset",
        Some("EVENT__HAVE_TIMERISSET"),
    ),
    ("F_SETFD", "fcntl.h", "F_SETFD", Some("EVENT__HAVE_SETFD")),
    // Declarations libevent tests with #if: config.rs defines them to 0 or 1.
    ("CTL_KERN", "sys/sysctl.h", "CTL_KERN", None),
    ("KERN_ARND", "sys/sysctl.h", "KERN_ARND", None),
    ("__GNU_LIBRARY__", "features.h", "__GNU_LIBRARY__", None),
];

/// Translation units that compile or not: (key, body, macro).
const SNIPPETS: &[(&str, &str, Option<&str>)] = &[
    ("__func__", "const char *probe(void) { return __func__; }", Some("EVENT__HAVE___func__")),
    ("__FUNCTION__", "const char *probe(void) { return __FUNCTION__; }", Some("EVENT__HAVE___FUNCTION__")),
    ("time_with_sys_time", "#include <time.h>\nint probe;", Some("EVENT__TIME_WITH_SYS_TIME")),
    // The three gethostbyname_r signatures: config.rs defines the first that compiles.
    (
        "gethostbyname_r_6",
        "int probe(void) { struct hostent e, *r; char b[64]; int h; return gethostbyname_r(\"x\", &e, b, 64, &r, &h); }",
        None,
    ),
    (
        "gethostbyname_r_5",
        "struct hostent *probe(void) { struct hostent e; char b[64]; int h; return gethostbyname_r(\"x\", &e, b, 64, &h); }",
        None,
    ),
    (
        "gethostbyname_r_3",
        "int probe(void) { struct hostent e; struct hostent_data d; return gethostbyname_r(\"x\", &e, &d); }",
        None,
    ),
];

/// Types whose size the configuration states: (`EVENT__SIZEOF_` suffix, C type).
pub(crate) const SIZED: &[(&str, &str)] = &[
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

/// The sizes a type may have.
pub(crate) const SIZES: [u32; 5] = [1, 2, 4, 8, 16];

/// `TYPE_HEADERS` (and `extra`), each guarded by `__has_include` so one missing header
/// does not sink an unrelated check; compilers without it get the plain include.
fn std_includes(extra: &[&str]) -> String {
    let mut s = String::new();
    for h in TYPE_HEADERS.iter().chain(extra) {
        let _ = writeln!(
            s,
            "#if defined(__has_include)\n#if __has_include(<{h}>)\n#include <{h}>\n#endif\n#else\n#include <{h}>\n#endif"
        );
    }
    s
}

fn with_std_includes(extra: &[&str], body: &str) -> Check {
    Check::Compile(format!("{}\n{body}\n", std_includes(extra)))
}

/// Every probe, in one table.
pub(crate) fn probes() -> Vec<Probe> {
    let mut p = Vec::new();
    for h in HEADERS {
        let define = (!HEADERS_NOT_DEFINED.contains(h))
            .then(|| format!("EVENT__HAVE_{}", h.to_uppercase().replace(['/', '.'], "_")));
        let check = Check::Compile(format!("#include <{h}>\nint probe;\n"));
        p.push(Probe::new(format!("h:{h}"), check, define));
    }
    for f in FUNCTIONS {
        // The autoconf way: declare the symbol with a dummy prototype and call it, so the
        // check does not depend on which header declares it, and no optimisation level
        // can drop the reference (taking its address can be folded away at -O2).
        let check = Check::Link(format!(
            "char {f}(void);\nint main(void) {{ return {f}(); }}\n"
        ));
        let define = (!FUNCTIONS_NOT_DEFINED.contains(f))
            .then(|| format!("EVENT__HAVE_{}", f.to_uppercase()));
        p.push(Probe::new(format!("f:{f}"), check, define));
    }
    for (key, ty, define) in TYPES {
        let check = with_std_includes(&[], &format!("int probe = sizeof({ty});"));
        p.push(Probe::new(
            format!("t:{key}"),
            check,
            Some(define.to_string()),
        ));
    }
    for (key, ty, member, define) in MEMBERS {
        let body = format!("int probe(void) {{ {ty} x; return (int)sizeof(x.{member}); }}");
        let check = with_std_includes(&[], &body);
        p.push(Probe::new(
            format!("m:{key}"),
            check,
            Some(define.to_string()),
        ));
    }
    for (key, header, sym, define) in SYMBOLS {
        let check = Check::Compile(format!(
            "#include <sys/types.h>\n#include <{header}>\n#ifndef {sym}\nint probe = (int)sizeof({sym});\n#endif\nint probe2;\n"
        ));
        p.push(Probe::new(
            format!("s:{key}"),
            check,
            define.map(str::to_string),
        ));
    }
    for (key, body, define) in SNIPPETS {
        let check = with_std_includes(&[], body);
        p.push(Probe::new(
            format!("x:{key}"),
            check,
            define.map(str::to_string),
        ));
    }
    // Type sizes without running anything (cross builds work): a negative array size
    // fails to compile unless the guess is right.
    for (name, ty) in SIZED {
        for n in SIZES {
            let body = format!("char probe[sizeof({ty}) == {n} ? 1 : -1];");
            let check = with_std_includes(&["time.h"], &body);
            p.push(Probe::new(format!("z:{name}:{n}"), check, None));
        }
    }
    p
}

/// The answers of a probe run, by key.
pub(crate) struct Answers<'a> {
    probes: &'a [Probe],
    yes: Vec<bool>,
}

impl Answers<'_> {
    /// The answer to the probe `key`; a key that names no probe is a bug of this script.
    pub(crate) fn yes(&self, key: &str) -> bool {
        self.probes
            .iter()
            .zip(&self.yes)
            .find(|(p, _)| p.key == key)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no probe named {key}"))
    }

    /// The macros that the "yes" answers define directly.
    pub(crate) fn direct_defines(&self) -> impl Iterator<Item = &str> {
        self.probes
            .iter()
            .zip(&self.yes)
            .filter(|(_, yes)| **yes)
            .filter_map(|(p, _)| p.define.as_deref())
    }

    /// `sizeof(name)` from the `z:` probes, if one size fitted.
    pub(crate) fn size_of(&self, name: &str) -> Option<u32> {
        SIZES
            .into_iter()
            .find(|n| self.yes(&format!("z:{name}:{n}")))
    }
}

/// Runs probes with the target's C compiler, in a directory of its own.
pub(crate) struct Prober {
    dir: PathBuf,
    compiler: cc::Tool,
    defines: Vec<&'static str>,
}

impl Prober {
    pub(crate) fn new(target: &Target, dir: &Path) -> Self {
        fs::create_dir_all(dir)
            .unwrap_or_else(|e| fail(&format!("creating {}: {e}", dir.display())));
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

    /// Runs every probe, two at a time per core.
    pub(crate) fn run<'a>(&self, probes: &'a [Probe]) -> Answers<'a> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        let chunk = probes.len().div_ceil(workers).max(1);
        let yes = std::thread::scope(|s| {
            let handles: Vec<_> = probes
                .chunks(chunk)
                .enumerate()
                .map(|(w, part)| {
                    s.spawn(move || {
                        part.iter()
                            .enumerate()
                            .map(|(i, p)| self.one(&format!("p{w}_{i}"), &p.check))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("probe thread"))
                .collect()
        });
        Answers { probes, yes }
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
