//! The worker pool's worker: reads each object it is handed, keeping its Instance Connect events
//! tentatively (none of an object that turns out unreadable), and reads digests and partials.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::mpsc;

use super::fetch::{Item, Role};
use super::{Progress, ReadOptions};
use crate::decode::{self, Decoded, Decoder, Sink};
use crate::error::{ArchivedObject, FatalError, ObjectError, Reason};
use crate::event::tables::Tables;
use crate::event::{Event, Extractor, Origin, CANDIDATE_NEEDLES};
use crate::partial::read::{Claim, Claimed, Finished, Numbering, Numbers, Reading};
use crate::partial::{PartialRead, MARKER};
use crate::source::filter::Filter;
use crate::source::{Body, Fetched, Gave, Kind, Store};
use crate::spill::records::SpoolWriter;
use crate::verify::{DigestObject, Facts, LogObject};

/// What every worker shares.
pub(super) struct Shared<'a> {
    pub(super) options: &'a ReadOptions,
    pub(super) tables: &'a Tables,
    pub(super) stop: &'a AtomicBool,
    pub(super) progress: &'a dyn Progress,
    pub(super) listed: &'a AtomicU64,
    /// Numbers for the objects partials name, apart from the listing's own.
    pub(super) numbering: &'a Numbering,
    /// Where every digest and log file read is filed for `--verify`, with those of partials.
    pub(super) facts: &'a Facts,
}

/// What one worker read.
#[derive(Default)]
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
    pub(super) partials: Vec<PartialRead>,
}

/// One worker: reads objects until there are none left.
pub(super) fn work(
    segment: u16,
    items: &Mutex<mpsc::Receiver<Item>>,
    shared: &Shared<'_>,
) -> Result<Output, FatalError> {
    let mut worker = Worker::new(segment, shared)?;
    loop {
        // Waiting holds the lock; the others wait for it, then for the next item.
        let item = items.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
        let Some(item) = item else { break };
        if shared.stop.load(Ordering::Relaxed) {
            continue;
        }
        worker.object(item)?;
        shared.progress.read(shared.listed.load(Ordering::Relaxed));
    }
    let mut output = worker.output;
    output.spool = Some((segment, worker.spool.finish().map_err(FatalError::Spool)?));
    Ok(output)
}

/// One worker's state: its decoder, extractor and spool segment, and what it has read so far.
struct Worker<'s, 't> {
    shared: &'s Shared<'t>,
    decoder: Decoder,
    extractor: Extractor<'t>,
    spool: SpoolWriter,
    /// The events of the object being read, until it has read whole.
    pending: Vec<Event>,
    numbers: Numbers<'t>,
    output: Output,
}

/// What reading one object's bytes gave, before it is judged.
struct Read {
    result: Result<Decoded, Reason>,
    out_of_range: u64,
    partial: Option<Reading>,
}

impl<'s, 't> Worker<'s, 't> {
    fn new(segment: u16, shared: &'s Shared<'t>) -> Result<Self, FatalError> {
        let mut decoder = Decoder::new(shared.options.max_object_size, CANDIDATE_NEEDLES);
        if shared.options.filter.digests {
            decoder = decoder.verifying();
        }
        Ok(Worker {
            shared,
            decoder,
            extractor: Extractor::new(shared.tables),
            spool: SpoolWriter::new(segment).map_err(FatalError::Spool)?,
            pending: Vec::new(),
            numbers: Numbers::new(shared.numbering),
            output: Output::default(),
        })
    }

