//! Bar charts drawn on the server as inline SVG: readable without JavaScript, and
//! printable. Horizontal bars, so long customer and project names fit.

use maud::{Markup, html};

use crate::summary::GroupTotal;

/// Most bars one chart draws; the rest are counted under the chart.
pub const MAX_BARS: usize = 12;
const WIDTH: f64 = 520.0;
const LABEL_WIDTH: f64 = 150.0;
const VALUE_WIDTH: f64 = 64.0;
const ROW: f64 = 28.0;
const BAR: f64 = 18.0;

/// A chart of hours per group; `title` labels it for screen readers too.
pub fn hours_chart(title: &str, groups: &[GroupTotal]) -> Markup {
    if groups.is_empty() {
        return html! { p.empty { "No activities in this period." } };
    }
    let shown = &groups[..groups.len().min(MAX_BARS)];
    let most = shown
        .iter()
        .map(|g| g.hours)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let bar_space = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let height = ROW * shown.len() as f64 + 8.0;
    html! {
        figure.chart {
            svg role="img" aria-label=(title) viewBox={ "0 0 " (WIDTH) " " (height) }
                width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" {
                title { (title) }
                @for (row, group) in shown.iter().enumerate() {
                    @let y = 4.0 + ROW * row as f64;
                    @let width = (group.hours / most * bar_space).max(2.0);
                    g {
                        title { (group.group) ": " (hours(group.hours)) " h in " (group.count) " activities" }
                        text.label x=(LABEL_WIDTH - 8.0) y=(y + BAR * 0.75) text-anchor="end" {
                            (shorten(&group.group, 20))
                        }
                        rect.bar x=(LABEL_WIDTH) y=(y) width=(format!("{width:.1}")) height=(BAR) rx="3" {}
                        text.value x=(LABEL_WIDTH + width + 6.0) y=(y + BAR * 0.75) {
                            (hours(group.hours)) " h"
                        }
                    }
                }
            }
            @if groups.len() > MAX_BARS {
                figcaption { "and " (groups.len() - MAX_BARS) " more" }
            }
        }
    }
}

/// Hours as people write them: `1.5`, `8`, `0.25`.
pub fn hours(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max - 1).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(group: &str, hours: f64) -> GroupTotal {
        GroupTotal {
            group: group.into(),
            hours,
            count: 1,
        }
    }

    #[test]
    fn bars_are_as_long_as_their_hours() {
        let svg = hours_chart("Hours", &[total("Acme", 10.0), total("Globex", 5.0)]).into_string();
        let bar_space = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
        assert!(svg.contains(&format!("width=\"{bar_space:.1}\"")), "{svg}");
        assert!(
            svg.contains(&format!("width=\"{:.1}\"", bar_space / 2.0)),
            "{svg}"
        );
        assert!(svg.contains(">Acme<") && svg.contains(">10 h<"), "{svg}");
    }

    #[test]
    fn names_are_escaped_and_shortened() {
        let svg = hours_chart(
            "Hours",
            &[total("<script>alert(1)</script> and a long tail", 1.0)],
        )
        .into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/s…<"), "{svg}");
    }

    #[test]
    fn long_lists_say_how_many_are_left_out() {
        let groups: Vec<GroupTotal> = (0..15).map(|i| total(&format!("c{i}"), 1.0)).collect();
        let svg = hours_chart("Hours", &groups).into_string();
        assert_eq!(svg.matches("<rect").count(), MAX_BARS);
        assert!(svg.contains("and 3 more"));
    }

    #[test]
    fn hours_read_naturally() {
        assert_eq!(hours(8.0), "8");
        assert_eq!(hours(1.5), "1.5");
        assert_eq!(hours(0.25), "0.25");
        assert_eq!(hours(12.346), "12.35");
    }
}
