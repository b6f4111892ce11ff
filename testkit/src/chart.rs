//! The fleet simulation's pictures: calls per second over time as an SVG line chart, one
//! panel per API (each with its own scale) and each quota as a dashed horizontal line, so
//! that a reader sees a burst and how long it lasts. Plain SVG text, no plotting crate; a
//! pure function of the numbers (examples/fleet_sim.rs writes the file).

use std::fmt::Write;

/// One series: a value per second.
pub struct Line<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub values: &'a [u64],
}

/// One API's panel: its series and its quota (label, calls per second).
pub struct Panel<'a> {
    pub title: String,
    pub lines: Vec<Line<'a>>,
    pub quota: Option<(String, f64)>,
}

const WIDTH: f64 = 960.0;
const PANEL_HEIGHT: f64 = 300.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 50.0;
const HEADER: f64 = 40.0;

/// The chart of the first `seconds` seconds of every panel's series, titled `title`.
pub fn svg(title: &str, seconds: usize, panels: &[Panel]) -> String {
    let seconds = seconds.max(1);
    let height = HEADER + panels.len() as f64 * (PANEL_HEIGHT + TOP + BOTTOM);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"13\">"
    );
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"26\" font-size=\"17\" text-anchor=\"middle\">{}</text>",
        WIDTH / 2.0,
        escape(title)
    );
    for (n, panel) in panels.iter().enumerate() {
        let top = HEADER + n as f64 * (PANEL_HEIGHT + TOP + BOTTOM) + TOP;
        draw_panel(&mut out, panel, top, seconds);
    }
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel, top: f64, seconds: usize) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let bottom = top + PANEL_HEIGHT;
    let highest = panel
        .lines
        .iter()
        .flat_map(|l| l.values.iter().take(seconds))
        .copied()
        .max()
        .unwrap_or(0) as f64;
    let quota = panel.quota.as_ref().map_or(0.0, |(_, q)| *q);
    let (y_max, y_step) = nice_axis(highest.max(quota * 1.25).max(1.0));
    let x = |s: f64| LEFT + s / seconds as f64 * plot_w;
    let y = |v: f64| bottom - v / y_max * PANEL_HEIGHT;
    let _ = writeln!(
        out,
        "<text x=\"{LEFT}\" y=\"{}\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        top - 22.0,
        escape(&panel.title)
    );
    // Grid and y ticks.
    let mut v = 0.0;
    while v <= y_max + 1e-9 {
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#e3e3e3\"/>\
             <text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\">{4}</text>",
            y(v),
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(v) + 4.0,
            v
        );
        v += y_step;
    }
    // Ticks on round minutes: at most a dozen.
    let x_step = [10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0]
        .into_iter()
        .find(|step| seconds as f64 / step <= 12.0)
        .unwrap_or(7200.0);
    let mut s = 0.0;
    while s <= seconds as f64 + 1e-9 {
        let _ = writeln!(
            out,
            "<line x1=\"{0:.1}\" y1=\"{bottom}\" x2=\"{0:.1}\" y2=\"{1}\" stroke=\"#444\"/>\
             <text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\">{3}</text>",
            x(s),
            bottom + 5.0,
            bottom + 19.0,
            s
        );
        s += x_step;
    }
    let _ = writeln!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{top}\" x2=\"{LEFT}\" y2=\"{bottom}\" stroke=\"#444\"/>\
         <line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{0}\" y2=\"{bottom}\" stroke=\"#444\"/>\
         <text x=\"{1}\" y=\"{2}\" text-anchor=\"middle\">seconds after the first instance booted</text>\
         <text transform=\"translate(20 {3}) rotate(-90)\" text-anchor=\"middle\">calls per second</text>",
        WIDTH - RIGHT,
        LEFT + plot_w / 2.0,
        bottom + 40.0,
        top + PANEL_HEIGHT / 2.0
    );
    for line in &panel.lines {
        let mut points = String::new();
        for (s, &v) in line.values.iter().take(seconds).enumerate() {
            // A step per second: the count holds over the whole second.
            let _ = write!(
                points,
                "{:.1},{:.1} {:.1},{:.1} ",
                x(s as f64),
                y(v as f64),
                x(s as f64 + 1.0),
                y(v as f64)
            );
        }
        let _ = writeln!(
            out,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.3\" points=\"{}\"/>",
            line.color,
            points.trim_end()
        );
    }
    if let Some((label, q)) = &panel.quota {
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1}\" y2=\"{0:.1}\" stroke=\"#d62728\" \
             stroke-width=\"2\" stroke-dasharray=\"8 5\"/>\
             <text x=\"{2}\" y=\"{3:.1}\" text-anchor=\"end\" fill=\"#d62728\">{4}</text>",
            y(*q),
            WIDTH - RIGHT,
            WIDTH - RIGHT - 4.0,
            y(*q) - 6.0,
            escape(label)
        );
    }
    // The legend, top right.
    for (k, line) in panel.lines.iter().enumerate() {
        let ly = top + 14.0 + k as f64 * 18.0;
        let lx = WIDTH - RIGHT - 300.0;
        let _ = writeln!(
            out,
            "<rect x=\"{lx}\" y=\"{0:.1}\" width=\"18\" height=\"4\" fill=\"{1}\"/>\
             <text x=\"{2}\" y=\"{3:.1}\">{4}</text>",
            ly - 4.0,
            line.color,
            lx + 24.0,
            ly + 1.0,
            escape(line.label)
        );
    }
}

/// An axis top at or above `highest` and a tick step of 1, 2 or 5 times a power of ten,
/// about five ticks.
fn nice_axis(highest: f64) -> (f64, f64) {
    let raw = highest / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    ((highest / step).ceil() * step, step)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_axis(195.0), (200.0, 50.0));
        assert_eq!(nice_axis(50.0), (50.0, 10.0));
        assert_eq!(nice_axis(4.0), (4.0, 1.0));
        assert_eq!(nice_axis(1201.0), (1500.0, 500.0));
    }
}
