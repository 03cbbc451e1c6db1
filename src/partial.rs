//! Partials: what one shard of a sharded run (`trailscope scan --shard I/N`) read, for a later
//! `trailscope report PARTIAL...` to merge into the report one run over the same sources gives.
//!
//! A partial is gzipped JSON Lines. The first line is the [`Header`]: format version, the shard,
//! the sources and the options that decide what is read, the shard's counts and unreadable
//! objects, and how many lines follow. Every other line is one kept Instance Connect record,
//! verbatim, with where it came from: `{"o":"<object name>","i":<record index>,"r":<record>}`. The
//! analysis (counting each event once, pairing, classification) happens only at the merge, over
//! every shard's records together, so it is the analysis of one run.
//!
//! A partial made with `--verify` has a **residue** after its records: one line per fact of its
//! verification, `{"v":<fact>}` (`crate::verify::residue`: the public keys it had, every digest it
//! read, every log file with its SHA-256), counted in the header's `residue`. The merge verifies
//! every shard's facts together, which is the verification of one run. Partials made with and
//! without `--verify` are not shards of one run.
//!
//! A partial is recognised by its content: its first member is named `trailscope_partial`.

use std::io::{self, Write};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use crate::error::{ArchivedObject, ObjectError};
use crate::event::Kept;
use crate::scan::{Counts, PartialRead};
use crate::source::shard::Shard;
use crate::verify::residue::Fact;

/// The format this trailscope writes and reads.
pub(crate) const FORMAT: u32 = 1;

/// The first line of a partial. Shards of one run have equal headers but for `shard`, `counts`,
/// `failures` and `records`. Its first member is named as `crate::decode::partial::MARKER` says,
/// which is how the decoder recognises a partial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// The format version; first, so that the header is recognised by its first bytes.
    pub(crate) trailscope_partial: u32,
    /// The trailscope that wrote it.
    pub(crate) writer: String,
    pub(crate) shard: Shard,
    /// The SOURCE arguments, as given.
    pub(crate) sources: Vec<String>,
    /// The options that decide what is read: shards given other ones are not parts of one run.
    pub(crate) options: Options,
    pub(crate) counts: Counts,
    pub(crate) failures: Vec<ObjectError>,
    /// Objects left unread because they are archived (absent from partials of older writers).
    #[serde(default)]
    pub(crate) archived: Vec<ArchivedObject>,
    /// Record lines that follow: fewer means the partial was cut short.
    pub(crate) records: u64,
    /// Made with `--verify`: the residue lines that follow the records (fewer means cut short).
    /// Absent without `--verify`, so such partials are what they were before residues existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) residue: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Options {
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
    pub(crate) accounts: Vec<String>,
    pub(crate) regions: Vec<String>,
    pub(crate) max_object_size: u64,
}

/// Writes the partial of `kept` (every kept record, in origin order) under `header` to `out`, then
/// the residue (`header.residue` facts, with `--verify`).
pub(crate) fn write(
    out: impl Write,
    header: &Header,
    kept: &Kept,
    residue: impl Iterator<Item = Fact>,
) -> io::Result<()> {
    let mut gz = GzEncoder::new(io::BufWriter::with_capacity(1 << 16, out), Compression::fast());
    serde_json::to_writer(&mut gz, header)?;
    gz.write_all(b"\n")?;
    let mut record = Vec::new();
    for event in &kept.events {
        kept.spool.read(event.record, &mut record)?;
        // JSON Lines: a record's own line breaks can only be whitespace between its tokens (inside
        // strings they are escaped), so they become spaces and the record stays the same JSON.
        for byte in &mut record {
            if matches!(*byte, b'\n' | b'\r') {
                *byte = b' ';
            }
        }
        gz.write_all(b"{\"o\":")?;
        serde_json::to_writer(&mut gz, &kept.objects[event.origin.object as usize])?;
        write!(gz, ",\"i\":{},\"r\":", event.origin.record)?;
        gz.write_all(&record)?;
        gz.write_all(b"}\n")?;
    }
    for fact in residue {
        gz.write_all(b"{\"v\":")?;
        serde_json::to_writer(&mut gz, &fact)?;
        gz.write_all(b"}\n")?;
    }
    gz.finish()?.flush()
}

/// What the partials of one run add up to.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub(crate) counts: Counts,
    pub(crate) failures: Vec<ObjectError>,
    pub(crate) archived: Vec<ArchivedObject>,
    /// Made with `--verify`: the options they were read with, for the range verification judges.
    pub(crate) verify: Option<Options>,
}

/// Checks that the partials read are whole and the shards of one run, each exactly once; returns
/// their counts, failures and archived objects added up, as one run over the same sources would
/// have them.
pub(crate) fn merge(read: &[PartialRead]) -> Result<Merged, String> {
    let mut partials = Vec::with_capacity(read.len());
    for partial in read {
        let header: Header = serde_json::from_slice(&partial.header)
            .map_err(|e| format!("{}: the header cannot be read: {e}", partial.name))?;
        if partial.lines != header.records {
            return Err(format!(
                "{}: cut short: {} of its {} records",
                partial.name, partial.lines, header.records
            ));
        }
        if partial.residue != header.residue.unwrap_or(0) {
            return Err(format!(
                "{}: cut short: {} of its {} residue lines",
                partial.name,
                partial.residue,
                header.residue.unwrap_or(0)
            ));
        }
        partials.push((partial.name.clone(), header));
    }
    headers(&partials)
}

