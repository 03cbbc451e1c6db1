//! Plain text for a terminal: underlined headings, aligned tables, numbers right-aligned.
//!
//! Every string is [`sanitize::escape`]d as it is written, so nothing from the archive can move
//! the cursor, recolour, retitle or reorder the reader's screen, or add a line of its own.

use super::document::{Block, Cell, Table};
use super::sanitize;

pub(super) fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Title(title) => {
                let title = sanitize::escape(title);
                out.push_str(&title);
                out.push('\n');
                out.push_str(&"=".repeat(title.chars().count()));
                out.push('\n');
            }
            Block::Heading(heading) | Block::Aside(heading) => {
                let heading = sanitize::escape(heading);
                out.push('\n');
                out.push_str(&heading);
                out.push('\n');
                out.push_str(&"-".repeat(heading.chars().count()));
                out.push('\n');
            }
            Block::Subheading(heading) => {
                out.push('\n');
                out.push_str(&sanitize::escape(heading));
                out.push_str(":\n");
            }
            Block::Paragraph(text) => {
                out.push_str(&sanitize::escape(&text.replace('`', "")));
                out.push('\n');
            }
            Block::Note(text) => {
                out.push_str("Note: ");
                out.push_str(&sanitize::escape(&text.replace('`', "")));
                out.push('\n');
            }
            Block::Table(table) => table_text(table, &mut out),
            // A chart: the endpoints table before it already gives each endpoint's span.
            Block::Timeline(_) => {}
        }
    }
    out
}

fn cell_text(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) | Cell::Code(s) => sanitize::escape(s).into_owned(),
        Cell::Number(n) => n.to_string(),
    }
}

fn table_text(table: &Table, out: &mut String) {
    let mut lines: Vec<Vec<(String, bool)>> = Vec::new();
    if !table.key_value {
        lines.push(
            table.headers.iter().map(|h| (sanitize::escape(&h.to_uppercase()).into_owned(), false)).collect(),
        );
    }
    for row in &table.rows {
        lines.push(row.iter().map(|c| (cell_text(c), matches!(c, Cell::Number(_)))).collect());
    }
    let columns = lines.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| lines.iter().filter_map(|l| l.get(i)).map(|(s, _)| s.chars().count()).max().unwrap_or(0))
        .collect();
    for line in lines {
        let mut rendered = String::from(" ");
        for (i, (cell, numeric)) in line.iter().enumerate() {
            let pad = widths[i] - cell.chars().count();
            rendered.push(' ');
            if *numeric {
                rendered.push_str(&" ".repeat(pad));
                rendered.push_str(cell);
            } else {
                rendered.push_str(cell);
                rendered.push_str(&" ".repeat(pad));
            }
            rendered.push(' ');
        }
        out.push_str(rendered.trim_end());
        out.push('\n');
    }
}
