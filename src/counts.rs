//! What a reading counts: objects listed, read and skipped, records, events left out. The
//! reading stage counts; partials and `--state` carry the counts of the objects they stand for;
//! the report shows them. Below all three, so that none imports another for it.

use serde::{Deserialize, Serialize};

use crate::source::Skipped;

/// How much was listed and read. Partials carry a shard's counts; merged, they add up to what
/// one run over the same sources counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Counts {
    /// Files or keys the listings returned (read, skipped, or left out by the filter).
    pub(crate) objects_listed: u64,
    /// Objects listed to be read (read, or unreadable).
    pub(crate) objects_found: u64,
    pub(crate) objects_read: u64,
    pub(crate) skipped: Skipped,
    /// Records of every object read, Instance Connect or not.
    pub(crate) records: u64,
    /// Instance Connect events outside `--from`..`--to`, not kept.
    pub(crate) events_out_of_range: u64,
    /// S3 requests answered 503 (SlowDown) and retried. Absent from partials of older writers.
    #[serde(default)]
    pub(crate) requests_throttled: u64,
    /// S3 and CloudTrail requests sent again for any other reason (a broken connection, a
    /// download that broke off, a timeout). Absent from partials of older writers.
    #[serde(default)]
    pub(crate) requests_retried: u64,
    /// LookupEvents requests made (event history), and of them those answered
    /// `ThrottlingException` and asked again. Absent when no event history was read.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) lookup_requests: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) lookup_requests_throttled: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.objects_listed += other.objects_listed;
        self.objects_found += other.objects_found;
        self.objects_read += other.objects_read;
        self.skipped.digest += other.skipped.digest;
        self.skipped.other += other.skipped.other;
        self.skipped.directory_links += other.skipped.directory_links;
        self.records += other.records;
        self.events_out_of_range += other.events_out_of_range;
        self.requests_throttled += other.requests_throttled;
        self.requests_retried += other.requests_retried;
        self.lookup_requests += other.lookup_requests;
        self.lookup_requests_throttled += other.lookup_requests_throttled;
    }
}