/// [`merge`], of headers read.
fn headers(partials: &[(String, Header)]) -> Result<Merged, String> {
    let Some((first_name, first)) = partials.first() else {
        return Ok(Merged::default());
    };
    for (name, header) in partials {
        if header.trailscope_partial != FORMAT {
            return Err(format!(
                "{name}: a partial of format {}, which this trailscope ({}) does not read (it reads {FORMAT})",
                header.trailscope_partial,
                env!("CARGO_PKG_VERSION")
            ));
        }
        let differs = if header.residue.is_some() != first.residue.is_some() {
            let (with, without) =
                if header.residue.is_some() { (name, first_name) } else { (first_name, name) };
            Some(format!("{with} was made with --verify, {without} without"))
        } else if header.sources != first.sources {
            Some(format!("sources {:?} against {:?}", header.sources, first.sources))
        } else if header.options != first.options {
            Some(format!("options {:?} against {:?}", header.options, first.options))
        } else if header.shard.count != first.shard.count {
            Some(format!("{} shards against {}", header.shard.count, first.shard.count))
        } else {
            None
        };
        if let Some(differs) = differs {
            return Err(format!("{name} and {first_name} are not shards of one run: {differs}"));
        }
    }
    let count = first.shard.count;
    let mut holders: Vec<Vec<&str>> = vec![Vec::new(); count as usize];
    for (name, header) in partials {
        holders[header.shard.index as usize].push(name);
    }
    if let Some((index, names)) = holders.iter().enumerate().find(|(_, names)| names.len() > 1) {
        return Err(format!("shard {index}/{count} is given twice: {}", names.join(", ")));
    }
    let missing: Vec<String> = holders
        .iter()
        .enumerate()
        .filter(|(_, n)| n.is_empty())
        .map(|(i, _)| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        let plural = if missing.len() == 1 { "shard" } else { "shards" };
        return Err(format!("{plural} {} missing: no report without every shard", missing.join(", ")));
    }
    let mut counts = Counts::default();
    let mut failures = Vec::new();
    let mut archived = Vec::new();
    for (_, header) in partials {
        counts += header.counts;
        failures.extend(header.failures.iter().cloned());
        archived.extend(header.archived.iter().cloned());
    }
    failures.sort();
    archived.sort();
    Ok(Merged { counts, failures, archived, verify: first.residue.is_some().then(|| first.options.clone()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(index: u32, count: u32) -> (String, Header) {
        let header = Header {
            trailscope_partial: FORMAT,
            writer: "test".into(),
            shard: Shard { index, count },
            sources: vec!["s3://b/AWSLogs/".into()],
            options: Options {
                from: None,
                to: None,
                accounts: vec![],
                regions: vec![],
                max_object_size: 1 << 30,
            },
            counts: Counts { objects_listed: 10, objects_read: 9, records: 100, ..Counts::default() },
            failures: vec![ObjectError { object: format!("s3://b/{index}"), error: "empty object".into() }],
            archived: vec![ArchivedObject {
                object: format!("s3://b/a{index}"),
                storage_class: "GLACIER".into(),
            }],
            records: 0,
            residue: None,
        };
        (format!("shard-{index}.jsonl.gz"), header)
    }

    #[test]
    fn every_shard_once_adds_up() {
        let Merged { counts, failures, archived, verify } =
            headers(&[header(1, 3), header(0, 3), header(2, 3)]).expect("a whole run");
        assert_eq!(archived.len(), 3, "every shard's archived objects");
        assert!(verify.is_none(), "made without --verify");
        assert_eq!((counts.objects_listed, counts.objects_read, counts.records), (30, 27, 300));
        assert_eq!(
            failures.iter().map(|f| f.object.as_str()).collect::<Vec<_>>(),
            ["s3://b/0", "s3://b/1", "s3://b/2"]
        );
    }

    #[test]
    fn a_missing_or_doubled_shard_or_another_run_is_refused_with_one_line() {
        assert_eq!(
            headers(&[header(0, 3), header(2, 3)]).expect_err("missing"),
            "shard 1/3 missing: no report without every shard"
        );
        let doubled = headers(&[header(0, 2), header(0, 2), header(1, 2)]).expect_err("twice");
        assert_eq!(doubled, "shard 0/2 is given twice: shard-0.jsonl.gz, shard-0.jsonl.gz");
        let mut other = header(1, 2);
        other.1.sources = vec!["s3://other/".into()];
        assert!(headers(&[header(0, 2), other]).expect_err("other run").contains("not shards of one run"));
        let mut verified = header(1, 2);
        verified.1.residue = Some(7);
        assert_eq!(
            headers(&[header(0, 2), verified]).expect_err("mixed"),
            "shard-1.jsonl.gz and shard-0.jsonl.gz are not shards of one run: \
             shard-1.jsonl.gz was made with --verify, shard-0.jsonl.gz without"
        );
        let mut newer = header(1, 2);
        newer.1.trailscope_partial = FORMAT + 1;
        assert!(headers(&[header(0, 2), newer]).expect_err("format").contains("does not read"));
    }

    #[test]
    fn a_verify_partial_short_of_residue_lines_is_cut_short_and_whole_ones_merge_with_their_options() {
        let (name, mut header) = header(0, 1);
        header.residue = Some(5);
        let read = |residue: u64| PartialRead {
            name: name.clone(),
            header: serde_json::to_vec(&header).expect("JSON"),
            lines: 0,
            residue,
            keys: None,
        };
        assert_eq!(
            merge(&[read(4)]).expect_err("cut short"),
            "shard-0.jsonl.gz: cut short: 4 of its 5 residue lines"
        );
        let merged = merge(&[read(5)]).expect("whole");
        assert_eq!(merged.verify, Some(header.options.clone()));
    }

    #[test]
    fn a_header_starts_with_the_member_the_decoder_recognises() {
        let json = serde_json::to_vec(&header(0, 1).1).expect("serializable");
        let marker = [&b"{\""[..], crate::decode::partial::MARKER, b"\":"].concat();
        assert!(json.starts_with(&marker));
    }
}
