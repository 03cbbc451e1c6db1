//! What every S3 request does besides its operation: say the requester pays when asked to. (The
//! count of its retries is [`super::retry`]'s.)

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;

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
