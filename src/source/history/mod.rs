//! CloudTrail's event history (`cloudtrail://REGION`): the last 90 days of a region's management
//! events, asked of the LookupEvents API and read as a [`Store`] like a folder or a bucket.
//! `cloudtrail://all` is a store per region the account has enabled (the Account API's
//! `ListRegions`).
//!
//! An object of event history is one UTC hour of one region, `cloudtrail://REGION/YYYY-MM-DDTHH`:
//! its bytes are a LookupEvents-shaped document (`{"Events": [...]}`, each event's record in its
//! `CloudTrailEvent` string) read by the same decoding as an export of it. The listing asks the API
//! ([`lookup`]: each attribute once over the whole window, 50 events a page, every request of the
//! region paced by one [`pace::Pacer`]), files the events by the hour of their time, and lists every
//! hour of the window, an empty one too: so `--state` knows which hours were asked. An hour is
//! settled once it ended more than [`LATE_DELIVERY`] before the run began; a settled hour is listed
//! with the version [`SETTLED`] (so `--state` keeps it), and a later run does not ask for it again:
//! the wrapper that remembers it (`state::KnownStore`) names it in [`Settled::objects`], and the
//! store asks from the oldest hour not settled and lists the settled ones as they were.
//!
//! Regions are read in parallel (each store starts asking when the reading begins, before the
//! stores are listed in turn), each within its own budget of two requests a second; a shard of
//! `scan --shard` reads whole regions.

pub(crate) mod lookup;
pub(crate) mod pace;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

use super::filter::Filter;
use super::{BoxFuture, Entry, Fetched, Found, Kind, Location, Object, Settled, Store, SETTLED};
use crate::error::{FatalError, ObjectError, Reason};
use crate::time::{Timestamp, DAY, HOUR};

/// What a SOURCE of event history starts with.
pub(crate) const SCHEME: &str = "cloudtrail://";
/// How far back LookupEvents answers.
pub(crate) const KEPT_FOR: i64 = 90 * DAY;
/// How long after an hour ends its events may still arrive in event history. CloudTrail delivers
/// an event within about 5 minutes of the call on average, and does not guarantee it (its User
/// Guide); an hour is taken as complete once this much longer has passed, twelve times the
/// average. An event later than that would be missed by `--state` runs only (a run without
/// `--state` asks for every hour).
pub(crate) const LATE_DELIVERY: i64 = HOUR;
/// Time without an answer before a request is abandoned (and asked again).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// `cloudtrail://REGION`, parsed; `cloudtrail://all` is every region the account has enabled.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HistoryUrl {
    pub region: String,
}

/// The region name that stands for every region enabled.
pub(crate) const ALL: &str = "all";

impl HistoryUrl {
    /// Whether this source reads `other`'s region too.
    pub(crate) fn covers(&self, other: &HistoryUrl) -> bool {
        self == other || self.region == ALL
    }
}

impl HistoryUrl {
    /// Parses `cloudtrail://REGION`; `None` when `text` is not of that scheme.
    pub fn parse(text: &str) -> Option<Result<HistoryUrl, String>> {
        let region = text.strip_prefix(SCHEME)?.trim_end_matches('/');
        let valid = !region.is_empty()
            && region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && region.contains('-');
        if !valid && region != ALL {
            return Some(Err(format!("{text}: expected cloudtrail://REGION, e.g. cloudtrail://us-east-1")));
        }
        Some(Ok(HistoryUrl { region: region.to_owned() }))
    }
}

impl fmt::Display for HistoryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.region)
    }
}

/// How to reach event history, from the command line.
#[derive(Debug, Clone)]
pub(crate) struct HistoryOptions {
    pub(crate) profile: Option<String>,
    /// When the run began: the end of the window, and what hours are settled by.
    pub(crate) now: Timestamp,
}

/// What the reading of event history hears as it goes (a progress bar).
pub(crate) trait Pages: Send + Sync {
    /// A page of `events` events arrived.
    fn page(&self, events: u64);
}

/// What one region's reading did, for the summary and `-v`.
#[derive(Debug, Default)]
pub(crate) struct RegionTally {
    pub(crate) requests: pace::Tally,
    pub(crate) events: AtomicU64,
    /// Milliseconds from the first request to the last answer.
    pub(crate) millis: AtomicU64,
}

