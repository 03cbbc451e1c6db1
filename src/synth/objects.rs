//! The log objects: the records of each stream cut into objects by time, each written gzipped
//! under the name CloudTrail would give it.

use std::io;
use std::path::Path;

use super::digest::Delivered;
use super::records::{self, BackgroundEndpoint};
use super::{gzip, put, Activity, ObjectPlan, Plan, Rng, Written, ACCOUNTS, STREAMS};
use crate::hash::Sha256;
use crate::time::{Day, Timestamp};

impl Plan<'_> {
    /// The log objects of every stream, with the Instance Connect records placed in the object
    /// whose window holds their time. Objects are delivered a few minutes after their window
    /// closes, so the last one of a day sits in the next day's folder.
    ///
    /// `lifecycle` holds, per stream, the lifecycle records to place among them (time in ms,
    /// record).
    pub(super) fn objects(&mut self, lifecycle: Vec<Vec<(i64, String)>>) -> Vec<ObjectPlan> {
        let (start, end) = self.span_ms();
        let streams = STREAMS.len() as u64;
        let mean = (self.spec.records / self.spec.objects.max(1)).max(1);
        let mut objects = Vec::new();
        for (stream, &(account, region, _)) in STREAMS.iter().enumerate() {
            let account = &ACCOUNTS[account];
            let count = (self.spec.objects / streams
                + u64::from((stream as u64) < self.spec.objects % streams))
            .max(1);
            let width = (end - start) / count as i64;
            let mut events: Vec<(i64, String)> = Vec::new();
            for (time, activity, Written { records, .. }) in &self.activities[stream] {
                let offset = match activity {
                    Activity::Connect { k, keyed: true, .. } => -i64::from(k % 2) * 1_000,
                    _ => 0,
                };
                // Keys come first (at `time + offset`), the tunnel last (at `time`).
                let last = records.len() - 1;
                for (i, record) in records.iter().enumerate() {
                    events.push((if i == last { *time } else { time + offset }, record.clone()));
                }
            }
            if let Some(more) = lifecycle.get(stream).filter(|more| !more.is_empty()) {
                events.extend(more.iter().cloned());
                events.sort_by_key(|(time, _)| *time);
            }
            for j in 0..count {
                let window = (
                    start + j as i64 * width,
                    if j + 1 == count { end } else { start + (j as i64 + 1) * width },
                );
                let delivered = Timestamp(window.1 + 1_000 * self.rng.between(120, 600) as i64);
                let day = Day(delivered.millis().div_euclid(86_400_000));
                let (y, m, d) = day.ymd();
                let stamp = delivered.to_string();
                let compact: String = stamp[..16].chars().filter(|c| *c != '-' && *c != ':').collect();
                let prefix = match account.org {
                    Some(org) => format!("AWSLogs/{org}/{}", account.id),
                    None => format!("AWSLogs/{}", account.id),
                };
                let path = format!(
                    "{prefix}/CloudTrail/{region}/{y:04}/{m:02}/{d:02}/{}_CloudTrail_{region}_{compact}Z_{}.json.gz",
                    account.id,
                    self.rng.alnum(16)
                );
                let background = self.rng.between(mean / 2, mean + mean / 2).max(1);
                // Events are in time order: the window's are one run of them.
                let (first, end) = (
                    events.partition_point(|(t, _)| *t < window.0),
                    events.partition_point(|(t, _)| *t < window.1),
                );
                let in_window = events[first..end].to_vec();
                let multi_member = self.spec.extras && objects.len() % 97 == 13;
                objects.push(ObjectPlan {
                    path,
                    stream,
                    window,
                    background,
                    events: in_window,
                    multi_member,
                    delivered: delivered.millis(),
                });
            }
        }
        objects
    }

    /// Writes one object; returns its record count, with digests what they list of it, and the
    /// endpoints its background records created.
    pub(super) fn write_object(
        &self,
        archive: &Path,
        index: u64,
        object: &ObjectPlan,
    ) -> io::Result<WrittenObject> {
        let (account, region, _) = STREAMS[object.stream];
        let account = &ACCOUNTS[account];
        let mut rng = Rng::fork(self.spec.seed, index + 1);
        let mut times: Vec<i64> = (0..object.background)
            .map(|_| object.window.0 + rng.below((object.window.1 - object.window.0) as u64) as i64)
            .collect();
        times.sort_unstable();
        let oldest =
            [times.first(), object.events.first().map(|(t, _)| t)].into_iter().flatten().min().copied();
        let newest =
            [times.last(), object.events.last().map(|(t, _)| t)].into_iter().flatten().max().copied();
        let mut body = String::with_capacity(object.background as usize * 1_600 + 64);
        body.push_str("{\"Records\":[");
        let mut events = object.events.iter().peekable();
        let mut created = Vec::new();
        let mut first = true;
        let mut separate = |body: &mut String| {
            if !std::mem::take(&mut first) {
                body.push(',');
            }
        };
        for time in times {
            while let Some((_, record)) = events.next_if(|(t, _)| *t <= time) {
                separate(&mut body);
                body.push_str(record);
            }
            separate(&mut body);
            // Sub-second times, as busy trails have; Instance Connect records keep whole seconds.
            let creates = !self.spec.lifecycle;
            created.extend(records::background(
                &mut body,
                &mut rng,
                account,
                region,
                Timestamp(time),
                creates,
            ));
        }
        for (_, record) in events {
            separate(&mut body);
            body.push_str(record);
        }
        body.push_str("]}");
        let bytes = if object.multi_member {
            let middle = body.len() / 2;
            let mut bytes = gzip(&body.as_bytes()[..middle], self.spec.level)?;
            bytes.extend(gzip(&body.as_bytes()[middle..], self.spec.level)?);
            bytes
        } else {
            gzip(body.as_bytes(), self.spec.level)?
        };
        put(&archive.join(&object.path), &bytes)?;
        // What CloudTrail hashes is the uncompressed content: here all of it, both members of a
        // multi-member object included.
        let delivered = self.spec.digests.then(|| Delivered {
            key: object.path.clone(),
            at: object.delivered,
            sha256: Sha256::of(body.as_bytes()),
            events: oldest.zip(newest),
        });
        Ok(WrittenObject { records: object.background + object.events.len() as u64, delivered, created })
    }
}

/// What writing one log object gave.
pub(super) struct WrittenObject {
    pub(super) records: u64,
    /// With digests: what they list of it.
    pub(super) delivered: Option<Delivered>,
    /// Endpoints its background records created.
    pub(super) created: Vec<BackgroundEndpoint>,
}
