//! S3 sources (`s3://bucket/prefix`): one client per run, built only when an S3 source is named,
//! so a local run never loads AWS configuration. Each S3 SOURCE is a [`Store`](super::Store):
//! listings stream keys as pages arrive ([`list`]), and objects are fetched whole or, when large,
//! streamed ([`get`]).
//!
//! On AWS, each bucket is asked where it lives once ([`region`]: HeadBucket, whose answer names
//! the region even when it is a redirect or a refusal) and read through a client of that region;
//! `--bucket-region` skips the question, and an S3-compatible server (`--endpoint-url`) is one
//! place for every bucket, so it is never asked. Every request of every client is retried as
//! [`retry`] says, and counted there (throttled or not), and, with `--request-payer`, says the
//! requester pays ([`interceptors`]).

mod interceptors;
mod region;
pub(crate) mod retry;

mod get;
mod list;

use std::fmt;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::Client;

use super::filter::Filter;
use super::{BoxFuture, Fetched, Found, Object, Settled, Store};
use crate::error::Reason;
use crate::error::{FatalError, S3Error};

/// `s3://bucket/prefix`, parsed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct S3Url {
    pub bucket: String,
    /// Possibly empty; listed as given (`AWSLogs/` and `AWSLogs` list the same keys).
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix]`; `None` when `text` is not an S3 URL at all.
    pub fn parse(text: &str) -> Option<Result<S3Url, String>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(format!("{text}: no bucket name after s3://")));
        }
        Some(Ok(S3Url { bucket: bucket.to_owned(), prefix: prefix.to_owned() }))
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// How to reach S3, from the command line. Everything else comes from the SDK's default chain
/// (environment, profile files, SSO, container and instance metadata).
#[derive(Debug, Clone, Default)]
pub(crate) struct S3Options {
    pub(crate) profile: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) no_sign_request: bool,
    /// `--request-payer requester`: sent with every request.
    pub(crate) request_payer: bool,
    /// Listing requests in flight at once, per source.
    pub(crate) concurrency: usize,
    /// Time without data before a request is abandoned (and retried).
    pub(crate) timeout: Duration,
}

/// Time limits that keep a stalled or vanished server from hanging a run; the read timeout is
/// `--s3-timeout`, and one attempt may take three times that. Retries are [`retry`]'s: what
/// lowers the request rate of the whole run after a throttling answer is the reading stage's
/// gate (`reading::limits::Gate`), which fewer requests pass while S3 says SlowDown. (The SDK's
/// adaptive mode would too, but it measures the rate from nothing at the start of a run, so one
/// early SlowDown drops it to half a request per second.)
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where AWS's S3 is, for the tests only: every region's S3 is reached at this URL (path-style),
/// and everything else (finding each bucket's region, signing for it) is done as with AWS. A
/// test's proxy plays S3's regions there in front of Garage. Not a user option: `--endpoint-url`
/// is, and means an S3-compatible server where regions are not looked up.
const AWS_STAND_IN: &str = "TRAILSCOPE_TEST_AWS_S3_ENDPOINT";

/// A connected S3 client, shared by every S3 source of a run: one SDK client per region met.
pub(crate) struct S3Client {
    /// The client of the configured region (or us-east-1): what asks buckets for their region,
    /// and what every bucket is read through when regions are not looked up.
    client: Client,
    /// Its configuration, from which the clients of other regions are made.
    config: aws_sdk_s3::Config,
    /// Buckets' regions are looked up (AWS without `--bucket-region`).
    discover: bool,
    /// Each bucket's client and region, found once per run; then each region's client.
    buckets: std::sync::Mutex<std::collections::BTreeMap<String, (Client, String)>>,
    regions: std::sync::Mutex<std::collections::BTreeMap<String, Client>>,
    /// Retries of every request of every client, throttled and not.
    tally: retry::Tally,
    /// The configuration it was built from: the CloudTrail client (`--verify`) uses the same
    /// credentials and time limits.
    shared: aws_config::SdkConfig,
    runtime: tokio::runtime::Handle,
    /// Region, endpoint and signing, for `--verbose`: never anything about credentials.
    pub(crate) description: String,
    concurrency: usize,
    timeout: Duration,
}

impl S3Client {
    /// Loads the AWS configuration (on `runtime`, which also carries every request later).
    pub(crate) fn connect(options: &S3Options, runtime: &tokio::runtime::Runtime) -> S3Client {
        let tally = retry::Tally::default();
        let built = runtime.block_on(client(options, &tally));
        S3Client {
            client: Client::from_conf(built.config.clone()),
            config: built.config,
            discover: built.discover,
            buckets: Default::default(),
            regions: Default::default(),
            tally,
            shared: built.shared,
            runtime: runtime.handle().clone(),
            description: built.description,
            concurrency: options.concurrency.max(1),
            timeout: options.timeout,
        }
    }

    /// Requests answered 503 (SlowDown) so far, each retried.
    pub(crate) fn throttled(&self) -> u64 {
        self.tally.throttled()
    }

    /// Requests sent again so far for any other reason (a broken connection, a timeout, a
    /// download that broke off).
    pub(crate) fn retried(&self) -> u64 {
        self.tally.retried()
    }

    /// The store of one `s3://` SOURCE, through its bucket's region; `found` hears the region
    /// when it was looked up (once per bucket).
    pub(crate) fn store(&self, url: S3Url, found: &mut dyn FnMut(String)) -> S3Store {
        S3Store {
            client: self.bucket_client(&url.bucket, found),
            runtime: self.runtime.clone(),
            url,
            concurrency: self.concurrency,
            stall: self.timeout,
            tally: self.tally.clone(),
        }
    }
}

