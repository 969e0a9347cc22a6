//! report.png: per second against connections, one panel per throughput mode.

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
