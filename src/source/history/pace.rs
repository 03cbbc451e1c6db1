//! The pace of LookupEvents requests: CloudTrail answers at most two a second per account and
//! region, whoever asks, and `ThrottlingException` beyond that. Every request of a region passes
//! one [`Pacer`]: it spaces them a little wider than the limit allows, and on a throttling answer
//! (another caller of the same account and region is asking too) widens the spacing, waits, and
//! asks again, so that nothing is lost. Kept apart from what is asked (`lookup.rs`), which only
//! hands it a call to make.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The spacing of requests when nobody else asks: 2 a second is 500 ms; 10% wider keeps the
/// arrival of two requests sent 500 ms apart, with a network's jitter between them, from landing
/// within one second of each other.
pub(crate) const SPACING: Duration = Duration::from_millis(550);
/// The widest spacing after throttling answers (each one doubles it).
const WIDEST: Duration = Duration::from_secs(8);
/// Throttling answers to one request before the region is given up: at the widest spacing, more
/// than a minute and a half of being refused.
const THROTTLED_TRIES: u32 = 16;
/// Attempts of a request that fails in transit (a timeout, a reset, a 5xx), and the wait before
/// each retry: the retry policy of every AWS request (`source::s3::retry`).
const TRANSIENT_TRIES: u32 = crate::source::s3::retry::MAX_ATTEMPTS;

/// What a request's answer was, as the pacer needs to know it.
pub(crate) enum Answer<T, E> {
    Done(T),
    /// `ThrottlingException`: asked too often.
    Throttled(E),
    /// Failed in transit or with a server error: worth asking again.
    Transient(E),
    /// Refused for good (permissions, a bad parameter): asking again would not help.
    Refused(E),
}

/// Requests made and throttled in one region, for the summary and `-v`.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) requests: AtomicU64,
    pub(crate) throttled: AtomicU64,
}

/// One region's budget of requests, shared by every lookup of that region.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// When the next request may leave, and the spacing now.
    next: tokio::sync::Mutex<Instant>,
    spacing: Mutex<Duration>,
    base: Duration,
}

impl Pacer {
    pub(crate) fn new(spacing: Duration) -> Pacer {
        Pacer { next: tokio::sync::Mutex::new(Instant::now()), spacing: Mutex::new(spacing), base: spacing }
    }

    fn spacing(&self) -> Duration {
        *self.spacing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_spacing(&self, change: impl FnOnce(Duration) -> Duration) {
        let mut spacing = self.spacing.lock().unwrap_or_else(|e| e.into_inner());
        *spacing = change(*spacing).clamp(self.base, WIDEST);
    }

    /// Waits for this region's next turn.
    async fn turn(&self) {
        let mut next = self.next.lock().await;
        let at = (*next).max(Instant::now());
        tokio::time::sleep_until(at).await;
        *next = at + self.spacing();
    }

    /// Makes the request `call` makes, in turn, until it is answered, refused, or throttled or
    /// failed too often; counts each request and each throttling answer in `tally`.
    pub(crate) async fn ask<T, E, F, Fut>(&self, tally: &Tally, mut call: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Answer<T, E>>,
    {
        let (mut throttled, mut transient) = (0u32, 0u32);
        loop {
            self.turn().await;
            tally.requests.fetch_add(1, Ordering::Relaxed);
            match call().await {
                Answer::Done(value) => {
                    // Back towards the base spacing, a quarter at a time.
                    self.set_spacing(|s| s * 3 / 4);
                    return Ok(value);
                }
                Answer::Throttled(error) => {
                    tally.throttled.fetch_add(1, Ordering::Relaxed);
                    throttled += 1;
                    if throttled >= THROTTLED_TRIES {
                        return Err(error);
                    }
                    // Someone else spends this region's budget too: leave them more of it.
                    self.set_spacing(|s| s * 2);
                }
                Answer::Transient(error) => {
                    transient += 1;
                    if transient >= TRANSIENT_TRIES {
                        return Err(error);
                    }
                    tokio::time::sleep(crate::source::s3::retry::backoff(transient)).await;
                }
                Answer::Refused(error) => return Err(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_SPACING: Duration = Duration::from_millis(20);

    #[tokio::test]
    async fn requests_are_spaced_and_a_throttled_one_is_asked_again_more_slowly() {
        // Each turn is due a spacing after the one before (the spacing of the time), and a
        // turn is never taken early; a loaded machine may take it late, so only the lower
        // bounds from the start are certain.
        let start = Instant::now();
        let pacer = Pacer::new(TEST_SPACING);
        let tally = Tally::default();
        let sent = Mutex::new(Vec::new());
        let answers =
            Mutex::new(vec![Answer::Throttled("slow"), Answer::Done(1), Answer::Done(2)].into_iter());
        let call = || {
            sent.lock().expect("lock").push(start.elapsed());
            let answer = answers.lock().expect("lock").next().expect("an answer");
            async move { answer }
        };
        assert_eq!(pacer.ask(&tally, call).await, Ok(1));
        assert_eq!(pacer.ask(&tally, call).await, Ok(2));
        assert_eq!(tally.requests.load(Ordering::Relaxed), 3);
        assert_eq!(tally.throttled.load(Ordering::Relaxed), 1);
        let sent = sent.into_inner().expect("lock");
        assert!(sent[1] >= TEST_SPACING, "the retry waits its turn: {sent:?}");
        assert!(sent[2] >= TEST_SPACING * 3, "and the spacing widened after the throttling: {sent:?}");
    }

    #[tokio::test]
    async fn a_refusal_is_not_asked_again() {
        let pacer = Pacer::new(TEST_SPACING);
        let tally = Tally::default();
        let answer: Result<(), &str> = pacer.ask(&tally, || async { Answer::Refused("denied") }).await;
        assert_eq!(answer, Err("denied"));
        assert_eq!(tally.requests.load(Ordering::Relaxed), 1);
    }
}
