//! The CloudTrail key layout, at the bottom of the tree: where CloudTrail delivers logs and
//! digests, and what their names say. Everything that reads a name (the source's filter and
//! shards, the state's day folders, verification) asks here; nothing else parses one.
//!
//! - Folders: `[prefix/]AWSLogs/[o-id/]<account>/<service>/<region>/YYYY/MM/DD/<file>`, the
//!   service being `CloudTrail` for logs and `CloudTrail-Digest` for digests. Organization
//!   trails add the `o-id/` folder. A name is read from its last `AWSLogs` folder on, so a
//!   bucket, a copy of it under any local folder and the keys digests write all agree.
//! - Log files: `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`, the time being the
//!   delivery's, to the minute.
//! - Digests:
//!   `ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_YYYYMMDDTHHMMSSZ[_backfill].json.gz`, the
//!   time being the digest's end (`verify`'s documentation says where these facts come from).
//! - A local copy keeps a digest's signature (S3 metadata on S3) beside it, in
//!   `<digest>`[`SIGNATURE_SUFFIX`].

use crate::time::{Day, Timestamp};

/// The service folder of log files.
pub(crate) const LOGS: &str = "CloudTrail";
/// The service folder of digests.
pub(crate) const DIGESTS: &str = "CloudTrail-Digest";

/// How far into the layout a folder or key goes; `None` where it does not reach.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Position<'a> {
    pub(crate) account: Option<&'a str>,
    pub(crate) service: Option<&'a str>,
    pub(crate) region: Option<&'a str>,
    pub(crate) year: Option<&'a str>,
    pub(crate) month: Option<&'a str>,
    pub(crate) day: Option<&'a str>,
}

impl<'a> Position<'a> {
    /// The components after `AWSLogs` (and after an organization's `o-id`).
    fn of(rest: &[&'a str]) -> Position<'a> {
        let rest = match rest.first() {
            Some(p) if p.starts_with("o-") => &rest[1..],
            _ => rest,
        };
        let at = |i: usize| rest.get(i).copied();
        Position { account: at(0), service: at(1), region: at(2), year: at(3), month: at(4), day: at(5) }
    }

    /// The day its `YYYY/MM/DD` folders name, when they are numbers of a real date.
    pub(crate) fn date(&self) -> Option<Day> {
        let number = |s: Option<&str>| -> Option<i64> {
            s.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
        };
        Day::from_ymd(number(self.year)?, number(self.month)?, number(self.day)?)
    }
}

/// The non-empty components of a `/`- or `\`-separated name, each with its byte offset.
fn components(path: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for part in path.split(['/', '\\']) {
        if !part.is_empty() {
            out.push((offset, part));
        }
        offset += part.len() + 1;
    }
    out
}

/// Locates `path` (a folder or key, `/`-separated) in the layout, from its last `AWSLogs`.
pub(crate) fn position(path: &str) -> Option<Position<'_>> {
    let parts: Vec<&str> = components(path).into_iter().map(|(_, p)| p).collect();
    let start = parts.iter().rposition(|p| *p == "AWSLogs")?;
    Some(Position::of(&parts[start + 1..]))
}

/// The CloudTrail day folder `name` (an object's name, or a folder's) is in or is, as
/// `…/AWSLogs/[o-id/]<account>/CloudTrail/<region>/YYYY/MM/DD` (a prefix of `name`, without
/// the separator that follows), with its day. `None` outside a log day folder of the layout.
pub(crate) fn day_folder(name: &str) -> Option<(&str, Day)> {
    let p = position(name)?;
    if p.service != Some(LOGS) {
        return None;
    }
    let day = p.date()?;
    // `position` hands out slices of `name`: the folder ends where its day component does.
    let component = p.day?;
    let end = component.as_ptr() as usize - name.as_ptr() as usize + component.len();
    Some((&name[..end], day))
}

/// Whether a folder of `path` is a digest folder: what is under one is a digest, or kept with them
/// (a signature sidecar).
pub(crate) fn in_digest_folder(path: &str) -> bool {
    // The search first: most names do not hold the word at all.
    path.contains(DIGESTS) && path.split(['/', '\\']).any(|part| part == DIGESTS)
}

/// An object's name split at its last `AWSLogs` folder, with the folders it sits in.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Placed<'a> {
    /// The name up to `AWSLogs`: `s3://bucket/prefix/`, a local folder, or nothing.
    pub(crate) root: &'a str,
    /// From `AWSLogs` on, separators as in the name.
    pub(crate) tail: &'a str,
    /// The folders between `AWSLogs` and the file (the file itself is never one of them).
    pub(crate) folders: Position<'a>,
}

