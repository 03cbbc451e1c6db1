//! Listing a bucket as a stream of keys: the whole prefix when nothing narrows the question,
//! otherwise a breadth-first walk of delimiter listings that descends only into folders the
//! filter admits, so only the matching `account/region/day` prefixes are listed in full. Keys go
//! to the readers page by page, as they are listed: the first object is being read while the
//! listing goes on, and a bucket's listing is never held whole.

use std::future::Future;

use aws_sdk_s3::types::ObjectStorageClass;
use aws_sdk_s3::Client;
use tokio::task::JoinSet;

use super::{describe, S3Store};
use crate::error::{ArchivedObject, S3Error};
use crate::layout::{position, LOGS};
use crate::source::filter::Filter;
use crate::source::shard::KeyRange;
use crate::source::{classify_name, Entry, Found, Location, Object, Settled, Verdict};

/// Folders above `AWSLogs/` (a trail's custom prefix) are descended this deep at most; deeper
/// unknown folders are listed whole rather than walked.
const MAX_DEPTH_OUTSIDE_LAYOUT: usize = 3;

/// Sends every key under the store's URL that `filter` may keep; the day folders `settled`
/// names are skipped when walking down to them asks less than one flat listing.
pub(super) async fn list(
    store: &S3Store,
    filter: &Filter,
    settled: &Settled,
    found: &Found,
) -> Result<(), S3Error> {
    let unsettled = Settled::default();
    let settled = if settled.walk { settled } else { &unsettled };
    let url = &store.url;
    let level = |prefix: String, delimited: bool| Level {
        client: store.client.clone(),
        bucket: url.bucket.clone(),
        source: url.prefix.clone(),
        prefix,
        delimited,
        admit: delimited,
        range: None,
        filter: filter.clone(),
        found: found.clone(),
    };
    // A shard lists only its block of each day folder's keys; a day folder it owns nothing of
    // is not listed at all.
    let whole = |leaf: String| match filter.shard.map(|shard| shard.range(&leaf)) {
        Some(Some(None)) => None,
        Some(Some(Some(range))) => Some(Level { range: Some(range), ..level(leaf, false) }),
        _ => Some(level(leaf, false)),
    };
    // Day folders not to be listed again are skipped by walking down to each region folder,
    // listed from its first day folder to be listed on (one `StartAfter`): with none, one
    // listing of the whole prefix asks least.
    let settled_folders = Some(&*settled.folders).filter(|s| !s.is_empty());
    if (!filter.is_active() && settled_folders.is_none()) || filter.is_leaf(&url.prefix) {
        return match whole(url.prefix.clone()) {
            Some(listing) => listing.list().await.map(|_| ()),
            None => Ok(()),
        };
    }
    let mut leaves = Vec::new();
    let mut tails = Vec::new();
    let mut frontier = vec![url.prefix.clone()];
    while !frontier.is_empty() {
        let levels = concurrently(frontier, store.concurrency, |prefix| level(prefix, true).list()).await;
        frontier = Vec::new();
        for folders in levels {
            for folder in folders?.into_iter().filter(|f| filter.admits(f)) {
                // Named as the state names day folders: without the trailing separator.
                let name = format!("s3://{}/{}", url.bucket, folder.trim_end_matches('/'));
                if let Some(settled_folders) = settled_folders {
                    let at = position(&name).unwrap_or_default();
                    let region = at.service == Some(LOGS) && at.region.is_some() && at.year.is_none();
                    let under = format!("{name}/");
                    let skipped: Vec<&String> = settled_folders
                        .range(under.clone()..)
                        .take_while(|f| f.starts_with(&under))
                        .collect();
                    if let (true, Some(last)) = (region, skipped.last()) {
                        // Past the last settled day folder: every key of it sorts before
                        // `<last>0` ('/' is below '0'), every later day folder after it.
                        let start_after = format!("{}0", &last[name.len() - folder.len() + 1..]);
                        for day in skipped {
                            if found.send(Entry::Settled(day.clone())).await.is_err() {
                                return Ok(());
                            }
                        }
                        tails.push(Level {
                            range: Some(KeyRange { start_after: Some(start_after), last: None }),
                            admit: true,
                            ..level(folder, false)
                        });
                        continue;
                    }
                    // Other services' folders (digests, Insights) are not walked day by day:
                    // one listing each, as with nothing settled, unless narrowing prunes them.
                    let other = at.service.is_some_and(|s| s != LOGS) && at.region.is_none();
                    if other && !filter.is_active() {
                        leaves.push(folder);
                        continue;
                    }
                }
                if settled.settles(&name) {
                    if found.send(Entry::Settled(name)).await.is_err() {
                        return Ok(());
                    }
                    continue;
                }
                let depth = folder[url.prefix.len()..].matches('/').count();
                let outside = position(&folder).is_none();
                if filter.is_leaf(&folder) || (outside && depth >= MAX_DEPTH_OUTSIDE_LAYOUT) {
                    leaves.push(folder);
                } else {
                    frontier.push(folder);
                }
            }
        }
    }
    let listings = leaves.into_iter().filter_map(whole).chain(tails).collect();
    for listed in concurrently(listings, store.concurrency, Level::list).await {
        listed?;
    }
    Ok(())
}

