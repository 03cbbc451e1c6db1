//! The worker pool's worker: reads each object it is handed, keeping its Instance Connect events
//! tentatively (none of an object that turns out unreadable), and reads digests and partials.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::mpsc;

use super::fetch::{Item, Role};
use super::{FastSet, KnownObject, PartialRead, Progress, ReadOptions};
use crate::decode::{self, Decoded, Decoder, Sink};
use crate::digest::residue::{self, Fact};
use crate::digest::{DigestObject, LogObject, PublicKey};
use crate::error::{ArchivedObject, FatalError, ObjectError, Reason};
use crate::event::spool::SpoolWriter;
use crate::event::tables::{FastMap, Tables};
use crate::event::{Event, Extractor, Origin, EVENT_SOURCE};
use crate::source::layout::Filter;
use crate::source::{Body, Fetched, Kind};

/// What every worker shares.
pub(super) struct Shared<'a> {
    pub(super) options: &'a ReadOptions,
    pub(super) tables: &'a Tables,
    pub(super) stop: &'a AtomicBool,
    pub(super) progress: &'a dyn Progress,
    pub(super) listed: &'a AtomicU64,
    /// Numbers for the objects partials name, apart from the listing's own (which count from 0).
    pub(super) partial_objects: &'a AtomicU32,
    /// With `--state`: the objects whose records the state's partial gives.
    pub(super) taken: &'a OnceLock<FastSet<String>>,
}

/// What one worker read.
pub(super) struct Output {
    pub(super) events: Vec<Event>,
    /// Objects the events came from: (seq, name).
    pub(super) names: Vec<(u32, String)>,
    pub(super) spool: Option<(u16, File)>,
    pub(super) objects_read: u64,
    pub(super) records: u64,
    pub(super) events_out_of_range: u64,
    pub(super) failures: Vec<ObjectError>,
    pub(super) archived: Vec<ArchivedObject>,
    pub(super) digests: Vec<DigestObject>,
    pub(super) logs: Vec<LogObject>,
    pub(super) partials: Vec<PartialRead>,
    /// With `--state`: objects read whole, with their version; the state's partial as read.
    pub(super) fresh: Vec<(String, KnownObject)>,
    pub(super) state_records: Option<PartialRead>,
}

