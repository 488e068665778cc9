//! Injected time. Production uses [`SystemClock`]; tests set the date.

use std::sync::Mutex;
use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        ManualClock(Mutex::new(at))
    }

    pub fn advance(&self, by: time::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.0.lock().map(|t| *t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A time of day with its UTC offset: `HH:MM` in the machine's local time
/// (read once at start-up), or `HH:MM+08:00` with an explicit offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyAt {
    pub hour: u8,
    pub minute: u8,
    pub offset: time::UtcOffset,
}

impl DailyAt {
    pub fn parse(s: &str, local: time::UtcOffset) -> Result<Self, String> {
        let bad = || format!("backup_at {s:?}: HH:MM, optionally with an offset (02:00, 02:00+08:00)");
        let (hm, offset) = match s.find(['+', '-']) {
            Some(i) => {
                let (hm, off) = s.split_at(i);
                let sign = if off.starts_with('-') { -1 } else { 1 };
                let (h, m) = off[1..].split_once(':').ok_or_else(bad)?;
                let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
                (hm, time::UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())?)
            }
            None => (s, local),
        };
        let (h, m) = hm.trim().split_once(':').ok_or_else(bad)?;
        let (hour, minute): (u8, u8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Ok(DailyAt { hour, minute, offset })
    }

    /// The first occurrence strictly after `now`.
    pub fn next_after(&self, now: time::OffsetDateTime) -> time::OffsetDateTime {
        let local = now.to_offset(self.offset);
        let today = local.replace_time(time::Time::MIDNIGHT)
            + time::Duration::hours(i64::from(self.hour))
            + time::Duration::minutes(i64::from(self.minute));
        if today > local {
            today
        } else {
            today + time::Duration::days(1)
        }
    }
}
