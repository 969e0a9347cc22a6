//! The command line.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn backlog(s: &str) -> Result<i32, String> {
    let n = at_least_one(s)?;
    i32::try_from(n).map_err(|_| format!("must be at most {}", i32::MAX))
}

fn workers(s: &str) -> Result<usize, String> {
    let n = at_least_one(s)?;
    if n > 256 {
        return Err("must be at most 256".into());
    }
    Ok(n)
}

fn seconds(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    // libevent keeps timeouts in a struct timeval; a year is far beyond any use.
    if n > 365 * 24 * 3600 {
        return Err("must be at most 31536000 (a year)".into());
    }
    Ok(n)
}

/// The uppercase daemon of "PHP Daemon, part III", on libevent.
#[derive(Parser, Debug, Clone)]
#[command(name = "eventd", version, about)]
pub struct Config {
    /// Address to listen on (IPv4 or `[IPv6]:port`).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:1234")]
    pub listen: SocketAddr,

    /// Read and write timeout per connection, in seconds; 0 turns timeouts off.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = seconds, allow_negative_numbers = true)]
    pub timeout: u64,

    /// Connections served at once; more wait in the kernel's backlog.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = at_least_one, allow_negative_numbers = true)]
    pub max_connections: usize,

    /// Bytes after which a message without CRLF is answered anyway.
    #[arg(long, value_name = "BYTES", default_value_t = 1000, value_parser = at_least_one, allow_negative_numbers = true)]
    pub max_message: usize,

    /// Read high watermark of each connection's bufferevent.
    #[arg(long, value_name = "BYTES", default_value_t = 0xff_ffff, value_parser = at_least_one, allow_negative_numbers = true)]
    pub read_high_watermark: usize,

    /// Unsent output above which reading from that client pauses.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20, value_parser = at_least_one, allow_negative_numbers = true)]
    pub output_limit: usize,

    /// Length of the kernel's queue of connections not yet accepted (listen(2); the
    /// kernel caps it at net.core.somaxconn).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = backlog, allow_negative_numbers = true)]
    pub backlog: i32,

    /// Event loops, each on its own thread with its own listener on the port
    /// (SO_REUSEPORT); the connection limit is shared. With more than one, connection
    /// ids are still unique but log lines of different workers interleave.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,

    /// Set SO_REUSEPORT on the listener even with one worker, so that several eventd
    /// processes can listen on one port and the kernel spreads new connections over
    /// them. Each process keeps its own --max-connections.
    #[arg(long)]
    pub reuse_port: bool,

    /// Detach from the terminal and run in the background.
    #[arg(long)]
    pub daemonize: bool,

    /// Write the process id here (removed on exit).
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,

    /// Append the log here instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Serve GET /metrics (Prometheus text format) and GET /healthz on this address,
    /// from the first worker's event loop. Off by default.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,

    /// Serve the protocol over TLS with this certificate chain (PEM); needs --tls-key
    /// and a build with feature `tls`.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Config {
    /// Parses the arguments; on a bad one prints a single line naming the flag and exits 2.
    pub fn from_args() -> Config {
        match Config::try_parse() {
            Ok(c) => c,
            Err(e) => {
                use clap::error::ErrorKind;
                if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                    let _ = e.print();
                    std::process::exit(0);
                }
                let text = e.render().to_string();
                let line = text
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid arguments");
                eprintln!("eventd: {}", line.trim_start_matches("error: "));
                std::process::exit(2);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_originals() {
        let c = Config::try_parse_from(["eventd"]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:1234".parse().unwrap());
        assert_eq!(
            (c.timeout, c.max_connections, c.max_message),
            (10, 100, 1000)
        );
        assert_eq!((c.read_high_watermark, c.output_limit), (0xffffff, 1 << 20));
        assert_eq!((c.workers, c.backlog), (1, 1024));
    }

    #[test]
    fn ipv6_and_bad_values() {
        let c = Config::try_parse_from(["eventd", "--listen", "[::1]:9"]).unwrap();
        assert!(c.listen.is_ipv6());
        for bad in [
            ["--timeout", "x"],
            ["--max-connections", "0"],
            ["--listen", "nowhere"],
            ["--output-limit", "-1"],
            ["--workers", "0"],
            ["--backlog", "0"],
            ["--backlog", "4294967296"],
            ["--workers", "257"],
        ] {
            let e = Config::try_parse_from(["eventd", bad[0], bad[1]]).unwrap_err();
            assert_eq!(e.exit_code(), 2);
            assert!(e.to_string().contains(bad[0]), "{e}");
        }
    }
}
