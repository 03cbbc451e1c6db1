//! Downloads on the I/O runtime, handed to the parser workers through a bounded channel. Two
//! limits give backpressure: requests in flight (`--s3-concurrency`), and bytes downloaded but not
//! yet parsed (each object holds its share of a byte budget until its worker is done with it).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::Client;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::{describe, S3Session};
use crate::decode::Reason;

/// One object to download.
pub struct DownloadPlan {
    /// Its position in the listing, carried through so results can be put back in order.
    pub index: usize,
    pub bucket: String,
    pub key: String,
    pub size: u64,
}

/// A downloaded object (or why it could not be), holding its share of the byte budget.
pub struct Fetched {
    pub index: usize,
    pub body: Result<Vec<u8>, Reason>,
    /// Released when the parser drops this, letting the next download start.
    pub budget: Option<OwnedSemaphorePermit>,
}

/// The byte budget is counted in KiB so that large budgets fit a semaphore's permit count.
const BUDGET_UNIT: u64 = 1024;

impl S3Session {
    /// Starts downloading `plans` in order and returns the receiving end. At most `budget_bytes`
    /// (or one object, if larger) are held between download and parse.
    pub fn download(
        &self,
        plans: Vec<DownloadPlan>,
        max_object_size: u64,
        budget_bytes: u64,
    ) -> mpsc::Receiver<Fetched> {
        // A little slack beyond the requests in flight keeps workers fed without buffering much.
        let (sender, receiver) = mpsc::channel(self.concurrency.max(4));
        let client = self.client.clone();
        let stall = self.timeout;
        let requests = Arc::new(Semaphore::new(self.concurrency));
        let budget_units = (budget_bytes / BUDGET_UNIT).clamp(1, u64::from(u32::MAX >> 3)) as u32;
        let budget = Arc::new(Semaphore::new(budget_units as usize));
        self.runtime.spawn(async move {
            for plan in plans {
                let share = (plan.size / BUDGET_UNIT).clamp(1, u64::from(budget_units)) as u32;
                // Both semaphores live as long as this task; acquiring only fails once closed.
                let (Ok(budget), Ok(request)) =
                    (budget.clone().acquire_many_owned(share).await, requests.clone().acquire_owned().await)
                else {
                    return;
                };
                let (client, sender) = (client.clone(), sender.clone());
                tokio::spawn(async move {
                    let body = get(&client, &plan, max_object_size, stall).await;
                    drop(request);
                    // A closed channel means the run is over; nothing is waiting for this object.
                    let _ = sender.send(Fetched { index: plan.index, body, budget: Some(budget) }).await;
                });
            }
        });
        receiver
    }
}

/// Downloads one object; a body that sends nothing for `stall` is abandoned, so a server that
/// stops mid-body cannot hang the run.
async fn get(client: &Client, plan: &DownloadPlan, limit: u64, stall: Duration) -> Result<Vec<u8>, Reason> {
    if plan.size > limit {
        return Err(Reason::TooLarge { limit });
    }
    let response = client
        .get_object()
        .bucket(&plan.bucket)
        .key(&plan.key)
        .send()
        .await
        .map_err(|e| Reason::Fetch(describe(&e)))?;
    let mut body = response.body;
    let mut bytes = Vec::with_capacity(usize::try_from(plan.size).unwrap_or(0));
    loop {
        let chunk = match tokio::time::timeout(stall, body.try_next()).await {
            Err(_) => return Err(Reason::Fetch(format!("no data for {}s mid-download", stall.as_secs()))),
            Ok(Err(e)) => return Err(Reason::Fetch(format!("download interrupted: {e}"))),
            Ok(Ok(None)) => return Ok(bytes),
            Ok(Ok(Some(chunk))) => chunk,
        };
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(Reason::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
}
