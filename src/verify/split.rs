//! A group of account-regions too large to hold at once (a stream over many days), verified a
//! part at a time: what [`Facts`](super::Facts) does with a group whose facts pass
//! [`PART_BYTES`].
//!
//! The digests are held without their lists of log files (about 460 bytes each, 24 a day per
//! trail and region: docs/integrity.md); every log file, and every entry of a digest's list, goes
//! to one of a few temporary files (the parts) chosen by its file name, and the parts are then
//! matched one at a time ([`verify_in_parts`]). A log file is only ever matched by an entry of its
//! file name, so each part is matched as everything would be, and the [`Integrity`] is the one
//! [`verify`](super::verify) gives over the whole group: the tests compare the two on tampered
//! archives.
//!
//! Why by file name and not by hours: an hour cannot be settled until every digest that could
//! list its files has been read, and CloudTrail gives no bound on that (a backfill digest lists
//! files delivered days before it). By file name, nothing waits: the parts are as many as the
//! group's size needs, so each holds about [`PART_BYTES`] of facts whatever the archive's length.

use std::io;

use serde::{Deserialize, Serialize};

use super::fact::{self, Fact, LogFileFields};
use super::format::Buckets;
use super::{verify_in_parts, DigestObject, Integrity, Listing, Part, Scope};
use crate::hash::fnv1a;
use crate::keys::PublicKeys;
use crate::layout;
use crate::spill;

/// About how many bytes of facts (as the temporary files hold them) a part holds: a group of more
/// is split. 1 MiB is some 3,000 log files.
pub(crate) const PART_BYTES: u64 = 1 << 20;

/// Parts at most, whatever the group's size: each is an open file while splitting, beside the
/// facts' own [`BUCKETS`](super::facts::BUCKETS), within the 1,024 files Linux lets a process
/// open by default (macOS lets it open 256: `ulimit -n` raises that). A group of more than
/// 256 MiB of facts (some 850,000 log files in one account-region) has larger parts.
const MOST_PARTS: u64 = 256;

/// How many parts a group of `bytes` of facts is verified in: 1 is all at once.
pub(super) fn parts_for(bytes: u64, part_bytes: u64) -> usize {
    bytes.div_ceil(part_bytes.max(1)).clamp(1, MOST_PARTS) as usize
}

/// One line of a part.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    /// A log file, as the facts hold it.
    Log(Fact),
    /// An entry of a digest's list: the digest's position among the digests, and the entry.
    Listed(usize, LogFileFields),
}

/// Verifies the facts `read` hands over (every fact of a group, each once, in any order) in
/// `parts` parts by file name.
pub(super) fn verify_split(
    read: impl FnOnce(&mut dyn FnMut(Fact) -> io::Result<()>) -> io::Result<()>,
    parts: usize,
    keys: Option<&PublicKeys>,
    scope: &Scope,
) -> io::Result<Integrity> {
    let mut files = (0..parts).map(|_| spill::Lines::new()).collect::<io::Result<Vec<_>>>()?;
    let mut digests: Vec<DigestObject> = Vec::new();
    let mut write = |part: usize, line: &Line| files[part].push(line);
    read(&mut |fact| match fact {
        Fact::Log(_) => {
            let part = part_of(fact.object(), parts);
            write(part, &Line::Log(fact))
        }
        Fact::Digest(_) => {
            let mut fact = fact;
            let position = digests.len();
            for file in fact.take_log_files() {
                write(part_of(file.key(), parts), &Line::Listed(position, file))?;
            }
            if let fact::Read::Object(fact::Object::Digest(digest)) = fact.read().map_err(io::Error::other)? {
                digests.push(*digest);
            }
            Ok(())
        }
        Fact::Keys(_) => Ok(()),
    })?;
    let files = files.into_iter().map(spill::Lines::read).collect::<io::Result<Vec<_>>>()?;
    verify_in_parts(&digests, files.into_iter().map(read_part), keys, scope)
}

/// The part of a name: by its file name, which is what matching a log file to an entry needs to
/// agree (the same in every run).
fn part_of(name: &str, parts: usize) -> usize {
    (fnv1a(layout::file_name(name).bytes()) % parts as u64) as usize
}

/// A part read back.
fn read_part(lines: spill::Reader<Line>) -> io::Result<Part> {
    let (mut logs, mut listings) = (Vec::new(), Vec::new());
    let mut buckets = Buckets::default();
    for line in lines {
        match line? {
            Line::Log(fact) => {
                if let fact::Read::Object(fact::Object::Log(log)) = fact.read().map_err(io::Error::other)? {
                    logs.push(log);
                }
            }
            Line::Listed(digest, file) => {
                listings.push(Listing { digest, file: file.read(&mut buckets).map_err(io::Error::other)? });
            }
        }
    }
    Ok((logs, listings))
}
