//! The timeline: each endpoint's connections and denied attempts counted in columns of equal
//! time over the span of all tunnels. Counting, not plotting every tunnel, keeps a chart of an
//! archive of a million connections as small as one of ten: at most [`COLUMNS_MAX`] columns per
//! endpoint, whatever the archive holds.
//!
//! Column widths are round durations (an hour, six hours, a day) starting at UTC boundaries, so a
//! column reads as "2024-03-01 02:00 to 03:00", not as an arbitrary slice of the span.

use std::collections::BTreeMap;

use crate::report::Report;
use crate::time::{DAY, HOUR, MINUTE};

/// Most columns a row has: fine enough to show the day's rhythm over two days (hourly), coarse
/// enough that a column stays a few pixels wide on a printed page.
pub(crate) const COLUMNS_MAX: i64 = 80;

/// Column widths and tick intervals to choose from, shortest first. Past the last, whole multiples
/// of it are used.
const ROUND_DURATIONS: [i64; 17] = [
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    28 * DAY,
    91 * DAY,
];

pub(crate) struct Timeline {
    /// The first column's start, in milliseconds since the epoch (a multiple of `width`).
    pub(crate) start: i64,
    /// Milliseconds each column covers.
    pub(crate) width: i64,
    pub(crate) columns: usize,
    /// The most connections, and the most denied attempts, in one column of any row: the charts
    /// share one scale, so rows compare.
    pub(crate) most_connections: u64,
    pub(crate) most_denied: u64,
    pub(crate) rows: Vec<Row>,
}

/// One endpoint.
pub(crate) struct Row {
    pub(crate) id: String,
    /// Its `Name` tag, if the lifecycle calls read say.
    pub(crate) name: Option<String>,
    /// When it was created and deleted, if the archive says (milliseconds): marked on its chart.
    pub(crate) created: Option<i64>,
    pub(crate) deleted: Option<i64>,
    pub(crate) account: String,
    pub(crate) region: String,
    /// Connections and denied attempts placed in a column.
    pub(crate) connections: u64,
    pub(crate) denied: u64,
    /// Tunnels of this endpoint whose time could not be read: counted in the endpoints table, not
    /// placed here.
    pub(crate) untimed: u64,
    /// `columns` entries.
    pub(crate) bins: Vec<Bin>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Bin {
    pub(crate) connections: u64,
    pub(crate) denied: u64,
    /// The denied attempts' error codes, with their counts.
    pub(crate) errors: BTreeMap<String, u64>,
}

impl Timeline {
    /// When column `i` starts and ends (exclusive), in milliseconds since the epoch.
    pub(crate) fn column(&self, i: usize) -> (i64, i64) {
        let start = self.start + i as i64 * self.width;
        (start, start + self.width)
    }

    pub(crate) fn end(&self) -> i64 {
        self.start + self.columns as i64 * self.width
    }

