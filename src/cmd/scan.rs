//! `trailscope scan --shard I/N -o PARTIAL`: read one shard of the sources and write what it found
//! ([`crate::partial`]) for `report` to merge. With `--verify`, the shard also reads the digests it
//! owns and hashes its log files; what verification needs of them goes into the partial's residue,
//! verified at the merge with every other shard's (problems are only known there).

use std::io;

use crate::error::FatalError;
use crate::output;
use crate::partial::{self, Header, Options, Target};
use crate::plan::ScanPlan;
use crate::redact::Redactor;
use crate::Outcome;

use super::read;

pub(crate) fn run(scan_plan: &ScanPlan) -> Result<Outcome, FatalError> {
    let (plan, shard) = (&scan_plan.read, scan_plan.shard);
    let read = read::read_and_merge(plan, &mut Redactor::default())?;
    let scan = &read.reading;
    let keys = match &plan.verify {
        Some(verify) => read::keys(verify, scan, read.s3.as_ref(), &plan.log)?,
        None => None,
    };
    // Keys (one line, when there are any), then every digest and log file.
    let residue = match plan.verify {
        Some(_) => Some(
            partial::residue::of_run(&scan.facts, plan.part_bytes, keys.as_ref())
                .map_err(FatalError::Facts)?,
        ),
        None => None,
    };
    let header = Header {
        counts: scan.counts,
        failures: scan.failures.clone(),
        archived: scan.archived.clone(),
        records: scan.kept.events.len() as u64,
        residue: residue.as_ref().map(|(lines, _)| *lines),
        ..Header::new(
            shard,
            partial::source_names(&plan.sources),
            Options::of(&plan.options.filter, plan.options.max_object_size),
        )
    };
    let facts = residue.map(|(_, facts)| facts).into_iter().flatten();
    match &scan_plan.output {
        Target::File(path) => {
            let mut sink = output::Sink::create(Some(path))?;
            partial::write(&mut sink, &header, &scan.kept, facts).map_err(|cause| sink.failed(cause))?;
            sink.finish()?;
        }
        Target::S3(url) => {
            let client =
                read.s3.as_ref().ok_or_else(|| FatalError::S3(format!("{url}: no S3 client").into()))?;
            let staged = crate::spill::named().map_err(FatalError::Spool)?;
            partial::write(io::BufWriter::new(staged.as_file()), &header, &scan.kept, facts)
                .map_err(|cause| FatalError::Output { target: url.to_string(), cause })?;
            client.put(url, staged.path()).map_err(FatalError::S3)?;
        }
    }
    plan.log.stage(format_args!(
        "shard {shard}: {} objects read, {} Instance Connect records and {} residue lines written",
        scan.counts.objects_read,
        header.records,
        header.residue.unwrap_or(0)
    ));
    plan.log.warn(&scan.failures);
    plan.log.warn_archived(&scan.archived, plan.restore_manifest.as_deref());
    // A shard's verification is the merge's: it finds no problems of its own.
    Ok(super::outcome(super::Found {
        unreadable: scan.failures.len(),
        archived: scan.archived.len(),
        ..super::Found::default()
    }))
}
