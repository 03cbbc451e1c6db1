//! The pipeline's stages one at a time, for the benchmarks (`benches/stages.rs`) and the fuzz
//! target (`tests/fuzz`): each runs the real code of one stage on an object in memory. Not an API
//! for anything else; the command line is trailscope's interface.

use crate::analysis::{self, Window};
use crate::decode::{Decoder, Sink};
use crate::error::Reason;
use crate::event::{Kept, CANDIDATE_NEEDLES};
use crate::reading::{self, ReadOptions};
use crate::source::filter::Filter;

/// Splits objects into records, counting them, without parsing any.
pub struct Splitter {
    decoder: Decoder,
}

impl Splitter {
    pub fn new(max_object_size: u64) -> Self {
        Splitter { decoder: Decoder::new(max_object_size, CANDIDATE_NEEDLES) }
    }

    /// Records in `object` (gzip or not), and how many name Instance Connect, read as a worker
    /// reads an object in memory (a small gzip object inflated whole).
    pub fn split(&mut self, object: &[u8]) -> Result<(u64, u64), String> {
        self.split_by(object, false)
    }

    /// As [`Splitter::split`], but every object streamed, as large objects are: the two must
    /// agree on everything, reasons included.
    pub fn split_streamed(&mut self, object: &[u8]) -> Result<(u64, u64), String> {
        self.split_by(object, true)
    }

    fn split_by(&mut self, object: &[u8], streamed: bool) -> Result<(u64, u64), String> {
        struct Count(u64);
        impl Sink for Count {
            fn candidate(&mut self, _: u32, _: &mut [u8]) -> Result<(), Reason> {
                self.0 += 1;
                Ok(())
            }
        }
        let mut count = Count(0);
        let decoded = if streamed {
            self.decoder.read(&mut &object[..], &mut count)
        } else {
            self.decoder.decode(object, &mut count)
        };
        let decoded = decoded.map_err(|e| e.to_string())?;
        Ok((decoded.records, count.0))
    }
}

/// `json` written another way with the same meaning (escapes in strings and member names,
/// whitespace), each choice `choose(n)` below `n`: what the fuzz target reads records through,
/// to check that they are read by meaning, not by their bytes.
pub fn respell(json: &[u8], choose: &mut dyn FnMut(u32) -> u32) -> Vec<u8> {
    crate::decode::lex::respell(json, choose)
}

/// Whether `bytes` are JSON: one document, or several one after the other (JSON Lines). Only
/// JSON has a meaning that [`respell`] keeps: the reading tolerates text that is not where no
/// record of interest can be (it never parses it), and such text has no spelling to compare.
pub fn is_json(bytes: &[u8]) -> bool {
    serde_json::Deserializer::from_slice(bytes).into_iter::<serde::de::IgnoredAny>().all(|v| v.is_ok())
}

/// The events of one object, kept as a run keeps them, ready to be analyzed.
pub struct Events(Kept);

impl Events {
    /// Reads `object` as a run's worker does (the worker itself: split, extract, filter, spool,
    /// rollback of an unreadable object). An unreadable object is an error.
    pub fn read(object: &[u8], max_object_size: u64) -> Result<Events, String> {
        let options = ReadOptions {
            jobs: 1,
            max_object_size,
            concurrency: 1,
            budget: max_object_size,
            filter: Filter::default(),
        };
        let scan = reading::read_one("object", object.to_vec(), &options).map_err(|e| e.to_string())?;
        if let Some(failure) = scan.failures.first() {
            return Err(failure.reason.to_string());
        }
        if !scan.partials.is_empty() {
            return Err("a partial, which runs read apart from logs".into());
        }
        Ok(Events(scan.kept))
    }

    pub fn len(&self) -> usize {
        self.0.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.events.is_empty()
    }

    /// Each event as a line of text: every field it was reduced to (time, name, account, region,
    /// principal, error, endpoint, id), the paths of its shape with each leaf's value hash, and
    /// every leaf's text as read back from the spool. Two objects holding the same events, however
    /// spelled, describe alike.
    pub fn describe(&self) -> Result<Vec<String>, String> {
        let kept = &self.0;
        let v = &kept.vocabulary;
        kept.events
            .iter()
            .map(|e| {
                let texts = kept.texts(e).map_err(|e| e.to_string())?;
                let paths: Vec<&str> = v.shape(e.shape).iter().map(|&p| v.path(p)).collect();
                Ok(format!(
                    "{:?} {:?} time={:?} name={} account={} region={} principal={} error={:?} \
                     endpoint={:?} id={:032x} content={:x} paths={paths:?} values={:?} texts={texts:?}",
                    e.origin,
                    e.succeeded(),
                    e.time.map(|t| t.to_string()),
                    v.text(e.name),
                    v.text(e.account),
                    v.text(e.region),
                    v.text(e.principal),
                    e.error.map(|s| v.text(s)),
                    e.endpoint.map(|s| v.text(s)),
                    e.id,
                    e.content,
                    e.values,
                ))
            })
            .collect()
    }

    /// Dedups, pairs, attributes and classifies; returns the number of fields classified and the
    /// connections found, with consistency checks of the counts.
    pub fn analyze(&self, pair_window_seconds: u32) -> Result<(usize, u64), String> {
        let activity = analysis::activity(&self.0, Window::after_seconds(pair_window_seconds));
        let report = analysis::report(&activity, Default::default(), &Default::default())
            .map_err(|e| e.to_string())?;
        let summary = &report.summary;
        let through_endpoints: u64 = report.endpoints.iter().map(|e| e.connections).sum();
        if through_endpoints > summary.connections || summary.instance_connect_events > self.len() as u64 {
            return Err("counts do not add up".into());
        }
        Ok((report.fields.len(), summary.connections))
    }
}
