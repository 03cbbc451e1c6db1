//! What `--verify` checks, kept on disk as it is read and verified a group of account-regions at
//! a time, so that a run holds in memory the facts of one group, not of the whole archive.
//!
//! Every digest and log file read becomes one line of JSON (a [`Fact`], which survives a line
//! exactly) in one of [`BUCKETS`] temporary files ([`spill::Lines`]), chosen by
//! the object's account and region. At the
//! end each group of buckets is read back and verified on its own with [`verify`](super::verify),
//! and the groups' findings are put together ([`merge`]).
//!
//! **Why that is the whole archive's verification, exactly.** Verification only ever relates
//! objects of one account and region (a stream, see the module above), except through a name: a
//! digest lists log files by key and names its previous digest by key, and a key is matched to an
//! object by its path from `AWSLogs` on or by its file name ([`Index`](super::place::Index)).
//! So each object is filed under every account and region it can be taken for (the one its
//! folders give, the one its file name gives, and for a digest the one its content names), and
//! every key a digest names joins the digest's bucket to the buckets of the account-regions that
//! key can be taken for. Buckets joined so are verified together. In an archive as CloudTrail
//! writes it every name agrees with its folders and each account-region is a group of its own
//! bucket; an object copied into another stream's folder, or a digest listing another region's
//! files, only makes a larger group. Within a group, lists are sorted as one run sorts them; across
//! groups, no two share an account and region, so putting the sorted lists of every group
//! together by account and region (and by object for the lists sorted by object) gives the order
//! of one run over everything.
//!
//! What this bounds is memory: peak memory follows the largest group (one account and region in
//! a CloudTrail archive), and a group of more than [`PART_BYTES`](split::PART_BYTES) of facts is
//! verified in parts ([`split`]), so that it is flat in the group's length but for its digests.
//! It costs a sequential write and one read of about 300 bytes per log file in the temporary
//! folder (twice for a group verified in parts).

use std::collections::BTreeMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::digests::stream_of;
use super::fact::{self, Fact};
use super::place::{log_identity, Place};
use super::split;
use super::{verify, DigestObject, Integrity, LogObject, Scope};
use crate::hash::fnv1a;
use crate::keys::PublicKeys;
use crate::layout::{self, DigestName, LogName};
use crate::spill;
use crate::time::Timestamp;

/// How many files the facts are spread over: each group read back is at most this fraction of
/// an archive of many account-regions, and a run keeps this many files open at most.
pub(crate) const BUCKETS: usize = 256;

/// The facts of a run as it reads them: shared by the workers, each fact written once.
pub(crate) struct Facts {
    buckets: Vec<Mutex<Bucket>>,
    /// Which buckets are verified together.
    joined: Mutex<Joined>,
    digests: AtomicU64,
    /// Entries of the digests' lists of log files.
    listed: AtomicU64,
    logs: AtomicU64,
    /// Per home region that digest names give, the span of their end times (to fetch the public
    /// keys for).
    home_regions: Mutex<BTreeMap<String, (Timestamp, Timestamp)>>,
}

#[derive(Default)]
struct Bucket {
    /// Made when the first fact is filed here.
    file: Option<spill::Lines>,
}

impl std::fmt::Debug for Facts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts").field("digests", &self.digests()).field("logs", &self.logs()).finish()
    }
}

impl Default for Facts {
    fn default() -> Facts {
        Facts {
            buckets: (0..BUCKETS).map(|_| Mutex::default()).collect(),
            joined: Mutex::new(Joined::new()),
            digests: AtomicU64::new(0),
            listed: AtomicU64::new(0),
            logs: AtomicU64::new(0),
            home_regions: Mutex::default(),
        }
    }
}

