//! The time source use cases read (a port, so tests pin it; the fixed clock is in `testkit`).

/// Seconds since the Unix epoch, the one clock every record and token uses.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix seconds as RFC 3339 in UTC (`2026-11-22T10:00:00Z`), without a date crate.
pub fn rfc3339(unix: i64) -> String {
    let (date, secs) = civil(unix);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// Unix milliseconds as RFC 3339 in UTC with milliseconds (`2026-11-22T10:00:00.123Z`).
pub fn rfc3339_millis(ms: i64) -> String {
    let (date, secs) = civil(ms.div_euclid(1000));
    format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60,
        ms.rem_euclid(1000)
    )
}

/// `YYYY-MM-DD` and the seconds into that day: Howard Hinnant's days-to-civil algorithm, exact
/// for the proleptic Gregorian calendar.
fn civil(unix: i64) -> (String, i64) {
    let days = unix.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        unix.rem_euclid(86_400),
    )
}

pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        unix_now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_in_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_763_800_065), "2025-11-22T08:27:45Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_millis(1_721_478_896_789),
            "2024-07-20T12:34:56.789Z"
        );
        assert_eq!(
            rfc3339_millis(1_420_070_400_000),
            "2015-01-01T00:00:00.000Z"
        );
    }
}
