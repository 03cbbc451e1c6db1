//! Times, parsed in one place: every time trailscope reads (a record's `eventTime`, the times in
//! object names, a digest's times, LookupEvents' `EventTime`, a key's validity) is parsed here to
//! milliseconds since the epoch, UTC, and formatted back as CloudTrail writes it
//! (`2023-09-21T01:24:44Z`), without a date-time dependency. Days are [`Day`]s.

/// A minute, an hour and a day, in the milliseconds a [`Timestamp`] counts.
pub(crate) const MINUTE: i64 = 60_000;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The one parser of the times trailscope reads: event times, digest times, LookupEvents
    /// times and keys' validity times. RFC 3339's `YYYY-MM-DDTHH:MM:SS[.fff…]` (a space for the
    /// `T` too, as boto3 prints LookupEvents' `EventTime`), then `Z` or an offset `±HH:MM`, which
    /// is taken off: the result is UTC. Only real times are times: a day past its month's end
    /// (`2023-02-30`, `2023-02-29`, `2024-04-31`), an hour past 23, a minute past 59 or a second
    /// past 60 (a leap second) is `None`, as is anything else. A record with no time is still
    /// counted but cannot be paired.
    pub fn parse(text: &str) -> Option<Timestamp> {
        Timestamp::parse_bytes(text.as_bytes())
    }

    /// [`Timestamp::parse`] of a text's bytes (what is not UTF-8 is not a timestamp either).
    pub(crate) fn parse_bytes(b: &[u8]) -> Option<Timestamp> {
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (rest, offset) = match *b.last()? {
            b'Z' => (&b[19..b.len() - 1], 0),
            _ => {
                let (rest, zone) = b.split_at(b.len().checked_sub(6).filter(|&at| at >= 19)?);
                (rest.get(19..)?, offset_minutes(zone)?)
            }
        };
        let millis = match rest {
            [] => 0,
            [b'.', fraction @ ..] if !fraction.is_empty() => {
                // Milliseconds from the first three digits; finer digits must still be digits.
                if !fraction.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                (0..3).fold(0, |ms, i| ms * 10 + fraction.get(i).map_or(0, |d| i64::from(d - b'0')))
            }
            _ => return None,
        };
        let date = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
        let clock = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
        let local = Timestamp::civil(date, clock, millis)?;
        Some(Timestamp(local.0 - offset * MINUTE))
    }

    /// The basic form object names carry: `YYYYMMDDTHHMMSSZ` (digests) or `YYYYMMDDTHHMMZ` (log
    /// files), UTC, read with the same rules as [`Timestamp::parse`].
    pub(crate) fn parse_compact(b: &[u8]) -> Option<Timestamp> {
        if !matches!(b.len(), 14 | 16) || b[8] != b'T' || b[b.len() - 1] != b'Z' {
            return None;
        }
        let second = if b.len() == 16 { digits(&b[13..15])? } else { 0 };
        let date = (digits(&b[0..4])?, digits(&b[4..6])?, digits(&b[6..8])?);
        Timestamp::civil(date, (digits(&b[9..11])?, digits(&b[11..13])?, second), 0)
    }

    /// The instant of a civil date and time of day, UTC, if both are real (see
    /// [`Timestamp::parse`]).
    fn civil(
        (year, month, day): (i64, i64, i64),
        (h, m, s): (i64, i64, i64),
        millis: i64,
    ) -> Option<Timestamp> {
        let day = Day::from_ymd(year, month, day)?;
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        Some(Timestamp(day.start().0 + ((h * 60 + m) * 60 + s) * 1_000 + millis))
    }

    /// Milliseconds since the epoch, for window arithmetic.
    pub fn millis(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for Timestamp {
    /// Formats as CloudTrail does: `YYYY-MM-DDTHH:MM:SSZ`, with `.fff` only when not zero.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let millis = self.0.rem_euclid(1_000);
        let seconds = self.0.div_euclid(1_000);
        let (days, secs_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let (h, m, s) = (secs_of_day / 3_600, secs_of_day / 60 % 60, secs_of_day % 60);
        write!(f, "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}")?;
        if millis != 0 {
            write!(f, ".{millis:03}")?;
        }
        f.write_str("Z")
    }
}

/// A calendar day (UTC), as days since 1970-01-01: the unit of `--from` / `--to` and of the
/// `YYYY/MM/DD` folders CloudTrail writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// Parses `YYYY-MM-DD`, rejecting dates that do not exist.
    pub fn parse(text: &str) -> Option<Day> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        Day::from_ymd(digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?)
    }

    /// The day, if `year-month-day` is a real date.
    pub fn from_ymd(year: i64, month: i64, day: i64) -> Option<Day> {
        if !(1..=12).contains(&month) || day < 1 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        // A day past the month's end would roll over into the next month.
        (civil_from_days(days) == (year, month, day)).then_some(Day(days))
    }

    pub fn ymd(self) -> (i64, i64, i64) {
        civil_from_days(self.0)
    }

    pub fn next(self) -> Day {
        Day(self.0 + 1)
    }

    /// The instant this day starts.
    pub fn start(self) -> Timestamp {
        Timestamp(self.0 * 86_400_000)
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// The minutes of an offset `±HH:MM` (`+09:00` is 540), up to 23:59 either way.
fn offset_minutes(zone: &[u8]) -> Option<i64> {
    let sign = match zone.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if zone.len() != 6 || zone[3] != b':' {
        return None;
    }
    let (hours, minutes) = (digits(&zone[1..3])?, digits(&zone[4..6])?);
    (hours <= 23 && minutes <= 59).then_some(sign * (hours * 60 + minutes))
}

fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0i64, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0')))
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cloudtrail_event_time() {
        let t = Timestamp::parse("2023-09-21T01:24:44Z").expect("valid time");
        assert_eq!(t.0, 1_695_259_484_000);
        assert_eq!(t.to_string(), "2023-09-21T01:24:44Z");
    }

    #[test]
    fn keeps_milliseconds_and_round_trips_leap_days() {
        let t = Timestamp::parse("2024-02-29T23:59:59.250Z").expect("valid time");
        assert_eq!(t.to_string(), "2024-02-29T23:59:59.250Z");
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
    }

    #[test]
    fn days_parse_real_dates_only() {
        let day = Day::parse("2024-02-29").expect("leap day");
        assert_eq!(day.to_string(), "2024-02-29");
        assert_eq!(day.next().to_string(), "2024-03-01");
        assert_eq!(day.start(), Timestamp::parse("2024-02-29T00:00:00Z").expect("valid"));
        for bad in ["2023-02-29", "2024-04-31", "2024-13-01", "2024-1-01", "yesterday"] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "",
            "2023-09-21",
            "2023-09-21T01:24:44",
            "2023-09-21t01:24:44Z",
            "2023-09-21T01:24:44z",
            "2023-09-21T01:24:44+0900",
            "2023-09-21T01:24:44+9:00",
            "2023-09-21T01:24:44+24:00",
            "2023-09-21T01:24:44+09:60",
            "2023-09-21T01:24:44 +09:00",
            "2023-09-21T01:24:44Z+09:00",
            "2023-09-21T01:24:44+09:00Z",
            "2023-13-21T01:24:44Z",
            "2023-00-21T01:24:44Z",
            "2023-09-00T01:24:44Z",
            "2023-09-21T24:00:00Z",
            "2023-09-21T01:60:44Z",
            "2023-09-21T01:24:61Z",
            "2023-09-21T01:24:44.Z",
            "2023-09-21T01:24:44.1a2Z",
            "2023-09-21T01:24:44,5Z",
            "2023-9-21T01:24:44Z",
            "+023-09-21T01:24:44Z",
            "2023-09-21T01:24:4Z",
            "２０２３-09-21T01:24:44Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad:?}");
        }
    }

    /// Every time form, edge by edge: what each reads as, in UTC, or `None`.
    #[test]
    fn times_are_real_times_in_utc() {
        let cases: &[(&str, Option<&str>)] = &[
            // Leap years: every fourth, not every hundredth, every four hundredth.
            ("2000-02-29T12:00:00Z", Some("2000-02-29T12:00:00Z")),
            ("1900-02-29T12:00:00Z", None),
            ("2024-02-29T12:00:00Z", Some("2024-02-29T12:00:00Z")),
            ("2023-02-29T12:00:00Z", None),
            ("2100-02-29T12:00:00Z", None),
            ("2023-02-30T01:24:44Z", None),
            // The end of each month, and the day after it.
            ("2023-01-31T00:00:00Z", Some("2023-01-31T00:00:00Z")),
            ("2023-01-32T00:00:00Z", None),
            ("2023-02-28T00:00:00Z", Some("2023-02-28T00:00:00Z")),
            ("2023-03-31T00:00:00Z", Some("2023-03-31T00:00:00Z")),
            ("2023-04-30T00:00:00Z", Some("2023-04-30T00:00:00Z")),
            ("2023-04-31T00:00:00Z", None),
            ("2023-05-31T00:00:00Z", Some("2023-05-31T00:00:00Z")),
            ("2023-06-30T00:00:00Z", Some("2023-06-30T00:00:00Z")),
            ("2023-06-31T00:00:00Z", None),
            ("2023-07-31T00:00:00Z", Some("2023-07-31T00:00:00Z")),
            ("2023-08-31T00:00:00Z", Some("2023-08-31T00:00:00Z")),
            ("2023-09-30T00:00:00Z", Some("2023-09-30T00:00:00Z")),
            ("2023-09-31T00:00:00Z", None),
            ("2023-10-31T00:00:00Z", Some("2023-10-31T00:00:00Z")),
            ("2023-11-30T00:00:00Z", Some("2023-11-30T00:00:00Z")),
            ("2023-11-31T00:00:00Z", None),
            ("2023-12-31T23:59:59Z", Some("2023-12-31T23:59:59Z")),
            // Fractional seconds: milliseconds kept, finer digits dropped, not rounded.
            ("2024-03-01T10:00:00.5Z", Some("2024-03-01T10:00:00.500Z")),
            ("2024-03-01T10:00:00.123Z", Some("2024-03-01T10:00:00.123Z")),
            ("2024-03-01T10:00:00.1239999Z", Some("2024-03-01T10:00:00.123Z")),
            ("2024-03-01T10:00:00.000Z", Some("2024-03-01T10:00:00Z")),
            // Offsets, taken off: across midnight, a month's end and a year's end, either way.
            ("2024-03-01T09:00:00+09:00", Some("2024-03-01T00:00:00Z")),
            ("2024-03-01T08:59:59.250+09:00", Some("2024-02-29T23:59:59.250Z")),
            ("2024-01-01T05:30:00+05:30", Some("2024-01-01T00:00:00Z")),
            ("2024-01-01T01:00:00+01:00", Some("2024-01-01T00:00:00Z")),
            ("2024-01-01T00:59:00+01:00", Some("2023-12-31T23:59:00Z")),
            ("2023-12-31T20:00:00-04:00", Some("2024-01-01T00:00:00Z")),
            ("2023-02-28T23:30:00-00:45", Some("2023-03-01T00:15:00Z")),
            ("2024-03-01T00:00:00+00:00", Some("2024-03-01T00:00:00Z")),
            ("2024-03-01T00:00:00-00:00", Some("2024-03-01T00:00:00Z")),
            ("2024-03-01T12:00:00+23:59", Some("2024-02-29T12:01:00Z")),
            // A day that does not exist is not made real by an offset.
            ("2023-02-29T09:00:00+09:00", None),
            // The separator boto3 prints LookupEvents' EventTime with.
            ("2022-02-08 09:23:37+11:00", Some("2022-02-07T22:23:37Z")),
            // A leap second is a real second (it reads as the next minute's first).
            ("2016-12-31T23:59:60Z", Some("2017-01-01T00:00:00Z")),
            ("1970-01-01T00:00:00Z", Some("1970-01-01T00:00:00Z")),
            ("1969-12-31T23:59:59Z", Some("1969-12-31T23:59:59Z")),
        ];
        for (text, expected) in cases {
            let read = Timestamp::parse(text).map(|t| t.to_string());
            assert_eq!(read.as_deref(), *expected, "{text}");
        }
    }

    #[test]
    fn object_name_times_are_read_by_the_same_rules() {
        let at = |text: &str| Timestamp::parse_compact(text.as_bytes()).map(|t| t.to_string());
        assert_eq!(at("20240302T0005Z").as_deref(), Some("2024-03-02T00:05:00Z"));
        assert_eq!(at("20240302T000531Z").as_deref(), Some("2024-03-02T00:05:31Z"));
        assert_eq!(at("20240229T2359Z").as_deref(), Some("2024-02-29T23:59:00Z"));
        for bad in [
            "20230229T0000Z",
            "20230431T0000Z",
            "20240302T2400Z",
            "20240302T0060Z",
            "20240302T000561Z",
            "20240302T00053Z",
            "20240302T0005",
            "20240302 0005Z",
            "2024-03-02T0005Z",
            "2024030T20005Z",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
