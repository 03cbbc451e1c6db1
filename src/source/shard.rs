//! Which part of the sources a shard reads (`scan --shard I/N`), decided from each key alone so
//! that every shard computes the same parts without listing more than its own, and a bucket that
//! grows during the run cannot move an object from one shard to another.
//!
//! In the CloudTrail layout the unit is an hour of a day folder: the keys of
//! `.../CloudTrail/REGION/YYYY/MM/DD/` are named `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_...`, so
//! the key ranges between `..._YYYYMMDDT01`, `..._YYYYMMDDT02`, ... split the folder by delivery
//! hour (and every other name falls in some range too: the ranges cover all keys). A shard owns one
//! contiguous block of a folder's 24 ranges (with 24 shards or more, one range), the block chosen by
//! a stable hash of the folder: one listing request per day folder per shard, and every day's
//! objects spread evenly over the shards. Outside the layout, a key is owned by the shard its
//! stable hash names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::hash::fnv1a;
use crate::layout::day_file;

/// The I-th of N parts of the sources (0-based, as Kubernetes' `JOB_COMPLETION_INDEX` and AWS
/// Batch's `AWS_BATCH_JOB_ARRAY_INDEX` count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The environment variables `--shard env/N` takes the index from, in this order.
pub(crate) const INDEX_VARIABLES: [&str; 2] = ["JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"];

/// `--shard` as given: `I/N`, or `env/N` for the index an orchestrator sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    Fixed(Shard),
    Env { count: u32 },
}

impl FromStr for ShardArg {
    type Err = String;

    fn from_str(text: &str) -> Result<ShardArg, String> {
        let (index, count) =
            text.split_once('/').ok_or_else(|| format!("{text:?}: expected I/N or env/N"))?;
        let count: u32 = count
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{text:?}: N must be a positive number"))?;
        if index == "env" {
            return Ok(ShardArg::Env { count });
        }
        let index: u32 = index.parse().map_err(|_| format!("{text:?}: I must be a number or `env`"))?;
        if index >= count {
            return Err(format!("{text:?}: I counts from 0, so it must be less than N"));
        }
        Ok(ShardArg::Fixed(Shard { index, count }))
    }
}

