//! Fetching one object: small ones whole (the reading stage holds them against its byte budget
//! until a worker is done), large ones as a stream read by the worker as the bytes arrive, so no
//! object is ever held whole in memory because of its size. A body that sends nothing for
//! `--s3-timeout` is abandoned, so a server that stops mid-body cannot hang the run.
//!
//! A body that breaks off (a reset, an incomplete body, a stall) is asked for again after the
//! backoff, within the attempts [`retry`] allows an object, the SDK's own retries of its request
//! included. An object read whole is read again from its start. A streamed one has had its
//! records before the break read and passed on already, so it goes on exactly where it stopped
//! (`Range: bytes=N-`), and only from the version it started with (`If-Match` with the first
//! answer's ETag): when S3 answers 412 the object changed meanwhile, and it is unreadable, never
//! read as a splice of two versions.

use std::io::{self, Read};
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use bytes::Bytes;

use super::retry::{self, Tries};
use super::{describe, S3Store};
use crate::error::Reason;
use crate::source::{Body, Fetched, Kind, Location, Object};

pub(super) async fn get(store: &S3Store, object: &Object, whole_up_to: u64) -> Result<Fetched, Reason> {
    let Location::Key(key) = &object.location else {
        return Err(Reason::Misrouted { object: object.name.clone(), expected: "an S3 key" });
    };
    let mut tries = Tries::new(&store.tally);
    loop {
        let response = request(&store.client, &store.url.bucket, key, None, &mut tries).await?;
        let size = response.content_length().and_then(|n| u64::try_from(n).ok()).or(object.size).unwrap_or(0);
        // CloudTrail stores a digest's signature in the object's metadata (`x-amz-meta-signature`).
        let signature = match object.kind {
            Kind::Digest => response.metadata().and_then(|m| m.get("signature")).cloned(),
            Kind::Log => None,
        };
        let etag = response.e_tag().map(str::to_owned);
        let mut body = response.body;
        let rest = |body, offset, tries| StreamReader {
            body,
            chunk: Bytes::new(),
            runtime: store.runtime.clone(),
            stall: store.stall,
            resume: Resume {
                client: store.client.clone(),
                bucket: store.url.bucket.clone(),
                key: key.clone(),
                etag: etag.clone(),
                size,
                offset,
                tries,
            },
        };
        if size > whole_up_to {
            return Ok(Fetched { body: Body::Stream(Box::new(rest(body, 0, tries))), signature });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let broke = loop {
            match next_chunk(&mut body, store.stall).await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => return Ok(Fetched { body: Body::Bytes(bytes), signature }),
                Err(broke) => break broke,
            }
            if bytes.len() as u64 > whole_up_to.max(size) {
                // Longer than the server said: read the rest as a stream would, chunk by chunk.
                let rest = rest(body, bytes.len() as u64, tries);
                return Ok(Fetched {
                    body: Body::Stream(Box::new(io::Cursor::new(bytes).chain(rest))),
                    signature,
                });
            }
        };
        // Read again from the start: nothing of it was passed on yet.
        match tries.broke() {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return Err(Reason::Interrupted { attempts: tries.made(), last: broke }),
        }
    }
}

/// One GetObject, whole or `from` an offset of the version with an ETag, with the attempts
/// `tries` has left; they are spent by those the SDK made.
async fn request(
    client: &Client,
    bucket: &str,
    key: &str,
    from: Option<(u64, &str)>,
    tries: &mut Tries,
) -> Result<GetObjectOutput, Reason> {
    let counter = tries.counter();
    let mut get = client.get_object().bucket(bucket).key(key);
    if let Some((offset, etag)) = from {
        get = get.range(format!("bytes={offset}-")).if_match(etag);
    }
    let mut call = get.customize().interceptor(counter.clone());
    if tries.left() < retry::MAX_ATTEMPTS {
        let fewer = retry::config().with_max_attempts(tries.left());
        call = call.config_override(aws_sdk_s3::config::Builder::default().retry_config(fewer));
    }
    let sent = call.send().await;
    tries.spent(&counter);
    sent.map_err(|error| refused(&error, from.map(|(_, etag)| etag), tries))
}

