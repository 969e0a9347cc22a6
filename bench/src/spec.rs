//! What the matrix measures: the servers and the load modes (the scale runner starts
//! the same servers).

use std::path::{Path, PathBuf};

/// The target directory (inside this build's) that `eventd-upstream` is built into.
pub const UPSTREAM_TARGET: &str = "exact-upstream";

/// A server under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    Eventd,
    /// eventd on libevent built in upstream's exact configuration (libevent-sys feature
    /// `exact-upstream`: `evbuffer_read` asks FIONREAD before each read). Built into
    /// `<target>/exact-upstream` on demand; not in the default set.
    EventdUpstream,
    EventdW2,
    CReference,
    TokioCurrent,
    TokioMulti,
    /// examples/async_eventd.rs: the protocol in async style on the safe crate's executor
    /// and streams (the `libevent` package's example, built on demand).
    AsyncEventd,
}

impl Server {
    /// The servers a plain `matrix` run measures.
    pub const DEFAULT: [Server; 6] = [
        Server::Eventd,
        Server::EventdW2,
        Server::CReference,
        Server::TokioCurrent,
        Server::TokioMulti,
        Server::AsyncEventd,
    ];

    /// Every server `--servers` may name.
    pub const ALL: [Server; 7] = [
        Server::Eventd,
        Server::EventdUpstream,
        Server::EventdW2,
        Server::CReference,
        Server::TokioCurrent,
        Server::TokioMulti,
        Server::AsyncEventd,
    ];

    /// The servers that speak the protocol over TLS (`--tls`).
    pub const TLS: [Server; 4] = [
        Server::Eventd,
        Server::CReference,
        Server::TokioCurrent,
        Server::TokioMulti,
    ];

    /// The ratios the report gives: (server, the server it is measured against).
    pub const PAIRS: [(Server, Server); 7] = [
        (Server::Eventd, Server::CReference),
        (Server::Eventd, Server::TokioCurrent),
        (Server::EventdW2, Server::TokioMulti),
        (Server::EventdUpstream, Server::TokioCurrent),
        (Server::Eventd, Server::EventdUpstream),
        (Server::AsyncEventd, Server::Eventd),
        (Server::AsyncEventd, Server::TokioCurrent),
    ];

    /// Its name in flags and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Server::Eventd => "eventd",
            Server::EventdUpstream => "eventd-upstream",
            Server::EventdW2 => "eventd-w2",
            Server::CReference => "c-reference",
            Server::TokioCurrent => "tokio-current",
            Server::TokioMulti => "tokio-multi",
            Server::AsyncEventd => "async-eventd",
        }
    }

    /// The binary it runs.
    pub fn bin(self) -> &'static str {
        match self {
            Server::Eventd | Server::EventdW2 | Server::EventdUpstream => "eventd",
            Server::CReference => "c-reference",
            Server::TokioCurrent | Server::TokioMulti => "tokio-reference",
            Server::AsyncEventd => "async_eventd",
        }
    }

    /// Flags beyond the common `--listen`, `--timeout`, `--max-connections`. eventd's log
    /// is part of its protocol: it still formats and writes every line, to /dev/null.
    pub fn extra_args(self) -> &'static [&'static str] {
        match self {
            Server::Eventd | Server::EventdUpstream => &["--log-file", "/dev/null"],
            Server::EventdW2 => &["--log-file", "/dev/null", "--workers", "2"],
            // Logs to standard output, which the matrix sends to /dev/null.
            Server::CReference | Server::AsyncEventd => &[],
            Server::TokioCurrent => &["--runtime", "current"],
            Server::TokioMulti => &["--runtime", "multi"],
        }
    }

    /// Threads the server runs its loops on: one is pinned to a core, more are not.
    pub fn threads(self) -> usize {
        match self {
            Server::Eventd
            | Server::EventdUpstream
            | Server::CReference
            | Server::TokioCurrent
            | Server::AsyncEventd => 1,
            Server::EventdW2 | Server::TokioMulti => 2,
        }
    }

    /// Where its binary is, given the directory of this build's binaries
    /// (`<target>/<profile>`).
    pub fn path(self, dir: &Path) -> PathBuf {
        match self {
            Server::EventdUpstream => {
                let profile = dir.file_name().unwrap_or_default();
                let target = dir.parent().unwrap_or(dir);
                target.join(UPSTREAM_TARGET).join(profile).join(self.bin())
            }
            Server::AsyncEventd => dir.join("examples").join(self.bin()),
            _ => dir.join(self.bin()),
        }
    }

    pub fn parse(s: &str) -> Result<Server, String> {
        by_name("--servers", s, &Server::ALL, |k| k.name())
    }
}

/// A load mode of `loadgen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Each connection loops request, reply: requests per second and latency.
    PingPong,
    /// Each slot loops connect, one request, QUIT: connections per second.
    Churn,
    /// Connections held open: server RSS per connection.
    Idle,
    /// Ping-pong on 1% of the connections, the rest held idle (`loadgen --active 0.01`):
    /// a server with many clients of which few talk at once. Not in the default set.
    Active,
}

impl Mode {
    /// What a plain `matrix` run measures.
    pub const DEFAULT: [Mode; 3] = [Mode::PingPong, Mode::Churn, Mode::Idle];
    /// Every mode `--modes` may name.
    pub const ALL: [Mode; 4] = [Mode::PingPong, Mode::Churn, Mode::Idle, Mode::Active];

    /// Its name for `loadgen --mode` and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Mode::PingPong => "pingpong",
            Mode::Churn => "churn",
            Mode::Idle => "idle",
            Mode::Active => "active1",
        }
    }

    /// How `loadgen` is told to run it.
    pub fn loadgen_args(self) -> &'static [&'static str] {
        match self {
            Mode::PingPong => &["--mode", "pingpong"],
            Mode::Churn => &["--mode", "churn"],
            Mode::Idle => &["--mode", "idle"],
            Mode::Active => &["--mode", "pingpong", "--active", "0.01"],
        }
    }

    /// What its table shows.
    pub fn figure(self) -> &'static str {
        match self {
            Mode::PingPong => "requests per second (p99 latency in µs)",
            Mode::Churn => "connections per second (connect, one request, QUIT)",
            Mode::Idle => "server RSS per idle connection, bytes",
            Mode::Active => {
                "requests per second with 1% of the connections active (p99 latency in µs)"
            }
        }
    }

    /// True for the modes measured in operations per second (not idle memory).
    pub fn is_throughput(self) -> bool {
        self != Mode::Idle
    }

    pub fn parse(s: &str) -> Result<Mode, String> {
        by_name("--modes", s, &Mode::ALL, |m| m.name())
    }
}

/// The value of `all` named `s`, or an error for `flag` listing the names.
fn by_name<T: Copy>(
    flag: &str,
    s: &str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, String> {
    all.iter().copied().find(|&v| name(v) == s).ok_or_else(|| {
        let names: Vec<_> = all.iter().map(|&v| name(v)).collect();
        format!("{flag}: {s}? ({})", names.join(", "))
    })
}