/// One worker: reads objects until there are none left.
pub(super) fn work(
    segment: u16,
    items: &Mutex<mpsc::Receiver<Item>>,
    shared: &Shared<'_>,
) -> Result<Output, FatalError> {
    let verifying = shared.options.filter.digests;
    let mut decoder = Decoder::new(shared.options.max_object_size, EVENT_SOURCE.as_bytes());
    if verifying {
        decoder = decoder.verifying();
    }
    let mut extractor = Extractor::new(shared.tables);
    let mut spool = SpoolWriter::new(segment).map_err(FatalError::Spool)?;
    let mut output = Output {
        events: Vec::new(),
        names: Vec::new(),
        spool: None,
        objects_read: 0,
        records: 0,
        events_out_of_range: 0,
        failures: Vec::new(),
        archived: Vec::new(),
        digests: Vec::new(),
        logs: Vec::new(),
        partials: Vec::new(),
        fresh: Vec::new(),
        state_records: None,
    };
    let mut pending = Vec::new();
    let mut named = FastMap::default();
    loop {
        // Waiting holds the lock; the others wait for it, then for the next item.
        let item = items.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some(Item { seq, object, fetched, _budget, role }) = item else { break };
        if shared.stop.load(Ordering::Relaxed) {
            continue;
        }
        if object.kind == Kind::Digest {
            output.digests.push(read_digest(object.name, fetched, shared.options.max_object_size));
            shared.progress.read(shared.listed.load(Ordering::Relaxed));
            continue;
        }
        let mark = spool.mark();
        let mut sink = Collect::new(
            &mut extractor,
            &mut spool,
            &shared.options.filter,
            &mut pending,
            seq,
            &mut named,
            shared.partial_objects,
        );
        if let Role::StateRecords = role {
            sink.only = Some(shared.taken.get_or_init(FastSet::default));
        }
        // Only a failure of bytes fetched whole is the object's own, kept in the state: a stream
        // can fail on the way.
        let whole = match &fetched {
            Ok(fetched) => matches!(fetched.body, Body::Bytes(_) | Body::File(_)),
            Err(reason) => matches!(reason, Reason::TooLarge { .. }),
        };
        // The state's records are the archive's Instance Connect records, not one object of it:
        // --max-object-size does not bound them.
        let mut unbounded;
        let decoder = match role {
            Role::StateRecords => {
                unbounded = Decoder::new(u64::MAX, EVENT_SOURCE.as_bytes());
                &mut unbounded
            }
            _ => &mut decoder,
        };
        let result = fetched.and_then(|fetched| read(decoder, fetched.body, &mut sink));
        let (out_of_range, fatal, partial) = (sink.out_of_range, sink.fatal.take(), sink.partial.take());
        if let Some(fatal) = fatal {
            return Err(fatal);
        }
        if matches!(role, Role::StateRecords) && partial.is_none() {
            let why = result.err().map_or_else(|| "not a partial".to_owned(), |e| e.to_string());
            return Err(FatalError::State(format!("{}: damaged: {why}", object.name)));
        }
        // A partial is a shard of a run: read whole, or the report would silently lack it.
        if let Some(partial) = partial {
            if let Err(reason) = result {
                if matches!(role, Role::StateRecords) {
                    return Err(FatalError::State(format!("{}: damaged: {reason}", object.name)));
                }
                return Err(FatalError::Partial(format!("{}: {reason}", object.name)));
            }
            output.digests.extend(partial.digests);
            output.logs.extend(partial.logs);
            let read = PartialRead {
                name: object.name,
                header: partial.header,
                lines: partial.lines,
                residue: partial.residue,
                keys: partial.keys,
            };
            if matches!(role, Role::StateRecords) {
                output.state_records = Some(read);
            } else {
                output.partials.push(read);
            }
            output.names.extend(partial.objects);
            output.events.append(&mut pending);
            shared.progress.read(shared.listed.load(Ordering::Relaxed));
            continue;
        }
        match result {
            Ok(decoded) => {
                if verifying {
                    output.logs.push(LogObject {
                        object: object.name.clone(),
                        sha256: decoded.sha256,
                        events: decoded.events,
                    });
                }
                output.objects_read += 1;
                output.records += decoded.records;
                output.events_out_of_range += out_of_range;
                if let Role::Versioned(size, version) = role {
                    let records = decoded.records;
                    let known = KnownObject { size, version, records, out_of_range, failure: None };
                    output.fresh.push((object.name.clone(), known));
                }
                if !pending.is_empty() {
                    output.names.push((seq, object.name));
                    output.events.append(&mut pending);
                }
            }
            Err(reason) => {
                // Read whole or not at all: nothing of an unreadable object counts.
                pending.clear();
                spool.rollback(mark).map_err(FatalError::Spool)?;
                if verifying {
                    output.logs.push(LogObject { object: object.name.clone(), sha256: None, events: None });
                }
                match reason {
                    // An Intelligent-Tiering archive tier: known only by GetObject's answer, and
                    // not remembered by --state (restored, it reads).
                    Reason::Archived(storage_class) => {
                        output.archived.push(ArchivedObject { object: object.name, storage_class })
                    }
                    reason => {
                        let error = reason.to_string();
                        let transient = matches!(reason, Reason::Read(_) | Reason::Fetch(_));
                        if let (Role::Versioned(size, version), true, false) = (role, whole, transient) {
                            let failure = Some(error.clone());
                            let known = KnownObject { size, version, records: 0, out_of_range: 0, failure };
                            output.fresh.push((object.name.clone(), known));
                        }
                        output.failures.push(ObjectError { object: object.name, error });
                    }
                }
            }
        }
        shared.progress.read(shared.listed.load(Ordering::Relaxed));
    }
    output.spool = Some((segment, spool.finish().map_err(FatalError::Spool)?));
    Ok(output)
}

/// A digest, read whole (digests are small), inflated and parsed, or why it could not be.
fn read_digest(object: String, fetched: Result<Fetched, Reason>, limit: u64) -> DigestObject {
    let read = fetched.and_then(|fetched| {
        let content = match fetched.body {
            Body::File(path) => decode::read_whole(&mut File::open(path).map_err(Reason::Read)?, limit),
            Body::Bytes(bytes) => decode::read_whole(&mut &bytes[..], limit),
            Body::Stream(mut stream) => decode::read_whole(&mut stream, limit),
        }?;
        Ok((content, fetched.signature))
    });
    match read {
        Ok((content, signature)) => DigestObject::from_content(object, &content, signature),
        Err(reason) => DigestObject::unreadable(object, reason.to_string()),
    }
}

/// One log object through the decoder, by the path its body allows (also `stages`, so that the
/// benchmarks and the fuzz target read as a worker does).
pub(crate) fn read(decoder: &mut Decoder, body: Body, sink: &mut dyn Sink) -> Result<Decoded, Reason> {
    match body {
        Body::File(path) => decoder.read_file(&path, sink),
        Body::Bytes(bytes) => decoder.decode(&bytes, sink),
        Body::Stream(mut stream) => decoder.read(&mut stream, sink),
    }
}