/// Where the object `name` (a local path, `s3://bucket/key`, or a key a digest writes) sits in
/// the layout; `None` when no folder of it is `AWSLogs`.
pub(crate) fn place(name: &str) -> Option<Placed<'_>> {
    let parts = components(name);
    let at = parts.iter().rposition(|(_, p)| *p == "AWSLogs")?;
    let start = parts[at].0;
    // Everything after `AWSLogs` but the last component, which is the file.
    let folders: Vec<&str> =
        parts.get(at + 1..parts.len() - 1).unwrap_or_default().iter().map(|(_, p)| *p).collect();
    Some(Placed { root: &name[..start], tail: &name[start..], folders: Position::of(&folders) })
}

/// The last component of a `/`- or `\`-separated name.
pub(crate) fn file_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or_default()
}

/// A file directly in a day folder of the layout (any service), its `YYYY/MM/DD` folders being
/// 4, 2 and 2 digits: how a shard splits a folder by the hour its files are named after.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DayFile<'a> {
    /// The day folder from `AWSLogs` on, without the separator that follows.
    pub(crate) folder: &'a str,
    /// `ACCOUNT_SERVICE_REGION_YYYYMMDDT`: how CloudTrail's names in that folder start, the two
    /// digits of their delivery hour following.
    pub(crate) hour_prefix: String,
    /// The file's name.
    pub(crate) name: &'a str,
}

/// The day folder a file is in, and the file's name; `None` outside a day folder.
pub(crate) fn day_file(path: &str) -> Option<DayFile<'_>> {
    let (folder, name) = path.rsplit_once('/')?;
    let p = position(path)?;
    let (account, service, region) = (p.account?, p.service?, p.region?);
    let (year, month, day) = (p.year?, p.month?, p.day?);
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let is_day_folder = digits(year, 4) && digits(month, 2) && digits(day, 2) && folder.ends_with(day);
    if !is_day_folder || name.is_empty() {
        return None;
    }
    let from = folder.rfind("AWSLogs").unwrap_or(0);
    Some(DayFile {
        folder: &folder[from..],
        hour_prefix: format!("{account}_{service}_{region}_{year}{month}{day}T"),
        name,
    })
}

/// What a log file's name says (`ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json.gz`), read
/// part by part as far as the name goes: the account is whatever comes before the first `_`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LogName<'a> {
    pub(crate) account: &'a str,
    pub(crate) region: Option<&'a str>,
    /// When CloudTrail delivered it, to the minute.
    pub(crate) delivered: Option<Timestamp>,
}

impl LogName<'_> {
    /// Reads the file name `file` (without folders).
    pub(crate) fn parse(file: &str) -> LogName<'_> {
        let mut parts = file.splitn(5, '_');
        let account = parts.next().unwrap_or_default();
        let (_service, region, stamp) = (parts.next(), parts.next(), parts.next());
        LogName { account, region, delivered: stamp.and_then(compact_time) }
    }
}

/// What a digest's file name says: `ACCOUNT_CloudTrail-Digest_REGION_TRAIL_HOMEREGION_
/// YYYYMMDDTHHMMSSZ[_backfill].json.gz`. Trail names may hold underscores, regions never do, so
/// the name is cut from both ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestName {
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) trail: String,
    pub(crate) home_region: String,
    /// The digest's end time.
    pub(crate) end: Timestamp,
    pub(crate) backfill: bool,
}

impl DigestName {
    /// Parses the last path component of `path` (`/` or `\` separated).
    pub(crate) fn parse(path: &str) -> Option<DigestName> {
        let file = file_name(path);
        let stem = file.strip_suffix(".json.gz")?;
        let (stem, backfill) = match stem.strip_suffix("_backfill") {
            Some(stem) => (stem, true),
            None => (stem, false),
        };
        let (rest, stamp) = stem.rsplit_once('_')?;
        let end = compact_time(stamp)?;
        let (account, rest) = rest.split_once("_CloudTrail-Digest_")?;
        let (region, rest) = rest.split_once('_')?;
        let (trail, home_region) = rest.rsplit_once('_')?;
        if account.is_empty() || region.is_empty() || trail.is_empty() || home_region.is_empty() {
            return None;
        }
        Some(DigestName {
            account: account.to_owned(),
            region: region.to_owned(),
            trail: trail.to_owned(),
            home_region: home_region.to_owned(),
            end,
            backfill,
        })
    }
}

