//! Timestamps carried in the state document: RFC 3339 UTC strings with
//! millisecond precision, e.g. `2026-11-22T01:00:03.512Z`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_smithy_types::date_time::{DateTime, Format};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, stored as milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self(since_epoch.as_millis() as i64)
    }

    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub fn parse(text: &str) -> Option<Self> {
        let parsed = DateTime::from_str(text, Format::DateTimeWithOffset)
            .or_else(|_| DateTime::from_str(text, Format::DateTime))
            .ok()?;
        parsed.to_millis().ok().map(Self)
    }

    pub fn plus_seconds(self, seconds: u64) -> Self {
        Self(self.0.saturating_add((seconds as i64).saturating_mul(1000)))
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> f64 {
        (self.0 - earlier.0) as f64 / 1000.0
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }
}

impl From<DateTime> for Timestamp {
    fn from(value: DateTime) -> Self {
        Self(value.to_millis().unwrap_or(0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = DateTime::from_millis(self.0)
            .fmt(Format::DateTime)
            .map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 timestamp: {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_rfc3339() {
        let t = Timestamp::from_millis(1_795_309_203_512);
        let text = t.to_string();
        assert_eq!(text, "2026-11-22T01:00:03.512Z");
        assert_eq!(Timestamp::parse(&text), Some(t));
    }

    #[test]
    fn parses_step_functions_start_time_with_offset() {
        let t = Timestamp::parse("2026-11-22T10:00:03.512+09:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-22T01:00:03.512Z");
        let t = Timestamp::parse("2026-11-22T01:00:03.512345+00:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-22T01:00:03.512Z");
    }

    #[test]
    fn arithmetic() {
        let t = Timestamp::from_millis(10_000);
        assert_eq!(t.plus_seconds(5).as_millis(), 15_000);
        assert_eq!(t.plus_seconds(5).seconds_since(t), 5.0);
        assert!(Timestamp::parse("yesterday").is_none());
    }
}
