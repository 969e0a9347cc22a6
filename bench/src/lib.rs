//! Load generator and reference servers for the eventd benchmarks (see docs/benchmarks.md).

use std::ffi::{c_char, c_int};

pub mod spec;

extern "C" {
    /// The C reference server's `main` (c/c_reference.c), compiled by build.rs.
    pub fn c_reference_main(argc: c_int, argv: *mut *mut c_char) -> c_int;
    /// The C HTTP reference server's `main` (c/http_reference.c): examples/http_server.rs
    /// in C.
    pub fn c_http_reference_main(argc: c_int, argv: *mut *mut c_char) -> c_int;
}

/// The listen(2) backlog of every server measured: eventd's default (`--backlog`) and the
/// C references' `evconnlistener_new_bind` argument. tokio's `TcpListener::bind` asks for
/// 128, which a ramp of 1,000 connections overflows on a multi-threaded runtime (the
/// kernel drops the SYNs, the clients retry after a second), so the tokio and hyper
/// references bind through [`tokio_listener`].
pub const BACKLOG: u32 = 1024;

/// A tokio listener on `addr` with `SO_REUSEADDR` and [`BACKLOG`], as the other servers
/// listen.
pub fn tokio_listener(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// The hyper servers' one route, as examples/http_server.rs answers it: `GET /hello` is
/// `hello\n` as text/plain, anything else 404.
pub fn hello_route<B>(
    req: &hyper::Request<B>,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    use hyper::{Method, StatusCode};
    let found = req.method() == Method::GET && req.uri().path() == "/hello";
    let (status, body) = if found {
        (StatusCode::OK, &b"hello\n"[..])
    } else {
        (StatusCode::NOT_FOUND, &b"not found\n"[..])
    };
    let mut res = hyper::Response::new(http_body_util::Full::new(hyper::body::Bytes::from_static(
        body,
    )));
    *res.status_mut() = status;
    res.headers_mut().insert(
        "Content-Type",
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    res
}

// The C server calls libevent: keep libevent-sys linked into every binary using this.
pub use libevent_sys as _sys;

/// Runs a C `main` compiled into this crate with this process's arguments, and exits
/// with its status.
pub fn run_c_main(main: unsafe extern "C" fn(c_int, *mut *mut c_char) -> c_int) -> ! {
    let args: Vec<std::ffi::CString> = std::env::args()
        .map(|a| std::ffi::CString::new(a).expect("argument with NUL"))
        .collect();
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    argv.push(std::ptr::null_mut());
    // SAFETY: argv holds argc valid C strings and a terminating null, alive for the call.
    let rc = unsafe { main(args.len() as c_int, argv.as_mut_ptr()) };
    std::process::exit(rc);
}

/// (utime + stime) of process `pid` in seconds, from /proc/PID/stat; a zombie still has
/// its figures; 0 if it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = text.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / hz
}

/// The directory of this executable, where the other binaries of its build are; under
/// `cargo run`, first `cargo build <args>` into it (with `--release` when it is a release
/// build), so the binaries measured are the ones of this checkout.
pub fn binaries_built_with(args: &[&str]) -> Result<std::path::PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = me.parent().ok_or("no directory")?.to_path_buf();
    if let Some(cargo) = std::env::var_os("CARGO") {
        let mut cmd = std::process::Command::new(cargo);
        cmd.arg("build").args(args);
        if dir.ends_with("release") {
            cmd.arg("--release");
        }
        let st = cmd.status().map_err(|e| format!("cargo build: {e}"))?;
        if !st.success() {
            return Err(format!("cargo build {} failed", args.join(" ")));
        }
    }
    Ok(dir)
}

