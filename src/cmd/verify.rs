//! `--verify`: the digests and log hashes the reading gathered, checked against each other and
//! against CloudTrail's public keys (from `--public-keys`, or the CloudTrail API for S3 sources).
//! Of partials made with `scan --verify`, the digests, hashes and keys of every shard's residue,
//! verified together as one run verifies them.

use std::path::Path;

use crate::error::FatalError;
use crate::keys::PublicKeys;
use crate::messages::Log;
use crate::plan::{ReadPlan, VerifyPlan};
use crate::redact::Redactor;
use crate::scan::Scan;
use crate::source::s3::S3Client;
use crate::state::State;
use crate::time::{Day, Timestamp};
use crate::verify::{Integrity, Scope};

use super::read::{self, Read};

/// Reads what `plan` says (the digests too, under `--verify`), with `state` (`--state`), and
/// verifies it: the archive and its integrity, `None` without `--verify`. With `--strict`, a
/// problem found is fatal (after the problems are warned about).
pub(crate) fn read(
    plan: &ReadPlan,
    state: Option<&State>,
    redactor: &mut Redactor,
) -> Result<(Read, Option<Integrity>), FatalError> {
    let mut read = read::read(plan, state, redactor)?;
    // What the reading counted of the S3 client's retries; ListPublicKeys' come after.
    let retried = read.s3.as_ref().map_or(0, S3Client::retried);
    // Partials made with `--verify` are verified at their merge, with or without it.
    let integrity = match (&read.residue, &plan.verify) {
        (Some((options, keys)), verify) => {
            let public_keys = verify.as_ref().and_then(|v| v.public_keys.as_deref());
            Some(merged(public_keys, &read.scan, options, keys.clone(), plan)?)
        }
        (None, Some(verify)) => Some(integrity(verify, &read.scan, read.s3.as_ref(), plan)?),
        (None, None) => None,
    };
    if let Some(client) = &read.s3 {
        read.scan.counts.requests_retried += client.retried() - retried;
    }
    let problems = integrity.as_ref().map_or(0, Integrity::problems);
    if plan.strict && problems > 0 {
        let mut integrity = integrity;
        if let Some(integrity) = &mut integrity {
            redactor.integrity(integrity)?;
        }
        plan.log.warn_integrity(integrity.as_ref());
        return Err(FatalError::Unverified { problems });
    }
    Ok((read, integrity))
}

/// Verifies what `scan` read.
fn integrity(
    verify_plan: &VerifyPlan,
    scan: &Scan,
    s3: Option<&S3Client>,
    plan: &ReadPlan,
) -> Result<Integrity, FatalError> {
    let keys = keys(verify_plan, scan, s3, &plan.log)?;
    let filter = &plan.options.filter;
    verify(scan, keys.as_ref(), scope(filter.from, filter.to), plan)
}

/// Verifies the residues of partials made with `--verify`, read with `options`, with the keys
/// their shards had (and those of `--public-keys`, when given to the merge).
fn merged(
    public_keys: Option<&Path>,
    scan: &Scan,
    options: &crate::partial::Options,
    mut keys: Option<PublicKeys>,
    plan: &ReadPlan,
) -> Result<Integrity, FatalError> {
    if let Some(path) = public_keys {
        let known = keys.get_or_insert_with(PublicKeys::default);
        for key in read_keys(path)?.iter() {
            known.insert(key.clone());
        }
    }
    let day = |text: &Option<String>| match text {
        None => Ok(None),
        Some(text) => Day::parse(text)
            .map(Some)
            .ok_or_else(|| FatalError::Partial(format!("a partial's range holds {text:?}, not a day"))),
    };
    verify(scan, keys.as_ref(), scope(day(&options.from)?, day(&options.to)?), plan)
}

/// The public keys of `--public-keys`, or of the CloudTrail API for S3 sources; `None` for a local
/// copy without `--public-keys`.
pub(crate) fn keys(
    plan: &VerifyPlan,
    scan: &Scan,
    s3: Option<&S3Client>,
    log: &Log,
) -> Result<Option<PublicKeys>, FatalError> {
    Ok(match (&plan.public_keys, s3) {
        (Some(path), _) => Some(read_keys(path)?),
        (None, Some(client)) => Some(fetch_keys(scan, client, log)?),
        (None, None) => None,
    })
}

/// The day folders read: logs from --from to the day after --to (see `Filter`).
fn scope(from: Option<Day>, to: Option<Day>) -> Scope {
    Scope {
        days: match (from, to) {
            (None, None) => None,
            (from, to) => Some((from.unwrap_or(Day(i64::MIN / 4)), to.map_or(Day(i64::MAX / 4), Day::next))),
        },
    }
}

fn verify(
    scan: &Scan,
    keys: Option<&PublicKeys>,
    scope: Scope,
    plan: &ReadPlan,
) -> Result<Integrity, FatalError> {
    let integrity = scan.facts.verify(plan.part_bytes, keys, &scope).map_err(FatalError::Facts)?;
    plan.log.stage(format_args!(
        "verified {} log files against {} digests: {} problems",
        scan.facts.logs(),
        integrity.digests_read,
        integrity.problems()
    ));
    Ok(integrity)
}

fn read_keys(path: &Path) -> Result<PublicKeys, FatalError> {
    let bytes =
        std::fs::read(path).map_err(|cause| FatalError::Source { path: path.to_path_buf(), cause })?;
    PublicKeys::parse(&bytes).map_err(|problem| FatalError::PublicKeys { path: path.to_path_buf(), problem })
}

/// The keys of every home region the digests name, valid over the span their end times cover.
fn fetch_keys(scan: &Scan, client: &S3Client, log: &Log) -> Result<PublicKeys, FatalError> {
    let spans = scan.facts.home_regions();
    let mut keys = PublicKeys::default();
    for (region, (from, to)) in spans {
        // A key's window is inclusive; an hour on each side covers a digest signed at the edge.
        let fetched = client
            .public_keys(&region, Timestamp(from.millis() - 3_600_000), Timestamp(to.millis() + 3_600_000))
            .map_err(FatalError::S3)?;
        log.stage(format_args!("fetched {} CloudTrail public keys for {region}", fetched.len()));
        for key in fetched {
            keys.insert(key);
        }
    }
    Ok(keys)
}
