//! HTML: one self-contained page, the same blocks as the text report plus the timeline, drawn as
//! inline SVG. Nothing is fetched (no fonts, images, styles or scripts from elsewhere), so the page
//! reads the same offline, from an e-mail attachment, and printed.
//!
//! Every string from the archive is first [`sanitize::escape`]d, as in the text report (so no
//! control, bidi or invisible character survives), then escaped for HTML (`& < > " '`). Strings
//! from the archive appear only as element text, never in an attribute name, a URL, a style or a
//! script; the page has no script at all, and its Content-Security-Policy allows none and allows
//! no fetch, so even markup that got through could neither run nor call out. Tooltips are SVG
//! `<title>` elements, which browsers show without script.

use std::fmt::Write;

use super::document::{Block, Cell, Table};
use super::sanitize;
use super::timeline::{Bin, Row, Timeline};
use crate::time::{Timestamp, DAY};

/// No script, no fetch of any kind, no `<base>` or form target: only the inline style sheet.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

const STYLE: &str = include_str!("html.css");

/// The chart's drawing width, in SVG user units; the page scales it to the column's width.
const CHART_WIDTH: f64 = 800.0;
/// The height of the tallest connections bar.
const BARS_UP: f64 = 30.0;
/// Rows past which the time axis is drawn above them as well as below.
const AXIS_ABOVE_FROM: usize = 6;
/// Error codes named in one column's tooltip; the rest are counted.
const ERRORS_SHOWN: usize = 4;

