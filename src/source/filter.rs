//! The `--from/--to/--account/--region` filter: what a run reads, pruning folders by the CloudTrail
//! key layout ([`crate::layout`]) for local walks and S3 listings alike. Paths outside the layout
//! are never pruned: they may hold anything.

use std::collections::BTreeSet;

use super::glob::Glob;
use super::shard::Shard;
use crate::layout::{position, DIGESTS};
use crate::time::{Day, Timestamp};

/// What to keep, by the key layout and by event time. The default keeps everything but digests.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub from: Option<Day>,
    pub to: Option<Day>,
    pub accounts: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    /// Read the digests under `CloudTrail-Digest/` too (`--verify`), pruned as the logs are, one
    /// day further: the digest of a day's last hour is delivered in the next day's folder.
    pub digests: bool,
    /// Read only this shard's part of the sources (`scan --shard`).
    pub shard: Option<Shard>,
    /// Names read besides the CloudTrail ones (`--include`).
    pub include: Vec<Glob>,
}

impl Filter {
    /// True when some option narrows what is read (reading digests too does not).
    pub(crate) fn is_active(&self) -> bool {
        self.from.is_some()
            || self.to.is_some()
            || !self.accounts.is_empty()
            || !self.regions.is_empty()
            || self.shard.is_some_and(|s| s.count > 1)
    }

    /// Whether this run reads the object at `relative` (its path under its SOURCE, or its key
    /// under the source's prefix): always, unless sharded.
    pub(crate) fn owns(&self, relative: &str) -> bool {
        self.shard.is_none_or(|shard| shard.owns(relative))
    }

    /// [`owns`](Self::owns), for a caller whose relative path costs something to make: it is
    /// only made when the run is sharded.
    pub(crate) fn owns_with(&self, relative: impl FnOnce() -> String) -> bool {
        self.shard.is_none_or(|shard| shard.owns(&relative()))
    }

    /// The last folder day read: a log file can hold events from minutes before its folder's day,
    /// so the folder after `--to` is read too.
    fn last_folder_day(&self) -> Option<Day> {
        self.to.map(Day::next)
    }

    /// Whether the folder or key at `path` can hold something the filter keeps. Components the
    /// path does not reach, and paths outside the layout, are admitted.
    pub(crate) fn admits(&self, path: &str) -> bool {
        if !self.is_active() {
            return true;
        }
        let Some(p) = position(path) else {
            return true;
        };
        if let Some(account) = p.account {
            if !self.accounts.is_empty() && !self.accounts.contains(account) {
                return false;
            }
        }
        // Digest folders are pruned like log folders (and their digests then skipped by name,
        // or read to verify), so narrowed, sharded and whole runs count the same skipped files.
        let digest = p.service == Some(DIGESTS);
        if let Some(region) = p.region {
            if !self.regions.is_empty() && !self.regions.contains(region) {
                return false;
            }
        }
        self.admits_dates(p.year, p.month, p.day, u8::from(digest && self.digests))
    }

    /// Whether a folder of these dates can hold what the range keeps; `later` more days are read
    /// after the last one logs are read from.
    fn admits_dates(&self, year: Option<&str>, month: Option<&str>, day: Option<&str>, later: u8) -> bool {
        let number = |s: Option<&str>| {
            s.filter(|s| s.bytes().all(|b| b.is_ascii_digit())).and_then(|s| s.parse().ok())
        };
        let Some(y) = number(year) else {
            return true; // no date folder yet, or not a date: not ours to prune
        };
        // The span of days this folder covers.
        let (first, last) = match (number(month), number(day)) {
            (Some(m), Some(d)) => match Day::from_ymd(y, m, d) {
                Some(day) => (day, day),
                None => return true,
            },
            (Some(m), _) => {
                match (Day::from_ymd(y, m, 1), Day::from_ymd(if m == 12 { y + 1 } else { y }, m % 12 + 1, 1))
                {
                    (Some(first), Some(next)) => (first, Day(next.0 - 1)),
                    _ => return true,
                }
            }
            _ => match (Day::from_ymd(y, 1, 1), Day::from_ymd(y, 12, 31)) {
                (Some(first), Some(last)) => (first, last),
                _ => return true,
            },
        };
        let last_read = self.last_folder_day().map(|to| Day(to.0 + i64::from(later)));
        self.from.is_none_or(|from| last >= from) && last_read.is_none_or(|to| first <= to)
    }

