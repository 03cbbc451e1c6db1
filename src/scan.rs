//! The parallel stage: reads and decodes objects on a rayon pool, one reusable [`Decoder`] per
//! worker, and gathers the results in listing order so nothing downstream depends on threads.

use indicatif::ProgressBar;
use rayon::prelude::*;

use crate::decode::{Decoded, Decoder, Reason};
use crate::error::{FatalError, ObjectError};
use crate::event::IcEvent;
use crate::source::ObjectRef;

/// What reading every object gave.
#[derive(Debug, Default)]
pub struct Scan {
    pub objects_read: u64,
    pub records: u64,
    /// Instance Connect events, sorted by origin (object, then record).
    pub events: Vec<IcEvent>,
    pub failures: Vec<ObjectError>,
}

/// Reads `objects` on `jobs` threads. Memory is what the objects in flight need plus the
/// Instance Connect events kept: per-object results hold no record data otherwise.
pub fn scan(
    objects: &[ObjectRef],
    jobs: usize,
    max_object_size: u64,
    progress: &ProgressBar,
) -> Result<Scan, FatalError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("trailscope-worker-{i}"))
        .build()
        .map_err(|e| FatalError::Pool(e.to_string()))?;
    let outcomes: Vec<Result<Decoded, Reason>> = pool.install(|| {
        objects
            .par_iter()
            .map_init(
                || Decoder::new(max_object_size),
                |decoder, object| {
                    let outcome = decoder.read(object);
                    progress.inc(1);
                    outcome
                },
            )
            .collect()
    });

    let mut scan = Scan::default();
    for (index, (object, outcome)) in objects.iter().zip(outcomes).enumerate() {
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
            Err(reason) => {
                scan.failures.push(ObjectError { object: object.name.clone(), error: reason.to_string() })
            }
        }
    }
    Ok(scan)
}
