//! CloudTrail `eventTime` values: ISO 8601 UTC timestamps (`2023-09-21T01:24:44Z`) parsed to
//! milliseconds since the epoch and formatted back, without a date-time dependency.

/// A minute, an hour and a day, in the milliseconds a [`Timestamp`] counts.
pub(crate) const MINUTE: i64 = 60_000;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff…]Z` (the only form CloudTrail writes). Anything else,
    /// including an offset other than `Z`, is `None`: a record with an unreadable time is still
    /// counted but cannot be paired.
    pub fn parse(text: &str) -> Option<Timestamp> {
        Timestamp::parse_bytes(text.as_bytes())
    }

    /// [`Timestamp::parse`] of a text's bytes (what is not UTF-8 is not a timestamp either).
    pub(crate) fn parse_bytes(b: &[u8]) -> Option<Timestamp> {
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
            return None;
        }
        if b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[5..7])?;
        let day = digits(&b[8..10])?;
        let (hour, minute, second) = (digits(&b[11..13])?, digits(&b[14..16])?, digits(&b[17..19])?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let fraction = &b[19..b.len() - 1];
        let millis = match fraction {
            [] => 0,
            [b'.', rest @ ..] if !rest.is_empty() => {
                // Milliseconds from the first three digits; finer digits must still be digits.
                if !rest.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let mut ms = 0;
                for i in 0..3 {
                    ms = ms * 10 + rest.get(i).map_or(0, |d| i64::from(d - b'0'));
                }
                ms
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
        Some(Timestamp(seconds * 1_000 + millis))
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
            "2023-09-21 01:24:44Z",
            "2023-09-21T01:24:44+09:00",
            "2023-13-21T01:24:44Z",
            "2023-09-21T01:24:44.Z",
            "２０２３-09-21T01:24:44Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad:?}");
        }
    }
}
