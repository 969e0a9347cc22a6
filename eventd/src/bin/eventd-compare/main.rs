//! eventd-compare: drives two servers with the same generated sessions and reports
//! where they differ, shrinking the first difference to a minimal session.
//!
//! ```text
//! eventd-compare --original daemon.php --known-differences      # the PHP original against eventd
//! eventd-compare --reference 'CMD {port}' --candidate 'CMD {port}' [--sessions N] [--seed S]
//! ```
//!
//! `--original FILE` runs FILE, a program for PHP 5's pecl libevent extension, under
//! compat/php/run-pecl (PHP 8 over the real libevent) as the reference, and eventd
//! (built beside this binary) as the candidate. docs/compare.md has the whole story.

mod diff;
mod drive;
mod generate;
mod server;
mod session;
mod shrink;

use anyhow::{bail, Context, Result};
use clap::Parser;
use diff::{Fix, Verdict};
use drive::{Observed, Timing};
use serde_json::{json, Value};
use server::Server;
use session::{escape, Session};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "eventd-compare",
    about = "Drive two servers with the same generated sessions and report where they differ"
)]
struct Args {
    /// The reference server: a shell command with {port} where it must listen.
    #[arg(long, value_name = "CMD")]
    reference: Option<String>,
    /// The server compared with it (default with --original: the eventd beside this binary).
    #[arg(long, value_name = "CMD")]
    candidate: Option<String>,
    /// A program for the pecl libevent extension (the article's daemon) as the
    /// reference, run by compat/php/run-pecl --listen 127.0.0.1:{port}.
    #[arg(long, value_name = "FILE", conflicts_with = "reference")]
    original: Option<PathBuf>,
    /// How many generated sessions.
    #[arg(long, default_value_t = 1000)]
    sessions: u64,
    /// The seed of the sessions (default: from the clock; printed, to run them again).
    #[arg(long)]
    seed: Option<u64>,
    /// Run the sessions of this JSON file (one session, or a list) instead of generating.
    #[arg(long, value_name = "FILE")]
    session: Option<PathBuf>,
    /// Report the differences eventd's documented fixes explain apart, not as failures.
    #[arg(long)]
    known_differences: bool,
    /// Also write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Go on after the first difference (each one is still counted; only the first is shrunk).
    #[arg(long)]
    keep_going: bool,
    /// How long nothing must arrive before a step counts as answered, in milliseconds.
    #[arg(long, default_value_t = 40)]
    quiet_ms: u64,
    /// The most runs shrinking may take.
    #[arg(long, default_value_t = 400)]
    shrink_budget: usize,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("eventd-compare: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// compat/php/run-pecl of this source tree.
fn run_pecl() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../compat/php/run-pecl")
}

/// The eventd built beside this binary; under `cargo run`, built first.
fn eventd_beside() -> Result<PathBuf> {
    let me = std::env::current_exe().context("finding this binary")?;
    let dir = me
        .parent()
        .context("this binary's directory")?
        .to_path_buf();
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-q", "-p", "eventd", "--bin", "eventd"]);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        if !cmd.status().context("cargo build -p eventd")?.success() {
            bail!("cargo build -p eventd failed");
        }
    }
    let eventd = dir.join("eventd");
    if !eventd.exists() {
        bail!(
            "no eventd beside {} (build it: cargo build --release -p eventd), or name the candidate with --candidate",
            me.display()
        );
    }
    Ok(eventd)
}

fn quote(p: &std::path::Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

struct Pair {
    reference: Server,
    candidate: Server,
    timing: Timing,
}

impl Pair {
    fn observe(&mut self, s: &Session) -> Result<(Observed, Observed)> {
        let (r, c) = std::thread::scope(|scope| {
            let r = scope.spawn(|| drive::run(&self.reference, s, self.timing));
            let c = drive::run(&self.candidate, s, self.timing);
            (r.join().expect("the reference's driver panicked"), c)
        });
        self.reference.check_alive()?;
        self.candidate.check_alive()?;
        Ok((r?, c?))
    }
}

fn load_sessions(path: &PathBuf) -> Result<Vec<Session>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let list = match &v {
        Value::Array(a) => a.clone(),
        _ => vec![v],
    };
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            Session::from_json(s).with_context(|| format!("{}: session {}", path.display(), i + 1))
        })
        .collect()
}

