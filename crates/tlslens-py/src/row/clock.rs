//! A capture timestamp as the row writes it: `_text.ts_iso`'s text
//! (`2026-11-28T10:00:00.123456Z`, no fraction when the microseconds are 0), in Rust.
//!
//! Strategy: the civil date of a day count is Howard Hinnant's `civil_from_days` (exact for
//! the proleptic Gregorian calendar `datetime` uses); a time whose year `datetime` cannot
//! hold (outside 1..=9999) is `None`, and the caller asks `_text.ts_iso` for it, which
//! answers as it always did.

const NS_PER_SECOND: i128 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// The ISO text of `ts_ns` (ns since the Unix epoch, UTC), or None outside years 1..=9999.
pub fn ts_iso(ts_ns: i128) -> Option<String> {
    // Floor division and a non-negative remainder, as Python's // and %.
    // The seconds of years 1..=9999 fit 64 bits, where the arithmetic is several times
    // cheaper than in 128.
    let seconds = i64::try_from(ts_ns.div_euclid(NS_PER_SECOND)).ok()?;
    let micro = ts_ns.rem_euclid(NS_PER_SECOND) / 1000;
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days)?;
    if !(1..=9999).contains(&year) {
        return None;
    }
    // In range, every part fits 16 bits.
    let part = |value: i64| u32::try_from(value).unwrap_or(0);
    Some(civil_iso(
        (part(year), part(month), part(day)),
        (
            part(of_day / 3600),
            part(of_day % 3600 / 60),
            part(of_day % 60),
        ),
        u32::try_from(micro).unwrap_or(0),
    ))
}

/// The ISO text of a UTC time given by its fields (a `datetime`'s, or `ts_iso`'s), written
/// digit by digit (`format!` cost more than the rest of the row's times together).
pub fn civil_iso(date: (u32, u32, u32), time: (u32, u32, u32), micro: u32) -> String {
    let mut text = Vec::with_capacity(28);
    digits(&mut text, date.0, 4);
    text.push(b'-');
    digits(&mut text, date.1, 2);
    text.push(b'-');
    digits(&mut text, date.2, 2);
    text.push(b'T');
    digits(&mut text, time.0, 2);
    text.push(b':');
    digits(&mut text, time.1, 2);
    text.push(b':');
    digits(&mut text, time.2, 2);
    if micro != 0 {
        text.push(b'.');
        digits(&mut text, micro, 6);
    }
    text.push(b'Z');
    // Digits and separators only: ASCII, which is UTF-8 as it is.
    String::from_utf8(text).unwrap_or_default()
}

/// The last `width` decimal digits of `value`, zero-padded (written from the last).
fn digits(text: &mut Vec<u8>, value: u32, width: usize) {
    let start = text.len();
    text.resize(start + width, b'0');
    let mut rest = value;
    for slot in text.iter_mut().skip(start).rev() {
        *slot = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
    }
}

/// (year, month, day) of a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> Option<(i64, i64, i64)> {
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe.checked_add(era.checked_mul(400)?)? + i64::from(month <= 2);
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