/// One `s3://bucket/prefix` SOURCE.
pub(crate) struct S3Store {
    client: Client,
    runtime: tokio::runtime::Handle,
    url: S3Url,
    concurrency: usize,
    /// A body that sends nothing for this long is abandoned (and retried).
    stall: Duration,
    /// The client's count of retries.
    tally: retry::Tally,
}

impl Store for S3Store {
    fn list<'a>(
        &'a self,
        filter: &'a Filter,
        settled: &'a Settled,
        found: &'a Found,
    ) -> BoxFuture<'a, Result<(), FatalError>> {
        Box::pin(async move { list::list(self, filter, settled, found).await.map_err(FatalError::S3) })
    }

    fn get<'a>(&'a self, object: &'a Object, whole_up_to: u64) -> BoxFuture<'a, Result<Fetched, Reason>> {
        Box::pin(get::get(self, object, whole_up_to))
    }

    fn throttled(&self) -> u64 {
        self.tally.throttled()
    }
}

/// What [`client`] built.
struct Built {
    config: aws_sdk_s3::Config,
    shared: aws_config::SdkConfig,
    description: String,
    discover: bool,
}

async fn client(options: &S3Options, tally: &retry::Tally) -> Built {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(options.timeout)
                .operation_attempt_timeout(options.timeout * 3)
                .build(),
        )
        .retry_config(retry::config());
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if options.no_sign_request {
        loader = loader.no_credentials();
    }
    let stand_in =
        std::env::var(AWS_STAND_IN).ok().filter(|u| !u.is_empty() && options.endpoint_url.is_none());
    let shared = loader.load().await;
    // An endpoint from the environment or a profile is an S3-compatible server too: it wins.
    let stand_in = stand_in.filter(|_| shared.endpoint_url().is_none());
    let mut config = aws_sdk_s3::config::Builder::from(&shared).interceptor(tally.interceptor());
    if options.request_payer {
        config = config.interceptor(interceptors::RequesterPays);
    }
    if shared.region().is_none() {
        // S3 answers any region's bucket listing from us-east-1 with a redirect error that names
        // the right one; better than refusing to start.
        config = config.region(Region::from_static("us-east-1"));
    }
    // S3-compatible servers (--endpoint-url, AWS_ENDPOINT_URL[_S3], a profile's endpoint_url)
    // rarely serve virtual-hosted bucket names.
    if shared.endpoint_url().is_some() {
        config = config.force_path_style(true);
    }
    if let Some(url) = &stand_in {
        config = config.endpoint_url(url).force_path_style(true);
    }
    let config = config.build();
    // AWS (no endpoint of its own, or the tests' stand-in for it) without --bucket-region.
    let discover = (shared.endpoint_url().is_none() || stand_in.is_some()) && options.region.is_none();
    let description = format!(
        "region {}{}, endpoint {}, {} requests{}",
        config.region().map_or("(none)", |r| r.as_ref()),
        if discover { " (each bucket's own region is looked up)" } else { "" },
        match (&stand_in, shared.endpoint_url()) {
            (Some(url), _) => format!("{url} standing in for AWS (path-style)"),
            (None, Some(url)) => format!("{url} (path-style)"),
            (None, None) => "AWS (virtual-hosted buckets)".to_owned(),
        },
        if options.no_sign_request { "unsigned" } else { "signed" },
        if options.request_payer { ", requester pays" } else { "" },
    );
    Built { config, shared, description, discover }
}

