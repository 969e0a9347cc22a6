//! The configuration: from the probes' answers to `event2/event-config.h` and
//! `evconfig-private.h`, in place of CMake's `event-config.h.cmake`.

use crate::probe::{Answers, Prober, SIZED};
use crate::{fail, Target, Version, LIBEVENT_VERSION};
use std::fmt::Write as _;
use std::path::Path;

/// An event backend and its source file.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Backend {
    Epoll,
    Kqueue,
    Poll,
    Select,
    Devpoll,
    EventPorts,
}

impl Backend {
    pub(crate) fn source(self) -> &'static str {
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

/// What the probes found: the macros to define, the backends to compile.
pub(crate) struct Config {
    defines: Vec<(String, String)>,
    pub(crate) backends: Vec<Backend>,
    linux: bool,
}

impl Config {
    /// Probes the target's compiler (in `dir`) and derives the configuration.
    pub(crate) fn probe(target: &Target, dir: &Path) -> Config {
        let probes = crate::probe::probes();
        let answers = Prober::new(target, dir).run(&probes);
        // A compiler that cannot even find <stdlib.h> is not probing anything: stop here
        // with its own words rather than write a configuration of all "no".
        if !answers.yes("h:stdlib.h") {
            fail(
                "the C compiler failed a trivial probe (#include <stdlib.h>); check CC and CFLAGS",
            );
        }
        let mut config = Config {
            defines: Vec::new(),
            backends: Vec::new(),
            linux: target.is_linux() || answers.yes("s:__GNU_LIBRARY__"),
        };
        for name in answers.direct_defines() {
            config.set(name, "1");
        }
        config.platform_rules(&answers);
        config.choose_backends(&answers);
        config.feature_rules();
        config.sizes(&answers);
        config
    }

    fn set(&mut self, name: &str, value: &str) {
        self.defines.push((name.to_string(), value.to_string()));
    }

    fn unset(&mut self, name: &str) {
        self.defines.retain(|(k, _)| k != name);
    }

    fn has(&self, name: &str) -> bool {
        self.defines.iter().any(|(k, _)| k == name)
    }

    /// Rules that combine answers, or define what a probe alone does not.
    fn platform_rules(&mut self, a: &Answers<'_>) {
        // glibc's sysctl() stub links but its header is gone; libevent only wants it with
        // the header.
        if !a.yes("h:sys/sysctl.h") {
            self.unset("EVENT__HAVE_SYSCTL");
        }
        if a.yes("f:clock_gettime") {
            self.set("EVENT__DNS_USE_CPU_CLOCK_FOR_ID", "1");
        } else if a.yes("f:gettimeofday") {
            self.set("EVENT__DNS_USE_GETTIMEOFDAY_FOR_ID", "1");
        }
        // Declarations libevent tests with #if, so they are always defined, to 0 or 1.
        for decl in ["CTL_KERN", "KERN_ARND"] {
            let value = if a.yes(&format!("s:{decl}")) {
                "1"
            } else {
                "0"
            };
            self.set(&format!("EVENT__HAVE_DECL_{decl}"), value);
        }
        if a.yes("f:gethostbyname_r") {
            if let Some(n) = ["6", "5", "3"]
                .into_iter()
                .find(|n| a.yes(&format!("x:gethostbyname_r_{n}")))
            {
                self.set(&format!("EVENT__HAVE_GETHOSTBYNAME_R_{n}_ARG"), "1");
            }
        }
    }

    fn choose_backends(&mut self, a: &Answers<'_>) {
        if a.yes("h:sys/epoll.h") && a.yes("f:epoll_create") && a.yes("f:epoll_ctl") {
            self.set("EVENT__HAVE_EPOLL", "1");
            self.backends.push(Backend::Epoll);
        }
        if a.yes("h:sys/event.h") && a.yes("f:kqueue") {
            // CMake cannot run its pipe test when cross compiling or on Apple and assumes it
            // works; every kqueue this crate targets (macOS 10.5+, the BSDs) does.
            self.set("EVENT__HAVE_WORKING_KQUEUE", "1");
            self.backends.push(Backend::Kqueue);
        } else {
            self.unset("EVENT__HAVE_KQUEUE");
        }
        if a.yes("h:sys/devpoll.h") {
            self.set("EVENT__HAVE_DEVPOLL", "1");
            self.backends.push(Backend::Devpoll);
        }
        if a.yes("h:port.h") && a.yes("f:port_create") {
            self.set("EVENT__HAVE_EVENT_PORTS", "1");
            self.backends.push(Backend::EventPorts);
        }
        if a.yes("f:poll") && a.yes("h:poll.h") {
            self.backends.push(Backend::Poll);
        }
        if a.yes("f:select") {
            self.backends.push(Backend::Select);
        }
        if self.backends.is_empty() {
            fail("no event backend found: neither epoll, kqueue, poll nor select probed present");
        }
        if cfg!(feature = "threads") && !a.yes("h:pthread.h") {
            fail("feature `threads` is on but <pthread.h> is missing");
        }
    }

    /// What this crate's features turn on.
    fn feature_rules(&mut self) {
        if cfg!(feature = "threads") {
            self.set("EVENT__HAVE_PTHREADS", "1");
        }
        if cfg!(feature = "openssl") {
            self.set("EVENT__HAVE_OPENSSL", "1");
        }
    }

    fn sizes(&mut self, a: &Answers<'_>) {
        for (name, _) in SIZED {
            match a.size_of(name) {
                Some(n) => self.set(&format!("EVENT__SIZEOF_{name}"), &n.to_string()),
                None if *name == "PTHREAD_T" && !cfg!(feature = "threads") => {}
                None => fail(&format!(
                    "could not determine sizeof({name}) for the target"
                )),
            }
        }
    }

    /// `event2/event-config.h`.
    pub(crate) fn event_config_h(&self) -> String {
        let v = Version::parse(LIBEVENT_VERSION);
        let mut s = String::new();
        s.push_str(
            "/* event2/event-config.h: written by libevent-sys's build.rs from probes of the\n \
             * target C compiler, in place of CMake's event-config.h.cmake. Do not edit. */\n\
             #ifndef EVENT2_EVENT_CONFIG_H_INCLUDED_\n#define EVENT2_EVENT_CONFIG_H_INCLUDED_\n\n",
        );
        let _ = writeln!(s, "#define EVENT__NUMERIC_VERSION {:#010x}", v.numeric());
        let _ = writeln!(s, "#define EVENT__PACKAGE_VERSION \"{LIBEVENT_VERSION}\"");
        let _ = writeln!(s, "#define EVENT__VERSION_MAJOR {}", v.major);
        let _ = writeln!(s, "#define EVENT__VERSION_MINOR {}", v.minor);
        let _ = writeln!(s, "#define EVENT__VERSION_PATCH {}", v.patch);
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

    /// `evconfig-private.h`.
    pub(crate) fn evconfig_private_h(&self) -> String {
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
