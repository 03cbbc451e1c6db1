//! What a real trail bucket holds beside the log objects: objects to read, to skip, and that
//! cannot be read; and its digests, chained and signed, with what verifying them must find.

use std::io;
use std::path::Path;

use rayon::prelude::*;

use super::digest::{self, Chain, Delivered};
use super::lifecycle::{self, Lives};
use super::records::{self, Account, BackgroundEndpoint};
use super::truth::{FailureTruth, IntegrityTruth, StreamTruth, Truth};
use super::{gzip, put, Plan, Rng, ACCOUNTS, STREAMS};
use crate::hash::Sha256;
use crate::time::{Day, Timestamp};

/// Where and when the extras are written: the first day's folders, around its noon.
struct Bucket<'a> {
    archive: &'a Path,
    day: Day,
    noon: i64,
    /// Whether background records may create endpoints (see `records::background`).
    creates: bool,
}

impl Bucket<'_> {
    /// The day's folder of `service` (`CloudTrail`, `CloudTrail-Digest`…) for `account` in `region`.
    fn folder(&self, account: &Account, service: &str, region: &str) -> String {
        let (y, m, d) = self.day.ymd();
        match account.org {
            Some(org) => format!("AWSLogs/{org}/{}/{service}/{region}/{y:04}/{m:02}/{d:02}", account.id),
            None => format!("AWSLogs/{}/{service}/{region}/{y:04}/{m:02}/{d:02}", account.id),
        }
    }

    /// The compact date of the day in names: `20240301`.
    fn date(&self) -> String {
        let (y, m, d) = self.day.ymd();
        format!("{y:04}{m:02}{d:02}")
    }

    /// A log of `n` records of other services, a second apart from noon, in the first account's
    /// us-east-1 (stream 0), and the endpoints they created.
    fn background_log(&self, rng: &mut Rng, n: u64) -> (String, Vec<BackgroundEndpoint>) {
        let mut body = String::from("{\"Records\":[");
        let mut created = Vec::new();
        for i in 0..n {
            if i > 0 {
                body.push(',');
            }
            let time = Timestamp(self.noon + i as i64 * 1_000);
            created.extend(records::background(
                &mut body,
                rng,
                &ACCOUNTS[0],
                "us-east-1",
                time,
                self.creates,
            ));
        }
        body.push_str("]}");
        (body, created)
    }

    /// Writes an object the report reads, of `records` records, and counts it.
    fn readable(&self, path: String, bytes: Vec<u8>, records: u64, truth: &mut Truth) -> io::Result<()> {
        truth.summary.objects_listed += 1;
        truth.summary.objects_read += 1;
        truth.summary.records += records;
        put(&self.archive.join(&path), &bytes)?;
        truth.objects.insert(path, records);
        Ok(())
    }
}

impl Plan<'_> {
    /// What else a real trail bucket holds, beside the log objects: digests (three fake ones,
    /// unless real ones are written) and stray files (skipped), an Insights object and an
    /// uncompressed `.json.gz` (read), and objects that cannot be read, each broken in its own
    /// way. With digests, the uncompressed object joins `listed` (its content is what CloudTrail
    /// hashed); returns the log objects no digest lists.
    pub(super) fn write_extras(
        &mut self,
        archive: &Path,
        truth: &mut Truth,
        listed: &mut Vec<(usize, Delivered)>,
        lives: &mut Lives,
    ) -> io::Result<Vec<String>> {
        let day = self.spec.start;
        let noon = day.start().millis() + 43_200_000;
        let bucket = Bucket { archive, day, noon, creates: !self.spec.lifecycle };
        let mut unlisted = Vec::new();
        let digests = self.spec.digests;
        let created =
            write_readable(&bucket, &mut self.rng, truth, digests.then_some(listed), &mut unlisted)?;
        for created in &created {
            let (id, life) = lifecycle::background_endpoint(created, 0);
            lives.lives.insert(id, life);
            lives.events += 1;
        }
        write_skipped(&bucket, truth, digests)?;
        write_unreadable(&bucket, &mut self.rng, truth, &mut unlisted)?;
        truth.failures.sort_by(|a, b| a.object.cmp(&b.object));
        unlisted.sort();
        Ok(unlisted)
    }
}

