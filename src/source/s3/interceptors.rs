//! What every S3 request does besides its operation: count the throttling answers it met (for
//! `-v` and the report's `requests_throttled`), and say the requester pays when asked to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::config::interceptors::{BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef};
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

/// Counts attempts answered `503` (S3's SlowDown, or a 503 ServiceUnavailable): each is
/// retried after the backoff, and the reading stage lets fewer requests in flight (`scan::limits::Gate`).
#[derive(Debug)]
pub(super) struct CountThrottled(pub(super) Arc<AtomicU64>);

impl Intercept for CountThrottled {
    fn name(&self) -> &'static str {
        "CountThrottled"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().is_some_and(|r| r.status().as_u16() == 503) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// `x-amz-request-payer: requester` on every request (listings, downloads, HeadBucket, and the
/// upload of a partial), added before signing so that it is signed with the rest.
#[derive(Debug)]
pub(super) struct RequesterPays;

impl Intercept for RequesterPays {
    fn name(&self) -> &'static str {
        "RequesterPays"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context.request_mut().headers_mut().insert("x-amz-request-payer", "requester");
        Ok(())
    }
}
