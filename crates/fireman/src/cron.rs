//! Cron schedules, as ElastAlert reads `aggregation: {schedule: '2 4 * * mon,fri'}` (with
//! croniter): five fields — minute, hour, day of month, month, day of week — each `*`, a
//! number, a range `a-b`, any of them with a step `/n`, or a list of those; months and days
//! by their English names too (`jan`, `mon`); day of week 0 or 7 for Sunday; `@hourly`,
//! `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly` (`@annually`). When both the day of
//! month and the day of week are restricted (anything but `*`), a day matching either
//! matches, as croniter has it.
//! Times are UTC.

use iotw_event::Nanos;

const MINUTE: Nanos = 60_000_000_000;
const DAY: Nanos = 1_440 * MINUTE;
/// How far ahead a time is looked for: every schedule that can match at all matches within
/// 28 years (the calendar repeats; 29 February on a given weekday comes round within them).
const HORIZON_DAYS: i64 = 28 * 366;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// One bit per allowed value.
    minutes: u64,
    hours: u32,
    /// Bits 1 to 31.
    days: u32,
    /// Bits 1 to 12.
    months: u16,
    /// Bits 0 (Sunday) to 6.
    weekdays: u8,
    /// Whether both day fields are restricted: a day then matches when either does.
    either_day: bool,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl std::str::FromStr for Cron {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = match text.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            t => t,
        };
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(format!("{text:?} is not a cron schedule (five fields: minute hour day month weekday)"));
        };
        // Day of week 7 is Sunday, as 0 is.
        let weekdays = field(weekday, 0, 7, &WEEKDAYS, "day of week")?;
        let weekdays = (weekdays | weekdays >> 7) & 0x7f;
        let cron = Cron {
            minutes: field(minute, 0, 59, &[], "minute")?,
            hours: field(hour, 0, 23, &[], "hour")? as u32,
            days: field(day, 1, 31, &[], "day of month")? as u32,
            months: field(month, 1, 12, &MONTHS, "month")? as u16,
            weekdays: weekdays as u8,
            // (croniter's rule: a step over `*` restricts too)
            either_day: day != "*" && weekday != "*",
        };
        if cron.next_after(0).is_none() {
            return Err(format!("{text:?} never comes (no such day)"));
        }
        Ok(cron)
    }
}

/// The bits of the values `text` allows, from `lo` to `hi`; `names` name the values from `lo`
/// on.
fn field(text: &str, lo: u32, hi: u32, names: &[&str], what: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a cron {what} field ({lo} to {hi})");
    let value = |v: &str| -> Result<u32, String> {
        let n = match names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            Some(i) => lo + i as u32,
            None => v.parse::<u32>().map_err(|_| bad())?,
        };
        (lo..=hi).contains(&n).then_some(n).ok_or_else(bad)
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|&s| s > 0).ok_or_else(bad)?),
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `a/n`: from a to the end.
                None if step > 1 => (value(r)?, hi),
                None => (value(r)?, value(r)?),
            },
        };
        if from > to {
            return Err(bad());
        }
        for v in (from..=to).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok(bits)
}

impl Cron {
    /// The first time the schedule names strictly after `t` (a whole minute); `None` when
    /// none comes within [`HORIZON_DAYS`].
    pub fn next_after(&self, t: Nanos) -> Option<Nanos> {
        let start = t.div_euclid(MINUTE).checked_add(1)?.checked_mul(MINUTE)?;
        let first_day = start.div_euclid(DAY);
        let first_minute = (start.rem_euclid(DAY) / MINUTE) as u32;
        for d in first_day..first_day.checked_add(HORIZON_DAYS)? {
            if !self.day_matches(d) {
                continue;
            }
            let from = if d == first_day { first_minute } else { 0 };
            for m in from..1_440 {
                if self.hours >> (m / 60) & 1 == 1 && self.minutes >> (m % 60) & 1 == 1 {
                    return d.checked_mul(DAY)?.checked_add(Nanos::from(m) * MINUTE);
                }
            }
        }
        None
    }