/// Resident set of `pid` (all its threads), in bytes.
pub fn rss_bytes(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

/// How many descriptors `pid` has open (entries of /proc/PID/fd).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// Latency distributions, as the load generators write them (`--latency-out FILE`) and
/// the matrix reads them: one `QUANTILE MICROSECONDS` line per quantile of
/// [`latency::quantiles`], nearest rank over every request's latency.
pub mod latency {
    /// The minimum, then 1 - 10^(-k/10) for k = 1..=50 (20.6%, 36.9%, ... 99.999%), then
    /// the maximum: evenly spaced in "nines", where a tail shows.
    pub fn quantiles() -> Vec<f64> {
        let mut q: Vec<f64> = (0..=50)
            .map(|k| 1.0 - 10f64.powf(-(k as f64) / 10.0))
            .collect();
        q.push(1.0);
        q
    }

    /// The value at quantile `q` of `sorted` (nearest rank; 0 for no samples).
    pub fn at(sorted: &[u32], q: f64) -> u32 {
        if sorted.is_empty() {
            return 0;
        }
        let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[i]
    }

    /// Writes the distribution of `sorted` latencies (µs) to `path`.
    pub fn write(path: &std::path::Path, sorted: &[u32]) -> std::io::Result<()> {
        let mut text = String::from("# quantile latency_us\n");
        for q in quantiles() {
            text += &format!("{q:.6} {}\n", at(sorted, q));
        }
        std::fs::write(path, text)
    }

    /// What [`write()`] wrote: (quantile, µs) pairs.
    pub fn read(path: &std::path::Path) -> Result<Vec<(f64, f64)>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let mut it = l.split_whitespace().map(str::parse::<f64>);
                match (it.next(), it.next()) {
                    (Some(Ok(q)), Some(Ok(v))) => Ok((q, v)),
                    _ => Err(format!("{}: not a quantile line: {l}", path.display())),
                }
            })
            .collect()
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn nearest_rank_and_the_file_round_trip() {
            let v: Vec<u32> = (1..=1000).collect();
            assert_eq!(super::at(&v, 0.5), 500);
            assert_eq!(super::at(&v, 0.99), 990);
            assert_eq!(super::at(&v, 0.0), 1);
            assert_eq!(super::at(&v, 1.0), 1000);
            assert_eq!(super::at(&[], 0.5), 0);
            let q = super::quantiles();
            assert_eq!(q.len(), 52);
            assert!(q.windows(2).all(|w| w[0] < w[1]));
            let path = std::env::temp_dir().join(format!("latency-{}.txt", std::process::id()));
            super::write(&path, &v).unwrap();
            let back = super::read(&path).unwrap();
            std::fs::remove_file(&path).unwrap();
            assert_eq!(back.len(), q.len());
            assert_eq!(back[q.len() - 1], (1.0, 1000.0));
            assert!((back[10].0 - 0.9).abs() < 1e-6 && back[10].1 == 900.0);
        }
    }
}

/// The median (0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A confidence interval for the median of `v` that assumes nothing of the distribution
/// (the sign test's): the `k`-th lowest and the `k`-th highest values, with `k` the
/// largest that keeps the confidence at or above 95%, and that confidence. Below six
/// values no interval reaches 95%; it is then the lowest and the highest, whose
/// confidence is 1 − 2/2ⁿ (94% for five). `None` for no values.
///
/// The median lies below the `k`-th lowest value only if fewer than `k` values are below
/// it, which for values drawn independently happens with probability P(B < k), B being
/// binomial(n, ½); so the interval misses it with probability 2 P(B < k).
pub fn median_interval(v: &[f64]) -> Option<(f64, f64, f64)> {
    let (k, confidence) = median_interval_rank(v.len())?;
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    Some((v[k - 1], v[v.len() - k], confidence))
}

/// For `n` values, the rank `k` of [`median_interval`]'s bounds and its confidence;
/// `None` for none.
pub fn median_interval_rank(n: usize) -> Option<(usize, f64)> {
    if n == 0 {
        return None;
    }
    // P(B = i) for i = 0..n, in floating point (exact enough for any n a matrix runs).
    let mut pmf = vec![0.5f64.powi(n as i32)];
    for i in 1..=n {
        let prev = pmf[i - 1];
        pmf.push(prev * (n + 1 - i) as f64 / i as f64);
    }
    let confidence = |k: usize| 1.0 - 2.0 * pmf[..k].iter().sum::<f64>();
    let mut k = 1;
    while k < n.div_ceil(2) && confidence(k + 1) >= 0.95 {
        k += 1;
    }
    Some((k, confidence(k)))
}

