//! The retry policy of every AWS request trailscope makes, in one place: S3's listings, downloads
//! and HeadBucket, CloudTrail's ListPublicKeys, and any later client (a CloudTrail client from
//! [`S3Client::cloudtrail`](super::S3Client::cloudtrail), another from the same configuration
//! with [`config`] and [`Tally::interceptor`]).
//!
//! - A request is tried at most [`MAX_ATTEMPTS`] times in all. The SDK retries what fails before
//!   or while its answer arrives (a reset, a timeout, a 5xx, a listing page that breaks off); a
//!   download whose body breaks off after its headers is retried here ([`Tries`]), within the same
//!   attempts, since the SDK hands the body over as it arrives.
//! - Before each retry the wait is drawn at random below 1 s, 2 s, 4 s, 8 s (the SDK's
//!   exponential backoff with full jitter, [`backoff`] for the retries done here).
//! - The SDK's retry quota is kept for the retries it makes: a token bucket shared by the client,
//!   which each retry draws from and each first-attempt success refills, so that a server that
//!   went away fails the requests still to come at once instead of five times each (the run then
//!   ends in bounded time, the objects listed as unreadable). Scattered resets never drain it.
//!   The retries of a broken body done here do not draw from it, as the AWS CLI's transfer layer's
//!   do not: the server answered, so it is there.
//! - Retries are counted apart ([`Tally`]): throttled (503, which also lowers the requests in
//!   flight, `reading::limits::Gate`) and the others (a broken connection, a timeout, another 5xx).

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::interceptors::{BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// Attempts per request, the SDK's and this module's together.
pub(crate) const MAX_ATTEMPTS: u32 = 5;
/// The longest wait before attempt 2; it doubles with each attempt.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// The SDK's standard retries, [`MAX_ATTEMPTS`] attempts.
pub(crate) fn config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The wait before retry `retry` (1 for the second attempt): at random below 1 s, 2 s, 4 s, …
/// (up to 20 s), as the SDK waits.
pub(crate) fn backoff(retry: u32) -> Duration {
    let ceiling = INITIAL_BACKOFF.saturating_mul(1 << retry.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    // A fresh RandomState is seeded anew each time: enough randomness for a jitter.
    let draw = RandomState::new().hash_one(retry) as f64 / u64::MAX as f64;
    ceiling.mul_f64(draw)
}

/// A run's retries, by every client that has its [`Tally::interceptor`] and by [`Tries`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    throttled: Arc<AtomicU64>,
    retried: Arc<AtomicU64>,
}

impl Tally {
    /// Attempts answered 503 (SlowDown, or another 503), each retried.
    pub(crate) fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Requests sent again for any other reason: a broken or stalled connection, a timeout, a
    /// 5xx other than 503, a body that broke off.
    pub(crate) fn retried(&self) -> u64 {
        self.retried.load(Ordering::Relaxed)
    }

    /// What counts the SDK's retries of a client.
    pub(crate) fn interceptor(&self) -> CountRetries {
        CountRetries(self.clone())
    }

    fn add_retried(&self) {
        self.retried.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts each attempt answered 503 as throttled, and each other retry the SDK makes as retried.
#[derive(Debug)]
pub(crate) struct CountRetries(Tally);

/// Whether a request's last attempt was answered 503, kept with the request between attempts.
#[derive(Debug)]
struct LastThrottled(bool);

impl Storable for LastThrottled {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CountRetries {
    fn name(&self) -> &'static str {
        "CountRetries"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let again = cfg.load::<RequestAttempts>().is_some_and(|a| a.attempts() > 1);
        if again && !cfg.load::<LastThrottled>().is_some_and(|t| t.0) {
            self.0.add_retried();
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let throttled = context.response().is_some_and(|r| r.status().as_u16() == 503);
        if throttled {
            self.0.throttled.fetch_add(1, Ordering::Relaxed);
        }
        cfg.interceptor_state().store_put(LastThrottled(throttled));
        Ok(())
    }
}

/// The attempts of one download, the SDK's and the retries of a broken body together.
#[derive(Debug)]
pub(crate) struct Tries {
    /// Attempts made so far.
    made: u32,
    /// Bodies that broke off after their headers.
    broken: u32,
    tally: Tally,
}

impl Tries {
    pub(crate) fn new(tally: &Tally) -> Tries {
        Tries { made: 0, broken: 0, tally: tally.clone() }
    }

    /// Attempts the next request may make (at least one: a request is only sent when one is
    /// left, see [`Tries::broke`]).
    pub(crate) fn left(&self) -> u32 {
        MAX_ATTEMPTS.saturating_sub(self.made).max(1)
    }

    /// What counts the attempts the SDK makes for one request, to add to `made`.
    pub(crate) fn counter(&self) -> CountAttempts {
        CountAttempts(Arc::new(AtomicU32::new(0)))
    }

    /// A request's attempts, counted by its [`CountAttempts`], are spent.
    pub(crate) fn spent(&mut self, counter: &CountAttempts) {
        self.made += counter.0.load(Ordering::Relaxed).max(1);
    }

    pub(crate) fn made(&self) -> u32 {
        self.made
    }

    /// Whether a body broke off before (so a transport failure now ends a run of interruptions).
    pub(crate) fn was_broken(&self) -> bool {
        self.broken > 0
    }

    /// A body broke off: the wait before the next attempt when one is left (the retry is
    /// counted), `None` when they are all spent.
    pub(crate) fn broke(&mut self) -> Option<Duration> {
        self.broken += 1;
        if self.made >= MAX_ATTEMPTS {
            return None;
        }
        self.tally.add_retried();
        Some(backoff(self.made))
    }
}

/// Counts the attempts of one request (added to it alone, with `customize().interceptor`).
#[derive(Debug, Clone)]
pub(crate) struct CountAttempts(Arc<AtomicU32>);

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling_drawn_below_it() {
        for _ in 0..200 {
            assert!(backoff(1) < Duration::from_secs(1));
            assert!(backoff(4) < Duration::from_secs(8));
            assert!(backoff(30) < MAX_BACKOFF);
        }
        let waits: Vec<Duration> = (0..50).map(|_| backoff(3)).collect();
        assert!(waits.iter().any(|w| *w != waits[0]), "jittered");
        assert!(waits.iter().any(|w| *w > Duration::from_secs(2)), "up to 4 s: {waits:?}");
    }

    #[test]
    fn a_download_gets_five_attempts_in_all_whoever_makes_them() {
        let tally = Tally::default();
        let mut tries = Tries::new(&tally);
        assert_eq!(tries.left(), 5);
        // The SDK made three attempts for the first request (two resets before the answer).
        let counter = tries.counter();
        counter.0.store(3, Ordering::Relaxed);
        tries.spent(&counter);
        assert_eq!(tries.left(), 2);
        assert!(
            tries.broke().is_some_and(|wait| wait < Duration::from_secs(4)),
            "one more after a broken body"
        );
        assert_eq!(tries.left(), 2, "the next request may make the last two");
        // One more reset before the answer, retried by the SDK; then the answer broke off too.
        let counter = tries.counter();
        counter.0.store(2, Ordering::Relaxed);
        tries.spent(&counter);
        assert_eq!(tries.broke(), None, "five made: none left");
        assert_eq!((tries.made(), tally.retried()), (5, 1));
        assert!(tries.was_broken());
    }
}
