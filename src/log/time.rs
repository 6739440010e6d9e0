//! Timestamps for log lines, in UTC, without a calendar dependency.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
/// Day and month are in 1..=31 and 1..=12 by construction, so the casts cannot lose sign.
#[allow(clippy::cast_sign_loss, clippy::cast_possible_wrap)]
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
}

// Seconds since 1970 fit an i64 for the next 292 billion years.
#[allow(clippy::cast_possible_wrap)]
fn parts(t: SystemTime) -> Parts {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
    }
}

/// `2026-11-24T04:30:05.123456Z`: ISO 8601 in UTC with microseconds (the JSON access
/// log's `time`).
pub fn push_iso8601(out: &mut String, t: SystemTime) {
    let p = parts(t);
    let micros = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    );
}

/// `2026-11-24 04:30:00 +0000`: the error log's timestamp.
pub fn push_log_timestamp(out: &mut String, t: SystemTime) {
    let p = parts(t);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    );
}

/// `[24/Nov/2026:04:30:00 +0000]`: the access log's `%(t)s` (Common Log Format).
pub fn push_clf_timestamp(out: &mut String, t: SystemTime) {
    let p = parts(t);
    let _ = write!(
        out,
        "[{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000]",
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.minute,
        p.second
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        // 2026-11-24T04:30:05Z
        let t = UNIX_EPOCH + Duration::from_secs(1_795_494_605);
        let mut s = String::new();
        push_log_timestamp(&mut s, t);
        assert_eq!(s, "2026-11-24 04:30:05 +0000");
        let mut s = String::new();
        push_clf_timestamp(&mut s, t);
        assert_eq!(s, "[24/Nov/2026:04:30:05 +0000]");
        let mut s = String::new();
        push_log_timestamp(&mut s, UNIX_EPOCH + Duration::from_secs(951_782_400));
        assert_eq!(s, "2000-02-29 00:00:00 +0000");
        let mut s = String::new();
        push_iso8601(&mut s, t + Duration::from_micros(1_234));
        assert_eq!(s, "2026-11-24T04:30:05.001234Z");
    }
}