/// A TrueType font for the plots' text: `BENCH_FONT`, or DejaVu Sans where Debian's
/// fonts-dejavu-core puts it; registered as plotters' "sans-serif".
pub fn register_plot_font() -> Result<(), String> {
    let mut candidates: Vec<std::path::PathBuf> = std::env::var_os("BENCH_FONT")
        .map(std::path::PathBuf::from)
        .into_iter()
        .collect();
    candidates.extend(
        [
            "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
            "/usr/share/fonts/TTF/DejaVuSans.ttf",
            "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        ]
        .map(std::path::PathBuf::from),
    );
    for p in &candidates {
        if let Ok(bytes) = std::fs::read(p) {
            let font: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            return plotters::style::register_font(
                "sans-serif",
                plotters::style::FontStyle::Normal,
                font,
            )
            .map_err(|_| "the font could not be read".to_string());
        }
    }
    Err("no TrueType font for the plot: install fonts-dejavu-core or set BENCH_FONT=/path/to/font.ttf".into())
}

/// Stops a server the benchmarks started: SIGTERM, up to 10 s for it to exit, then
/// SIGKILL; reaped either way.
pub fn stop(child: &mut std::process::Child) {
    // SAFETY: the pid is our child, not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The per-second-against-connections chart both matrix runners draw: a log x axis.
pub type LogChart<'a, DB> = plotters::chart::ChartContext<
    'a,
    DB,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::combinators::LogCoord<f64>,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// The plots' line colours, in series order.
pub const PALETTE: [plotters::style::RGBColor; 8] = [
    plotters::style::RGBColor(31, 119, 180),
    plotters::style::RGBColor(255, 127, 14),
    plotters::style::RGBColor(44, 160, 44),
    plotters::style::RGBColor(214, 39, 40),
    plotters::style::RGBColor(148, 103, 189),
    plotters::style::RGBColor(140, 86, 75),
    plotters::style::RGBColor(227, 119, 194),
    plotters::style::RGBColor(127, 127, 127),
];

/// Draws the legend box of a chart whose series have labels, at its upper right.
pub fn draw_legend<'a, DB, CT>(
    chart: &mut plotters::chart::ChartContext<'a, DB, CT>,
) -> Result<(), String>
where
    DB: plotters::prelude::DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate,
{
    use plotters::prelude::*;
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())
}

/// Draws one line with points per series (named, in the palette's order) and the
/// legend box.
pub fn draw_lines<'a, DB, CT>(
    chart: &mut plotters::chart::ChartContext<'a, DB, CT>,
    series: Vec<(&'static str, Vec<(f64, f64)>)>,
) -> Result<(), String>
where
    DB: plotters::prelude::DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate<From = (f64, f64)>,
{
    use plotters::prelude::*;
    for (i, (name, pts)) in series.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 4, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    draw_legend(chart)
}

#[cfg(test)]
mod median_interval_tests {
    use super::median_interval;

    #[test]
    fn the_interval_narrows_as_the_values_grow_in_number() {
        assert_eq!(median_interval(&[]), None);
        // One value: no confidence at all.
        assert_eq!(median_interval(&[3.0]), Some((3.0, 3.0, 0.0)));
        // Five: the lowest and the highest, 1 - 2/32.
        let (lo, hi, c) = median_interval(&[5.0, 1.0, 4.0, 2.0, 3.0]).unwrap();
        assert_eq!((lo, hi), (1.0, 5.0));
        assert!((c - 0.9375).abs() < 1e-12, "{c}");
        // Six: still the extremes, now 1 - 2/64 >= 95%.
        let six: Vec<f64> = (1..=6).map(f64::from).collect();
        let (lo, hi, c) = median_interval(&six).unwrap();
        assert_eq!((lo, hi), (1.0, 6.0));
        assert!((c - 0.96875).abs() < 1e-12, "{c}");
        // Fifteen: the 4th lowest and the 4th highest (1 - 2 * 576/32768, 96.5%); the 5th
        // would give 1 - 2 * 1941/32768, 88%, below 95%.
        let fifteen: Vec<f64> = (1..=15).rev().map(f64::from).collect();
        let (lo, hi, c) = median_interval(&fifteen).unwrap();
        assert_eq!((lo, hi), (4.0, 12.0));
        assert!((c - (1.0 - 2.0 * 576.0 / 32768.0)).abs() < 1e-12, "{c}");
    }
}