impl S3Client {
    /// Writes the file at `file` to `url` with one PutObject: readers see all of it or nothing.
    pub(crate) fn put(&self, url: &S3Url, file: &std::path::Path) -> Result<(), S3Error> {
        let client = self.bucket_client(&url.bucket, &mut |_| {});
        self.runtime.block_on(async {
            let body = aws_sdk_s3::primitives::ByteStream::from_path(file)
                .await
                .map_err(|e| S3Error::caused_by(format!("cannot read {}: {e}", file.display()), e))?;
            // A body streamed from a file is signed as it is sent; the SDK's default checksum
            // trailer (aws-chunked) on top of that is not understood by every S3-compatible server
            // (Garage answers "Invalid payload signature"), and S3 does not require it.
            let when_required = aws_sdk_s3::config::Builder::default()
                .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired);
            client
                .put_object()
                .bucket(&url.bucket)
                .key(&url.prefix)
                .body(body)
                .customize()
                .config_override(when_required)
                .send()
                .await
                .map_err(|e| S3Error::caused_by(format!("cannot write {url}: {}", describe(&e)), e))?;
            Ok(())
        })
    }

    /// A CloudTrail client in `region`, with the run's credentials, time limits and retries
    /// ([`retry`]: its retries are counted with S3's). `--endpoint-url` is S3's (an
    /// S3-compatible server has no CloudTrail API): CloudTrail is reached at AWS, or where
    /// AWS_ENDPOINT_URL_CLOUDTRAIL says.
    pub(crate) fn cloudtrail(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let mut config = aws_sdk_cloudtrail::config::Builder::from(&self.shared)
            .region(Region::new(region.to_owned()))
            .interceptor(self.tally.interceptor());
        config.set_endpoint_url(std::env::var("AWS_ENDPOINT_URL_CLOUDTRAIL").ok().filter(|u| !u.is_empty()));
        aws_sdk_cloudtrail::Client::from_conf(config.build())
    }

    /// CloudTrail's public keys valid between `from` and `to`, from `ListPublicKeys` in `region`
    /// (a trail's home region): what checks the signatures of digests read from S3. Asked only
    /// with `--verify`.
    pub(crate) fn public_keys(
        &self,
        region: &str,
        from: crate::time::Timestamp,
        to: crate::time::Timestamp,
    ) -> Result<Vec<crate::keys::PublicKey>, S3Error> {
        use aws_sdk_cloudtrail::primitives::DateTime;
        let client = self.cloudtrail(region);
        let seconds = |t: crate::time::Timestamp| DateTime::from_millis(t.millis());
        self.runtime.block_on(async {
            let mut keys = Vec::new();
            let mut pages = client
                .list_public_keys()
                .start_time(seconds(from))
                .end_time(seconds(to))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    S3Error::caused_by(format!("CloudTrail ListPublicKeys in {region}: {}", describe(&e)), e)
                })?;
                for key in page.public_key_list() {
                    let (Some(value), Some(fingerprint)) = (key.value(), key.fingerprint()) else { continue };
                    let time =
                        |t: Option<&DateTime>| t.and_then(|t| t.to_millis().ok()).map(crate::time::Timestamp);
                    keys.push(crate::keys::PublicKey {
                        fingerprint: fingerprint.to_ascii_lowercase(),
                        der: value.as_ref().to_vec(),
                        valid_from: time(key.validity_start_time()),
                        valid_until: time(key.validity_end_time()),
                    });
                }
            }
            Ok(keys)
        })
    }
}

/// One line saying why an S3 call failed: the service's code and message, or the transport
/// failure's chain of causes. The SDK's errors carry no secrets.
pub(crate) fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match said(error) {
        (code, Some(detail)) => format!("{code}: {detail}"),
        (code, None) => code,
    }
}

/// [`describe`]'s line in two: the service's code (or the transport's failure, or `timed out`),
/// which download failures are grouped by, and the message or causes after it, if any.
pub(crate) fn said<E, R>(error: &SdkError<E, R>) -> (String, Option<String>)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    let (code, detail) = match error {
        SdkError::ServiceError(service) => {
            let meta = service.err().meta();
            match (meta.code(), meta.message()) {
                (Some(code), message) => (code.to_owned(), message.map(str::to_owned)),
                _ => causes(error),
            }
        }
        SdkError::TimeoutError(_) => ("timed out".to_owned(), None),
        _ => causes(error),
    };
    let one_line = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    (one_line(&code), detail.map(|d| one_line(&d)).filter(|d| !d.is_empty()))
}

/// `error`, and its sources joined with `: `, skipping a cause its parent already spelled out.
fn causes(error: &dyn std::error::Error) -> (String, Option<String>) {
    let mut parts = vec![error.to_string()];
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = cause.source();
    }
    let first = parts.remove(0);
    (first, (!parts.is_empty()).then(|| parts.join(": ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_bucket_and_prefix() {
        let url = S3Url::parse("s3://trails/AWSLogs/").expect("an S3 URL").expect("valid");
        assert_eq!((url.bucket.as_str(), url.prefix.as_str()), ("trails", "AWSLogs/"));
        let url = S3Url::parse("s3://trails").expect("an S3 URL").expect("valid");
        assert_eq!(url.prefix, "");
        assert!(S3Url::parse("s3://").expect("an S3 URL").is_err());
        assert!(S3Url::parse("/local/path").is_none());
    }
}