fn run(args: Args) -> Result<bool> {
    let (reference, candidate) = match (&args.original, &args.reference, &args.candidate) {
        (Some(file), _, cand) => {
            if !file.is_file() {
                bail!("--original {}: no such file (the article's daemon is yours to bring: docs/compare.md)", file.display());
            }
            let file = std::fs::canonicalize(file)?;
            let reference = format!("{} --listen 127.0.0.1:{{port}} {}", quote(&run_pecl()), quote(&file));
            let candidate = match cand {
                Some(c) => c.clone(),
                None => format!("{} --listen 127.0.0.1:{{port}}", quote(&eventd_beside()?)),
            };
            (reference, candidate)
        }
        (None, Some(r), Some(c)) => (r.clone(), c.clone()),
        _ => bail!("name the two servers: --reference 'CMD {{port}}' --candidate 'CMD {{port}}', or --original FILE"),
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let sessions: Vec<Session> = match &args.session {
        Some(path) => load_sessions(path)?,
        None => (0..args.sessions)
            .map(|i| generate::session(seed, i))
            .collect(),
    };
    // run-pecl loads the libevent this build links, unless told otherwise.
    let mut env = Vec::new();
    if std::env::var_os("LIBEVENT_PHP_LIB").is_none() {
        if let Some(lib) = option_env!("EVENTD_LIBEVENT_SHARED") {
            if std::path::Path::new(lib).exists() {
                env.push(("LIBEVENT_PHP_LIB".to_string(), lib.to_string()));
            }
        }
    }
    let mut pair = Pair {
        reference: Server::start("reference", &reference, &env)?,
        candidate: Server::start("candidate", &candidate, &env)?,
        timing: Timing {
            quiet: Duration::from_millis(args.quiet_ms.max(1)),
            cap: Duration::from_secs(10),
        },
    };
    println!("reference: {}", pair.reference.command);
    println!("candidate: {}", pair.candidate.command);
    match &args.session {
        Some(p) => println!("sessions:  {} from {}", sessions.len(), p.display()),
        None => println!("sessions:  {} generated, seed {seed}", sessions.len()),
    }

    let started = Instant::now();
    let mut identical = 0u64;
    let mut unstable = 0u64;
    let mut different = 0u64;
    let mut known: BTreeMap<Fix, (u64, Session)> = BTreeMap::new();
    let mut first: Option<Value> = None;
    let mut run_count = 0u64;
    for (i, s) in sessions.iter().enumerate() {
        run_count += 1;
        let (r, c) = pair.observe(s)?;
        match diff::compare(s, &r, &c, args.known_differences) {
            Verdict::Same => identical += 1,
            Verdict::Known(fixes) => {
                for f in fixes {
                    known.entry(f).or_insert((0, s.clone())).0 += 1;
                }
            }
            Verdict::Different(_) => {
                // A difference counts once it shows again.
                let (r2, c2) = pair.observe(s)?;
                let again = diff::compare(s, &r2, &c2, args.known_differences);
                if !matches!(again, Verdict::Different(_)) {
                    unstable += 1;
                    continue;
                }
                different += 1;
                if first.is_none() {
                    first = Some(report_difference(&mut pair, i, s, &args)?);
                }
                if !args.keep_going {
                    break;
                }
            }
        }
        if (i + 1) % 100 == 0 {
            eprintln!(
                "  {} sessions, {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }

    let known_total: u64 = known.values().map(|(n, _)| n).sum();
    println!();
    println!(
        "{run_count} sessions run in {:.0} s: {identical} identical, {known_total} different where a fix of eventd's says so, {different} different{}",
        started.elapsed().as_secs_f64(),
        if unstable > 0 {
            format!(" ({unstable} more differed once and not again: timing, not counted)")
        } else {
            String::new()
        }
    );
    for (f, (n, example)) in &known {
        println!("  {n:>5}  {}", f.what());
        println!("         for example:\n{}", indent(&example.describe(), 9));
    }
    let verdict = if different == 0 {
        if known_total == 0 {
            "the two servers are identical on every session"
        } else {
            "the two servers differ only where eventd's documented fixes say"
        }
    } else {
        "the two servers differ"
    };
    println!("verdict: {verdict}");

    if let Some(path) = &args.json {
        let report = json!({
            "reference": pair.reference.command,
            "candidate": pair.candidate.command,
            "seed": if args.session.is_some() { Value::Null } else { json!(seed) },
            "sessions": run_count,
            "identical": identical,
            "known_differences": known.iter().map(|(f, (n, s))| json!({"fix": f.id(), "what": f.what(), "sessions": n, "example": s.to_json()})).collect::<Vec<_>>(),
            "different": different,
            "unstable": unstable,
            "first_difference": first.clone().unwrap_or(Value::Null),
            "verdict": verdict,
            "ok": different == 0,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(different == 0)
}

/// Shrinks the difference, prints it side by side, and returns it for the JSON report.
fn report_difference(pair: &mut Pair, index: usize, s: &Session, args: &Args) -> Result<Value> {
    println!("\nsession {} differs; shrinking it...", index + 1);
    let known = args.known_differences;
    let (small, runs) = shrink::shrink(s.clone(), args.shrink_budget, |c| {
        let (r, k) = pair.observe(c)?;
        Ok(matches!(
            diff::compare(c, &r, &k, known),
            Verdict::Different(_)
        ))
    })?;
    let (r, c) = pair.observe(&small)?;
    let what = match diff::compare(&small, &r, &c, known) {
        Verdict::Different(lines) => lines,
        _ => vec!["(the shrunk session did not differ on its last run: timing)".to_string()],
    };
    println!(
        "shrunk in {runs} runs from {} steps and {} bytes to:\n{}",
        s.steps.len(),
        s.bytes(),
        indent(&small.describe(), 2)
    );
    println!("{}", side_by_side(&small, &r, &c));
    for l in &what {
        println!("  differs: {l}");
    }
    println!("  to run it again: save the \"shrunk\" session of --json's report to a file and pass --session FILE");
    Ok(json!({
        "session_index": index,
        "session": s.to_json(),
        "shrunk": small.to_json(),
        "shrink_runs": runs,
        "differs": what,
        "reference": observed_json(&r),
        "candidate": observed_json(&c),
    }))
}

fn observed_json(o: &Observed) -> Value {
    json!({
        "conns": o.conns.iter().map(|c| json!({
            "received": session::latin1(&c.received),
            "server_closed_after_step": c.server_closed.map(|s| s + 1),
            "reset": c.reset,
        })).collect::<Vec<_>>(),
        "log": diff::masked_log(&o.log),
    })
}

fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

const COL: usize = 44;

/// What each side showed, in two columns.
fn side_by_side(s: &Session, r: &Observed, c: &Observed) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let n = s.steps.len();
    let closed = |x: &drive::ConnSeen| format!("by {}", diff::closed(x, n));
    for i in 0..s.conns {
        rows.push((
            format!("conn {i} received"),
            escape(&r.conns[i].received),
            escape(&c.conns[i].received),
        ));
        rows.push((
            format!("conn {i} closed"),
            closed(&r.conns[i]),
            closed(&c.conns[i]),
        ));
    }
    let (rl, cl) = (diff::masked_log(&r.log), diff::masked_log(&c.log));
    for k in 0..rl.len().max(cl.len()) {
        let strip = |v: &Vec<String>| {
            v.get(k)
                .map(|l| l.trim_start_matches("[time] ").to_string())
                .unwrap_or_default()
        };
        rows.push((
            if k == 0 { "log".into() } else { String::new() },
            strip(&rl),
            strip(&cl),
        ));
    }
    let mut out = format!("  {:<18}{:<COL$} | {}\n", "", "reference", "candidate");
    for (label, a, b) in rows {
        let mark = if a == b { ' ' } else { '*' };
        let wrap = |t: &str| -> Vec<String> {
            let chars: Vec<char> = t.chars().collect();
            if chars.is_empty() {
                return vec![String::new()];
            }
            chars.chunks(COL).map(|c| c.iter().collect()).collect()
        };
        let (wa, wb) = (wrap(&a), wrap(&b));
        for j in 0..wa.len().max(wb.len()) {
            out.push_str(&format!(
                "{} {:<18}{:<COL$} | {}\n",
                if j == 0 { mark } else { ' ' },
                if j == 0 { label.as_str() } else { "" },
                wa.get(j).map_or("", |x| x.as_str()),
                wb.get(j).map_or("", |x| x.as_str()),
            ));
        }
    }
    out
}
