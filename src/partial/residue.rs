//! A partial's residue: what a shard of a sharded `--verify` run (`scan --verify --shard I/N`)
//! hands on of its verification, for the merge (`report PARTIAL...`) to verify the whole archive:
//! every fact ([`Fact`], whose encoding is verification's own) of every digest and log file the
//! shard read, and the public keys it had, one line each, `{"v":<fact>}` ([`write`](super::write)
//! writes them, [`read`](super::read) reads them). The merge files every shard's facts as a single
//! run files what it reads ([`Facts`]) and verifies them the same way, so its `integrity` is the
//! one a single run over the same sources gives, by construction.
//!
//! These facts are one per object read, so a partial of a `--verify` shard grows with the objects
//! its shard read (about 330 bytes per log file gzipped, digests included: see docs/scaling.md,
//! "Scaling out"), not only with the edges of its hour blocks. Here: their order, and the
//! external sort that puts them in it ([`of_run`], [`in_order`]).

use std::collections::BinaryHeap;
use std::io;

use crate::keys::PublicKeys;
use crate::layout::{self, DigestName, LogName};
use crate::spill;
use crate::time::Timestamp;
use crate::verify::fact::Fact;
use crate::verify::Facts;

/// Every fact a run filed ([`Facts`]), with the keys, in the order of a residue ([`in_order`],
/// holding about `part_bytes` of facts at a time), and how many they are.
pub(crate) fn of_run(
    facts: &Facts,
    part_bytes: u64,
    keys: Option<&PublicKeys>,
) -> io::Result<(u64, InOrder)> {
    // A fact is about 256 bytes on disk, an entry of a digest's list about as many. Runs are
    // each an open file: at most about 200 of them.
    let weight = facts.digests() + facts.listed() + facts.logs();
    let run = (part_bytes / 256).max(weight / 200 + 1);
    let run = usize::try_from(run).unwrap_or(usize::MAX);
    let in_order = in_order(keys, |visit| facts.each(visit), run)?;
    Ok((u64::from(keys.is_some()) + facts.digests() + facts.logs(), in_order))
}

/// The facts of what a shard read, for its residue: its keys first, then its digests and log files
/// (each handed once by `read`, in any order) in the order of [`Order`]. The merge reads them in
/// any order; this one puts each digest right after the log files it lists, so that gzip finds
/// their names and hashes twice within its window and writes them once, and it is the same
/// whatever order they were read in (two facts of one object, by their lines).
///
/// They are sorted in runs of about `run` facts, each run but the last written to a temporary
/// file, and the runs merged as the facts are taken: a shard holds a run and a fact of each run,
/// not its share of the archive.
pub(crate) fn in_order(
    keys: Option<&PublicKeys>,
    read: impl FnOnce(&mut dyn FnMut(Fact) -> io::Result<()>) -> io::Result<()>,
    run: usize,
) -> io::Result<InOrder> {
    let keys = keys.map(Fact::of_keys);
    let mut runs: Vec<Run> = Vec::new();
    let (mut held, mut weight) = (Vec::new(), 0);
    read(&mut |fact| {
        weight += fact.weight();
        held.push(fact);
        if weight >= run {
            runs.push(spill(sorted(std::mem::take(&mut held)))?);
            weight = 0;
        }
        Ok(())
    })?;
    runs.push(Box::new(sorted(held).into_iter().map(Ok)));
    let mut heap = BinaryHeap::with_capacity(runs.len());
    for (at, run) in runs.iter_mut().enumerate() {
        if let Some(fact) = run.next().transpose()? {
            heap.push(Head::new(fact, at));
        }
    }
    Ok(InOrder { keys, runs, heap })
}

/// A sorted run of facts, from memory or from its temporary file.
type Run = Box<dyn Iterator<Item = io::Result<Fact>>>;

/// The facts in [`Order`], each one's place worked out once.
fn sorted(facts: Vec<Fact>) -> Vec<Fact> {
    let mut placed: Vec<(Order, Fact)> = facts.into_iter().map(|f| (Order::of_fact(&f), f)).collect();
    placed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| tie(&a.1, &b.1)));
    placed.into_iter().map(|(_, fact)| fact).collect()
}

/// Between two facts of the same object (its name given twice, read differently): by their
/// lines, so that which comes first does not depend on which was read first.
fn tie(a: &Fact, b: &Fact) -> std::cmp::Ordering {
    serde_json::to_vec(a).ok().cmp(&serde_json::to_vec(b).ok())
}