    fn day_matches(&self, days: i64) -> bool {
        let (_, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday.
        let weekday = (days + 4).rem_euclid(7) as u32;
        if self.months >> month & 1 == 0 {
            return false;
        }
        let (by_day, by_weekday) = (self.days >> day & 1 == 1, self.weekdays >> weekday & 1 == 1);
        if self.either_day {
            by_day || by_weekday
        } else {
            by_day && by_weekday
        }
    }
}

/// (year, month 1-12, day 1-31) of a day counted from 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Nanos {
        iotw_event::parse_time(text, 0).expect("a time")
    }

    fn next(schedule: &str, after: &str) -> String {
        let cron: Cron = schedule.parse().expect("a schedule");
        iotw_event::format_rfc3339_micros(cron.next_after(at(after)).expect("a time"))
    }

    #[test]
    fn the_next_time_is_the_first_the_schedule_names_after_the_given_one() {
        // Each expected time is what croniter (which ElastAlert asks) gives for the same
        // schedule and time.
        // 2026-11-27 is a Friday.
        let cases = [
            ("2 4 * * mon,fri", "2026-11-27T05:00:00Z", "2026-11-30T04:02:00.000000Z"),
            ("2 4 * * mon,fri", "2026-11-27T04:01:59Z", "2026-11-27T04:02:00.000000Z"),
            // Strictly after: a time the schedule names gives the one after it.
            ("2 4 * * mon,fri", "2026-11-27T04:02:00Z", "2026-11-30T04:02:00.000000Z"),
            ("*/15 * * * *", "2026-11-27T10:07:30Z", "2026-11-27T10:15:00.000000Z"),
            ("0 */6 * * *", "2026-11-27T19:00:00Z", "2026-11-28T00:00:00.000000Z"),
            ("30 9-17/4 * * *", "2026-11-27T13:31:00Z", "2026-11-27T17:30:00.000000Z"),
            ("0 0 1 * *", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00.000000Z"),
            ("0 12 29 feb *", "2026-03-01T00:00:00Z", "2028-02-29T12:00:00.000000Z"),
            // Day of month and day of week both restricted: either will do.
            ("0 0 13 * fri", "2026-11-27T00:00:01Z", "2026-12-04T00:00:00.000000Z"),
            ("0 0 13 * FRI", "2026-12-05T00:00:00Z", "2026-12-11T00:00:00.000000Z"),
            ("0 0 13 * fri", "2026-12-12T00:00:00Z", "2026-12-13T00:00:00.000000Z"),
            ("0 0 */2 * mon", "2026-11-29T00:00:00Z", "2026-11-30T00:00:00.000000Z"),
            ("0 0 13 * */2", "2026-11-27T00:00:00Z", "2026-11-28T00:00:00.000000Z"),
            ("0 0 * * 1-5/2", "2026-12-02T00:00:00Z", "2026-12-04T00:00:00.000000Z"),
            // Restricted day of month, any weekday: that day only.
            ("0 0 13 * *", "2026-11-27T00:00:00Z", "2026-12-13T00:00:00.000000Z"),
            ("0 0 * * 7", "2026-11-27T00:00:00Z", "2026-11-29T00:00:00.000000Z"),
            ("0 0 * * sun", "2026-11-27T00:00:00Z", "2026-11-29T00:00:00.000000Z"),
            ("5 0 * 8-9 *", "2026-11-27T00:00:00Z", "2027-08-01T00:05:00.000000Z"),
            ("1,2,3 0 * * *", "2026-11-27T00:02:00Z", "2026-11-27T00:03:00.000000Z"),
            ("10/20 0 * * *", "2026-11-27T00:31:00Z", "2026-11-27T00:50:00.000000Z"),
            ("@hourly", "2026-11-27T23:59:00Z", "2026-11-28T00:00:00.000000Z"),
            ("@weekly", "2026-11-27T00:00:00Z", "2026-11-29T00:00:00.000000Z"),
            ("@yearly", "2026-11-27T00:00:00Z", "2027-01-01T00:00:00.000000Z"),
            ("59 23 31 dec *", "1999-12-31T23:59:00Z", "2000-12-31T23:59:00.000000Z"),
        ];
        for (schedule, after, want) in cases {
            assert_eq!(next(schedule, after), want, "{schedule} after {after}");
        }
    }

    #[test]
    fn a_schedule_that_is_not_one_is_an_error() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "a * * * *",
            "* * * foo *",
            "0 0 30 feb *",
            "0 0 31 apr,jun *",
        ] {
            assert!(bad.parse::<Cron>().is_err(), "{bad:?}");
        }
    }
}