/// `YYYYMMDDTHHMMSSZ` (digest names) or `YYYYMMDDTHHMMZ` (log file names), read by the one time
/// parser.
pub(crate) fn compact_time(stamp: &str) -> Option<Timestamp> {
    Timestamp::parse_compact(stamp.as_bytes())
}

/// Formats `YYYYMMDDTHHMMSSZ`, as digest names carry their end time.
#[cfg(test)]
pub(crate) fn format_compact(time: Timestamp) -> String {
    let iso = Timestamp(time.millis() - time.millis().rem_euclid(1_000)).to_string();
    iso.chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// What a local copy appends to a digest's name for the file holding its signature.
pub(crate) const SIGNATURE_SUFFIX: &str = ".sig";

/// A signature sidecar (`<digest>.sig`, what a local copy keeps of `x-amz-meta-signature`):
/// hex, surrounding whitespace allowed; lower-cased.
pub(crate) fn parse_signature_sidecar(bytes: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "signature file is not text".to_owned())?.trim();
    match crate::hash::unhex(text) {
        Some(signature) if !signature.is_empty() => Ok(text.to_ascii_lowercase()),
        _ => Err("signature file does not hold a hex signature".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02/111122223333_CloudTrail_us-east-1_20240302T0000Z_a.json.gz";

    #[test]
    fn a_day_folder_is_named_by_the_prefix_up_to_its_day() {
        let (folder, day) = day_folder(KEY).expect("a log day folder");
        assert_eq!(folder, "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02");
        assert_eq!(day, Day::from_ymd(2024, 3, 2).expect("a day"));
        let org = "s3://b/p/AWSLogs/o-abc/1/CloudTrail/eu-west-1/2024/12/31/sub/x.json.gz";
        assert_eq!(
            day_folder(org).map(|f| f.0),
            Some("s3://b/p/AWSLogs/o-abc/1/CloudTrail/eu-west-1/2024/12/31")
        );
        assert_eq!(day_folder("AWSLogs/1/CloudTrail/us-east-1/2024/03/"), None, "a month folder");
        assert_eq!(day_folder("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/02/d.json.gz"), None);
        assert_eq!(day_folder("AWSLogs/1/CloudTrail/us-east-1/2024/02/30/x.json.gz"), None, "no such day");
        assert_eq!(day_folder("exports/2024/03/02/x.json.gz"), None, "a flat folder");
    }

    #[test]
    fn a_position_goes_as_far_as_the_path_and_skips_an_organization() {
        let p = position("s3://b/p/AWSLogs/o-abc/1/CloudTrail/").expect("in the layout");
        assert_eq!((p.account, p.service, p.region), (Some("1"), Some("CloudTrail"), None));
        assert_eq!(position("exports/2024/03/02/"), None);
        assert_eq!(position("AWSLogs/"), Some(Position::default()));
        assert!(in_digest_folder(r"copy\AWSLogs\1\CloudTrail-Digest\us-east-1\d.json.gz"));
        assert!(!in_digest_folder("AWSLogs/1/CloudTrail/us-east-1/1_CloudTrail-Digest_x.json.gz"));
    }

    #[test]
    fn an_object_is_placed_by_its_folders_never_by_its_file() {
        let placed = place("s3://trail-bucket/p/AWSLogs/o-abc/111/CloudTrail/us-east-1/2024/03/02/x.json.gz")
            .expect("in the layout");
        assert_eq!(placed.root, "s3://trail-bucket/p/");
        assert_eq!(placed.tail, "AWSLogs/o-abc/111/CloudTrail/us-east-1/2024/03/02/x.json.gz");
        assert_eq!(placed.folders.account, Some("111"));
        assert_eq!(placed.folders.region, Some("us-east-1"));
        assert_eq!(placed.folders.date(), Day::from_ymd(2024, 3, 2));
        let shallow = place("/copy/AWSLogs/111/CloudTrail/us-east-1").expect("in the layout");
        assert_eq!((shallow.folders.account, shallow.folders.region), (Some("111"), None), "a file");
        let day_named = place(r"C:\copy\AWSLogs\1\CloudTrail\eu-west-1\2024\03\02").expect("in the layout");
        assert_eq!(day_named.folders.date(), None, "the day is the file's name, not a folder");
        assert_eq!(place("/tmp/flat/x.json.gz"), None);
        assert_eq!(file_name(r"/tmp/flat\x.json.gz"), "x.json.gz");
    }

    #[test]
    fn a_file_in_a_day_folder_is_named_up_to_its_hour() {
        let path = format!("trail-prefix/{KEY}");
        let file = day_file(&path).expect("in a day folder");
        assert_eq!(file.folder, "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02");
        assert_eq!(file.hour_prefix, "111122223333_CloudTrail_us-east-1_20240302T");
        assert!(file.name.starts_with(&file.hour_prefix));
        assert_eq!(day_file("AWSLogs/1/CloudTrail/us-east-1/2024/03/02/sub/x"), None);
        assert_eq!(day_file("AWSLogs/1/CloudTrail/us-east-1/latest.json"), None);
        assert_eq!(day_file("AWSLogs/1/CloudTrail/us-east-1/2024/3/02/x"), None, "two digits of month");
    }

    #[test]
    fn a_log_file_name_gives_account_region_and_delivery_minute() {
        let name = LogName::parse("111122223333_CloudTrail_us-east-1_20240302T0005Z_AbC.json.gz");
        assert_eq!((name.account, name.region), ("111122223333", Some("us-east-1")));
        assert_eq!(name.delivered.map(|t| t.to_string()).as_deref(), Some("2024-03-02T00:05:00Z"));
        let other = LogName::parse("lookup.json");
        assert_eq!((other.account, other.region, other.delivered), ("lookup.json", None, None));
    }

    #[test]
    fn digest_names_are_cut_from_both_ends_so_trails_may_hold_underscores() {
        let name = DigestName::parse(
            "AWSLogs/o-a1b2c3d4e5/444455556666/CloudTrail-Digest/ap-northeast-1/2024/03/02/444455556666_CloudTrail-Digest_ap-northeast-1_org_trail_v2_us-east-1_20240302T000131Z.json.gz",
        )
        .expect("a digest name");
        assert_eq!(name.account, "444455556666");
        assert_eq!(name.region, "ap-northeast-1");
        assert_eq!(name.trail, "org_trail_v2");
        assert_eq!(name.home_region, "us-east-1");
        assert_eq!(name.end.to_string(), "2024-03-02T00:01:31Z");
        assert!(!name.backfill);
        let backfill =
            DigestName::parse("1_CloudTrail-Digest_us-east-1_t_us-east-1_20150816T230550Z_backfill.json.gz")
                .expect("a backfill name");
        assert!(backfill.backfill);
        assert_eq!(backfill.end.to_string(), "2015-08-16T23:05:50Z");
        for bad in [
            "1_CloudTrail_us-east-1_20240301T0000Z_abc.json.gz",
            "1_CloudTrail-Digest_us-east-1_t_us-east-1_2024.json.gz",
            "1_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T000000Z.json",
            "1_CloudTrail-Digest_us-east-1_20240301T000000Z.json.gz",
        ] {
            assert_eq!(DigestName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn compact_times_of_digests_and_logs_parse_and_format() {
        assert_eq!(
            compact_time("20150817T150131Z").map(|t| t.to_string()).as_deref(),
            Some("2015-08-17T15:01:31Z")
        );
        assert_eq!(
            compact_time("20150817T1445Z").map(|t| t.to_string()).as_deref(),
            Some("2015-08-17T14:45:00Z")
        );
        assert_eq!(compact_time("20151317T1445Z"), None);
        assert_eq!(compact_time("201508é7T145Z"), None, "not ASCII, 14 bytes");
        assert_eq!(compact_time("20150817-1445Z"), None);
        let t = Timestamp::parse("2024-03-02T00:01:31Z").expect("valid");
        assert_eq!(format_compact(t), "20240302T000131Z");
    }

    #[test]
    fn sidecars_hold_hex_with_optional_whitespace() {
        assert_eq!(parse_signature_sidecar(b"AB01\n"), Ok("ab01".to_owned()));
        assert!(parse_signature_sidecar(b"").is_err());
        assert!(parse_signature_sidecar(b"not hex").is_err());
        assert!(parse_signature_sidecar(&[0xff, 0xfe]).is_err());
    }
}