/// Objects the report reads: an Insights object, and a log someone decompressed but did not
/// rename. With `listed` (real digests), the log joins what they list; the Insights object goes
/// to `unlisted`. Returns the endpoints the log's records created.
fn write_readable(
    bucket: &Bucket<'_>,
    rng: &mut Rng,
    truth: &mut Truth,
    listed: Option<&mut Vec<(usize, Delivered)>>,
    unlisted: &mut Vec<String>,
) -> io::Result<Vec<BackgroundEndpoint>> {
    let date = bucket.date();
    let mut insights = String::from("{\"Records\":[");
    for i in 0..2 {
        if i > 0 {
            insights.push(',');
        }
        records::insight(&mut insights, rng, &ACCOUNTS[0], "us-east-1", Timestamp(bucket.noon + i * 60_000));
    }
    insights.push_str("]}");
    let dir = bucket.folder(&ACCOUNTS[0], "CloudTrail-Insight", "us-east-1");
    let name =
        format!("{}_CloudTrail-Insight_us-east-1_{date}T1200Z_{}.json.gz", ACCOUNTS[0].id, rng.alnum(16));
    unlisted.push(format!("{dir}/{name}"));
    bucket.readable(format!("{dir}/{name}"), gzip(insights.as_bytes(), 6)?, 2, truth)?;
    let dir = bucket.folder(&ACCOUNTS[0], "CloudTrail", "us-east-1");
    let (plain, created) = bucket.background_log(rng, 5);
    let name = format!("{}_CloudTrail_us-east-1_{date}T1201Z_{}.json.gz", ACCOUNTS[0].id, rng.alnum(16));
    if let Some(listed) = listed {
        // Stream 0 is the first account's us-east-1; delivered at 12:01 as its name says.
        listed.push((
            0,
            Delivered {
                key: format!("{dir}/{name}"),
                at: bucket.noon + 60_000,
                sha256: Sha256::of(plain.as_bytes()),
                events: Some((bucket.noon, bucket.noon + 4_000)),
            },
        ));
    }
    bucket.readable(format!("{dir}/{name}"), plain.into_bytes(), 5, truth)?;
    Ok(created)
}

/// Objects the report skips: digests (three fake ones, unless `digests` are real ones, written
/// apart), and files that are not logs.
fn write_skipped(bucket: &Bucket<'_>, truth: &mut Truth, digests: bool) -> io::Result<()> {
    let (date, day) = (bucket.date(), bucket.day);
    let fake_digests: &[Account] = if digests { &[] } else { &ACCOUNTS };
    for account in fake_digests {
        let dir = bucket.folder(account, "CloudTrail-Digest", "us-east-1");
        let name =
            format!("{}_CloudTrail-Digest_us-east-1_management_us-east-1_{date}T0000Z.json.gz", account.id);
        let digest = format!(
            r#"{{"awsAccountId":"{}","digestStartTime":"{day}T00:00:00Z","digestEndTime":"{day}T01:00:00Z","digestS3Bucket":"trail-bucket","logFiles":[]}}"#,
            account.id
        );
        put(&bucket.archive.join(dir).join(name), &gzip(digest.as_bytes(), 6)?)?;
        truth.summary.objects_listed += 1;
        truth.summary.skipped.digest += 1;
    }
    for (path, text) in [
        ("README.txt", "Exported from s3://trail-bucket for the audit.\n"),
        ("AWSLogs/111122223333/CloudTrail/us-east-1/manifest.csv", "key,size\n"),
    ] {
        put(&bucket.archive.join(path), text.as_bytes())?;
        truth.summary.objects_listed += 1;
        truth.summary.skipped.other += 1;
    }
    truth.summary.objects_skipped = truth.summary.skipped.total();
    Ok(())
}

