//! report.png: per second against connections, one panel per throughput mode;
//! latency.png: ping-pong's latency distributions at 100 connections, side by side.

use crate::report::{Cell, Report};
use bench::spec::Mode;
use plotters::prelude::*;
use std::path::Path;

/// requests (or connections) per second against connections, log x axis, one line per
/// server; one panel per throughput mode.
pub fn plot(report: &Report<'_>, path: &Path) -> Result<(), String> {
    bench::register_plot_font()?;
    let modes: Vec<Mode> = report
        .args
        .modes
        .iter()
        .copied()
        .filter(|m| m.is_throughput())
        .collect();
    if modes.is_empty() {
        return Ok(());
    }
    let root = BitMapBackend::new(path, (1000, 450 * modes.len() as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((modes.len(), 1));
    let max_n = *report.args.connections.iter().max().unwrap_or(&1) as f64;
    for (panel, mode) in panels.iter().zip(modes) {
        let ymax = report
            .cells
            .iter()
            .filter(|c| c.mode == mode)
            .map(Cell::per_second)
            .fold(1.0, f64::max)
            * 1.15;
        let title = if mode == Mode::PingPong {
            "ping-pong: requests per second"
        } else {
            "churn: connections per second"
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d((0.8f64..max_n * 1.25).log_scale(), 0.0..ymax)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("concurrent connections")
            .y_desc("per second (median)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        let series = report
            .args
            .servers
            .iter()
            .map(|&s| {
                let pts = report
                    .args
                    .connections
                    .iter()
                    .filter_map(|&n| report.cell(s, mode, n).map(|c| (n as f64, c.per_second())))
                    .collect();
                (s.name(), pts)
            })
            .collect();
        bench::draw_lines(&mut chart, series)?;
    }
    root.present().map_err(|e| e.to_string())
}

/// Where a quantile sits on latency.png's x axis: its "nines", -log10(1 - q).
fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-6).log10()
}

/// Ping-pong latency against quantile at `conns` connections, one line per server: the
/// x axis in nines (50%, 90%, 99%, 99.9%...), the y axis in µs, log scale.
pub fn plot_latency(report: &Report<'_>, conns: usize, path: &Path) -> Result<(), String> {
    let series: Vec<(&str, Vec<(f64, f64)>)> = report
        .args
        .servers
        .iter()
        .filter_map(|&s| {
            let c = report.cell(s, Mode::PingPong, conns)?;
            let pts: Vec<(f64, f64)> = c
                .latency()
                .into_iter()
                .filter(|&(q, v)| q < 1.0 && v > 0.0)
                .map(|(q, v)| (nines(q), v))
                .collect();
            (!pts.is_empty()).then_some((s.name(), pts))
        })
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    bench::register_plot_font()?;
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, v)| v))
        .fold(1.0, f64::max)
        * 1.5;
    let ymin = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, v)| v))
        .fold(f64::MAX, f64::min)
        .max(1.0)
        / 1.5;
    let xmax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(x, _)| x))
        .fold(1.0, f64::max);
    let root = BitMapBackend::new(path, (1000, 550)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("ping-pong latency at {conns} connections (medians of the runs)"),
            ("sans-serif", 22),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..xmax.ceil(), (ymin..ymax).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        // One label per nine: 0%, 90%, 99%, 99.9%...
        .x_labels(xmax.ceil() as usize + 1)
        .x_desc("quantile")
        .y_desc("latency, µs")
        .x_label_formatter(&|x| {
            let q = 100.0 * (1.0 - 10f64.powf(-x));
            let s = format!("{q:.3}");
            format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    bench::draw_lines(&mut chart, series)?;
    root.present().map_err(|e| e.to_string())
}