pub(crate) fn render(blocks: &[Block]) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let title = blocks.iter().find_map(|b| if let Block::Title(t) = b { Some(t.as_str()) } else { None });
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n<style>\n{STYLE}</style>\n\
         </head>\n<body>\n<main>\n",
        escape(title.unwrap_or("trailscope report"))
    );
    let headings: Vec<&str> = blocks
        .iter()
        .filter_map(|b| if let Block::Heading(h) = b { Some(h.as_str()) } else { None })
        .collect();
    let mut section = 0;
    let mut aside = false;
    for block in blocks {
        match block {
            Block::Title(title) => {
                let _ = writeln!(out, "<h1>{}</h1>", escape(title));
            }
            Block::Aside(heading) => {
                // Not numbered: the report's own sections keep their ids, as without --state.
                let _ = writeln!(out, "<section id=\"since-last-report\">\n<h2>{}</h2>", escape(heading));
                aside = true;
            }
            Block::Heading(heading) => {
                if std::mem::take(&mut aside) {
                    out.push_str("</section>\n");
                }
                if section == 0 {
                    contents(&headings, &mut out);
                } else {
                    out.push_str("</section>\n");
                }
                section += 1;
                // Ids are numbers the renderer counts, never text from the archive.
                let _ = writeln!(out, "<section id=\"s{section}\">\n<h2>{}</h2>", escape(heading));
            }
            Block::Subheading(heading) => {
                let _ = writeln!(out, "<h3>{}</h3>", escape(heading));
            }
            Block::Paragraph(text) => {
                let class = if section == 0 && !aside { " class=\"lead\"" } else { "" };
                let _ = writeln!(out, "<p{class}>{}</p>", prose(text));
            }
            Block::Note(text) => {
                let _ = writeln!(out, "<p class=\"note\"><strong>Note:</strong> {}</p>", prose(text));
            }
            Block::Table(table) => table_html(table, &mut out),
            Block::Timeline(timeline) => timeline_html(timeline, &mut out),
        }
    }
    if section > 0 || aside {
        out.push_str("</section>\n");
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// `s` as HTML text that shows exactly what the text report shows: sanitized, then with every
/// character HTML gives a meaning to written as a reference. Safe in element text and in quoted
/// attribute values alike.
fn escape(s: &str) -> String {
    let s = sanitize::escape(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Prose written by the document model, where backticks mark code spans (`--all`).
fn prose(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 1 { format!("<code>{}</code>", escape(part)) } else { escape(part) })
        .collect()
}

/// The list of sections, between the title and the first one.
fn contents(headings: &[&str], out: &mut String) {
    out.push_str("<nav aria-label=\"Contents\"><ol>\n");
    for (i, heading) in headings.iter().enumerate() {
        let _ = writeln!(out, "<li><a href=\"#s{}\">{}</a></li>", i + 1, escape(heading));
    }
    out.push_str("</ol></nav>\n");
}

/// A cell's contents, and whether it is short enough to keep on one line (ids, regions, dates:
/// a browser would otherwise break `eice-0123…` at its hyphen).
fn cell_html(cell: &Cell) -> (String, bool) {
    const SHORT: usize = 40;
    match cell {
        Cell::Text(s) => (escape(s), s.chars().count() <= SHORT),
        Cell::Code(s) if s.is_empty() => (String::new(), true),
        Cell::Code(s) => (format!("<code>{}</code>", breakable(&escape(s))), s.chars().count() <= SHORT),
        Cell::Number(n) => (n.to_string(), true),
    }
}

/// Escaped `s` with a line break opportunity after each `.`, `/`, `:` and `,`, so a long field
/// path, ARN or JSON value wraps between its parts rather than anywhere. Done after escaping:
/// no reference (`&lt;`) holds one of those characters, so none is cut.
fn breakable(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len() + 16);
    for c in escaped.chars() {
        out.push(c);
        if matches!(c, '.' | '/' | ':' | ',') {
            out.push_str("<wbr>");
        }
    }
    out
}

/// `<td>` with its classes: `num` right-aligns a number column, `nw` keeps a short cell whole,
/// `long` lets a long one break anywhere rather than widen the table past the page.
fn td(cell: &Cell, numeric: bool, out: &mut String) {
    let (html, short) = cell_html(cell);
    let class = match (numeric, short) {
        (true, _) => " class=\"num\"",
        (false, true) => " class=\"nw\"",
        (false, false) => " class=\"long\"",
    };
    let _ = write!(out, "<td{class}>{html}</td>");
}

fn table_html(table: &Table, out: &mut String) {
    if table.key_value {
        // Facts: the first column names each row.
        out.push_str("<table class=\"facts\">\n<tbody>\n");
        for row in &table.rows {
            let mut cells = row.iter();
            let name = cells.next().map(|c| cell_html(c).0).unwrap_or_default();
            let _ = write!(out, "<tr><th scope=\"row\">{name}</th>");
            for cell in cells {
                td(cell, matches!(cell, Cell::Number(_)), out);
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n</table>\n");
        return;
    }
    let numeric: Vec<bool> = (0..table.headers.len())
        .map(|i| table.rows.iter().all(|row| matches!(row.get(i), Some(Cell::Number(_)))))
        .collect();
    let numeric = |i: usize| numeric.get(i).copied().unwrap_or(false);
    out.push_str("<div class=\"wide\"><table>\n<thead><tr>");
    for (i, header) in table.headers.iter().enumerate() {
        let class = if numeric(i) { " class=\"num\"" } else { "" };
        let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", escape(header));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        // A row whose first cell is empty continues the one above (another endpoint's value of
        // the same field): no rule between them, so each field reads as one group.
        let continues = matches!(row.first(), Some(Cell::Text(s)) if s.is_empty());
        out.push_str(if continues { "<tr class=\"more\">" } else { "<tr>" });
        for (i, cell) in row.iter().enumerate() {
            td(cell, numeric(i), out);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table></div>\n");
}

/// `2024-03-01` and `02:00` of an instant (UTC).
fn date_and_minute(millis: i64) -> (String, String) {
    let text = Timestamp(millis).to_string();
    let (date, time) = text.split_once('T').unwrap_or((&text, "00:00"));
    (date.to_owned(), time.chars().take(5).collect())
}

/// `2024-03-01 02:00 to 03:00 UTC`, the end's date written only when it differs.
fn range_text(start: i64, end: i64) -> String {
    let ((start_date, start_time), (end_date, end_time)) = (date_and_minute(start), date_and_minute(end));
    if start_date == end_date {
        format!("{start_date} {start_time} to {end_time} UTC")
    } else {
        format!("{start_date} {start_time} to {end_date} {end_time} UTC")
    }
}

/// `hour`, `6 hours`, `7 days`: what one column covers.
fn duration_text(millis: i64) -> String {
    let (n, unit) = match millis {
        m if m % DAY == 0 => (m / DAY, "day"),
        m if m % 3_600_000 == 0 => (m / 3_600_000, "hour"),
        m => (m / 60_000, "minute"),
    };
    if n == 1 {
        unit.to_owned()
    } else {
        format!("{n} {unit}s")
    }
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A length in SVG user units, short: `12.5`, `3`.
fn px(v: f64) -> String {
    let rounded = (v * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// The chart's vertical layout, shared by every row so that their bars compare.
struct Scale {
    /// Pixels per tunnel.
    unit: f64,
    baseline: f64,
    height: f64,
}

impl Scale {
    fn of(timeline: &Timeline) -> Scale {
        let most = timeline.most_connections.max(timeline.most_denied).max(1);
        let unit = BARS_UP / most as f64;
        let below =
            if timeline.most_denied == 0 { 0.0 } else { (timeline.most_denied as f64 * unit).max(8.0) };
        let baseline = 2.0 + BARS_UP;
        Scale { unit, baseline, height: baseline + 1.0 + below + 2.0 }
    }

    /// A bar's height: at least 2 units, so one tunnel among thousands still shows.
    fn bar(&self, n: u64) -> f64 {
        (n as f64 * self.unit).max(2.0)
    }
}

fn timeline_html(timeline: &Timeline, out: &mut String) {
    let scale = Scale::of(timeline);
    let span = (timeline.end() - timeline.start) as f64;
    let x = |t: i64| (t - timeline.start) as f64 / span * CHART_WIDTH;
    let ticks = timeline.ticks(8);
    let (from, to) = (date_and_minute(timeline.start), date_and_minute(timeline.end()));
    out.push_str("<div class=\"timeline\">\n<h3>Timeline</h3>\n");
    let _ = writeln!(
        out,
        "<p class=\"legend\"><span class=\"key conn\"></span>connections <span class=\"key den\"></span>denied \
         attempts, <span class=\"key created\"></span>created <span class=\"key deleted\"></span>deleted, one \
         column per {} (UTC) from {} {} to {} {}. The tallest bar is {}.<span class=\"hint\"> Point at a \
         column for its times and counts.</span></p>",
        duration_text(timeline.width),
        from.0,
        from.1,
        to.0,
        to.1,
        count(timeline.most_connections, "connection", "connections"),
    );
    // The time axis goes under the rows it measures, and above them too where the rows are many
    // (no scrolling down to read the first ones) or printed (the rows may start a page early).
    let many = if timeline.rows.len() > AXIS_ABOVE_FROM { " many" } else { "" };
    let _ = writeln!(out, "<div class=\"tl{many}\">");
    axis_html(timeline, &ticks, " above", out);
    let grid: String = ticks.iter().map(|&t| format!("M{} 0V{}", px(x(t)), px(scale.height))).collect();
    for row in &timeline.rows {
        timeline_row(timeline, row, &scale, &grid, out);
    }
    axis_html(timeline, &ticks, "", out);
    out.push_str("</div>\n</div>\n");
}

/// The time axis: a label at each tick, the date at midnight and the time otherwise.
fn axis_html(timeline: &Timeline, ticks: &[i64], class: &str, out: &mut String) {
    let span = (timeline.end() - timeline.start) as f64;
    let _ = write!(
        out,
        "<div class=\"tl-row tl-axis{class}\"><svg class=\"tl-chart\" viewBox=\"0 0 {CHART_WIDTH} 22\" \
         aria-hidden=\"true\">"
    );
    for &t in ticks {
        let at = (t - timeline.start) as f64 / span * CHART_WIDTH;
        let (date, minute) = date_and_minute(t);
        let label = if t.rem_euclid(DAY) == 0 { date } else { minute };
        // Labels at the ends lean inwards rather than past the chart's edge.
        let anchor = if at < 40.0 {
            "start"
        } else if at > CHART_WIDTH - 40.0 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            out,
            "<path class=\"tick\" d=\"M{0} 0V5\"/><text x=\"{0}\" y=\"18\" text-anchor=\"{anchor}\">{label}</text>",
            px(at)
        );
    }
    out.push_str("</svg></div>\n");
}

fn timeline_row(timeline: &Timeline, row: &Row, scale: &Scale, grid: &str, out: &mut String) {
    let summary = format!(
        "{}, {}",
        count(row.connections, "connection", "connections"),
        count(row.denied, "denied attempt", "denied attempts")
    );
    let name = row.name.as_deref().map(|n| format!("{} · ", escape(n))).unwrap_or_default();
    let _ = write!(
        out,
        "<div class=\"tl-row\">\n<div class=\"tl-label\"><code>{}</code><span>{name}{} · {}</span></div>\n",
        escape(&row.id),
        escape(&row.account),
        escape(&row.region)
    );
    let _ = writeln!(
        out,
        "<svg class=\"tl-chart\" viewBox=\"0 0 {CHART_WIDTH} {}\" role=\"img\"><title>{}: {summary}</title>\
         <path class=\"grid\" d=\"{grid}\"/><path class=\"base\" d=\"M0 {}H{CHART_WIDTH}\"/>",
        px(scale.height),
        escape(&row.id),
        px(scale.baseline + 0.5),
    );
    let column = CHART_WIDTH / timeline.columns as f64;
    let gap = (column * 0.2).min(2.0);
    for (i, bin) in row.bins.iter().enumerate() {
        if bin.connections == 0 && bin.denied == 0 {
            continue;
        }
        let (start, end) = timeline.column(i);
        let left = i as f64 * column;
        let _ = write!(
            out,
            "<g class=\"bin\"><title>{}</title><rect class=\"hit\" x=\"{}\" y=\"0\" width=\"{}\" height=\"{}\"/>",
            bin_title(bin, start, end),
            px(left),
            px(column),
            px(scale.height),
        );
        let (bar_x, bar_width) = (px(left + gap / 2.0), px(column - gap));
        if bin.connections > 0 {
            let height = scale.bar(bin.connections);
            let _ = write!(
                out,
                "<rect class=\"conn\" x=\"{bar_x}\" y=\"{}\" width=\"{bar_width}\" height=\"{}\"/>",
                px(scale.baseline - height),
                px(height)
            );
        }
        if bin.denied > 0 {
            let _ = write!(
                out,
                "<rect class=\"den\" x=\"{bar_x}\" y=\"{}\" width=\"{bar_width}\" height=\"{}\"/>",
                px(scale.baseline + 1.0),
                px(scale.bar(bin.denied))
            );
        }
        out.push_str("</g>\n");
    }
    // The endpoint's creation and deletion, as lines across its chart.
    let span = (timeline.end() - timeline.start) as f64;
    for (what, at) in [("created", row.created), ("deleted", row.deleted)] {
        let Some(at) = at else { continue };
        let x = (at - timeline.start) as f64 / span * CHART_WIDTH;
        let (date, minute) = date_and_minute(at);
        let _ = writeln!(
            out,
            "<g class=\"life\"><title>{what} {date} {minute}</title><path class=\"{what}\" d=\"M{0} 0V{1}\"/></g>",
            px(x),
            px(scale.height)
        );
    }
    out.push_str("</svg>\n");
    let _ = write!(
        out,
        "<div class=\"tl-total\"><b>{}</b> {}<br><b>{}</b> denied",
        row.connections,
        if row.connections == 1 { "connection" } else { "connections" },
        row.denied
    );
    if row.untimed > 0 {
        let _ = write!(out, "<br>{} without a time", row.untimed);
    }
    out.push_str("</div>\n</div>\n");
}

/// A column's tooltip: its time range, its counts, and the denied attempts' error codes.
fn bin_title(bin: &Bin, start: i64, end: i64) -> String {
    let mut title = range_text(start, end);
    if bin.connections > 0 {
        let _ = write!(title, "\n{}", count(bin.connections, "connection", "connections"));
    }
    if bin.denied > 0 {
        let mut errors: Vec<(&String, &u64)> = bin.errors.iter().collect();
        // The commonest first; ties by code, as the map already orders them.
        errors.sort_by(|a, b| b.1.cmp(a.1));
        let named: Vec<String> =
            errors.iter().take(ERRORS_SHOWN).map(|(code, n)| format!("{} ×{n}", escape(code))).collect();
        let _ = write!(title, "\n{} denied: {}", bin.denied, named.join(", "));
        if errors.len() > ERRORS_SHOWN {
            let more = errors.len() - ERRORS_SHOWN;
            let _ = write!(title, ", {more} more {}", if more == 1 { "code" } else { "codes" });
        }
    }
    title
}

#[cfg(test)]
mod tests {
    use super::super::timeline::tests::{at, report_with};
    use super::super::{document, RenderOptions};
    use super::*;
    use crate::event::EndpointId;
    use crate::report::EndpointTimes;

    #[test]
    fn markup_and_quotes_from_the_archive_are_text() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("&lt;"), "&amp;lt;");
    }

    #[test]
    fn controls_are_shown_as_the_text_report_shows_them() {
        assert_eq!(escape("a\u{1b}[31m\n<b>"), "a\\u{1b}[31m\\u{a}&lt;b&gt;");
        assert_eq!(escape("\u{202e}exe"), "\\u{202e}exe");
    }

    #[test]
    fn prose_keeps_its_own_code_spans() {
        assert_eq!(prose("list them with `--all` <now>"), "list them with <code>--all</code> &lt;now&gt;");
    }

    #[test]
    fn column_ranges_name_the_end_date_only_when_it_changes() {
        assert_eq!(
            range_text(at("2024-03-01T02:00:00Z"), at("2024-03-01T03:00:00Z")),
            "2024-03-01 02:00 to 03:00 UTC"
        );
        assert_eq!(
            range_text(at("2024-03-01T23:00:00Z"), at("2024-03-02T00:00:00Z")),
            "2024-03-01 23:00 to 2024-03-02 00:00 UTC"
        );
        assert_eq!(duration_text(3_600_000), "hour");
        assert_eq!(duration_text(6 * 3_600_000), "6 hours");
        assert_eq!(duration_text(7 * DAY), "7 days");
        assert_eq!(duration_text(5 * 60_000), "5 minutes");
    }

    #[test]
    fn a_tooltip_gives_the_time_range_counts_and_error_codes() {
        let mut bin = Bin { connections: 3, denied: 7, ..Bin::default() };
        for (code, n) in [("AccessDenied", 2), ("<b>", 1), ("C", 1), ("D", 1), ("E", 1), ("F", 1)] {
            bin.errors.insert(code.into(), n);
        }
        assert_eq!(
            bin_title(&bin, at("2024-03-01T02:00:00Z"), at("2024-03-01T03:00:00Z")),
            "2024-03-01 02:00 to 03:00 UTC\n3 connections\n7 denied: AccessDenied ×2, &lt;b&gt; ×1, C ×1, D ×1, \
             2 more codes"
        );
    }

    #[test]
    fn a_million_connections_make_a_small_page() {
        let start = at("2024-01-01T00:00:00Z");
        let times = |offset: i64| (0..500_000).map(|i| start + offset + i * 63_000).collect::<Vec<i64>>();
        let denied = (0..10_000).map(|i| (start + i * 3_000_000, format!("Error{}", i % 50))).collect();
        let report = report_with(vec![
            EndpointTimes {
                id: EndpointId("eice-a".into()),
                connections: times(0),
                denied,
                ..Default::default()
            },
            EndpointTimes { id: EndpointId("eice-b".into()), connections: times(7), ..Default::default() },
        ]);
        let page = render(&document::build(&report, &RenderOptions::default()));
        assert!(page.len() < 64 * 1024, "{} bytes", page.len());
        assert!(page.contains("<h3>Timeline</h3>"));
        assert!(page.contains("more codes</title>"), "a column names a few codes and counts the rest");
    }
}