/// Objects that cannot be read, each in its own way; none of them holds an Instance Connect
/// event, and no digest lists them (CloudTrail never delivered them).
fn write_unreadable(
    bucket: &Bucket<'_>,
    rng: &mut Rng,
    truth: &mut Truth,
    unlisted: &mut Vec<String>,
) -> io::Result<()> {
    let date = bucket.date();
    let dir = bucket.folder(&ACCOUNTS[1], "CloudTrail", "ap-northeast-1");
    // Unreadable: the endpoints its records created are not read.
    let (log, _) = bucket.background_log(rng, 8);
    let compressed = gzip(log.as_bytes(), 6)?;
    let mut flipped = compressed.clone();
    let middle = flipped.len() / 2;
    for byte in &mut flipped[middle..middle + 16] {
        *byte ^= 0x55;
    }
    let mut noise = vec![0u8; 512];
    noise.iter_mut().for_each(|b| *b = rng.below(256) as u8);
    noise[0] = b'Z';
    let broken: [(&str, Vec<u8>, &'static str); 6] = [
        ("truncated", compressed[..compressed.len() / 2].to_vec(), "truncated gzip"),
        ("corrupt", flipped, "gzip"),
        ("empty", Vec::new(), "empty object"),
        ("noise", noise, "neither gzip nor JSON"),
        ("cut-json", gzip(&log.as_bytes()[..log.len() / 3], 6)?, "invalid JSON"),
        ("other-shape", gzip(br#"{"logFiles":[{"s3Object":"x"}]}"#, 6)?, "neither a \"Records\""),
    ];
    for (what, bytes, reason) in broken {
        let name = format!("{}_CloudTrail_ap-northeast-1_{date}T0905Z_{what}.json.gz", ACCOUNTS[1].id);
        let path = format!("{dir}/{name}");
        put(&bucket.archive.join(&path), &bytes)?;
        truth.summary.objects_listed += 1;
        truth.summary.objects_failed += 1;
        unlisted.push(path.clone());
        truth.failures.push(FailureTruth { object: path, reason_contains: reason });
    }
    Ok(())
}

impl Plan<'_> {
    /// Writes each stream's chain of digests (in parallel: the chains are independent, and each
    /// draws from its own random stream) and what verification must find into the truth. The
    /// digests and their sidecars are skipped objects for a report without verification.
    pub(super) fn write_digests(
        &self,
        archive: &Path,
        truth: &mut Truth,
        listed: Vec<(usize, Delivered)>,
        unlisted: Vec<String>,
    ) -> io::Result<()> {
        let (from, until) = self.span_ms();
        let chains: Vec<Chain> = STREAMS
            .iter()
            .enumerate()
            .map(|(stream, &(account, region, _))| Chain {
                index: stream as u64,
                account: ACCOUNTS[account].id,
                org: ACCOUNTS[account].org,
                region,
                from,
                until,
                logs: listed.iter().filter(|(s, _)| *s == stream).map(|(_, d)| d.clone()).collect(),
            })
            .collect();
        let written = chains
            .par_iter()
            .map(|chain| digest::write_chain(archive, self.spec.seed, chain))
            .collect::<io::Result<Vec<_>>>()?;
        let mut streams: Vec<StreamTruth> = chains
            .iter()
            .zip(&written)
            .map(|(chain, written)| StreamTruth {
                account: chain.account.to_owned(),
                region: chain.region.to_owned(),
                trail: digest::TRAIL.to_owned(),
                digests: written.digests.len() as u64,
                log_files: written.log_files,
                from: written.from.to_string(),
                to: written.to.to_string(),
            })
            .collect();
        streams.sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
        let digests: u64 = streams.iter().map(|s| s.digests).sum();
        // A digest and its sidecar, both under `CloudTrail-Digest/`.
        truth.summary.objects_listed += 2 * digests;
        truth.summary.skipped.digest += 2 * digests;
        truth.summary.objects_skipped = truth.summary.skipped.total();
        truth.integrity = Some(IntegrityTruth {
            digests,
            log_files: streams.iter().map(|s| s.log_files).sum(),
            public_keys: digest::TEST_PUBLIC_KEYS_PATH,
            streams,
            unlisted,
        });
        Ok(())
    }
}
