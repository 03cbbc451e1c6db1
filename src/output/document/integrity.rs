//! The `--verify` section: what CloudTrail's digests say of the archive, a table per kind of
//! problem.

use crate::verify::Integrity;

use super::{code, plural, text, Block, Cell, Table};

/// `--verify`: what the digests say of the archive.
pub(super) fn integrity_blocks(integrity: &Integrity, blocks: &mut Vec<Block>) {
    let problems = integrity.problems();
    blocks.push(Block::Heading("Is the archive complete?".into()));
    let s = &integrity.signatures;
    blocks.push(Block::Paragraph(format!(
        "{} verified against {}; signatures: {} verified, {} failed, {} unchecked. {}",
        plural(integrity.log_files_verified, "log file", "log files"),
        plural(integrity.digests_read, "digest", "digests"),
        s.verified,
        s.failed,
        s.unchecked,
        match problems {
            0 => "No problem found: every log file the digests list is here and unmodified, and the chain of digests is whole.".to_owned(),
            n => format!("{} found, listed below.", plural(n as u64, "problem", "problems")),
        }
    )));
    if !s.unchecked_reasons.is_empty() {
        blocks.push(Block::Table(Table {
            headers: vec!["Signatures not checked because", "Digests"],
            key_value: false,
            rows: s.unchecked_reasons.iter().map(|(why, n)| vec![text(why), Cell::Number(*n)]).collect(),
        }));
    }
    if !integrity.streams.is_empty() {
        blocks.push(Block::Table(Table {
            headers: vec!["Account", "Region", "Digests", "Log files verified", "From", "To"],
            key_value: false,
            rows: integrity
                .streams
                .iter()
                .map(|st| {
                    vec![
                        text(&st.account),
                        text(&st.region),
                        Cell::Number(st.digests),
                        Cell::Number(st.log_files_verified),
                        text(st.from.clone().unwrap_or_else(|| "-".into())),
                        text(st.to.clone().unwrap_or_else(|| "-".into())),
                    ]
                })
                .collect(),
        }));
    }
    let mut section = |title: String, headers: Vec<&'static str>, rows: Vec<Vec<Cell>>| {
        if !rows.is_empty() {
            blocks.push(Block::Subheading(title));
            blocks.push(Block::Table(Table { headers, key_value: false, rows }));
        }
    };
    section(
        format!("Missing: listed by a digest, not in the archive ({})", integrity.missing.len()),
        vec!["Log file", "Listed by"],
        integrity.missing.iter().map(|m| vec![code(&m.object), code(&m.listed_by)]).collect(),
    );
    section(
        format!("Modified: not what the digest recorded ({})", integrity.modified.len()),
        vec!["Log file", "Listed by", "SHA-256 recorded", "SHA-256 now"],
        integrity
            .modified
            .iter()
            .map(|m| {
                let now = m.actual_sha256.clone().unwrap_or_else(|| "(unreadable)".into());
                vec![code(&m.object), code(&m.listed_by), code(&m.expected_sha256), code(now)]
            })
            .collect(),
    );
    let unlisted: Vec<_> = integrity.unlisted.iter().collect();
    section(
        format!("Listed by no digest ({})", unlisted.len()),
        vec!["Log file", "Delivered", "Events from", "Events to", "Why"],
        unlisted
            .iter()
            .map(|u| {
                let or_dash = |t: &Option<String>| text(t.clone().unwrap_or_else(|| "-".into()));
                vec![
                    code(&u.object),
                    or_dash(&u.delivered),
                    or_dash(&u.first_event),
                    or_dash(&u.last_event),
                    text(u.cause.describe()),
                ]
            })
            .collect(),
    );
    section(
        format!("Breaks in the chain of digests ({})", integrity.chain_breaks.len()),
        vec!["Account", "Region", "What", "From", "To"],
        integrity
            .chain_breaks
            .iter()
            .map(|b| {
                let or_dash = |t: &Option<String>| text(t.clone().unwrap_or_else(|| "-".into()));
                vec![text(&b.account), text(&b.region), text(&b.detail), or_dash(&b.from), or_dash(&b.to)]
            })
            .collect(),
    );
    section(
        format!("Unreadable digests ({})", integrity.unreadable_digests.len()),
        vec!["Digest", "Reason"],
        integrity.unreadable_digests.iter().map(|d| vec![code(&d.object), text(&d.error)]).collect(),
    );
    section(
        format!("Signatures that do not verify ({})", s.failures.len()),
        vec!["Digest", "Reason"],
        s.failures.iter().map(|f| vec![code(&f.object), text(&f.reason)]).collect(),
    );
}
