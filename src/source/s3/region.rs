//! Where a bucket lives. S3 serves a bucket only in its own region: a request signed for another
//! answers `301 PermanentRedirect` (or `400 AuthorizationHeaderMalformed`), and every answer about
//! the bucket, a refusal included, carries its region in `x-amz-bucket-region`. So one HeadBucket,
//! sent in the configured region, names the bucket's region whatever it answers; the bucket is then
//! read through a client of that region (made once per region, shared by its buckets).

use aws_config::Region;
use aws_sdk_s3::Client;

use super::S3Client;

/// The header S3 names a bucket's region in, on HeadBucket's answer and on redirects.
const BUCKET_REGION: &str = "x-amz-bucket-region";

impl S3Client {
    /// The client to read `bucket` through: its region's when regions are looked up (asked once
    /// per bucket per run; `found` hears what was found), else the one client.
    pub(super) fn bucket_client(&self, bucket: &str, found: &mut dyn FnMut(String)) -> Client {
        if !self.discover {
            return self.client.clone();
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((client, _)) = buckets.get(bucket) {
            return client.clone();
        }
        let configured = self.config.region().map_or("us-east-1", |r| r.as_ref()).to_owned();
        let (region, how) = match self.runtime.block_on(self.ask_region(bucket)) {
            Ok(region) => (region, "from HeadBucket's x-amz-bucket-region"),
            Err(why) => (configured.clone(), why),
        };
        found(format!("s3://{bucket}/: region {region} ({how})"));
        let client = self.region_client(&region, &configured);
        buckets.insert(bucket.to_owned(), (client.clone(), region));
        client
    }

    /// The bucket's region, from HeadBucket's answer; or why it could not be told (the
    /// configured region is then used, and the listing says what is wrong).
    async fn ask_region(&self, bucket: &str) -> Result<String, &'static str> {
        let answer = self.client.head_bucket().bucket(bucket).send().await;
        let region = match &answer {
            Ok(head) => head.bucket_region().map(str::to_owned),
            Err(error) => {
                error.raw_response().and_then(|raw| raw.headers().get(BUCKET_REGION)).map(str::to_owned)
            }
        };
        region.filter(|r| is_region(r)).ok_or("not named by S3: the configured region is used")
    }

    fn region_client(&self, region: &str, configured: &str) -> Client {
        if region == configured {
            return self.client.clone();
        }
        let mut regions = self.regions.lock().unwrap_or_else(|e| e.into_inner());
        regions
            .entry(region.to_owned())
            .or_insert_with(|| {
                Client::from_conf(self.config.to_builder().region(Region::new(region.to_owned())).build())
            })
            .clone()
    }
}

/// A region name as S3 writes it (`eu-west-1`): nothing else is taken from a header into a
/// host name.
fn is_region(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 32
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_region_names_are_taken_from_the_header() {
        assert!(is_region("us-east-1") && is_region("ap-southeast-4") && is_region("us-gov-west-1"));
        assert!(!is_region("") && !is_region("evil.example.com/") && !is_region("EU"));
    }
}