    /// Whether an event at `time` is inside `--from`..`--to`. Without a range every event is;
    /// with one, an event of unreadable time is not.
    pub(crate) fn keeps_time(&self, time: Option<Timestamp>) -> bool {
        if self.from.is_none() && self.to.is_none() {
            return true;
        }
        let Some(time) = time else {
            return false;
        };
        self.from.is_none_or(|from| time >= from.start()) && self.to.is_none_or(|to| time < to.next().start())
    }

    /// A folder whose contents are fully decided: the whole subtree can be listed in one go.
    pub(crate) fn is_leaf(&self, path: &str) -> bool {
        match position(path) {
            // Inside the layout, a day folder is the deepest level the filter looks at.
            Some(p) => p.day.is_some(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(from: &str, to: &str, accounts: &[&str], regions: &[&str]) -> Filter {
        Filter {
            from: Day::parse(from),
            to: Day::parse(to),
            accounts: accounts.iter().map(|s| s.to_string()).collect(),
            regions: regions.iter().map(|s| s.to_string()).collect(),
            digests: false,
            shard: None,
            include: Vec::new(),
        }
    }

    const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02/111122223333_CloudTrail_us-east-1_20240302T0000Z_a.json.gz";

    #[test]
    fn no_options_admit_everything() {
        assert!(Filter::default().admits(KEY));
        assert!(Filter::default().admits("AWSLogs/1/CloudTrail-Digest/x"));
        assert!(Filter::default().keeps_time(None));
    }

    #[test]
    fn accounts_and_regions_prune_their_folders() {
        let f = filter("", "", &["111122223333"], &["us-east-1"]);
        assert!(f.admits("AWSLogs/"));
        assert!(f.admits("AWSLogs/o-abc123/"));
        assert!(f.admits("AWSLogs/111122223333/CloudTrail/"));
        assert!(!f.admits("AWSLogs/444455556666/"));
        assert!(!f.admits("AWSLogs/o-abc123/444455556666/CloudTrail/"));
        assert!(!f.admits("AWSLogs/111122223333/CloudTrail/eu-west-1/"));
        assert!(f.admits(KEY));
        assert!(f.admits("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/"), "listed, skipped by name");
        assert!(f.admits("AWSLogs/111122223333/CloudTrail-Insight/us-east-1/"));
        let verify = Filter { digests: true, ..f };
        assert!(verify.admits("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/"));
        assert!(!verify.admits("AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/"));
    }

    #[test]
    fn date_range_includes_the_folder_after_to() {
        let f = filter("2024-03-01", "2024-03-02", &[], &[]);
        let day = |d: &str| format!("AWSLogs/1/CloudTrail/us-east-1/{d}/");
        assert!(!f.admits(&day("2024/02/29")));
        assert!(f.admits(&day("2024/03/01")));
        assert!(f.admits(&day("2024/03/03")), "events of 03-02 may sit in the next day's folder");
        assert!(!f.admits(&day("2024/03/04")));
        assert!(f.admits(&day("2024/03")));
        assert!(!f.admits(&day("2024/04")));
        assert!(f.admits(&day("2024")));
        assert!(!f.admits(&day("2023")));
        assert!(!f.admits(&day("2024/02")), "February ends before the range starts");
        let digests = |d: &str| format!("AWSLogs/1/CloudTrail-Digest/us-east-1/{d}/");
        let verify = Filter { digests: true, ..f.clone() };
        assert!(verify.admits(&digests("2024/03/04")), "the digest of the last hour read is a day later");
        assert!(!verify.admits(&digests("2024/03/05")));
        assert!(!f.admits(&digests("2024/03/04")), "not read: pruned as the logs are");
        assert!(!verify.admits(&day("2024/03/04")), "logs are not read further");
    }

    #[test]
    fn paths_outside_the_layout_are_never_pruned() {
        let f = filter("2024-03-01", "2024-03-01", &["111122223333"], &["us-east-1"]);
        assert!(f.admits("exports/lookup.json"));
        assert!(f.admits("my/custom/prefix/"));
        assert!(f.admits("AWSLogs/111122223333/CloudTrail/us-east-1/latest/x.json"), "not a date folder");
    }

    #[test]
    fn event_times_are_kept_by_whole_utc_days() {
        let f = filter("2024-03-01", "2024-03-02", &[], &[]);
        let at = |t: &str| f.keeps_time(Timestamp::parse(t));
        assert!(!at("2024-02-29T23:59:59Z"));
        assert!(at("2024-03-01T00:00:00Z"));
        assert!(at("2024-03-02T23:59:59Z"));
        assert!(!at("2024-03-03T00:00:00Z"));
        assert!(!f.keeps_time(None));
    }
}