/// Why GetObject failed: archived (S3 names the storage class and tier in the answer), changed
/// since its first part was read (412 to `If-Match: etag`), broken off once more after earlier
/// breaks, or anything else as the service or transport said it.
fn refused(error: &SdkError<GetObjectError, HttpResponse>, etag: Option<&str>, tries: &Tries) -> Reason {
    match error {
        SdkError::ServiceError(service) => {
            if let GetObjectError::InvalidObjectState(state) = service.err() {
                let class = state.storage_class().map_or("INTELLIGENT_TIERING", |c| c.as_str());
                let class = match state.access_tier() {
                    Some(tier) => format!("{class}/{}", tier.as_str()),
                    None => class.to_owned(),
                };
                return Reason::Archived(class);
            }
            if let (Some(etag), 412) = (etag, service.raw().status().as_u16()) {
                return Reason::Changed { etag: etag.to_owned() };
            }
        }
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) | SdkError::TimeoutError(_)
            if tries.was_broken() =>
        {
            return Reason::Interrupted { attempts: tries.made(), last: describe(error) };
        }
        _ => {}
    }
    let (code, detail) = super::said(error);
    Reason::Fetch { code, detail }
}

/// The next chunk of a body, `None` at its end; why it broke off, if it did.
async fn next_chunk(body: &mut ByteStream, stall: Duration) -> Result<Option<Bytes>, String> {
    match tokio::time::timeout(stall, body.try_next()).await {
        Err(_) => Err(format!("no data for {}s mid-download", stall.as_secs())),
        Ok(Err(e)) => Err(format!("download interrupted: {e}")),
        Ok(Ok(chunk)) => Ok(chunk),
    }
}

/// What a streamed object needs to go on after its body broke off.
struct Resume {
    client: Client,
    bucket: String,
    key: String,
    /// The version first read; without one, nothing proves the rest is of the same object.
    etag: Option<String>,
    /// Its length, as the first answer said.
    size: u64,
    /// Bytes received so far.
    offset: u64,
    tries: Tries,
}

impl Resume {
    /// The rest of the object, after the backoff, once its body broke off (`broke` says how).
    async fn after(&mut self, broke: String) -> Result<ByteStream, Reason> {
        let interrupted = |tries: &Tries| Reason::Interrupted { attempts: tries.made(), last: broke.clone() };
        let Some(etag) = self.etag.clone() else { return Err(interrupted(&self.tries)) };
        if self.size > 0 && self.offset >= self.size {
            // Every byte arrived before the connection closed: nothing left to ask for.
            return Ok(ByteStream::new(Bytes::new().into()));
        }
        let Some(wait) = self.tries.broke() else { return Err(interrupted(&self.tries)) };
        tokio::time::sleep(wait).await;
        let response =
            request(&self.client, &self.bucket, &self.key, Some((self.offset, &etag)), &mut self.tries)
                .await?;
        // S3 answers a range with 206 and `Content-Range: bytes FIRST-LAST/SIZE`.
        let from = format!("bytes {}-", self.offset);
        match response.content_range() {
            Some(range) if range.starts_with(&from) => Ok(response.body),
            range => Err(Reason::Fetch {
                code: format!(
                    "asked for the rest from byte {}, answered {}",
                    self.offset,
                    range.map_or("the whole object".to_owned(), |r| format!("Content-Range {r}"))
                ),
                detail: None,
            }),
        }
    }
}

/// A response body read from a worker thread, one chunk at a time, resumed where it broke off.
struct StreamReader {
    body: ByteStream,
    chunk: Bytes,
    runtime: tokio::runtime::Handle,
    stall: Duration,
    resume: Resume,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(next_chunk(&mut self.body, self.stall)) {
                Ok(Some(chunk)) => {
                    self.resume.offset += chunk.len() as u64;
                    self.chunk = chunk;
                }
                Ok(None) => return Ok(0),
                Err(broke) => {
                    self.body = self.runtime.block_on(self.resume.after(broke)).map_err(Reason::into_io)?;
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
