//! The next time an EventBridge Scheduler expression fires: `cron(...)` in
//! the schedule's time zone, `at(...)`; `rate(...)` depends on when the
//! schedule was created, so it gets no time.
//!
//! Cron fields (AWS): minutes hours day-of-month month day-of-week year,
//! with `*`, `?`, lists, ranges, `/` steps, month and day names (day of week
//! 1-7 = SUN-SAT). `L`, `W` and `#` are not evaluated (no time is given).

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp as Instant, ToSpan, Zoned};

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The values a field allows, `None` for `*`/`?`.
fn field(text: &str, min: i32, max: i32, names: &[&str]) -> Result<Option<Vec<i32>>, String> {
    if text == "*" || text == "?" {
        return Ok(None);
    }
    let value = |t: &str| -> Result<i32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(t)) {
            return Ok(i as i32 + min);
        }
        t.parse::<i32>()
            .map_err(|_| format!("`{t}` is not supported in a cron field"))
    };
    let mut values = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<i32>()
                    .map_err(|_| format!("bad step in `{part}`"))?,
            ),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(range)?, max),
                None => (value(range)?, value(range)?),
            },
        };
        if step < 1 || from < min || to > max || from > to {
            return Err(format!("`{part}` is out of range {min}-{max}"));
        }
        values.extend((from..=to).step_by(step as usize));
    }
    Ok(Some(values))
}

fn allows(values: &Option<Vec<i32>>, v: i32) -> bool {
    values.as_ref().is_none_or(|list| list.contains(&v))
}

/// The first time strictly after `after` that `expression` fires, in `zone`
/// (an IANA name; UTC when `None`). `Ok(None)`: the expression has no next
/// time that can be computed (a rate, a past `at`, nothing within 5 years).
pub fn next_run(
    expression: &str,
    zone: Option<&str>,
    after: Instant,
) -> Result<Option<Zoned>, String> {
    let tz = match zone {
        Some(name) => TimeZone::get(name).map_err(|e| format!("time zone {name}: {e}"))?,
        None => TimeZone::UTC,
    };
    let expression = expression.trim();
    if expression.starts_with("rate(") {
        return Ok(None);
    }
    if let Some(at) = expression
        .strip_prefix("at(")
        .and_then(|s| s.strip_suffix(')'))
    {
        let civil: jiff::civil::DateTime = at.parse().map_err(|e| format!("at({at}): {e}"))?;
        let when = civil.to_zoned(tz).map_err(|e| e.to_string())?;
        return Ok((when.timestamp() > after).then_some(when));
    }
    let Some(body) = expression
        .strip_prefix("cron(")
        .and_then(|s| s.strip_suffix(')'))
    else {
        return Err(format!("not a schedule expression: {expression}"));
    };
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [minutes, hours, dom, month, dow, year] = parts[..] else {
        return Err(format!("cron({body}) needs 6 fields"));
    };
    let minutes = field(minutes, 0, 59, &[])?;
    let hours = field(hours, 0, 23, &[])?;
    let dom = field(dom, 1, 31, &[])?;
    let month = field(month, 1, 12, &MONTHS)?;
    let dow = field(dow, 1, 7, &DAYS)?;
    let year = field(year, 1970, 2199, &[])?;
    let start = after.to_zoned(tz.clone());
    let mut day: Date = start.date();
    for _ in 0..(366 * 5) {
        let weekday = day.weekday().to_sunday_one_offset() as i32;
        if allows(&year, day.year() as i32)
            && allows(&month, day.month() as i32)
            && allows(&dom, day.day() as i32)
            && allows(&dow, weekday)
        {
            for hour in 0..24 {
                if !allows(&hours, hour) {
                    continue;
                }
                for minute in 0..60 {
                    if !allows(&minutes, minute) {
                        continue;
                    }
                    let time =
                        Time::new(hour as i8, minute as i8, 0, 0).map_err(|e| e.to_string())?;
                    let when = day
                        .to_datetime(time)
                        .to_zoned(tz.clone())
                        .map_err(|e| e.to_string())?;
                    if when.timestamp() > after {
                        return Ok(Some(when));
                    }
                }
            }
        }
        day = day.checked_add(1.day()).map_err(|e| e.to_string())?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Instant {
        text.parse().unwrap()
    }

    fn next(expression: &str, zone: Option<&str>, after: &str) -> Option<String> {
        next_run(expression, zone, at(after))
            .unwrap()
            .map(|z| z.timestamp().to_string())
    }

    #[test]
    fn the_default_schedule_in_seoul() {
        // 01,05,...,21 h in Seoul (UTC+9) are 16, 20, 00, 04, 08, 12 h UTC.
        let cron = "cron(0 1,5,9,13,17,21 * * ? *)";
        assert_eq!(
            next(cron, Some("Asia/Seoul"), "2026-12-01T15:55:00Z").as_deref(),
            Some("2026-12-01T16:00:00Z")
        );
        assert_eq!(
            next(cron, Some("Asia/Seoul"), "2026-12-01T16:00:00Z").as_deref(),
            Some("2026-12-01T20:00:00Z")
        );
        assert_eq!(
            next(cron, None, "2026-12-01T21:30:00Z").as_deref(),
            Some("2026-12-02T01:00:00Z")
        );
    }

    #[test]
    fn steps_names_and_weekdays() {
        // Every 15 minutes on weekdays: Saturday 2026-12-05 goes to Monday.
        let cron = "cron(0/15 8-17 ? * MON-FRI *)";
        assert_eq!(
            next(cron, None, "2026-12-05T10:00:00Z").as_deref(),
            Some("2026-12-07T08:00:00Z")
        );
        assert_eq!(
            next(cron, None, "2026-12-07T08:00:00Z").as_deref(),
            Some("2026-12-07T08:15:00Z")
        );
        assert_eq!(
            next("cron(30 2 1 JAN ? *)", None, "2026-12-05T10:00:00Z").as_deref(),
            Some("2027-01-01T02:30:00Z")
        );
    }

    #[test]
    fn rates_at_and_errors() {
        assert_eq!(next("rate(1 hour)", None, "2026-12-05T10:00:00Z"), None);
        assert_eq!(
            next(
                "at(2027-01-01T00:00:00)",
                Some("UTC"),
                "2026-12-05T10:00:00Z"
            )
            .as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            next("at(2020-01-01T00:00:00)", None, "2026-12-05T10:00:00Z"),
            None
        );
        assert!(next_run("cron(0 1 L * ? *)", None, at("2026-12-05T10:00:00Z")).is_err());
        assert!(next_run("cron(0 1 * *)", None, at("2026-12-05T10:00:00Z")).is_err());
        assert!(next_run("hourly", None, at("2026-12-05T10:00:00Z")).is_err());
    }
}
