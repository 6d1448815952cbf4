//! Halo's date formats, without a date crate.
//!
//! Halo writes real timestamps as UTC ISO-8601 with a `Z` and seven fractional digits
//! (`2024-06-20T14:45:15.9746271Z`) and "no date" as sentinels *without* a `Z`
//! (`1900-01-01T00:00:00`, sometimes `1899-12-30T00:00:00` or `0001-01-01T00:00:00`)
//! (halo-api.md §7.6–7.7). Everything the simulator emits goes through this module so the
//! two shapes are produced in exactly one place. Internally a point in time is a count of
//! 100 ns ticks since the Unix epoch (i128, so 0001-01-01 fits), which is also the unit of
//! the seven fractional digits.

use std::time::{SystemTime, UNIX_EPOCH};

/// Halo's usual "empty date" sentinel. Note: no `Z` (halo-api.md §7.6).
pub(crate) const SENTINEL: &str = "1900-01-01T00:00:00";

pub(crate) const TICKS_PER_SEC: i128 = 10_000_000;
pub(crate) const TICKS_PER_DAY: i128 = 86_400 * TICKS_PER_SEC;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Ticks at midnight UTC of a calendar date.
pub(crate) fn date_ticks(y: i64, m: u32, d: u32) -> i128 {
    i128::from(days_from_civil(y, m, d)) * TICKS_PER_DAY
}

/// The current time in ticks.
pub(crate) fn now_ticks() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => {
            i128::from(d.as_secs() as i64) * TICKS_PER_SEC + i128::from(d.subsec_nanos() / 100)
        }
        Err(_) => 0,
    }
}

fn split(ticks: i128) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = ticks.div_euclid(TICKS_PER_DAY);
    let rem = ticks.rem_euclid(TICKS_PER_DAY);
    let (y, mo, d) = civil_from_days(days as i64);
    let secs = (rem / TICKS_PER_SEC) as u32;
    let frac = (rem % TICKS_PER_SEC) as u32;
    (y, mo, d, secs / 3600, (secs / 60) % 60, secs % 60, frac)
}

/// A real Halo timestamp: `YYYY-MM-DDTHH:MM:SS.fffffffZ`.
pub(crate) fn format_ts(ticks: i128) -> String {
    let (y, mo, d, h, mi, s, f) = split(ticks);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:07}Z")
}

/// A date-valued Halo field (midnight, no fraction, no `Z`), e.g. invoice dates and
/// contract start dates: `2025-04-01T00:00:00`.
pub(crate) fn format_date(ticks: i128) -> String {
    let (y, mo, d, ..) = split(ticks);
    format!("{y:04}-{mo:02}-{d:02}T00:00:00")
}

/// Parses what Halo accepts as a date filter: `2026-03-01`, `2026-03-01T10:00:00`,
/// `…Z`, `….9746271Z`, `…+01:00` is not needed by any client and is not supported.
/// A bare date is midnight UTC.
pub(crate) fn parse_ts(s: &str) -> Option<i128> {
    let s = s.trim();
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ticks = date_ticks(y, m, d);
    if let Some(t) = time {
        let (hms, frac) = match t.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (t, None),
        };
        let mut hms = hms.split(':');
        let h: i128 = hms.next()?.parse().ok()?;
        let mi: i128 = hms.next().unwrap_or("0").parse().ok()?;
        let sec: i128 = hms.next().unwrap_or("0").parse().ok()?;
        ticks += ((h * 60 + mi) * 60 + sec) * TICKS_PER_SEC;
        if let Some(f) = frac {
            let digits: String = f.chars().take(7).collect();
            let n: i128 = digits.parse().ok()?;
            ticks += n * 10_i128.pow(7 - digits.len() as u32);
        }
    }
    Some(ticks)
}

/// True when `s` is only a date (`YYYY-MM-DD`), used to make an `enddate` filter inclusive.
pub(crate) fn is_date_only(s: &str) -> bool {
    !s.trim().contains(['T', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let t = date_ticks(2024, 6, 20) + (14 * 3600 + 45 * 60 + 15) * TICKS_PER_SEC + 9_746_271;
        assert_eq!(format_ts(t), "2024-06-20T14:45:15.9746271Z");
        assert_eq!(parse_ts("2024-06-20T14:45:15.9746271Z"), Some(t));
        assert_eq!(
            parse_ts("2024-06-20T14:45:15.975Z"),
            Some(t - 9_746_271 + 9_750_000)
        );
        assert_eq!(format_date(t), "2024-06-20T00:00:00");
        assert_eq!(parse_ts(SENTINEL), Some(date_ticks(1900, 1, 1)));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
        assert_eq!(parse_ts("2026-03-01"), Some(date_ticks(2026, 3, 1)));
        assert!(parse_ts("yesterday").is_none());
        assert!(is_date_only("2026-03-01") && !is_date_only("2026-03-01T00:00:00"));
    }
}