impl ShardArg {
    /// The shard, reading the index from the environment for `env/N`.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let count = match self {
            ShardArg::Fixed(shard) => return Ok(shard),
            ShardArg::Env { count } => count,
        };
        let (name, value) =
            INDEX_VARIABLES.iter().find_map(|name| env(name).map(|value| (*name, value))).ok_or_else(
                || format!("--shard env/{count}: neither {} is set", INDEX_VARIABLES.join(" nor ")),
            )?;
        let index: u32 = value
            .trim()
            .parse()
            .map_err(|_| format!("--shard env/{count}: {name}={value:?} is not a number"))?;
        if index >= count {
            return Err(format!("--shard env/{count}: {name}={index} is not less than {count}"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether this shard reads the object at `relative` (its path under its SOURCE, or its key
    /// under the source's prefix).
    pub fn owns(&self, relative: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        match DayFolder::of(relative) {
            Some((folder, name)) => self.block_owner(&folder, folder.range_of(name)) == self.index,
            None => (fnv1a(relative.bytes()) % u64::from(self.count)) as u32 == self.index,
        }
    }

    /// The keys of the day folder `folder` (a key ending in `/`) this shard lists: `None` when
    /// it owns none of them (only with more than 24 shards), else the range after `start_after`
    /// (none: from the start) up to and including `last` (none: to the end). Keys are compared as
    /// S3 orders them, by bytes. `None` as well for a folder that is not a day folder: the caller
    /// lists it whole and keeps the keys [`Shard::owns`].
    pub fn range(&self, folder: &str) -> Option<Option<KeyRange>> {
        let day = DayFolder::of(&format!("{folder}x"))?.0;
        let ranges: Vec<u32> = (0..24).filter(|&r| self.block_owner(&day, r) == self.index).collect();
        let (Some(&first), Some(&last)) = (ranges.first(), ranges.last()) else {
            return Some(None);
        };
        let bound = |r: u32| format!("{folder}{}{r:02}", day.name_prefix);
        Some(Some(KeyRange {
            start_after: (first > 0).then(|| bound(first)),
            last: (last < 23).then(|| bound(last + 1)),
        }))
    }

    /// The shard that owns range `r` (0..24) of `folder`: the 24 ranges cut into `count` blocks,
    /// the blocks turned by the folder's hash.
    fn block_owner(&self, folder: &DayFolder, r: u32) -> u32 {
        let block = u64::from(r) * u64::from(self.count) / 24;
        ((fnv1a(folder.key.bytes()) + block) % u64::from(self.count)) as u32
    }
}

/// Keys after `start_after`, up to and including `last`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    pub start_after: Option<String>,
    pub last: Option<String>,
}

/// A day folder of the layout: its identity (from `AWSLogs/` on, so a bucket and a local copy of it
/// agree) and how its files are named up to the hour.
struct DayFolder {
    key: String,
    /// `ACCOUNT_SERVICE_REGION_YYYYMMDDT`: a file's two digits of hour follow it.
    name_prefix: String,
}

impl DayFolder {
    /// The day folder a file is in, and the file's name; `None` outside a day folder.
    fn of(path: &str) -> Option<(DayFolder, &str)> {
        let file = day_file(path)?;
        Some((DayFolder { key: file.folder.to_owned(), name_prefix: file.hour_prefix }, file.name))
    }

    /// Which of the 24 ranges a file name falls in: range `r` holds the names after
    /// `PREFIX{r:02}` (none for `r = 0`) up to and including `PREFIX{r+1:02}`.
    fn range_of(&self, name: &str) -> u32 {
        (1..24).filter(|&r| format!("{}{r:02}", self.name_prefix).as_str() < name).count() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDER: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/";

    fn key(hour: u32, minute: u32) -> String {
        format!("{FOLDER}111122223333_CloudTrail_us-east-1_20240301T{hour:02}{minute:02}Z_AbCdEf.json.gz")
    }

    #[test]
    fn shards_parse_from_numbers_or_the_environment() {
        assert_eq!("2/7".parse(), Ok(ShardArg::Fixed(Shard { index: 2, count: 7 })));
        assert!("7/7".parse::<ShardArg>().is_err(), "0-based");
        assert!("1/0".parse::<ShardArg>().is_err());
        let env = "env/3".parse::<ShardArg>().expect("env");
        let batch = |name: &str| (name == "AWS_BATCH_JOB_ARRAY_INDEX").then(|| "2".to_owned());
        assert_eq!(env.resolve(batch), Ok(Shard { index: 2, count: 3 }));
        assert!(env.resolve(|_| None).expect_err("unset").contains("JOB_COMPLETION_INDEX"));
        assert!(env.resolve(|_| Some("3".into())).is_err(), "out of range");
    }

    #[test]
    fn every_key_has_exactly_one_owner() {
        let mut keys: Vec<String> = (0..24).flat_map(|h| [key(h, 0), key(h, 5), key(h, 59)]).collect();
        keys.extend([
            format!("{FOLDER}odd-name.json.gz"),
            format!("{FOLDER}111122223333_CloudTrail_us-east-1_20240301T07"),
            "exports/lookup.json".to_owned(),
            "AWSLogs/111122223333/CloudTrail/us-east-1/latest.json".to_owned(),
        ]);
        for count in [1, 2, 3, 7, 24, 30] {
            for key in &keys {
                let owners = (0..count).filter(|&index| Shard { index, count }.owns(key)).count();
                assert_eq!(owners, 1, "{key} with {count} shards");
            }
        }
    }

    #[test]
    fn a_shard_lists_exactly_the_keys_it_owns() {
        let mut keys: Vec<String> = (0..24).flat_map(|h| [key(h, 0), key(h, 30)]).collect();
        keys.push(format!("{FOLDER}111122223333_CloudTrail_us-east-1_20240301T05"));
        keys.push(format!("{FOLDER}zzz.json.gz"));
        keys.sort();
        for count in [2, 3, 7, 24, 30] {
            for index in 0..count {
                let shard = Shard { index, count };
                let listed: Vec<&String> = match shard.range(FOLDER).expect("a day folder") {
                    None => Vec::new(),
                    Some(range) => keys
                        .iter()
                        .filter(|k| range.start_after.as_ref().is_none_or(|s| *k > s))
                        .filter(|k| range.last.as_ref().is_none_or(|l| *k <= l))
                        .collect(),
                };
                let owned: Vec<&String> = keys.iter().filter(|k| shard.owns(k)).collect();
                assert_eq!(listed, owned, "shard {shard}");
            }
        }
    }

    #[test]
    fn shards_of_a_bench_shaped_bucket_are_balanced_within_a_factor_of_two() {
        // As the bench preset lays out: six account-regions over two days, an object delivered
        // about every five minutes in each, and the last one of the second day in the third
        // day's folder.
        let mut keys = Vec::new();
        for (account, region) in [
            ("111", "us-east-1"),
            ("111", "eu-west-1"),
            ("444", "ap-northeast-1"),
            ("444", "us-east-1"),
            ("777", "eu-west-1"),
            ("777", "us-east-1"),
        ] {
            for day in 1..=2 {
                for minute in (3..24 * 60).step_by(5) {
                    let (h, m) = (minute / 60, minute % 60);
                    let folder = format!("AWSLogs/{account}/CloudTrail/{region}/2024/03/0{day}");
                    keys.push(format!(
                        "{folder}/{account}_CloudTrail_{region}_2024030{day}T{h:02}{m:02}Z_x.json.gz"
                    ));
                }
            }
            keys.push(format!("AWSLogs/{account}/CloudTrail/{region}/2024/03/03/{account}_CloudTrail_{region}_20240303T0004Z_x.json.gz"));
        }
        for count in [2, 3, 7] {
            let sizes: Vec<usize> = (0..count)
                .map(|index| keys.iter().filter(|k| Shard { index, count }.owns(k)).count())
                .collect();
            let (least, most) = (sizes.iter().min().expect("n"), sizes.iter().max().expect("n"));
            assert!(most * 10 <= least * 20, "{count} shards: {sizes:?}");
        }
    }

    #[test]
    fn a_bucket_copied_elsewhere_is_split_the_same_way() {
        let shard = Shard { index: 1, count: 3 };
        for h in 0..24 {
            let key = key(h, 10);
            assert_eq!(shard.owns(&key), shard.owns(&format!("trail-prefix/{key}")));
        }
    }
}