/// A region's pace of requests and what they did: one per region, whichever sources ask there.
type Budget = (Arc<pace::Pacer>, Arc<RegionTally>);

/// The client of every `cloudtrail://` SOURCE of a run: the AWS configuration, loaded once, and
/// each region's budget of requests and tally.
pub(crate) struct HistoryClient {
    shared: aws_config::SdkConfig,
    endpoint: Option<String>,
    runtime: tokio::runtime::Handle,
    now: Timestamp,
    regions: Mutex<BTreeMap<String, Budget>>,
    pages: Arc<dyn Pages>,
    /// The run's window (`--from/--to`) and shard.
    filter: Filter,
}

impl HistoryClient {
    /// Loads the AWS configuration (on `runtime`, which carries every request later).
    pub(crate) fn connect(
        options: &HistoryOptions,
        filter: &Filter,
        runtime: &tokio::runtime::Runtime,
        pages: Arc<dyn Pages>,
    ) -> HistoryClient {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(READ_TIMEOUT)
                    .operation_attempt_timeout(READ_TIMEOUT * 2)
                    .build(),
            )
            // Every retry is the pacer's: it counts throttling answers and slows the region down.
            .retry_config(RetryConfig::disabled());
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        let shared = runtime.block_on(loader.load());
        HistoryClient {
            shared,
            endpoint: std::env::var("AWS_ENDPOINT_URL_CLOUDTRAIL").ok().filter(|u| !u.is_empty()),
            runtime: runtime.handle().clone(),
            now: options.now,
            regions: Mutex::default(),
            pages,
            filter: filter.clone(),
        }
    }

    /// The regions the account has enabled (`cloudtrail://all`), from the Account API's
    /// `ListRegions` (at AWS, or where `AWS_ENDPOINT_URL_ACCOUNT` says), in name order.
    pub(crate) fn enabled_regions(&self) -> Result<Vec<String>, FatalError> {
        use aws_sdk_account::types::RegionOptStatus;
        // The Account API is global: its requests are signed for us-east-1.
        let mut config =
            aws_sdk_account::config::Builder::from(&self.shared).region(Region::new("us-east-1"));
        config.set_endpoint_url(std::env::var("AWS_ENDPOINT_URL_ACCOUNT").ok().filter(|u| !u.is_empty()));
        let client = aws_sdk_account::Client::from_conf(config.build());
        self.runtime.block_on(async {
            let mut regions = Vec::new();
            let mut pages = client
                .list_regions()
                .region_opt_status_contains(RegionOptStatus::Enabled)
                .region_opt_status_contains(RegionOptStatus::EnabledByDefault)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    let why = crate::source::s3::describe(&e);
                    FatalError::S3(crate::error::S3Error::caused_by(
                        format!(
                            "cloudtrail://all: the account's regions (Account ListRegions): {why} \
                             (the credentials need account:ListRegions; or name each region)"
                        ),
                        e,
                    ))
                })?;
                regions.extend(page.regions().iter().filter_map(|r| r.region_name()).map(str::to_owned));
            }
            regions.sort_unstable();
            regions.dedup();
            Ok(regions)
        })
    }

    /// Where requests go, for `--verbose`: never anything about credentials.
    pub(crate) fn description(&self) -> String {
        match &self.endpoint {
            Some(url) => format!("CloudTrail event history at {url} (AWS_ENDPOINT_URL_CLOUDTRAIL)"),
            None => "CloudTrail event history at AWS".to_owned(),
        }
    }

    /// The store of `cloudtrail://REGION`, the `ordinal`-th event-history source of the run: it
    /// starts asking when the reading begins ([`Store::begin`]).
    pub(crate) fn store(&self, url: &HistoryUrl, ordinal: u32) -> HistoryStore {
        let mut config =
            aws_sdk_cloudtrail::config::Builder::from(&self.shared).region(Region::new(url.region.clone()));
        config.set_endpoint_url(self.endpoint.clone());
        let (pacer, tally) = self
            .regions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(url.region.clone())
            .or_insert_with(|| (Arc::new(pace::Pacer::new(pace::SPACING)), Arc::default()))
            .clone();
        let owned = self.filter.shard.is_none_or(|shard| ordinal % shard.count == shard.index);
        let asker = Asker {
            client: aws_sdk_cloudtrail::Client::from_conf(config.build()),
            pacer,
            tally,
            pages: Arc::clone(&self.pages),
        };
        HistoryStore {
            url: url.clone(),
            owned,
            window: window(&self.filter, self.now),
            now: self.now,
            runtime: self.runtime.clone(),
            asker: Mutex::new(Some(asker)),
            begun: OnceLock::new(),
            held: Mutex::default(),
        }
    }

    /// Each region's requests, throttling answers, events and time, in region order.
    pub(crate) fn tallies(&self) -> Vec<(String, Arc<RegionTally>)> {
        let regions = self.regions.lock().unwrap_or_else(|e| e.into_inner());
        regions.iter().map(|(region, (_, tally))| (region.clone(), Arc::clone(tally))).collect()
    }
}

