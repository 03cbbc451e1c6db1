//! Markdown for tickets and wikis: the same blocks as the text report, as headings and tables.

use super::document::{Block, Cell, Table};

pub fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Title(title) => out.push_str(&format!("# {title}\n\n")),
            Block::Heading(heading) => out.push_str(&format!("## {heading}\n\n")),
            Block::Subheading(heading) => out.push_str(&format!("### {heading}\n\n")),
            Block::Paragraph(text) => out.push_str(&format!("{text}\n\n")),
            Block::Note(text) => out.push_str(&format!("> **Note:** {text}\n\n")),
            Block::Table(table) => table_markdown(table, &mut out),
        }
    }
    // One trailing newline, not a blank line.
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn table_markdown(table: &Table, out: &mut String) {
    let numeric: Vec<bool> = (0..table.headers.len())
        .map(|i| table.rows.iter().all(|row| matches!(row.get(i), Some(Cell::Number(_)))))
        .collect();
    let headers: Vec<String> = if table.key_value {
        vec!["".into(); table.headers.len()]
    } else {
        table.headers.iter().map(|h| escape(h)).collect()
    };
    out.push_str(&format!("| {} |\n", headers.join(" | ")));
    let rule: Vec<&str> = numeric.iter().map(|&n| if n { "---:" } else { "---" }).collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for row in &table.rows {
        let cells: Vec<String> = row.iter().map(cell_markdown).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push('\n');
}

fn cell_markdown(cell: &Cell) -> String {
    match cell {
        Cell::Text(s) => escape(s),
        Cell::Number(n) => n.to_string(),
        Cell::Code(s) if s.is_empty() => String::new(),
        Cell::Code(s) => {
            // A code span holding backticks needs a longer fence; `|` must be escaped even there.
            let fence = if s.contains('`') { "``" } else { "`" };
            let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
            format!("{fence}{pad}{}{pad}{fence}", s.replace('|', "\\|"))
        }
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '|' | '\\' | '*' | '_' | '`' | '<' | '>' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
