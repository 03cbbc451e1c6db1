//! Listing a bucket: the whole prefix when nothing narrows the question, otherwise a breadth-first
//! walk of delimiter listings that descends only into folders the filter admits, so only the
//! matching `account/region/day` prefixes are listed in full.

use std::future::Future;

use aws_sdk_s3::Client;
use tokio::task::JoinSet;

use super::{describe, S3Session, S3Url};
use crate::error::FatalError;
use crate::source::layout::Filter;

/// A key and its size, as listed.
pub struct Listed {
    pub key: String,
    pub size: u64,
}

/// Folders above `AWSLogs/` (a trail's custom prefix) are descended this deep at most; deeper
/// unknown folders are listed whole rather than walked.
const MAX_DEPTH_OUTSIDE_LAYOUT: usize = 3;

impl S3Session {
    /// Every key under `url` that `filter` may keep.
    pub fn list(&self, url: &S3Url, filter: &Filter) -> Result<Vec<Listed>, FatalError> {
        self.runtime
            .block_on(list_pruned(&self.client, url, filter, self.concurrency))
            .map_err(FatalError::S3)
    }
}

async fn list_pruned(
    client: &Client,
    url: &S3Url,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<Listed>, String> {
    if !filter.is_active() || filter.is_leaf(&url.prefix) {
        return list_level(client.clone(), url.bucket.clone(), url.prefix.clone(), false)
            .await
            .map(|(keys, _)| keys);
    }
    let mut keys = Vec::new();
    let mut leaves = Vec::new();
    let mut frontier = vec![url.prefix.clone()];
    while !frontier.is_empty() {
        let levels = concurrently(frontier, limit, |prefix| {
            list_level(client.clone(), url.bucket.clone(), prefix, true)
        })
        .await;
        frontier = Vec::new();
        for level in levels {
            let (files, folders) = level?;
            keys.extend(files.into_iter().filter(|f| filter.admits(&f.key)));
            for folder in folders.into_iter().filter(|f| filter.admits(f)) {
                let depth = folder[url.prefix.len()..].matches('/').count();
                let outside = !folder.split('/').any(|part| part == "AWSLogs");
                if filter.is_leaf(&folder) || (outside && depth >= MAX_DEPTH_OUTSIDE_LAYOUT) {
                    leaves.push(folder);
                } else {
                    frontier.push(folder);
                }
            }
        }
    }
    let levels =
        concurrently(leaves, limit, |prefix| list_level(client.clone(), url.bucket.clone(), prefix, false))
            .await;
    for level in levels {
        keys.extend(level?.0);
    }
    Ok(keys)
}

/// Lists `prefix`: with `delimited`, its files and sub-folders; without, every key below it.
async fn list_level(
    client: Client,
    bucket: String,
    prefix: String,
    delimited: bool,
) -> Result<(Vec<Listed>, Vec<String>), String> {
    let mut pages = client
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(&prefix)
        .set_delimiter(delimited.then(|| "/".to_owned()))
        .into_paginator()
        .send();
    let (mut files, mut folders) = (Vec::new(), Vec::new());
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| format!("cannot list s3://{bucket}/{prefix}: {}", describe(&e)))?;
        for object in page.contents() {
            if let Some(key) = object.key() {
                let size = object.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                files.push(Listed { key: key.to_owned(), size });
            }
        }
        folders.extend(page.common_prefixes().iter().filter_map(|p| p.prefix().map(str::to_owned)));
    }
    Ok((files, folders))
}

/// Runs `task` on every item, at most `limit` at a time, and returns the outputs (in no order).
pub(super) async fn concurrently<I, T, F, Fut>(items: Vec<I>, limit: usize, task: F) -> Vec<Result<T, String>>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
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
            Some(joined) => outputs.push(joined.unwrap_or_else(|e| Err(format!("listing task failed: {e}")))),
            None => return outputs,
        }
    }
}
