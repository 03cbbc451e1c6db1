//! The merge of partials: what may be given with them, then whole, and every shard of one run
//! exactly once; their counts, failures and archived objects added up.

use super::{Header, Options, PartialRead, FORMAT};
use crate::counts::Counts;
use crate::error::{ArchivedObject, FatalError, ObjectError};
use crate::keys::PublicKeys;
use crate::source::filter::Filter;

/// What the partials of one run add up to.
#[derive(Debug, Default)]
pub(crate) struct Merged {
    pub(crate) counts: Counts,
    pub(crate) failures: Vec<ObjectError>,
    pub(crate) archived: Vec<ArchivedObject>,
    /// Made with `--verify`: the options they were read with, for the range verification judges.
    pub(crate) verify: Option<Options>,
    /// The public keys every shard had, together; none when no shard had any (signatures are
    /// then unchecked for that reason, as in one run without keys).
    pub(crate) keys: Option<PublicKeys>,
}

/// A partial's header line that is not a header: the JSON error is its source.
#[derive(Debug)]
struct UnreadableHeader(serde_json::Error);

impl std::fmt::Display for UnreadableHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the header cannot be read: {}", self.0)
    }
}

impl std::error::Error for UnreadableHeader {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// What a run that read partials read and was asked beside them, for [`merge_run`] to judge.
pub(crate) struct Beside<'a> {
    pub(crate) filter: &'a Filter,
    /// `--state` was given.
    pub(crate) state: bool,
    /// Objects that did not read (a partial among them may be a lost shard).
    pub(crate) failures: &'a [ObjectError],
    /// Log objects read beside the partials.
    pub(crate) objects_read: u64,
}

/// The rules of a run that read partials (`report PARTIAL...`): they must be every shard of one
/// run and nothing else, read with no option that decides what is read (theirs decided it), and
/// made with `--verify` when it is asked for; then [`merge`].
pub(crate) fn merge_run(read: &[PartialRead], beside: &Beside<'_>) -> Result<Merged, FatalError> {
    let refuse = |message: String| Err(FatalError::Partial(message));
    let filter = beside.filter;
    if filter.shard.is_some() {
        return refuse("`scan` reads an archive, not partials".into());
    }
    if beside.state {
        return refuse("--state keeps what an archive's objects gave: give the archive, not partials".into());
    }
    if filter.from.is_some()
        || filter.to.is_some()
        || !filter.accounts.is_empty()
        || !filter.regions.is_empty()
    {
        return refuse("narrowing options belong to `scan`: the partials were read with theirs".into());
    }
    if let Some(failure) = beside.failures.first() {
        return refuse(format!("{}: {} (a shard may be lost)", failure.object, failure.reason));
    }
    if beside.objects_read > 0 {
        return refuse(format!(
            "{} log objects were given beside {} partials: give partials only",
            beside.objects_read,
            read.len()
        ));
    }
    let merged = merge(read)?;
    if filter.digests && merged.verify.is_none() {
        return refuse(
            "--verify: these partials were made without it (`scan --verify` makes partials that verify)"
                .into(),
        );
    }
    Ok(merged)
}

/// Checks that the partials read are whole and the shards of one run, each exactly once; returns
/// their counts, failures and archived objects added up, as one run over the same sources would
/// have them.
pub(crate) fn merge(read: &[PartialRead]) -> Result<Merged, FatalError> {
    let mut partials = Vec::with_capacity(read.len());
    for partial in read {
        let header: Header = serde_json::from_slice(&partial.header)
            .map_err(|e| FatalError::partial_unreadable(&partial.name, UnreadableHeader(e)))?;
        if partial.lines != header.records {
            return Err(FatalError::Partial(format!(
                "{}: cut short: {} of its {} records",
                partial.name, partial.lines, header.records
            )));
        }
        if partial.residue != header.residue.unwrap_or(0) {
            return Err(FatalError::Partial(format!(
                "{}: cut short: {} of its {} residue lines",
                partial.name,
                partial.residue,
                header.residue.unwrap_or(0)
            )));
        }
        partials.push((partial.name.clone(), header));
    }
    let mut merged = headers(&partials).map_err(FatalError::Partial)?;
    for key in read.iter().filter_map(|p| p.keys.as_ref()) {
        let known = merged.keys.get_or_insert_with(Default::default);
        key.iter().for_each(|k| known.insert(k.clone()));
    }
    Ok(merged)
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
    let verify = first.residue.is_some().then(|| first.options.clone());
    Ok(Merged { counts, failures, archived, verify, keys: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partial::MARKER;
    use crate::source::shard::Shard;

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
                include: vec![],
            },
            counts: Counts { objects_listed: 10, objects_read: 9, records: 100, ..Counts::default() },
            failures: vec![ObjectError {
                object: format!("s3://b/{index}"),
                reason: crate::error::Reason::Empty,
            }],
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
        let Merged { counts, failures, archived, verify, .. } =
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
        let mut included = header(1, 2);
        included.1.options.include = vec!["*.log".into()];
        let refused = headers(&[header(0, 2), included]).expect_err("another --include");
        assert!(
            refused.starts_with("shard-1.jsonl.gz and shard-0.jsonl.gz are not shards of one run: options")
        );
        assert!(refused.contains(r#"include: ["*.log"]"#), "{refused}");
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
            merge(&[read(4)]).expect_err("cut short").to_string(),
            "cannot merge partials: shard-0.jsonl.gz: cut short: 4 of its 5 residue lines"
        );
        let merged = merge(&[read(5)]).expect("whole");
        assert_eq!(merged.verify, Some(header.options.clone()));
    }

    #[test]
    fn a_header_that_is_not_one_is_refused_with_its_json_error_as_the_source() {
        let read = PartialRead {
            name: "shard-0.jsonl.gz".into(),
            header: br#"{"trailscope_partial":"one"}"#.to_vec(),
            lines: 0,
            residue: 0,
            keys: None,
        };
        let refused = merge(&[read]).expect_err("not a header");
        let shown = refused.to_string();
        assert!(
            shown.starts_with("cannot merge partials: shard-0.jsonl.gz: the header cannot be read: "),
            "{shown}"
        );
        let cause = std::error::Error::source(&refused).expect("the header error");
        let json = std::error::Error::source(cause).expect("the JSON error");
        assert!(json.is::<serde_json::Error>(), "{json}");
    }

    #[test]
    fn a_header_starts_with_the_member_a_partial_is_recognised_by() {
        let json = serde_json::to_vec(&header(0, 1).1).expect("serializable");
        let marker = [&b"{\""[..], MARKER, b"\":"].concat();
        assert!(json.starts_with(&marker));
    }
}
