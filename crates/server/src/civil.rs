//! UTC calendar time from Unix seconds, for human output (the CLI) and the request log.

/// A UTC date and time to the second, shown as `YYYY-MM-DDTHH:MM:SS`.
pub struct CivilTime {
    year: i64,
    month: i64,
    day: i64,
    secs_of_day: i64,
}

impl CivilTime {
    /// Days since 1970-01-01 to a Gregorian date: H. Hinnant's `civil_from_days`
    /// (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>).
    pub fn from_unix(secs: i64) -> Self {
        let z = secs.div_euclid(86_400) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year, month, day, secs_of_day: secs.rem_euclid(86_400) }
    }
}

impl std::fmt::Display for CivilTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.secs_of_day;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let at = |secs| CivilTime::from_unix(secs).to_string();
        assert_eq!(at(0), "1970-01-01T00:00:00");
        assert_eq!(at(-1), "1969-12-31T23:59:59");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(at(1_796_603_927), "2026-12-07T00:38:47");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00");
    }
}
