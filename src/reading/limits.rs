//! The limits of S3 requests: the gate that lowers the GETs in flight while S3 says slow down,
//! and the sentinel that stops a run whose every GET is refused alike.

use std::sync::Mutex;

use crate::error::{FatalError, ObjectError, Reason};
use crate::source::Fetched;

/// How many GETs may be in flight, lowered when S3 says slow down: halved whenever the store's
/// count of throttling answers has grown since last looked at (before each GET and after each
/// one; down to one), raised by one after as many unthrottled GETs as are allowed (up to
/// `--s3-concurrency`). With the SDK's backoff on each throttled request, this is
/// what lowers the rate of the whole run, then brings it back.
pub(super) struct Gate {
    state: Mutex<GateState>,
    /// Wakes the fetcher waiting to send a request.
    room: tokio::sync::Notify,
}

struct GateState {
    in_flight: usize,
    allowed: usize,
    most: usize,
    /// The store's throttle count last seen, and unthrottled GETs since the last change.
    throttled: u64,
    calm: usize,
    lowest: usize,
}

impl Gate {
    pub(super) fn new(most: usize) -> Gate {
        Gate {
            state: Mutex::new(GateState {
                in_flight: 0,
                allowed: most,
                most,
                throttled: 0,
                calm: 0,
                lowest: most,
            }),
            room: tokio::sync::Notify::new(),
        }
    }

    /// Waits until one more request may be in flight; `throttled` is the store's throttle count,
    /// read afresh at each look: a SlowDown met by a request still being retried lowers the
    /// allowance at once, not when that request is done.
    pub(super) async fn enter(&self, throttled: impl Fn() -> u64) {
        loop {
            {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.saw(throttled());
                if state.in_flight < state.allowed {
                    state.in_flight += 1;
                    return;
                }
            }
            // `notify_one` keeps a wake-up for a waiter not yet waiting: none is lost.
            self.room.notified().await;
        }
    }

    /// A request is done; `throttled` is its store's throttle count now.
    pub(super) fn leave(&self, throttled: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.in_flight -= 1;
        if !state.saw(throttled) {
            state.calm += 1;
            if state.calm >= state.allowed {
                state.calm = 0;
                state.allowed = (state.allowed + 1).min(state.most);
            }
        }
        drop(state);
        self.room.notify_one();
    }

    #[cfg(test)]
    fn allowed(&self) -> usize {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).allowed
    }

    /// The fewest GETs it allowed in flight, when throttling lowered them.
    pub(super) fn lowest(&self) -> Option<usize> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (state.lowest < state.most).then_some(state.lowest)
    }
}

impl GateState {
    /// Halves the allowance if the store met new throttling answers; says whether it did.
    fn saw(&mut self, throttled: u64) -> bool {
        if throttled <= self.throttled {
            return false;
        }
        self.throttled = throttled;
        self.allowed = (self.allowed / 2).max(1);
        self.lowest = self.lowest.min(self.allowed);
        self.calm = 0;
        true
    }
}

/// Answers watched before the run gives up on an access error: this many GETs refused in a row,
/// with the same error code and nothing read before, and the run stops (at most
/// `--s3-concurrency` more are already in flight). Large enough that a few objects refused among
/// readable ones never stop a run (the first readable answer ends the watch), small enough that
/// a bucket of millions is never asked millions of times for what it will not give.
pub(super) const EARLY_STOP_AFTER: usize = 20;

/// S3 error codes that, for one caller and one bucket, answer every GET alike.
const ACCESS_ERRORS: [&str; 4] = ["AccessDenied", "InvalidAccessKeyId", "ExpiredToken", "AllAccessDisabled"];

/// Watches the first GET answers of a run for an access error that every other GET would give
/// too: the early stop. Any object fetched, or any other failure, ends the watch for good.
#[derive(Default)]
pub(super) struct Sentinel {
    state: Mutex<Watch>,
}

#[derive(Default)]
enum Watch {
    #[default]
    Idle,
    /// `refused` GETs in a row answered `code`; the first of them.
    Refused {
        code: String,
        refused: usize,
        first: ObjectError,
    },
    /// Something was read, or failed otherwise: the run goes on whatever follows.
    Over,
    Tripped {
        code: String,
        refused: usize,
        first: ObjectError,
    },
}

impl Sentinel {
    /// Takes one GET's answer; true when the run should stop now.
    pub(super) fn observe(&self, object: &str, fetched: &Result<Fetched, Reason>) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let access = match fetched {
            Err(reason @ Reason::Fetch { code, .. }) => access_code(code).map(|code| (code, reason)),
            // Archived objects say nothing about access.
            Err(Reason::Archived(_)) => return false,
            _ => None,
        };
        let Some((code, reason)) = access else {
            if !matches!(*state, Watch::Tripped { .. }) {
                *state = Watch::Over;
            }
            return false;
        };
        let error = || ObjectError { object: object.to_owned(), reason: reason.clone() };
        let next = match std::mem::take(&mut *state) {
            Watch::Idle => Watch::Refused { code: code.to_owned(), refused: 1, first: error() },
            Watch::Refused { code: seen, refused, first } if seen == code => {
                Watch::Refused { code: seen, refused: refused + 1, first }
            }
            Watch::Refused { .. } => Watch::Over,
            other => other,
        };
        *state = match next {
            Watch::Refused { code, refused, first } if refused >= EARLY_STOP_AFTER => {
                Watch::Tripped { code, refused, first }
            }
            other => other,
        };
        matches!(*state, Watch::Tripped { .. })
    }

    /// The fatal error of a run stopped early, if it was.
    pub(super) fn tripped(&self) -> Option<FatalError> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match &*state {
            Watch::Tripped { code, refused, first } => Some(FatalError::AccessStopped {
                objects: *refused,
                cause: missing(code, &first.reason.to_string(), &first.object),
                example: first.clone(),
            }),
            _ => None,
        }
    }
}