/// One listing request (with its pages).
struct Level {
    client: Client,
    bucket: String,
    /// The SOURCE's prefix: keys are owned by shards by what follows it.
    source: String,
    prefix: String,
    /// With a delimiter: this folder's keys and sub-folders; without: every key below it.
    delimited: bool,
    /// Keys are sent only if the filter admits them (listings that do not stop at a day folder).
    admit: bool,
    /// Only the keys in this range (a shard's block of a day folder): all of them are its own.
    range: Option<KeyRange>,
    filter: Filter,
    found: Found,
}

impl Level {
    /// Sends the keys, page by page; returns the sub-folders.
    async fn list(self) -> Result<Vec<String>, S3Error> {
        let Level { client, bucket, source, prefix, delimited, admit, range, filter, found } = self;
        let (start_after, last) = range.clone().map_or((None, None), |r| (r.start_after, r.last));
        let mut pages = client
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&prefix)
            .set_delimiter(delimited.then(|| "/".to_owned()))
            .set_start_after(start_after)
            .into_paginator()
            .send();
        let mut folders = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                S3Error::caused_by(format!("cannot list s3://{bucket}/{prefix}: {}", describe(&e)), e)
            })?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                // Keys come in order: past the range's end, the rest of the listing is not ours.
                if last.as_deref().is_some_and(|last| key > last) {
                    return Ok(folders);
                }
                if admit && !filter.admits(key) {
                    continue;
                }
                if range.is_none() && !filter.owns(key.strip_prefix(source.as_str()).unwrap_or(key)) {
                    continue;
                }
                let size = object.size().and_then(|s| u64::try_from(s).ok());
                // An archived object is one the listing would read, in a class GetObject refuses:
                // a name the listing skips stays skipped, whatever its class.
                let entry = match (entry(&bucket, key, size, &filter), object.storage_class()) {
                    (Entry::Object(read), Some(class)) if is_archive(class) => {
                        Entry::Archived(ArchivedObject {
                            object: read.name,
                            storage_class: class.as_str().to_owned(),
                        })
                    }
                    (Entry::Object(mut read), _) => {
                        read.version = object.e_tag().map(str::to_owned);
                        Entry::Object(read)
                    }
                    (entry, _) => entry,
                };
                // A closed channel means the run is over: stop listing.
                if found.send(entry).await.is_err() {
                    return Ok(Vec::new());
                }
            }
            folders.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
        }
        Ok(folders)
    }
}

/// Storage classes whose objects GetObject refuses (`InvalidObjectState`) until restored. The
/// others, `GLACIER_IR` (Instant Retrieval) and `INTELLIGENT_TIERING` included, are read as
/// usual; an Intelligent-Tiering object in an archive tier is only known by GetObject's answer.
fn is_archive(class: &ObjectStorageClass) -> bool {
    matches!(class, ObjectStorageClass::Glacier | ObjectStorageClass::DeepArchive)
}

fn entry(bucket: &str, key: &str, size: Option<u64>, filter: &Filter) -> Entry {
    // Folder placeholders some tools create are not objects.
    if key.ends_with('/') {
        return Entry::Pruned(format!("s3://{bucket}/{key}"));
    }
    match classify_name(key, filter.digests, &filter.include) {
        Verdict::Read(kind) => Entry::Object(Object {
            name: format!("s3://{bucket}/{key}"),
            location: Location::Key(key.to_owned()),
            size,
            version: None,
            kind,
        }),
        Verdict::Skip(skip) => Entry::Skipped(skip, format!("s3://{bucket}/{key}")),
    }
}

/// Runs `task` on every item, at most `limit` at a time, and returns the outputs (in no order).
async fn concurrently<I, T, F, Fut>(items: Vec<I>, limit: usize, task: F) -> Vec<Result<T, S3Error>>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T, S3Error>> + Send + 'static,
    T: Send + 'static,
{
    let mut items = items.into_iter();
    let mut running = JoinSet::new();
    let mut outputs = Vec::new();
    loop {
        while running.len() < limit.max(1) {
            match items.next() {
                Some(item) => {
                    running.spawn(task(item));
                }
                None => break,
            }
        }
        match running.join_next().await {
            Some(joined) => outputs.push(
                joined.unwrap_or_else(|e| Err(S3Error::caused_by(format!("listing task failed: {e}"), e))),
            ),
            None => return outputs,
        }
    }
}
