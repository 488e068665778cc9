//! Server-rendered SVG charts (hand-written: a bar chart and a paired bar
//! chart are smaller than a plotting crate). Every chart carries a title and
//! a text description for screen readers, and its numbers as a table.

use maud::{html, Markup};

const W: f64 = 560.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 36.0;
const TOP: f64 = 12.0;

fn nice_max(max: u64) -> u64 {
    let max = max.max(1);
    let mag = 10u64.pow((max as f64).log10().floor() as u32);
    [1, 2, 5, 10].iter().map(|m| m * mag).find(|v| *v >= max).unwrap_or(max)
}

/// Bars with one or two series per category (`series` names, colours by
/// class `s0`, `s1`). `rows`: category label and one value per series.
pub fn bars(id: &str, title: &str, series: &[&str], rows: &[(String, Vec<u64>)]) -> Markup {
    let max = nice_max(rows.iter().flat_map(|(_, v)| v.iter().copied()).max().unwrap_or(0));
    let plot_w = W - LEFT - 8.0;
    let plot_h = H - TOP - BOTTOM;
    let slot = plot_w / rows.len().max(1) as f64;
    let nser = series.len().max(1) as f64;
    let bar_w = (slot * 0.8 / nser).max(1.0);
    let y = |v: u64| TOP + plot_h - plot_h * v as f64 / max as f64;
    let every = (rows.len() / 8).max(1);
    // Grid lines at whole numbers.
    let ticks = [4u64, 5, 2].into_iter().find(|n| max.is_multiple_of(*n)).unwrap_or(1);
    let desc = rows
        .iter()
        .map(|(label, v)| format!("{label}: {}", v.iter().map(u64::to_string).collect::<Vec<_>>().join(" / ")))
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        figure.chart {
            svg #(id) viewBox={ "0 0 " (W) " " (H) } role="img" aria-labelledby={ (id) "-t " (id) "-d" } xmlns="http://www.w3.org/2000/svg" {
                title #{ (id) "-t" } { (title) }
                desc #{ (id) "-d" } { (desc) }
                @for i in 0..=ticks {
                    @let v = max * i / ticks;
                    line.grid x1=(LEFT) x2=(W - 8.0) y1=(y(v)) y2=(y(v)) {}
                    text.axis x=(LEFT - 4.0) y=(y(v) + 4.0) text-anchor="end" { (v) }
                }
                @for (i, (label, values)) in rows.iter().enumerate() {
                    @let x0 = LEFT + slot * i as f64 + slot * 0.1;
                    @for (k, v) in values.iter().enumerate() {
                        rect class={ "s" (k) } x=(x0 + bar_w * k as f64) y=(y(*v)) width=(bar_w) height=(TOP + plot_h - y(*v)) {
                            title { (label) ": " (v) }
                        }
                    }
                    @if i % every == 0 {
                        text.axis x=(x0 + slot * 0.4) y=(H - BOTTOM + 16.0) text-anchor="middle" { (label) }
                    }
                }
            }
            figcaption {
                (title)
                @if series.len() > 1 {
                    @for (k, name) in series.iter().enumerate() { " " span class={ "key s" (k) } { "■" } " " (name) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_scales_to_a_round_maximum_and_describes_its_numbers() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(130), 200);
        assert_eq!(nice_max(4_900), 5_000);
        let svg = bars("c", "Dossiers by grade", &["n"], &[("A".into(), vec![3]), ("B".into(), vec![6])]).into_string();
        assert!(svg.contains("<desc id=\"c-d\">A: 3; B: 6</desc>"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
        // The tallest bar reaches the top of a 10-high scale's 6.
        assert!(svg.contains(">10</text>"));
        assert!(svg.contains(">4</text>") && !svg.contains(">7</text>"), "ticks at whole numbers: {svg}");
    }
}
