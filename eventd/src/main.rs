//! eventd: the uppercase daemon of "PHP Daemon, part III", on libevent.

mod alloc;
mod config;
mod daemon;
mod log;
mod protocol;
mod server;

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Raises the soft limit on open files to the hard one: every connection is a descriptor,
/// and `--max-connections` in the thousands is ordinary.
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; setrlimit only reads it.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() {
    // Before anything uses libevent.
    alloc::install();
    let cfg = config::Config::from_args();
    if let Err(e) = run(cfg) {
        eprintln!("eventd: {e:#}");
        std::process::exit(1);
    }
}

fn run(mut cfg: config::Config) -> Result<()> {
    raise_nofile();
    // --daemonize changes directory to /, so relative paths are resolved first.
    cfg.pid_file = cfg.pid_file.as_deref().map(absolute);
    cfg.log_file = cfg.log_file.as_deref().map(absolute);

    let log = match &cfg.log_file {
        Some(p) => {
            log::Log::file(p).with_context(|| format!("cannot open log file {}", p.display()))?
        }
        None => log::Log::stdout(),
    };
    // Fork before the event base exists: a base does not survive fork without reinit.
    let ready = if cfg.daemonize {
        daemon::detach().context("cannot daemonize")?
    } else {
        daemon::Ready::none()
    };
    let (server, _addr) = server::Server::bind(cfg.clone(), log)?;
    let _pid = cfg
        .pid_file
        .as_deref()
        .map(|p| {
            daemon::PidFile::create(p)
                .with_context(|| format!("cannot write pid file {}", p.display()))
        })
        .transpose()?;
    ready.signal();
    server.run()
}