impl Facts {
    /// Files a digest as read.
    pub(crate) fn add_digest(&self, digest: &DigestObject) -> io::Result<()> {
        let place = Place::of(&digest.object);
        let content = digest.digest.as_ref().ok();
        let own = DigestName::parse(&digest.object);
        // The account and region verification reports the digest under.
        let name = content.and_then(|d| DigestName::parse(&d.key)).or_else(|| own.clone());
        let (account, region) = stream_of(name.as_ref(), content, &place);
        let home = bucket(&account, &region);
        let mut others = name_buckets(&digest.object).to_vec();
        if let Some(content) = content {
            others.extend(content.previous.iter().flat_map(|p| name_buckets(&p.key)));
            others.extend(content.log_files.iter().flat_map(|l| name_buckets(&l.key)));
        }
        if let Some(own) = own {
            let mut regions = lock(&self.home_regions);
            let span = regions.entry(own.home_region).or_insert((own.end, own.end));
            *span = (span.0.min(own.end), span.1.max(own.end));
        }
        self.file(home, &others, &Fact::of_digest(digest))?;
        self.digests.fetch_add(1, Ordering::Relaxed);
        let listed = content.map_or(0, |c| c.log_files.len() as u64);
        self.listed.fetch_add(listed, Ordering::Relaxed);
        Ok(())
    }

    /// Files a log file as read.
    pub(crate) fn add_log(&self, log: &LogObject) -> io::Result<()> {
        let (account, region, _) = log_identity(&Place::of(&log.object));
        self.file(bucket(&account, &region), &name_buckets(&log.object), &Fact::of_log(log))?;
        self.logs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn file(&self, home: usize, others: &[usize], fact: &Fact) -> io::Result<()> {
        let line = serde_json::to_vec(fact).map_err(io::Error::other)?;
        {
            let mut joined = lock(&self.joined);
            for &other in others {
                joined.join(home, other);
            }
        }
        let mut bucket = lock(&self.buckets[home]);
        if bucket.file.is_none() {
            bucket.file = Some(spill::Lines::new()?);
        }
        bucket.file.as_mut().map_or(Ok(()), |file| file.push_line(&line))
    }

    pub(crate) fn digests(&self) -> u64 {
        self.digests.load(Ordering::Relaxed)
    }

    pub(crate) fn logs(&self) -> u64 {
        self.logs.load(Ordering::Relaxed)
    }

    /// The home regions digest names give, each with the span of those digests' end times.
    pub(crate) fn home_regions(&self) -> BTreeMap<String, (Timestamp, Timestamp)> {
        lock(&self.home_regions).clone()
    }

    /// Verifies everything filed, a group of buckets at a time, each group of more than
    /// `part_bytes` of facts in parts ([`split`]): the [`Integrity`] one call of [`verify`] over
    /// all of it gives.
    pub(crate) fn verify(
        &self,
        part_bytes: u64,
        keys: Option<&PublicKeys>,
        scope: &Scope,
    ) -> io::Result<Integrity> {
        let groups = lock(&self.joined).groups(|b| lock(&self.buckets[b]).file.is_some());
        if groups.is_empty() {
            return Ok(verify(&[], &[], keys, scope));
        }
        let mut parts = Vec::with_capacity(groups.len());
        for group in groups {
            let split_in = split::parts_for(self.size(&group)?, part_bytes);
            parts.push(if split_in == 1 {
                let (digests, logs) = self.read(&group)?;
                verify(&digests, &logs, keys, scope)
            } else {
                split::verify_split(|f| self.each_of(&group, f), split_in, keys, scope)?
            });
        }
        Ok(merge(parts))
    }

    /// Entries of the digests' lists of log files.
    pub(crate) fn listed(&self) -> u64 {
        self.listed.load(Ordering::Relaxed)
    }

    /// Hands every fact filed to `visit` (a partial's residue is made of them).
    pub(crate) fn each(&self, visit: &mut dyn FnMut(Fact) -> io::Result<()>) -> io::Result<()> {
        let all: Vec<usize> = (0..BUCKETS).collect();
        self.each_of(&all, visit)
    }

    /// The facts of these buckets.
    fn read(&self, buckets: &[usize]) -> io::Result<(Vec<DigestObject>, Vec<LogObject>)> {
        let (mut digests, mut logs) = (Vec::new(), Vec::new());
        self.each_of(buckets, &mut |fact| {
            match fact.read().map_err(io::Error::other)? {
                fact::Read::Object(fact::Object::Digest(d)) => digests.push(*d),
                fact::Read::Object(fact::Object::Log(l)) => logs.push(l),
                // A run files no keys here: they are kept with its partial.
                fact::Read::Keys(_) => {}
            }
            Ok(())
        })?;
        Ok((digests, logs))
    }

    /// Hands each fact of these buckets to `visit`, in the order filed.
    fn each_of(&self, buckets: &[usize], visit: &mut dyn FnMut(Fact) -> io::Result<()>) -> io::Result<()> {
        for &b in buckets {
            let mut bucket = lock(&self.buckets[b]);
            if let Some(file) = bucket.file.as_mut() {
                file.each(visit)?;
            }
        }
        Ok(())
    }

    /// The bytes of facts these buckets hold.
    fn size(&self, buckets: &[usize]) -> io::Result<u64> {
        let mut size = 0;
        for &b in buckets {
            let mut bucket = lock(&self.buckets[b]);
            if let Some(file) = bucket.file.as_mut() {
                size += file.bytes()?;
            }
        }
        Ok(size)
    }
}

/// The buckets of the account-regions a name (an object's, or a key a digest writes) can be taken
/// for: the one its folders give and the one its file name gives.
fn name_buckets(name: &str) -> [usize; 2] {
    let place = Place::of(name);
    let (account, region, _) = log_identity(&place);
    let file = LogName::parse(layout::file_name(name));
    [bucket(&account, &region), bucket(file.account, file.region.unwrap_or_default())]
}

/// The bucket of an account and region (the same in every run).
fn bucket(account: &str, region: &str) -> usize {
    (fnv1a(account.bytes().chain([0]).chain(region.bytes())) % BUCKETS as u64) as usize
}

/// Which buckets are joined (union-find).
struct Joined {
    parent: Vec<usize>,
}

impl Joined {
    fn new() -> Joined {
        Joined { parent: (0..BUCKETS).collect() }
    }