    /// Reads one object, and keeps what it gave: a digest, a partial, or a log object's events
    /// (or its failure).
    fn object(&mut self, item: Item) -> Result<(), FatalError> {
        let Item { seq, object, fetched, _budget, role, store } = item;
        if object.kind == Kind::Digest {
            let limit = self.shared.options.max_object_size;
            let digest = read_digest(object.name, fetched, limit);
            return self.file_digest(&digest);
        }
        let mark = self.spool.mark();
        // Only a failure of bytes fetched whole is the object's own, told to its store (a wrapper
        // that remembers objects keeps it): a stream can fail on the way.
        let whole = match &fetched {
            Ok(fetched) => matches!(fetched.body, Body::Bytes(_) | Body::File(_)),
            Err(reason) => matches!(reason, Reason::TooLarge { .. }),
        };
        let read = self.read(seq, fetched, &role)?;
        let recalled = matches!(role, Role::Recalled(_));
        let store = store.as_deref();
        match read.partial {
            Some(partial) => self.kept_partial(object.name, partial, read.result, recalled),
            None if recalled => {
                let why = read.result.err().map_or_else(|| "not a partial".to_owned(), |e| e.to_string());
                Err(FatalError::State(format!("{}: damaged: {why}", object.name)))
            }
            None => match read.result {
                Ok(decoded) => self.kept_log(seq, object.name, decoded, read.out_of_range, store),
                Err(reason) => self.failed(object.name, reason, mark, store, whole),
            },
        }
    }

    /// Reads the object's bytes through the decoder into a [`Collect`].
    fn read(&mut self, seq: u32, fetched: Result<Fetched, Reason>, role: &Role) -> Result<Read, FatalError> {
        let shared = self.shared;
        let only = match role {
            Role::Recalled(of) => Some(&**of),
            Role::Listed => None,
        };
        let mut sink = Collect {
            extractor: &mut self.extractor,
            spool: &mut self.spool,
            filter: &shared.options.filter,
            pending: &mut self.pending,
            out_of_range: 0,
            seq,
            fatal: None,
            claim: Claim::new(shared.facts, &mut self.numbers, only),
        };
        // Records kept by an earlier run are the archive's Instance Connect records, not one
        // object of it: --max-object-size does not bound them.
        let mut unbounded;
        let decoder = match role {
            Role::Recalled(_) => {
                unbounded = Decoder::new(u64::MAX, CANDIDATE_NEEDLES);
                &mut unbounded
            }
            _ => &mut self.decoder,
        };
        let result = fetched.and_then(|fetched| read(decoder, fetched.body, &mut sink));
        if let Some(fatal) = sink.fatal.take() {
            return Err(fatal);
        }
        Ok(Read { result, out_of_range: sink.out_of_range, partial: sink.claim.take() })
    }

    /// A partial read: a shard of a run (or the records an earlier run kept, `recalled`), read
    /// whole, or the report would silently lack it.
    fn kept_partial(
        &mut self,
        name: String,
        partial: Reading,
        result: Result<Decoded, Reason>,
        recalled: bool,
    ) -> Result<(), FatalError> {
        if let Err(reason) = result {
            if recalled {
                return Err(FatalError::State(format!("{name}: damaged: {reason}")));
            }
            return Err(FatalError::partial_unreadable(&name, reason));
        }
        let Finished { read, objects } = partial.finish(name);
        let output = &mut self.output;
        if recalled {
            read_to_its_end(&read)?;
        } else {
            output.partials.push(read);
        }
        output.names.extend(objects);
        output.events.append(&mut self.pending);
        Ok(())
    }

    /// A log object read whole: its events count.
    fn kept_log(
        &mut self,
        seq: u32,
        name: String,
        decoded: Decoded,
        out_of_range: u64,
        store: Option<&dyn Store>,
    ) -> Result<(), FatalError> {
        self.file_log(&LogObject { object: name.clone(), sha256: decoded.sha256, events: decoded.events })?;
        let output = &mut self.output;
        output.objects_read += 1;
        output.records += decoded.records;
        output.events_out_of_range += out_of_range;
        if let Some(store) = store {
            store.read(&name, &Gave::Read { records: decoded.records, out_of_range });
        }
        if !self.pending.is_empty() {
            output.names.push((seq, name));
            output.events.append(&mut self.pending);
        }
        Ok(())
    }

    /// Files a digest read (only `--verify` lists digests) for verification.
    fn file_digest(&self, digest: &DigestObject) -> Result<(), FatalError> {
        self.shared.facts.add_digest(digest).map_err(FatalError::Facts)
    }

