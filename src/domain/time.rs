//! Points in time, as Secrets Manager reports them (whole seconds, UTC), printed and read as RFC 3339
//! (`2026-11-30T13:05:00Z`). The operators' commands judge schedules with them; the rotation itself needs none.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

const DAY: i64 = 86_400;

impl Timestamp {
    pub fn from_unix(seconds: i64) -> Timestamp {
        Timestamp(seconds)
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    /// The system clock; a clock before 1970 reads as the epoch.
    pub fn now() -> Timestamp {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Timestamp(i64::try_from(since.as_secs()).unwrap_or(i64::MAX))
    }

    pub fn plus(self, by: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(i64::try_from(by.as_secs()).unwrap_or(i64::MAX)))
    }

    pub fn plus_days(self, days: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(days.saturating_mul(DAY)))
    }

    /// `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]Z`, or the same with `+00:00`; `None` for anything else. Only UTC, so that
    /// a date means the same on every machine.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        let (date, time) = match text.split_once(['T', ' ']) {
            Some((date, time)) => (date, Some(time)),
            None => (text, None),
        };
        let mut parts = date.splitn(3, '-');
        let year: i64 = digits(parts.next()?, 4)?;
        let month: i64 = digits(parts.next()?, 2)?;
        let day: i64 = digits(parts.next()?, 2)?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        let mut seconds = days_from_civil(year, month, day) * DAY;
        if let Some(time) = time {
            let time = time.strip_suffix('Z').or_else(|| time.strip_suffix("+00:00"))?;
            let mut parts = time.splitn(3, ':');
            let hour: i64 = digits(parts.next()?, 2)?;
            let minute: i64 = digits(parts.next()?, 2)?;
            let second: i64 = match parts.next() {
                Some(second) => digits(second, 2)?,
                None => 0,
            };
            if hour > 23 || minute > 59 || second > 59 {
                return None;
            }
            seconds += hour * 3600 + minute * 60 + second;
        }
        Some(Timestamp(seconds))
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC, to the second.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, seconds) = (self.0.div_euclid(DAY), self.0.rem_euclid(DAY));
        let (year, month, day) = civil_from_days(days);
        let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
        write!(f, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
    }
}

fn digits(text: &str, len: usize) -> Option<i64> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of `days_from_civil`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_reads_rfc3339() {
        assert_eq!(Timestamp::from_unix(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_unix(1_796_043_900).to_string(), "2026-11-30T13:05:00Z");
        assert_eq!(Timestamp::parse("2026-11-30T13:05:00Z"), Some(Timestamp::from_unix(1_796_043_900)));
        assert_eq!(Timestamp::parse("2026-11-30T13:05Z"), Some(Timestamp::from_unix(1_796_043_900)));
        assert_eq!(Timestamp::parse("2026-11-30 13:05:00+00:00"), Some(Timestamp::from_unix(1_796_043_900)));
        assert_eq!(Timestamp::parse("2026-11-30"), Some(Timestamp::from_unix(1_796_043_900 - 13 * 3600 - 300)));
        assert_eq!(Timestamp::parse("2024-02-29").map(|t| t.to_string()).as_deref(), Some("2024-02-29T00:00:00Z"));
        for text in ["", "2026-13-01", "2026-02-29", "2026-11-30T25:00Z", "2026-11-30T13:05", "26-11-30", "now"] {
            assert_eq!(Timestamp::parse(text), None, "{text}");
        }
    }

    #[test]
    fn round_trips_every_day_of_four_digit_years() {
        // 0001-01-01 to 9900.
        let mut days = -719_162;
        while days < 2_900_000 {
            let t = Timestamp::from_unix(days * DAY + 3661);
            assert_eq!(Timestamp::parse(&t.to_string()), Some(t));
            days += 97;
        }
    }

    #[test]
    fn adds_days_and_durations() {
        let t = Timestamp::from_unix(1_000_000);
        assert_eq!(t.plus_days(3).unix(), 1_000_000 + 3 * DAY);
        assert_eq!(t.plus(Duration::from_secs(60)).unix(), 1_000_060);
        assert_eq!(Timestamp::from_unix(i64::MAX).plus_days(1).unix(), i64::MAX);
    }
}