    fn root(&mut self, mut b: usize) -> usize {
        while self.parent[b] != b {
            self.parent[b] = self.parent[self.parent[b]];
            b = self.parent[b];
        }
        b
    }

    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }

    /// The groups of buckets that hold something, each in bucket order, in order of their first.
    fn groups(&mut self, used: impl Fn(usize) -> bool) -> Vec<Vec<usize>> {
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for b in (0..BUCKETS).filter(|&b| used(b)) {
            let root = self.root(b);
            groups.entry(root).or_default().push(b);
        }
        groups.into_values().collect()
    }
}

/// The findings of groups that share no account and region, as one run over all of them gives
/// them: counts added, lists put together in the order [`verify`] sorts its own.
fn merge(parts: Vec<Integrity>) -> Integrity {
    let mut out = Integrity::default();
    for part in parts {
        out.digests_read += part.digests_read;
        out.digests_verified += part.digests_verified;
        out.backfill_digests += part.backfill_digests;
        out.log_files_verified += part.log_files_verified;
        let signatures = part.signatures;
        out.signatures.verified += signatures.verified;
        out.signatures.failed += signatures.failed;
        out.signatures.unchecked += signatures.unchecked;
        out.signatures.failures.extend(signatures.failures);
        for (reason, count) in signatures.unchecked_reasons {
            *out.signatures.unchecked_reasons.entry(reason).or_default() += count;
        }
        out.streams.extend(part.streams);
        out.missing.extend(part.missing);
        out.modified.extend(part.modified);
        out.unlisted.extend(part.unlisted);
        out.chain_breaks.extend(part.chain_breaks);
        out.unreadable_digests.extend(part.unreadable_digests);
    }
    out.signatures.failures.sort();
    out.streams.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    out.missing.sort_by(|a, b| a.object.cmp(&b.object));
    out.modified.sort();
    out.unlisted.sort();
    // Each group's breaks are in one run's order (account, region, trail, time, kind, object);
    // a stable sort by account and region keeps that order within each.
    out.chain_breaks.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
    out.unreadable_digests.sort();
    out
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::fixture::*;

    /// What [`Facts`] makes of these inputs, filed in the order given.
    fn filed(digests: &[DigestObject], logs: &[LogObject], keys: Option<&PublicKeys>) -> Integrity {
        filed_in(split::PART_BYTES, digests, logs, keys, &Scope::default())
    }

    /// The same, splitting every group of more than `part_bytes` of facts.
    fn filed_in(
        part_bytes: u64,
        digests: &[DigestObject],
        logs: &[LogObject],
        keys: Option<&PublicKeys>,
        scope: &Scope,
    ) -> Integrity {
        let facts = Facts::default();
        for d in digests {
            facts.add_digest(d).expect("filed");
        }
        for l in logs {
            facts.add_log(l).expect("filed");
        }
        facts.verify(part_bytes, keys, scope).expect("read back")
    }

    /// The fixture's objects as if of another account and region: every name and key they hold
    /// renamed (so their signatures, made over the old names, fail: the same in both runs).
    fn renamed(
        (digests, logs): (Vec<DigestObject>, Vec<LogObject>),
        account: &str,
        region: &str,
    ) -> (Vec<DigestObject>, Vec<LogObject>) {
        let name = |text: &str| text.replace(ACCOUNT, account).replace(REGION, region);
        let digests = digests
            .into_iter()
            .map(|mut d| {
                d.object = name(&d.object);
                if let Ok(content) = d.digest.as_mut() {
                    content.account = name(&content.account);
                    content.key = name(&content.key);
                    if let Some(previous) = content.previous.as_mut() {
                        previous.key = name(&previous.key);
                    }
                    for file in &mut content.log_files {
                        file.key = name(&file.key);
                    }
                }
                d
            })
            .collect();
        let logs = logs.into_iter().map(|l| LogObject { object: name(&l.object), ..l }).collect();
        (digests, logs)
    }

    /// Three account-regions, each its own chain, each tampered with in its own way.
    fn archive() -> (Vec<DigestObject>, Vec<LogObject>) {
        let (mut digests, mut logs) = (Vec::new(), Vec::new());
        for (i, (account, region)) in
            [(ACCOUNT, REGION), (ACCOUNT, "eu-west-1"), ("444455556666", REGION)].into_iter().enumerate()
        {
            let mut fixture = Fixture::new(8);
            match i {
                0 => {
                    fixture.logs.remove(2);
                    fixture.logs[4].content = b"{\"Records\":[]}".to_vec();
                    fixture.digests[5].signature = "00".repeat(256);
                }
                1 => {
                    fixture.digests.remove(3);
                    fixture.digests.remove(3);
                }
                _ => {
                    fixture.digests.remove(6);
                    fixture.logs.push(fixture.log(at(9, 5), "added"));
                }
            }
            let (d, l) = renamed(fixture.inputs(), account, region);
            digests.extend(d);
            logs.extend(l);
        }
        (digests, logs)
    }

    #[test]
    fn groups_verify_as_one_run_over_everything() {
        let (digests, logs) = archive();
        let whole = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert!(whole.problems() >= 4, "{whole:#?}");
        assert_eq!(whole.streams.len(), 3);
        assert_eq!(filed(&digests, &logs, Some(&keys())), whole);
        // Whatever order they were read in.
        let (mut d, mut l) = (digests.clone(), logs.clone());
        d.reverse();
        l.reverse();
        assert_eq!(filed(&d, &l, Some(&keys())), whole);
        assert_eq!(filed(&digests, &logs, None), verify(&digests, &logs, None, &Scope::default()));
    }

    #[test]
    fn a_log_file_copied_into_another_stream_is_still_matched_by_its_name() {
        let (digests, mut logs) = archive();
        // A flat copy of one log file, and a log file moved under another account's folders:
        // both are matched by their file names, wherever their folders file them.
        let moved = logs.iter().position(|l| l.object.contains("eu-west-1")).expect("one");
        logs[moved].object = logs[moved]
            .object
            .replace(&format!("{ACCOUNT}/CloudTrail/eu-west-1"), "444455556666/CloudTrail/us-east-1");
        let flat = logs.iter().position(|l| l.object.contains(REGION)).expect("one");
        logs[flat].object = format!("/flat/{}", layout::file_name(&logs[flat].object));
        let whole = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert_eq!(filed(&digests, &logs, Some(&keys())), whole);
    }

    #[test]
    fn a_group_verified_in_parts_is_verified_as_a_whole() {
        // Every group split in 1, 2, 3, 7 and many parts (by the bytes of facts it holds): each
        // tampering found as one run over everything finds it, with every name and count.
        let (mut digests, mut logs) = archive();
        let moved = logs.iter().position(|l| l.object.contains("eu-west-1")).expect("one");
        logs[moved].object = format!("/flat/{}", layout::file_name(&logs[moved].object));
        // A copy on Windows, its folders written with backslashes.
        let windows = logs.iter().position(|l| l.object.contains("444455556666")).expect("one");
        let (_, tail) = logs[windows].object.split_once("AWSLogs/").expect("in the layout");
        logs[windows].object = format!("C:\\copy\\AWSLogs\\{}", tail.replace('/', "\\"));
        // The same objects read twice (the same archive given twice), and a log file edited.
        digests.push(digests[1].clone());
        logs.push(logs[3].clone());
        logs[7].sha256 = None;
        let whole = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert!(whole.problems() >= 5, "{whole:#?}");
        let bytes = {
            let facts = Facts::default();
            digests.iter().for_each(|d| facts.add_digest(d).expect("filed"));
            logs.iter().for_each(|l| facts.add_log(l).expect("filed"));
            facts.size(&(0..BUCKETS).collect::<Vec<_>>()).expect("sized")
        };
        for parts in [1, 2, 3, 7, 40] {
            let part_bytes = bytes.div_ceil(parts);
            assert_eq!(
                filed_in(part_bytes, &digests, &logs, Some(&keys()), &Scope::default()),
                whole,
                "{parts}"
            );
            let (mut d, mut l) = (digests.clone(), logs.clone());
            d.reverse();
            l.reverse();
            assert_eq!(
                filed_in(part_bytes, &d, &l, Some(&keys()), &Scope::default()),
                whole,
                "{parts}, reversed"
            );
        }
        assert_eq!(
            filed_in(1, &digests, &logs, None, &Scope::default()),
            verify(&digests, &logs, None, &Scope::default())
        );
    }

    #[test]
    fn a_long_stream_verified_in_parts_finds_what_a_whole_run_finds() {
        // Three days of one stream, read as `--from 2024-03-02 --to 2024-03-02` would, tampered
        // early and late: a deleted and an edited log file, two digests deleted in a row, a
        // forged log file, a digest re-signed with another key.
        let mut fixture = Fixture::new(72);
        fixture.logs.remove(5);
        fixture.logs[100].content = b"{\"Records\":[]}".to_vec();
        fixture.digests.remove(60);
        fixture.digests.remove(60);
        fixture.logs.push(fixture.log(at(40, 10), "forged"));
        fixture.digests[30].signature = "00".repeat(256);
        let (digests, logs) = fixture.inputs();
        let whole = verify(&digests, &logs, Some(&keys()), &Scope::default());
        assert!(whole.problems() >= 6, "{whole:#?}");
        for part_bytes in [1, 1000, 10_000] {
            assert_eq!(filed_in(part_bytes, &digests, &logs, Some(&keys()), &Scope::default()), whole);
        }
        let scope = Scope {
            days: Some((Day::parse("2024-03-02").expect("day"), Day::parse("2024-03-03").expect("day"))),
        };
        let (digests, logs) = fixture.inputs_in(&scope);
        let ranged = verify(&digests, &logs, Some(&keys()), &scope);
        assert_eq!(filed_in(1000, &digests, &logs, Some(&keys()), &scope), ranged);
    }

    #[test]
    fn nothing_filed_verifies_as_nothing_read() {
        let facts = Facts::default();
        assert_eq!(
            facts.verify(split::PART_BYTES, Some(&keys()), &Scope::default()).expect("nothing to read"),
            verify(&[], &[], Some(&keys()), &Scope::default())
        );
    }

    #[test]
    fn a_stream_is_one_bucket_and_a_name_of_another_joins_them() {
        let facts = Facts::default();
        let (digests, logs) = Fixture::new(3).inputs();
        for d in &digests {
            facts.add_digest(d).expect("filed");
        }
        for l in &logs {
            facts.add_log(l).expect("filed");
        }
        let used = |b: usize| lock(&facts.buckets[b]).file.is_some();
        assert_eq!(lock(&facts.joined).groups(used).len(), 1);
        assert_eq!((facts.digests(), facts.logs()), (3, logs.len() as u64));
        assert_eq!(facts.read(&[bucket(ACCOUNT, REGION)]).expect("read back").0.len(), 3);
    }
}