    /// With `--verify`: files a log file read (or not) for verification.
    fn file_log(&self, log: &LogObject) -> Result<(), FatalError> {
        if !self.shared.options.filter.digests {
            return Ok(());
        }
        self.shared.facts.add_log(log).map_err(FatalError::Facts)
    }

    /// A log object that did not read: read whole or not at all, so nothing of it counts.
    fn failed(
        &mut self,
        name: String,
        reason: Reason,
        mark: u64,
        store: Option<&dyn Store>,
        whole: bool,
    ) -> Result<(), FatalError> {
        self.pending.clear();
        self.spool.rollback(mark).map_err(FatalError::Spool)?;
        self.file_log(&LogObject { object: name.clone(), sha256: None, events: None })?;
        let output = &mut self.output;
        match reason {
            // An Intelligent-Tiering archive tier: known only by GetObject's answer, and not
            // told to the store (restored, it reads).
            Reason::Archived(storage_class) => {
                output.archived.push(ArchivedObject { object: name, storage_class })
            }
            reason => {
                if let (Some(store), true, false) = (store, whole, reason.is_transient()) {
                    store.read(&name, &Gave::Unreadable(reason.clone()));
                }
                output.failures.push(ObjectError { object: name, reason });
            }
        }
        Ok(())
    }
}

/// Records kept by an earlier run were read to their end: as many record lines as their header
/// says (else the folder that keeps them is damaged).
fn read_to_its_end(read: &PartialRead) -> Result<(), FatalError> {
    let header: crate::partial::Header = serde_json::from_slice(&read.header)
        .map_err(|e| FatalError::State(format!("{}: damaged: the header cannot be read: {e}", read.name)))?;
    if header.records != read.lines {
        return Err(FatalError::State(format!(
            "{}: damaged: {} of its {} records: remove the folder to rebuild the state from the archive",
            read.name, read.lines, header.records
        )));
    }
    Ok(())
}

/// A digest, read whole (digests are small), inflated and parsed, or why it could not be.
fn read_digest(object: String, fetched: Result<Fetched, Reason>, limit: u64) -> DigestObject {
    let read = fetched.and_then(|fetched| {
        let content = match fetched.body {
            Body::File(path) => decode::read_whole(&mut File::open(path).map_err(Reason::read)?, limit),
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
/// the whole object reads. A partial's values are [`Claim`]'s to read.
struct Collect<'a, 't> {
    extractor: &'a mut Extractor<'t>,
    spool: &'a mut SpoolWriter,
    filter: &'a Filter,
    pending: &'a mut Vec<Event>,
    out_of_range: u64,
    seq: u32,
    /// A failure of this run, not of the object (the spool could not be written).
    fatal: Option<FatalError>,
    /// What the object gives when it is a partial.
    claim: Claim<'a, 't>,
}

impl Collect<'_, '_> {
    /// Keeps `event`, read from `record`, at `origin`.
    fn keep(&mut self, mut event: Event, origin: Origin, record: &[u8]) -> Result<(), Reason> {
        event.origin = origin;
        event.record = self.spool.append(record).map_err(|e| {
            let reason = Reason::Spool;
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
            // The count is of Instance Connect events; an endpoint's life outside the range is
            // as unknown as one older than the archive.
            self.out_of_range += u64::from(event.call.is_none());
            return Ok(());
        }
        self.keep(event, Origin { object: self.seq, record: index }, record)
    }

    fn claims(&self) -> Option<&'static [u8]> {
        Some(MARKER)
    }

    fn claimed(&mut self, value: &[u8]) -> Result<(), Reason> {
        match self.claim.value(value, self.extractor) {
            Ok(Some(Claimed { event, origin, record })) => self.keep(event, origin, record),
            Ok(None) => Ok(()),
            Err(reason) => {
                if let Some(e) = self.claim.failed.take() {
                    self.fatal = Some(FatalError::Facts(e));
                }
                Err(reason)
            }
        }
    }
}