/// One `cloudtrail://REGION` SOURCE.
pub(crate) struct HistoryStore {
    url: HistoryUrl,
    /// Whether this run's shard reads the region.
    owned: bool,
    /// The run's window (`--from`/`--to`, the last 90 days at most).
    window: (Timestamp, Timestamp),
    now: Timestamp,
    runtime: tokio::runtime::Handle,
    /// What asks the lookups, until they are started.
    asker: Mutex<Option<Asker>>,
    /// The lookups, once started.
    begun: OnceLock<Begun>,
    /// The documents of the hours listed, until their one fetch.
    held: Mutex<HashMap<String, Vec<u8>>>,
}

/// A region's asking, started.
struct Begun {
    /// Settled hours of this region an earlier run kept, by name, with their size (in order).
    settled: Vec<(String, u64)>,
    /// What is asked: from the oldest hour not settled, to the end of the window.
    window: (Timestamp, Timestamp),
    /// The lookups under way; taken by the listing.
    asking: Mutex<Option<Asking>>,
}

/// A region's lookups under way: the events of the window, or why the region could not be read.
type Asking = tokio::task::JoinHandle<Result<Vec<lookup::Found>, Reason>>;

/// What asks a region's lookups: its client, its budget and its tally.
struct Asker {
    client: aws_sdk_cloudtrail::Client,
    pacer: Arc<pace::Pacer>,
    tally: Arc<RegionTally>,
    pages: Arc<dyn Pages>,
}

impl Asker {
    /// The events of the window, every lookup asked in turn (they share the region's budget, so
    /// asking them at once would be no faster); an error names the first lookup refused.
    async fn ask_all(self, window: (Timestamp, Timestamp)) -> Result<Vec<lookup::Found>, Reason> {
        let started = Instant::now();
        let pages = Arc::clone(&self.pages);
        let page = move |events: u64| pages.page(events);
        let mut found = Vec::new();
        for one in lookup::LOOKUPS {
            found.extend(
                lookup::ask(&self.client, &self.pacer, &self.tally.requests, one, window, &page).await?,
            );
        }
        self.tally.events.fetch_add(found.len() as u64, Ordering::Relaxed);
        self.tally.millis.fetch_add(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        Ok(found)
    }
}

/// The hour `time` falls in, as its first millisecond.
fn hour_of(time: Timestamp) -> i64 {
    time.millis().div_euclid(HOUR) * HOUR
}

/// `cloudtrail://REGION/YYYY-MM-DDTHH`.
pub(crate) fn hour_name(url: &HistoryUrl, hour: i64) -> String {
    let shown = Timestamp(hour).to_string();
    format!("{url}/{}", &shown[..13])
}

/// The window a run asks for: from `--from` (not before the oldest time LookupEvents answers) to
/// the end of `--to`'s day (not after `now`).
pub(crate) fn window(filter: &Filter, now: Timestamp) -> (Timestamp, Timestamp) {
    let oldest = now.millis() - KEPT_FOR;
    let start = filter.from.map_or(oldest, |from| from.start().millis().max(oldest));
    let end = filter.to.map_or(now.millis(), |to| (to.next().start().millis() - 1).min(now.millis()));
    (Timestamp(start), Timestamp(end.max(start)))
}

/// The first day LookupEvents answers for, when `--from` asks for older ones (to be warned once).
pub(crate) fn too_old(filter: &Filter, now: Timestamp) -> Option<crate::time::Day> {
    let oldest = now.millis() - KEPT_FOR;
    let from = filter.from?;
    (from.start().millis() < oldest).then(|| crate::time::Day(oldest.div_euclid(DAY) + 1))
}

impl HistoryStore {
    /// Starts the lookups (once): from the hour after the newest of those `settled` names, which
    /// are not asked again.
    fn start(&self, settled: &Settled) -> &Begun {
        self.begun.get_or_init(|| {
            let prefix = format!("{}/", self.url);
            let settled: Vec<(String, u64)> = settled
                .objects
                .range(prefix.clone()..)
                .take_while(|(name, _)| name.starts_with(&prefix))
                .map(|(name, size)| (name.clone(), *size))
                .collect();
            let (mut start, end) = self.window;
            let settled_until = settled.iter().filter_map(|(name, _)| hour_from_name(name)).max();
            if let Some(hour) = settled_until {
                start = Timestamp(start.millis().max(hour + HOUR));
            }
            let asker = self.asker.lock().unwrap_or_else(|e| e.into_inner()).take();
            let asking = match asker {
                Some(asker) if self.owned && start <= end => {
                    Some(self.runtime.spawn(asker.ask_all((start, end))))
                }
                _ => None,
            };
            Begun { settled, window: (start, end), asking: Mutex::new(asking) }
        })
    }