/// The access error `code` is, if it is one.
fn access_code(code: &str) -> Option<&'static str> {
    ACCESS_ERRORS.into_iter().find(|known| *known == code)
}

/// What a caller refused with `code` lacks, from S3's message: the KMS permission and key of an
/// SSE-KMS object, or the S3 permission, or valid credentials.
pub(super) fn missing(code: &str, error: &str, object: &str) -> String {
    match code {
        "InvalidAccessKeyId" => {
            "the access key id is not known to AWS: check the profile or credentials".into()
        }
        "ExpiredToken" => "the session's credentials have expired: refresh them (e.g. aws sso login)".into(),
        "AllAccessDisabled" => "all access to this bucket or object has been disabled by AWS".into(),
        _ => {
            let action = error
                .split("not authorized to perform: ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(|a| a.trim_end_matches([',', '.', ';']).to_owned());
            let key = error
                .split_whitespace()
                .find(|word| word.starts_with("arn:aws:kms:") || word.starts_with("arn:aws-"))
                .filter(|word| word.contains(":kms:"))
                .map(|word| word.trim_end_matches([',', '.', ';', ')']).to_owned());
            match (action, key) {
                (Some(action), Some(key)) => format!("missing permission {action} on KMS key {key}"),
                (Some(action), None) if action.starts_with("kms:") => {
                    format!("missing permission {action} on the objects' KMS key (SSE-KMS)")
                }
                (Some(action), None) => format!("missing permission {action}"),
                (None, Some(key)) => format!("missing permission kms:Decrypt on KMS key {key}"),
                (None, None) if error.contains("kms") || error.contains("KMS") => {
                    "missing permission kms:Decrypt on the objects' KMS key (SSE-KMS)".into()
                }
                (None, None) => {
                    let bucket =
                        object.strip_prefix("s3://").and_then(|r| r.split('/').next()).unwrap_or(object);
                    format!("missing permission s3:GetObject on arn:aws:s3:::{bucket}/*")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Body;

    /// A GET refused with S3's `CODE: message`.
    fn refused(said: &str) -> Result<Fetched, Reason> {
        let (code, message) = said.split_once(": ").unwrap_or((said, ""));
        Err(Reason::Fetch {
            code: code.into(),
            detail: Some(message.into()).filter(|m: &String| !m.is_empty()),
        })
    }

    #[test]
    fn the_same_access_error_from_the_first_objects_stops_the_run() {
        let sentinel = Sentinel::default();
        let denied = "AccessDenied: Access Denied";
        for i in 1..EARLY_STOP_AFTER {
            assert!(!sentinel.observe(&format!("s3://b/{i}"), &refused(denied)));
        }
        assert!(sentinel.observe("s3://b/last", &refused(denied)));
        let stopped = sentinel.tripped().expect("stopped").to_string();
        assert!(stopped.contains("s3:GetObject on arn:aws:s3:::b/*"), "{stopped}");
    }

    #[test]
    fn a_run_that_read_something_or_failed_otherwise_goes_on() {
        let sentinel = Sentinel::default();
        assert!(!sentinel.observe("s3://b/0", &refused("NoSuchKey: gone")));
        for i in 0..3 * EARLY_STOP_AFTER {
            assert!(!sentinel.observe(&format!("s3://b/{i}"), &refused("AccessDenied: Access Denied")));
        }
        assert!(sentinel.tripped().is_none());
        let sentinel = Sentinel::default();
        let read = Ok(Fetched { body: Body::Bytes(Vec::new()), signature: None });
        assert!(!sentinel.observe("s3://b/0", &read));
        for i in 0..3 * EARLY_STOP_AFTER {
            assert!(!sentinel.observe(&format!("s3://b/{i}"), &refused("AccessDenied: Access Denied")));
        }
    }

    #[test]
    fn throttling_halves_the_requests_in_flight_and_calm_brings_them_back() {
        let gate = Gate::new(128);
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        runtime.block_on(gate.enter(|| 0));
        gate.leave(1);
        assert_eq!(gate.allowed(), 64);
        runtime.block_on(gate.enter(|| 2));
        assert_eq!(gate.allowed(), 32, "a SlowDown met meanwhile lowers it before the next request");
        gate.leave(2);
        for throttled in (3..40).step_by(2) {
            runtime.block_on(gate.enter(|| throttled));
            gate.leave(throttled + 1);
        }
        assert_eq!(gate.allowed(), 1, "never below one");
        for _ in 0..(1 + 2 + 3) {
            runtime.block_on(gate.enter(|| 40));
            gate.leave(40);
        }
        assert_eq!(gate.allowed(), 4, "one more after as many calm requests as allowed");
        assert_eq!(gate.lowest(), Some(1));
    }

    #[test]
    fn the_missing_kms_permission_and_key_are_named() {
        let message = "AccessDenied: User: arn:aws:sts::111122223333:assumed-role/Audit/me is not authorized \
            to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab \
            because no identity-based policy allows the kms:Decrypt action";
        assert_eq!(
            missing("AccessDenied", message, "s3://b/k"),
            "missing permission kms:Decrypt on KMS key arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        assert!(missing("ExpiredToken", "ExpiredToken: The provided token has expired.", "s3://b/k")
            .contains("expired"));
        assert_eq!(access_code("InvalidAccessKeyId"), Some("InvalidAccessKeyId"));
        assert_eq!(access_code("SlowDown"), None);
    }
}
