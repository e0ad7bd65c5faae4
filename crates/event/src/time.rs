//! UTC times as RFC 3339 text with microseconds, and the time expressions the CLI accepts.

use crate::Nanos;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError(pub String);

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimeError {}

/// The longest duration a configuration file may give.
const MAX_DUR: Nanos = 3650 * 86_400 * 1_000_000_000;

/// A duration in configuration files: `"30s"`, `"5m"`, `"500ms"`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Nanos);

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Dur(i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1_000_000_000))),
            Raw::Text(t) => parse_duration(&t).map(Dur).map_err(serde::de::Error::custom),
        }
        .and_then(|d| {
            // Times are added to frame times (at most 2^62 ns); ten years keeps that in range.
            if d.0 > MAX_DUR {
                Err(serde::de::Error::custom("durations above ten years (3650d) are not accepted"))
            } else {
                Ok(d)
            }
        })
    }
}

/// Days since 1970-01-01 to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date
/// Algorithms").
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The wall clock, in nanoseconds since the epoch (0 before it).
pub fn wall_clock() -> Nanos {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as Nanos)
}

/// `2026-11-26T04:37:18.123456Z`
pub fn format_rfc3339_micros(ts: Nanos) -> String {
    let mut b = Vec::with_capacity(27);
    write_rfc3339_micros(&mut b, ts);
    String::from_utf8(b).unwrap_or_default()
}

/// Writes `2026-11-26T04:37:18.123456Z` into `out` (years outside 0..=9999 are clamped).
pub fn write_rfc3339_micros(out: &mut Vec<u8>, ts: Nanos) {
    thread_local! {
        /// The text up to the seconds of the last second written: most times written in a
        /// row fall in the same second.
        static LAST: std::cell::Cell<(i64, [u8; 20])> = const { std::cell::Cell::new((i64::MIN, [0; 20])) };
    }
    let secs = ts.div_euclid(1_000_000_000);
    let micros = ts.rem_euclid(1_000_000_000) / 1000;
    let (last, mut prefix) = LAST.get();
    if last != secs {
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        let mut at = 0;
        for (v, n, after) in [
            (y.clamp(0, 9999), 4, b'-'),
            (i64::from(m), 2, b'-'),
            (i64::from(d), 2, b'T'),
            (sod / 3600, 2, b':'),
            ((sod / 60) % 60, 2, b':'),
            (sod % 60, 2, b'.'),
        ] {
            put_digits(&mut prefix[at..at + n], v);
            prefix[at + n] = after;
            at += n + 1;
        }
        LAST.set((secs, prefix));
    }
    let mut frac = [b'Z'; 7];
    put_digits(&mut frac[..6], micros);
    out.extend_from_slice(&prefix);
    out.extend_from_slice(&frac);
}

/// `v` as zero-padded decimal digits filling `slot`.
fn put_digits(slot: &mut [u8], mut v: i64) {
    for d in slot.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Parses `500ms`, `30s`, `5m`, `2h`, `7d` (or a bare number of seconds) into nanoseconds.
pub fn parse_duration(s: &str) -> Result<Nanos, TimeError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| TimeError(format!("`{s}` is not a duration (e.g. 30s, 5m, 2h, 7d)")))?;
    let mult = match unit.trim() {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "" | "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86_400e9,
        other => return Err(TimeError(format!("unknown duration unit `{other}` in `{s}` (use ms, s, m, h, d)"))),
    };
    let v = n * mult;
    if !(0.0..9.2e18).contains(&v) {
        return Err(TimeError(format!("duration `{s}` is out of range")));
    }
    Ok(v as Nanos)
}

/// Parses an RFC 3339 time (`2026-11-26T04:37:18Z`, offsets and fractions allowed), a date
/// (`2026-11-26`, midnight UTC), or a duration meaning "that long before `now`" (`15m`, `2h`).
pub fn parse_time(s: &str, now: Nanos) -> Result<Nanos, TimeError> {
    let s = s.trim();
    let bad =
        || TimeError(format!("`{s}` is not a time: use RFC 3339 (2026-11-26T04:37:18Z), a date, or an age like 15m"));
    if s.len() < 10 || s.as_bytes().get(4) != Some(&b'-') {
        return parse_duration(s).map(|d| now - d).map_err(|_| bad());
    }
    let num = |a: usize, b: usize| s.get(a..b).and_then(|x| x.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut t = days_from_civil(y, mo as u32, d as u32) * 86_400 * 1_000_000_000;
    if s.len() == 10 {
        return Ok(t);
    }
    if !matches!(s.as_bytes()[10], b'T' | b't' | b' ') || s.len() < 19 {
        return Err(bad());
    }
    let (h, mi, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    t += ((h * 60 + mi) * 60 + sec) * 1_000_000_000;
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
        let f = &frac[..digits];
        let mut ns: i64 = 0;
        for (i, c) in f.chars().take(9).enumerate() {
            ns += i64::from(c as u8 - b'0') * 10i64.pow(8 - i as u32);
        }
        t += ns;
        rest = &frac[digits..];
    }
    match rest {
        "Z" | "z" | "" => Ok(t),
        off if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) => {
            let oh: i64 = off[1..3].parse().map_err(|_| bad())?;
            let om: i64 = off[4..6].parse().map_err(|_| bad())?;
            let secs = (oh * 60 + om) * 60 * 1_000_000_000;
            Ok(if off.starts_with('+') { t - secs } else { t + secs })
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        let t = parse_time("2026-11-26T04:37:18.123456Z", 0).unwrap();
        assert_eq!(format_rfc3339_micros(t), "2026-11-26T04:37:18.123456Z");
        assert_eq!(parse_time("2026-11-26T05:37:18.123456+01:00", 0).unwrap(), t);
        assert_eq!(format_rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_rfc3339_micros(951_782_400_000_000_000), "2000-02-29T00:00:00.000000Z");
        assert_eq!(format_rfc3339_micros(-1_000), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn configured_durations_are_text_or_seconds_and_at_most_ten_years() {
        let d = |s: &str| serde_json::from_str::<Dur>(s).map(|d| d.0).map_err(|e| e.to_string());
        assert_eq!(d("\"5m\""), Ok(300_000_000_000));
        assert_eq!(d("30"), Ok(30_000_000_000));
        assert!(d("\"3651d\"").unwrap_err().contains("ten years"));
        assert!(d("18446744073709551615").is_err());
    }

    #[test]
    fn relative_times_and_durations() {
        assert_eq!(parse_time("15m", 3_600_000_000_000).unwrap(), 2_700_000_000_000);
        assert_eq!(parse_duration("500ms").unwrap(), 500_000_000);
        assert_eq!(parse_duration("2h").unwrap(), 7_200_000_000_000);
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_time("2026-13-01", 0).is_err());
    }
}
