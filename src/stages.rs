//! The pipeline's stages one at a time, for the benchmarks (`benches/stages.rs`) and the fuzz
//! target (`tests/fuzz`): each runs the real code of one stage on an object in memory. Not an API
//! for anything else; the command line is trailscope's interface.

use crate::analysis::{self, Window};
use crate::decode::{Decoder, Sink};
use crate::error::Reason;
use crate::event::spool::{Spool, SpoolWriter};
use crate::event::tables::Tables;
use crate::event::{Event, Extractor, Kept, Origin, EVENT_SOURCE};

/// Splits objects into records, counting them, without parsing any.
pub struct Splitter {
    decoder: Decoder,
}

impl Splitter {
    pub fn new(max_object_size: u64) -> Self {
        Splitter { decoder: Decoder::new(max_object_size, EVENT_SOURCE.as_bytes()) }
    }

    /// Records in `object` (gzip or not), and how many name Instance Connect.
    pub fn split(&mut self, object: &[u8]) -> Result<(u64, u64), String> {
        struct Count(u64);
        impl Sink for Count {
            fn candidate(&mut self, _: u32, _: &mut [u8]) -> Result<(), Reason> {
                self.0 += 1;
                Ok(())
            }
        }
        let mut count = Count(0);
        let decoded = self.decoder.decode(object, &mut count).map_err(|e| e.to_string())?;
        Ok((decoded.records, count.0))
    }
}

/// The events of one object, kept as a run keeps them, ready to be analyzed.
pub struct Events(Kept);

impl Events {
    /// Reads `object` as a worker does: split, extract, spool. An unreadable object is an error.
    pub fn read(object: &[u8], max_object_size: u64) -> Result<Events, String> {
        let tables = Tables::default();
        let mut collect = Collect {
            extractor: Extractor::new(&tables),
            spool: SpoolWriter::new(0).map_err(|e| e.to_string())?,
            events: Vec::new(),
        };
        Decoder::new(max_object_size, EVENT_SOURCE.as_bytes())
            .decode(object, &mut collect)
            .map_err(|e| e.to_string())?;
        let Collect { spool, mut events, .. } = collect;
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

struct Collect<'t> {
    extractor: Extractor<'t>,
    spool: SpoolWriter,
    events: Vec<Event>,
}

impl Sink for Collect<'_> {
    fn candidate(&mut self, index: u32, record: &mut [u8]) -> Result<(), Reason> {
        if let Some(mut event) = self.extractor.extract(record)? {
            event.origin = Origin { object: 0, record: index };
            event.record = self.spool.append(record).map_err(Reason::Read)?;
            self.events.push(event);
        }
        Ok(())
    }
}