/// Writes a sorted run to a temporary file and reads it back.
fn spill(facts: Vec<Fact>) -> io::Result<Run> {
    let mut file = spill::Lines::new()?;
    for fact in &facts {
        file.push(fact)?;
    }
    Ok(Box::new(file.read()?))
}

/// The residue's facts in order ([`in_order`]); an error reading a run back ends it.
pub(crate) struct InOrder {
    keys: Option<Fact>,
    runs: Vec<Run>,
    heap: BinaryHeap<Head>,
}

impl Iterator for InOrder {
    type Item = io::Result<Fact>;

    fn next(&mut self) -> Option<io::Result<Fact>> {
        if let Some(keys) = self.keys.take() {
            return Some(Ok(keys));
        }
        let Head { fact, run, .. } = self.heap.pop()?;
        match self.runs[run].next() {
            Some(Ok(next)) => self.heap.push(Head::new(next, run)),
            Some(Err(e)) => {
                self.heap.clear();
                let kind = e.kind();
                return Some(Err(io::Error::new(
                    kind,
                    format!("cannot read back what --verify keeps in the temporary folder (TMPDIR): {e}"),
                )));
            }
            None => {}
        }
        Some(Ok(fact))
    }
}

/// The next fact of a run: first out of the heap when it comes first in [`Order`] (then by run,
/// for facts of the same name).
struct Head {
    order: Order,
    fact: Fact,
    run: usize,
}

impl Head {
    fn new(fact: Fact, run: usize) -> Head {
        Head { order: Order::of_fact(&fact), fact, run }
    }
}

impl Ord for Head {
    /// Reversed: the heap gives the greatest first.
    fn cmp(&self, other: &Head) -> std::cmp::Ordering {
        other.order.cmp(&self.order).then_with(|| tie(&other.fact, &self.fact)).then(other.run.cmp(&self.run))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Head {}

/// Where an object's fact goes in the residue: by account and region as its file name gives them,
/// then by time (a log file's delivery minute, a digest's end, which comes after the deliveries
/// it lists), log files before digests, then by name.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Order {
    account: String,
    region: String,
    time: Option<Timestamp>,
    digest: bool,
    name: String,
}

impl Order {
    fn of_fact(fact: &Fact) -> Order {
        Order::of(fact.object(), fact.is_digest())
    }

    fn of(name: &str, digest: bool) -> Order {
        let parts = LogName::parse(layout::file_name(name));
        let time = if digest { DigestName::parse(name).map(|n| n.end) } else { parts.delivered };
        Order {
            account: parts.account.to_owned(),
            region: parts.region.unwrap_or_default().to_owned(),
            time,
            digest,
            name: name.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Digest;
    use crate::verify::{DigestObject, LogObject};

    /// The residue of these objects, in runs of `run` facts.
    fn facts(
        keys: Option<&PublicKeys>,
        digests: &[DigestObject],
        logs: &[LogObject],
        run: usize,
    ) -> Vec<Fact> {
        let read = |visit: &mut dyn FnMut(Fact) -> io::Result<()>| {
            digests.iter().map(Fact::of_digest).chain(logs.iter().map(Fact::of_log)).try_for_each(visit)
        };
        in_order(keys, read, run).expect("in order").collect::<io::Result<_>>().expect("read back")
    }

    #[test]
    fn each_digest_follows_the_log_files_it_lists_whatever_order_they_were_read_in() {
        let fixture = crate::verify::fixture::Fixture::new(4);
        let (mut digests, mut logs) = fixture.inputs();
        digests.reverse();
        logs.swap(0, 5);
        let mut expected = Vec::new();
        for d in &fixture.digests {
            let listed = Digest::parse(&d.json).expect("a digest").log_files;
            let mut names: Vec<String> =
                listed.iter().map(|f| format!("s3://{}/{}", f.bucket, f.key)).collect();
            names.sort();
            expected.extend(names);
            expected.push(format!("s3://{}/{}", crate::verify::fixture::BUCKET, d.key));
        }
        // Sorted whole, and in runs of one to a few facts merged.
        for run in [4096, 1, 2, 5] {
            let written: Vec<String> =
                facts(None, &digests, &logs, run).into_iter().map(|fact| fact.object().to_owned()).collect();
            assert_eq!(written, expected, "runs of {run}");
        }
    }
}