/// Keeps the Instance Connect events of the object being read, tentatively: they count only if
/// the whole object reads.
pub(crate) struct Collect<'a, 't> {
    extractor: &'a mut Extractor<'t>,
    spool: &'a mut SpoolWriter,
    filter: &'a Filter,
    pending: &'a mut Vec<Event>,
    out_of_range: u64,
    seq: u32,
    /// A failure of this run, not of the object (the spool could not be written).
    fatal: Option<FatalError>,
    /// When the object is a partial: its header, and what it has given so far.
    partial: Option<Partial>,
    /// The numbers given to the objects partials name, by name.
    named: &'a mut FastMap<String, u32>,
    partial_objects: &'a AtomicU32,
    /// The state's partial: records of these objects only are kept.
    only: Option<&'a FastSet<String>>,
}

/// A partial being read.
#[derive(Default)]
struct Partial {
    header: Vec<u8>,
    lines: u64,
    /// Objects first named in this partial: (number, name).
    objects: Vec<(u32, String)>,
    /// Residue lines, and what they held.
    residue: u64,
    digests: Vec<DigestObject>,
    logs: Vec<LogObject>,
    keys: Option<Vec<PublicKey>>,
}

impl<'a, 't> Collect<'a, 't> {
    /// Collects the events of object `seq` into `pending` and their records into `spool`.
    pub(crate) fn new(
        extractor: &'a mut Extractor<'t>,
        spool: &'a mut SpoolWriter,
        filter: &'a Filter,
        pending: &'a mut Vec<Event>,
        seq: u32,
        named: &'a mut FastMap<String, u32>,
        partial_objects: &'a AtomicU32,
    ) -> Self {
        Collect {
            extractor,
            spool,
            filter,
            pending,
            out_of_range: 0,
            seq,
            fatal: None,
            partial: None,
            named,
            partial_objects,
            only: None,
        }
    }

    /// Whether the object was a partial (`trailscope scan`'s output), which the worker keeps
    /// apart from logs.
    pub(crate) fn was_partial(&self) -> bool {
        self.partial.is_some()
    }

    /// Keeps `event`, read from `record`, at `origin`.
    fn keep(&mut self, mut event: Event, origin: Origin, record: &[u8]) -> Result<(), Reason> {
        event.origin = origin;
        event.record = self.spool.append(record).map_err(|e| {
            let reason = Reason::Fetch(format!("cannot keep the record: {e}"));
            self.fatal = Some(FatalError::Spool(e));
            reason
        })?;
        self.pending.push(event);
        Ok(())
    }
}

impl Sink for Collect<'_, '_> {
    fn candidate(&mut self, index: u32, record: &mut [u8]) -> Result<(), Reason> {
        let Some(event) = self.extractor.extract(record)? else {
            return Ok(());
        };
        if !self.filter.keeps_time(event.time) {
            self.out_of_range += 1;
            return Ok(());
        }
        self.keep(event, Origin { object: self.seq, record: index }, record)
    }

    fn partial_header(&mut self, header: &[u8]) -> Result<(), Reason> {
        self.partial = Some(Partial { header: header.to_vec(), ..Partial::default() });
        Ok(())
    }

    fn partial_residue(&mut self, fact: &[u8]) -> Result<(), Reason> {
        let Some(partial) = self.partial.as_mut() else {
            return Err(Reason::Shape("a partial's residue before its header".into()));
        };
        let fact: Fact = serde_json::from_slice(fact)
            .map_err(|e| Reason::Shape(format!("a residue line that is not a fact of --verify: {e}")))?;
        match fact.read().map_err(|e| Reason::Shape(format!("a residue line: {e}")))? {
            residue::Read::Digest(d) => partial.digests.push(*d),
            residue::Read::Log(l) => partial.logs.push(l),
            residue::Read::Keys(keys) => partial.keys.get_or_insert_with(Vec::new).extend(keys),
        }
        partial.residue += 1;
        Ok(())
    }

    fn partial_record(&mut self, object: &str, index: u32, record: &[u8]) -> Result<(), Reason> {
        let Some(event) = self.extractor.extract(record)? else {
            return Err(Reason::Shape("a partial's record that is not an Instance Connect event".into()));
        };
        let Some(partial) = self.partial.as_mut() else {
            return Err(Reason::Shape("a partial's record before its header".into()));
        };
        partial.lines += 1;
        if self.only.is_some_and(|only| !only.contains(object)) {
            return Ok(());
        }
        let number = match self.named.get(object) {
            Some(&number) => number,
            None => {
                let number = self.partial_objects.fetch_add(1, Ordering::Relaxed);
                self.named.insert(object.to_owned(), number);
                partial.objects.push((number, object.to_owned()));
                number
            }
        };
        self.keep(event, Origin { object: number, record: index }, record)
    }
}