    /// Lists every hour: those an earlier run kept settled, then those asked now.
    async fn list_hours(&self, settled: &Settled, found: &Found) -> Result<(), FatalError> {
        if !self.owned {
            return Ok(());
        }
        let begun = self.start(settled);
        for (name, size) in &begun.settled {
            let object = self.object(name.clone(), *size, true);
            if found.send(Entry::Object(object)).await.is_err() {
                return Ok(());
            }
        }
        let asking = begun.asking.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(asking) = asking else { return Ok(()) };
        let events = match asking.await {
            Ok(Ok(events)) => events,
            Ok(Err(error)) => {
                let failure = ObjectError { object: self.url.to_string(), reason: error };
                let _ = found.send(Entry::Failed(failure)).await;
                return Ok(());
            }
            Err(e) => return Err(FatalError::pool(Some("event history lookups"), e)),
        };
        for (hour, bytes) in file_by_hour(events, begun.window) {
            let name = hour_name(&self.url, hour);
            let settled = hour + HOUR + LATE_DELIVERY <= self.now.millis();
            let size = bytes.len() as u64;
            self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone(), bytes);
            if found.send(Entry::Object(self.object(name, size, settled))).await.is_err() {
                return Ok(());
            }
        }
        Ok(())
    }

    fn object(&self, name: String, size: u64, settled: bool) -> Object {
        Object {
            location: Location::Key(name.clone()),
            name,
            size: Some(size),
            version: settled.then(|| SETTLED.to_owned()),
            kind: Kind::Log,
        }
    }
}

/// The first millisecond of the hour a name of [`hour_name`] says.
fn hour_from_name(name: &str) -> Option<i64> {
    let (_, hour) = name.rsplit_once('/')?;
    Timestamp::parse(&format!("{hour}:00:00Z")).map(|t| t.millis())
}

/// The events as one document per hour of `window` (empty hours too), each event once (by its
/// id; two lookups never find the same event, but a page boundary moved by a new event may show
/// one twice), in time order, then by id.
fn file_by_hour(events: Vec<lookup::Found>, (start, end): (Timestamp, Timestamp)) -> Vec<(i64, Vec<u8>)> {
    let mut hours: BTreeMap<i64, BTreeMap<(i64, String), lookup::Found>> = BTreeMap::new();
    let mut hour = hour_of(start);
    while hour <= end.millis() {
        hours.entry(hour).or_default();
        hour += HOUR;
    }
    for event in events {
        let key = (event.time.millis(), event.id.clone());
        hours.entry(hour_of(event.time)).or_default().insert(key, event);
    }
    hours.into_iter().map(|(hour, events)| (hour, document(events.into_values()))).collect()
}

