//! Fetching one object: small ones whole (the reading stage holds them against its byte budget
//! until a worker is done), large ones as a stream read by the worker as the bytes arrive, so no
//! object is ever held whole in memory because of its size. A body that sends nothing for
//! `--s3-timeout` is abandoned, so a server that stops mid-body cannot hang the run.

use std::io::{self, Read};
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{describe, S3Store};
use crate::error::Reason;
use crate::source::{Body, Fetched, Kind, Location, Object};

pub(super) async fn get(store: &S3Store, object: &Object, whole_up_to: u64) -> Result<Fetched, Reason> {
    let Location::Key(key) = &object.location else {
        return Err(Reason::Misrouted { object: object.name.clone(), expected: "an S3 key" });
    };
    let response =
        store.client.get_object().bucket(&store.url.bucket).key(key).send().await.map_err(|e| refused(&e))?;
    let size = response.content_length().and_then(|n| u64::try_from(n).ok()).or(object.size).unwrap_or(0);
    // CloudTrail stores a digest's signature in the object's metadata (`x-amz-meta-signature`).
    let signature = match object.kind {
        Kind::Digest => response.metadata().and_then(|m| m.get("signature")).cloned(),
        Kind::Log => None,
    };
    let mut body = response.body;
    if size > whole_up_to {
        let stream =
            StreamReader { body, runtime: store.runtime.clone(), stall: store.stall, chunk: Bytes::new() };
        return Ok(Fetched { body: Body::Stream(Box::new(stream)), signature });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    while let Some(chunk) = next_chunk(&mut body, store.stall).await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > whole_up_to.max(size) {
            // Longer than the server said: read the rest as a stream would, chunk by chunk.
            let rest = StreamReader {
                body,
                runtime: store.runtime.clone(),
                stall: store.stall,
                chunk: Bytes::new(),
            };
            return Ok(Fetched {
                body: Body::Stream(Box::new(io::Cursor::new(bytes).chain(rest))),
                signature,
            });
        }
    }
    Ok(Fetched { body: Body::Bytes(bytes), signature })
}

/// Why GetObject failed: archived (S3 names the storage class and tier in the answer), or
/// anything else as the service or transport said it.
fn refused<R: std::fmt::Debug>(error: &SdkError<GetObjectError, R>) -> Reason {
    if let SdkError::ServiceError(service) = error {
        if let GetObjectError::InvalidObjectState(state) = service.err() {
            let class = state.storage_class().map_or("INTELLIGENT_TIERING", |c| c.as_str());
            let class = match state.access_tier() {
                Some(tier) => format!("{class}/{}", tier.as_str()),
                None => class.to_owned(),
            };
            return Reason::Archived(class);
        }
    }
    Reason::Fetch(describe(error))
}

async fn next_chunk(body: &mut ByteStream, stall: Duration) -> Result<Option<Bytes>, Reason> {
    match tokio::time::timeout(stall, body.try_next()).await {
        Err(_) => Err(Reason::Fetch(format!("no data for {}s mid-download", stall.as_secs()))),
        Ok(Err(e)) => Err(Reason::Fetch(format!("download interrupted: {e}"))),
        Ok(Ok(chunk)) => Ok(chunk),
    }
}

/// A response body read from a worker thread, one chunk at a time.
struct StreamReader {
    body: ByteStream,
    runtime: tokio::runtime::Handle,
    stall: Duration,
    chunk: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(next_chunk(&mut self.body, self.stall)).map_err(Reason::into_io)? {
                Some(chunk) => self.chunk = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
