//! The parallel stage: reads and decodes objects on a rayon pool, one reusable [`Decoder`] per
//! worker, and gathers the results in listing order so nothing downstream depends on threads.
//! Local files are read by the workers themselves; S3 objects arrive from the downloader.

use indicatif::ProgressBar;
use rayon::prelude::*;

use crate::decode::{Decoded, Decoder, Reason};
use crate::error::{FatalError, ObjectError};
use crate::event::IcEvent;
use crate::source::s3::{DownloadPlan, S3Session};
use crate::source::{Location, ObjectRef};

/// What reading every object gave.
#[derive(Debug, Default)]
pub struct Scan {
    pub objects_read: u64,
    pub records: u64,
    /// Instance Connect events, sorted by origin (object, then record).
    pub events: Vec<IcEvent>,
    pub failures: Vec<ObjectError>,
}

#[derive(Debug, Clone, Copy)]
pub struct ScanConfig {
    pub jobs: usize,
    pub max_object_size: u64,
    /// Bytes downloaded but not yet parsed, at most (one object may exceed it alone).
    pub download_budget: u64,
}

/// Reads `objects` on `config.jobs` threads. Memory is what the objects in flight need plus the
/// Instance Connect events kept: per-object results hold no record data otherwise.
pub fn scan(
    objects: &[ObjectRef],
    config: ScanConfig,
    s3: Option<&S3Session>,
    progress: &ProgressBar,
) -> Result<Scan, FatalError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.jobs)
        .thread_name(|i| format!("trailscope-worker-{i}"))
        .build()
        .map_err(|e| FatalError::Pool(e.to_string()))?;
    let new_decoder = || Decoder::new(config.max_object_size);

    let local: Vec<(usize, &ObjectRef)> =
        objects.iter().enumerate().filter(|(_, o)| matches!(o.location, Location::Local(_))).collect();
    let mut outcomes: Vec<(usize, Result<Decoded, Reason>)> = pool.install(|| {
        local
            .par_iter()
            .map_init(new_decoder, |decoder, &(index, object)| {
                let outcome = decoder.read(object);
                progress.inc(1);
                (index, outcome)
            })
            .collect()
    });

    let plans: Vec<DownloadPlan> = objects
        .iter()
        .enumerate()
        .filter_map(|(index, object)| match &object.location {
            Location::S3 { bucket, key, size } => {
                Some(DownloadPlan { index, bucket: bucket.clone(), key: key.clone(), size: *size })
            }
            Location::Local(_) => None,
        })
        .collect();
    if let (false, Some(session)) = (plans.is_empty(), s3) {
        let mut arrivals = session.download(plans, config.max_object_size, config.download_budget);
        let downloaded: Vec<(usize, Result<Decoded, Reason>)> = pool.install(|| {
            std::iter::from_fn(|| arrivals.blocking_recv())
                .par_bridge()
                .map_init(new_decoder, |decoder, fetched| {
                    let hint = objects[fetched.index].hint;
                    let outcome = fetched.body.and_then(|bytes| decoder.decode_owned(bytes, hint));
                    // Only now is the object's share of the download budget released.
                    drop(fetched.budget);
                    progress.inc(1);
                    (fetched.index, outcome)
                })
                .collect()
        });
        outcomes.extend(downloaded);
    }
    outcomes.sort_unstable_by_key(|(index, _)| *index);
    // Every object must be accounted for: one that never came back is a failure, never a silence.
    let mut accounted = vec![false; objects.len()];
    for (index, _) in &outcomes {
        accounted[*index] = true;
    }
    for (index, _) in accounted.iter().enumerate().filter(|(_, done)| !**done) {
        outcomes.push((index, Err(Reason::Fetch("the download never completed".into()))));
    }
    outcomes.sort_unstable_by_key(|(index, _)| *index);

    let mut scan = Scan::default();
    for (index, outcome) in outcomes {
        match outcome {
            Ok(decoded) => {
                scan.objects_read += 1;
                scan.records += decoded.records;
                let object_index = u32::try_from(index).unwrap_or(u32::MAX);
                scan.events.extend(decoded.events.into_iter().map(|mut event| {
                    event.origin.object = object_index;
                    event
                }));
            }
            Err(reason) => scan
                .failures
                .push(ObjectError { object: objects[index].name.clone(), error: reason.to_string() }),
        }
    }
    Ok(scan)
}