/// `{"Events": [...]}` as LookupEvents answers it, the fields the decoding reads.
fn document(events: impl Iterator<Item = lookup::Found>) -> Vec<u8> {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Event {
        event_id: String,
        event_name: String,
        event_time: f64,
        cloud_trail_event: String,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Document {
        events: Vec<Event>,
    }
    let events = events
        .map(|e| Event {
            event_id: e.id,
            event_name: e.name,
            event_time: e.time.millis() as f64 / 1000.0,
            cloud_trail_event: e.record,
        })
        .collect();
    // Serializing strings and numbers into memory cannot fail.
    serde_json::to_vec(&Document { events }).unwrap_or_default()
}

impl Store for HistoryStore {
    /// `filter` was the client's already: the window and the shard decide what is asked.
    fn begin(&self, _filter: &Filter, settled: &Settled) {
        self.start(settled);
    }

    fn list<'a>(
        &'a self,
        _filter: &'a Filter,
        settled: &'a Settled,
        found: &'a Found,
    ) -> BoxFuture<'a, Result<(), FatalError>> {
        Box::pin(self.list_hours(settled, found))
    }

    fn get<'a>(&'a self, object: &'a Object, _whole_up_to: u64) -> BoxFuture<'a, Result<Fetched, Reason>> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&object.name);
        Box::pin(async move {
            match held {
                Some(bytes) => Ok(Fetched { body: super::Body::Bytes(bytes), signature: None }),
                None => Err(Reason::Misrouted {
                    object: object.name.clone(),
                    expected: "an hour of event history this run listed",
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Day;

    #[test]
    fn sources_name_one_region() {
        assert_eq!(
            HistoryUrl::parse("cloudtrail://eu-west-1"),
            Some(Ok(HistoryUrl { region: "eu-west-1".into() }))
        );
        assert!(HistoryUrl::parse("cloudtrail://").expect("the scheme").is_err());
        assert_eq!(HistoryUrl::parse("cloudtrail://all"), Some(Ok(HistoryUrl { region: ALL.into() })));
        assert!(HistoryUrl::parse("cloudtrail://EU WEST").expect("the scheme").is_err());
        assert!(HistoryUrl::parse("s3://bucket").is_none());
    }

    #[test]
    fn hours_are_named_and_read_back() {
        let url = HistoryUrl { region: "us-east-1".into() };
        let t = Timestamp::parse("2024-03-01T05:59:59Z").expect("time");
        let name = hour_name(&url, hour_of(t));
        assert_eq!(name, "cloudtrail://us-east-1/2024-03-01T05");
        assert_eq!(hour_from_name(&name), Some(hour_of(t)));
    }

    #[test]
    fn the_window_is_the_last_90_days_or_less_and_an_older_from_is_said() {
        let now = Timestamp::parse("2024-06-30T12:00:00Z").expect("time");
        let whole = window(&Filter::default(), now);
        assert_eq!(whole, (Timestamp(now.millis() - KEPT_FOR), now));
        let filter =
            Filter { from: Day::parse("2024-06-01"), to: Day::parse("2024-06-02"), ..Filter::default() };
        let (start, end) = window(&filter, now);
        assert_eq!(start.to_string(), "2024-06-01T00:00:00Z");
        assert_eq!(end.to_string(), "2024-06-02T23:59:59.999Z");
        assert_eq!(too_old(&filter, now), None);
        let old = Filter { from: Day::parse("2024-01-01"), ..Filter::default() };
        assert_eq!(too_old(&old, now), Day::parse("2024-04-02"));
        assert_eq!(window(&old, now), whole);
    }

    #[test]
    fn every_hour_of_the_window_is_a_document_even_empty() {
        let at = |t: &str| Timestamp::parse(t).expect("time");
        let event = |t: &str, id: &str| lookup::Found {
            time: at(t),
            id: id.into(),
            name: "OpenTunnel".into(),
            record: format!(r#"{{"eventID":"{id}"}}"#),
        };
        let events = vec![
            event("2024-03-01T02:10:00Z", "b"),
            event("2024-03-01T00:10:00Z", "a"),
            event("2024-03-01T02:10:00Z", "b"),
        ];
        let hours = file_by_hour(events, (at("2024-03-01T00:30:00Z"), at("2024-03-01T02:30:00Z")));
        assert_eq!(hours.len(), 3);
        let text = |i: usize| String::from_utf8(hours[i].1.clone()).expect("utf-8");
        assert_eq!(text(1), r#"{"Events":[]}"#);
        assert!(text(0).contains(r#""CloudTrailEvent":"{\"eventID\":\"a\"}""#), "{}", text(0));
        assert_eq!(text(2).matches("EventId").count(), 1, "an event seen twice is filed once");
    }
}
