//! A capture timestamp as the row writes it: `model.ts_iso`'s text
//! (`2026-11-28T10:00:00.123456Z`, no fraction when the microseconds are 0), in Rust.
//!
//! Strategy: the civil date of a day count is Howard Hinnant's `civil_from_days` (exact for
//! the proleptic Gregorian calendar `datetime` uses); a time whose year `datetime` cannot
//! hold (outside 1..=9999) is `None`, and the caller asks `model.ts_iso` for it, which
//! answers as it always did.

const NS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: i128 = 86_400;

/// The ISO text of `ts_ns` (ns since the Unix epoch, UTC), or None outside years 1..=9999.
pub fn ts_iso(ts_ns: i128) -> Option<String> {
    // Floor division and a non-negative remainder, as Python's // and %.
    let seconds = ts_ns.div_euclid(NS_PER_SECOND);
    let micro = ts_ns.rem_euclid(NS_PER_SECOND) / 1000;
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days)?;
    if !(1..=9999).contains(&year) {
        return None;
    }
    // In range, every part fits 16 bits (formatting an i128 is several times slower).
    let part = |value: i128| u16::try_from(value).unwrap_or(0);
    let (year, month, day) = (part(year), part(month), part(day));
    let (hour, minute, second) = (
        part(of_day / 3600),
        part(of_day % 3600 / 60),
        part(of_day % 60),
    );
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if micro != 0 {
        text.push_str(&format!(".{:06}", u32::try_from(micro).unwrap_or(0)));
    }
    text.push('Z');
    Some(text)
}

/// (year, month, day) of a count of days since 1970-01-01.
fn civil_from_days(days: i128) -> Option<(i128, i128, i128)> {
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe.checked_add(era.checked_mul(400)?)? + i128::from(month <= 2);
    Some((year, month, day))
}

#[cfg(test)]
mod tests {
    use super::ts_iso;

    #[test]
    fn times_are_written_as_datetime_isoformat_does() {
        assert_eq!(ts_iso(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            ts_iso(1_764_324_000_123_456_789).as_deref(),
            Some("2025-11-28T10:00:00.123456Z")
        );
        // Sub-microsecond nanoseconds are dropped; a leap day; before the epoch.
        assert_eq!(ts_iso(999).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            ts_iso(951_782_400_000_001_000).as_deref(),
            Some("2000-02-29T00:00:00.000001Z")
        );
        assert_eq!(ts_iso(-1).as_deref(), Some("1969-12-31T23:59:59.999999Z"));
        assert_eq!(
            ts_iso(253_402_300_799_000_000_000).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(ts_iso(253_402_300_800_000_000_000), None);
        assert_eq!(ts_iso(-62_135_596_801_000_000_000), None);
        assert_eq!(
            ts_iso(-62_135_596_800_000_000_000).as_deref(),
            Some("0001-01-01T00:00:00Z")
        );
        assert_eq!(ts_iso(i128::MAX), None);
        assert_eq!(ts_iso(i128::MIN), None);
    }
}