    /// Instants worth a label on the time axis: multiples of a round interval, at most `most`.
    pub(crate) fn ticks(&self, most: i64) -> Vec<i64> {
        let span = self.end() - self.start;
        let interval = round_duration(self.width, |d| span / d <= most);
        let first = self.start.div_euclid(interval) * interval;
        let first = if first < self.start { first + interval } else { first };
        (0..).map(|k| first + k * interval).take_while(|&t| t <= self.end()).collect()
    }
}

/// The shortest round duration of at least `floor` that `fits`, or else a multiple of the longest.
fn round_duration(floor: i64, fits: impl Fn(i64) -> bool) -> i64 {
    if let Some(&d) = ROUND_DURATIONS.iter().find(|&&d| d >= floor && fits(d)) {
        return d;
    }
    let longest = ROUND_DURATIONS[ROUND_DURATIONS.len() - 1];
    (1..).map(|k| k * longest).find(|&d| d >= floor && fits(d)).unwrap_or(longest)
}

/// The timeline of `report`'s endpoints, or `None` when no tunnel of any endpoint has a readable
/// time, nor any creation or deletion (nothing to place).
pub(crate) fn build(report: &Report) -> Option<Timeline> {
    let times = report.timeline.iter().flat_map(|e| {
        let first = [e.connections.first(), e.denied.first().map(|(t, _)| t)];
        let last = [e.connections.last(), e.denied.last().map(|(t, _)| t)];
        let life = [e.created.as_ref(), e.deleted.as_ref()];
        first.into_iter().chain(last).chain(life).flatten().copied()
    });
    let (first, last) = times
        .fold(None, |span: Option<(i64, i64)>, t| Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t)))))?;
    let width = round_duration(MINUTE, |w| last.div_euclid(w) - first.div_euclid(w) < COLUMNS_MAX);
    let start = first.div_euclid(width) * width;
    let columns = (last.div_euclid(width) - first.div_euclid(width) + 1) as usize;
    let column = |t: i64| ((t - start) / width) as usize;

    let homes: BTreeMap<&str, (&str, &str, u64, Option<&str>)> = report
        .endpoints
        .iter()
        .map(|e| {
            let home =
                (e.account.as_str(), e.region.as_str(), e.connections + e.denied, e.life.name.as_deref());
            (e.id.0.as_str(), home)
        })
        .collect();
    let rows: Vec<Row> = report
        .timeline
        .iter()
        .map(|e| {
            let mut bins = vec![Bin::default(); columns];
            for &t in &e.connections {
                bins[column(t)].connections += 1;
            }
            for (t, error) in &e.denied {
                let bin = &mut bins[column(*t)];
                bin.denied += 1;
                *bin.errors.entry(error.clone()).or_default() += 1;
            }
            let (account, region, tunnels, name) = homes.get(e.id.0.as_str()).copied().unwrap_or_default();
            let placed = (e.connections.len() + e.denied.len()) as u64;
            Row {
                id: e.id.0.clone(),
                name: name.map(str::to_owned),
                created: e.created,
                deleted: e.deleted,
                account: account.to_owned(),
                region: region.to_owned(),
                connections: e.connections.len() as u64,
                denied: e.denied.len() as u64,
                untimed: tunnels.saturating_sub(placed),
                bins,
            }
        })
        .collect();
    let most = |f: fn(&Bin) -> u64| rows.iter().flat_map(|r| r.bins.iter().map(f)).max().unwrap_or(0);
    Some(Timeline {
        start,
        width,
        columns,
        most_connections: most(|b| b.connections),
        most_denied: most(|b| b.denied),
        rows,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::EndpointId;
    use crate::report::{DirectUse, EndpointReport, EndpointTimes, Summary, SCHEMA_VERSION};
    use crate::time::Timestamp;

    pub(crate) fn at(text: &str) -> i64 {
        Timestamp::parse(text).expect("a CloudTrail time").millis()
    }

    /// A report holding only endpoints and their tunnel times.
    pub(crate) fn report_with(timeline: Vec<EndpointTimes>) -> Report {
        let endpoints = timeline
            .iter()
            .map(|t| EndpointReport {
                id: t.id.clone(),
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                connections: t.connections.len() as u64,
                denied: t.denied.len() as u64,
                denied_errors: BTreeMap::new(),
                events: BTreeMap::new(),
                connections_without_key: 0,
                first_seen: None,
                last_seen: None,
                life: Default::default(),
            })
            .collect();
        Report {
            schema_version: SCHEMA_VERSION,
            summary: Summary::default(),
            findings: Vec::new(),
            suppressed: Vec::new(),
            endpoints,
            direct: DirectUse::default(),
            other_events: BTreeMap::new(),
            event_names: Vec::new(),
            changes: None,
            state: None,
            fields: Vec::new(),
            conflicts: Vec::new(),
            failures: Vec::new(),
            failure_reasons: BTreeMap::new(),
            archived: Vec::new(),
            integrity: None,
            timeline,
        }
    }

    fn endpoint(id: &str, connections: Vec<i64>, denied: Vec<(i64, &str)>) -> EndpointTimes {
        EndpointTimes {
            id: EndpointId(id.into()),
            connections,
            denied: denied.into_iter().map(|(t, e)| (t, e.to_owned())).collect(),
            ..EndpointTimes::default()
        }
    }

    #[test]
    fn two_days_are_counted_by_the_hour_from_a_whole_hour() {
        let report = report_with(vec![
            endpoint(
                "eice-a",
                vec![at("2024-03-01T01:01:00Z"), at("2024-03-01T01:59:59Z"), at("2024-03-02T23:28:38Z")],
                vec![(at("2024-03-01T01:30:00Z"), "AccessDenied")],
            ),
            endpoint("eice-b", vec![at("2024-03-02T12:00:00Z")], vec![]),
        ]);
        let timeline = build(&report).expect("times to place");
        assert_eq!(timeline.width, HOUR);
        assert_eq!(timeline.start, at("2024-03-01T01:00:00Z"));
        assert_eq!(timeline.columns, 47);
        let a = &timeline.rows[0];
        assert_eq!(a.bins[0].connections, 2);
        assert_eq!(a.bins[0].errors, BTreeMap::from([("AccessDenied".to_owned(), 1)]));
        assert_eq!(a.bins[46].connections, 1);
        assert_eq!(timeline.rows[1].bins[35].connections, 1);
        assert_eq!((timeline.most_connections, timeline.most_denied), (2, 1));
    }

    #[test]
    fn a_million_connections_over_a_year_fit_in_a_few_dozen_columns() {
        let start = at("2024-01-01T00:00:00Z");
        let step = 366 * DAY / 1_000_000;
        let connections: Vec<i64> = (0..1_000_000).map(|i| start + i * step).collect();
        let report = report_with(vec![endpoint("eice-a", connections, vec![])]);
        let timeline = build(&report).expect("times to place");
        assert!(timeline.columns as i64 <= COLUMNS_MAX, "{} columns", timeline.columns);
        assert_eq!(timeline.width, 7 * DAY);
        let placed: u64 = timeline.rows[0].bins.iter().map(|b| b.connections).sum();
        assert_eq!(placed, 1_000_000);
    }

    #[test]
    fn tunnels_at_one_instant_make_one_column() {
        let t = at("2024-03-01T10:00:30Z");
        let report = report_with(vec![endpoint("eice-a", vec![t, t], vec![(t, "AccessDenied")])]);
        let timeline = build(&report).expect("times to place");
        assert_eq!((timeline.columns, timeline.width), (1, MINUTE));
        assert_eq!(timeline.rows[0].bins[0].connections, 2);
    }

    #[test]
    fn no_readable_time_means_no_timeline() {
        let report = report_with(vec![endpoint("eice-a", vec![], vec![])]);
        assert!(build(&report).is_none());
    }

    #[test]
    fn tunnels_without_a_time_are_counted_apart() {
        let mut report = report_with(vec![endpoint("eice-a", vec![at("2024-03-01T10:00:00Z")], vec![])]);
        report.endpoints[0].connections = 3;
        let timeline = build(&report).expect("times to place");
        assert_eq!(timeline.rows[0].untimed, 2);
    }

    #[test]
    fn ticks_fall_on_round_instants_inside_the_span() {
        let report = report_with(vec![endpoint(
            "eice-a",
            vec![at("2024-03-01T01:01:00Z"), at("2024-03-02T23:28:38Z")],
            vec![],
        )]);
        let timeline = build(&report).expect("times to place");
        let ticks = timeline.ticks(8);
        assert_eq!(ticks.first(), Some(&at("2024-03-01T06:00:00Z")));
        assert!(ticks.windows(2).all(|w| w[1] - w[0] == 6 * HOUR), "{ticks:?}");
        assert!(ticks.len() <= 8);
    }
}
