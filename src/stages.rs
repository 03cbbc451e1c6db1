//! The pipeline's stages one at a time, for the benchmarks (`benches/stages.rs`) and the fuzz
//! target (`tests/fuzz`): each runs the real code of one stage on an object in memory. Not an API
//! for anything else; the command line is trailscope's interface.

use std::sync::atomic::AtomicU32;

use crate::analysis::{self, Window};
use crate::decode::{Decoder, Sink};
use crate::error::Reason;
use crate::event::spool::{Spool, SpoolWriter};
use crate::event::tables::{FastMap, Tables};
use crate::event::{Extractor, Kept, EVENT_SOURCE};
use crate::scan::{self, Collect};
use crate::source::filter::Filter;
use crate::source::Body;

/// Splits objects into records, counting them, without parsing any.
pub struct Splitter {
    decoder: Decoder,
}

impl Splitter {
    pub fn new(max_object_size: u64) -> Self {
        Splitter { decoder: Decoder::new(max_object_size, EVENT_SOURCE.as_bytes()) }
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

/// The events of one object, kept as a run keeps them, ready to be analyzed.
pub struct Events(Kept);

impl Events {
    /// Reads `object` as a worker does (the worker's own dispatch and sink: split, extract,
    /// filter, spool). An unreadable object is an error.
    pub fn read(object: &[u8], max_object_size: u64) -> Result<Events, String> {
        let tables = Tables::default();
        let mut extractor = Extractor::new(&tables);
        let mut spool = SpoolWriter::new(0).map_err(|e| e.to_string())?;
        let (filter, mut events, mut named, numbers) =
            (Filter::default(), Vec::new(), FastMap::default(), AtomicU32::new(1 << 31));
        let mut decoder = Decoder::new(max_object_size, EVENT_SOURCE.as_bytes());
        let mut sink =
            Collect::new(&mut extractor, &mut spool, &filter, &mut events, 0, &mut named, &numbers);
        scan::read(&mut decoder, Body::Bytes(object.to_vec()), &mut sink).map_err(|e| e.to_string())?;
        if sink.was_partial() {
            return Err("a partial, which runs read apart from logs".into());
        }
        events.sort_by_key(|e| e.origin);
        let mut kept_spool = Spool::default();
        kept_spool.add(0, spool.finish().map_err(|e| e.to_string())?);
        Ok(Events(Kept {
            events,
            objects: vec!["object".into()],
            vocabulary: tables.freeze(),
            spool: kept_spool,
        }))
    }

    pub fn len(&self) -> usize {
        self.0.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.events.is_empty()
    }

    /// Dedups, pairs, attributes and classifies; returns the number of fields classified and the
    /// connections found, with consistency checks of the counts.
    pub fn analyze(&self, pair_window_seconds: u32) -> Result<(usize, u64), String> {
        let activity = analysis::activity(&self.0, Window::after_seconds(pair_window_seconds));
        let analysis = analysis::analyze(&activity).map_err(|e| e.to_string())?;
        let through_endpoints: u64 = analysis.endpoints.iter().map(|e| e.connections).sum();
        if through_endpoints > analysis.connections || analysis.instance_connect_events > self.len() as u64 {
            return Err("counts do not add up".into());
        }
        Ok((analysis.fields.len(), analysis.connections))
    }
}
