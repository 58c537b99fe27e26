//! The emulator's RTC: the system clock plus an offset that a check-in sets.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds of the host clock (0 if the host clock is before 1970).
pub(crate) fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Device time = host time + offset. The offset starts at 0 and is set by a check-in, whose
/// `checked.iat` becomes the device time of that moment.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Clock {
    offset: i64,
}

impl Clock {
    /// The device time now.
    pub(crate) fn now(&self) -> u64 {
        shift(system_now(), self.offset)
    }

    /// Makes `time` the device time of this moment.
    pub(crate) fn set(&mut self, time: u64) {
        let host = i128::from(system_now());
        let offset = i128::from(time) - host;
        self.offset = i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
    }
}

fn shift(time: u64, offset: i64) -> u64 {
    let t = i128::from(time) + i128::from(offset);
    u64::try_from(t.max(0)).unwrap_or(u64::MAX)
}

/// `time` as RFC 3339 UTC, `YYYY-MM-DDTHH:MM:SSZ` (the `ts` of `/api/system/status`).
pub(crate) fn rfc3339(time: u64) -> String {
    let days = time / 86_400;
    let secs = time % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // DOCS version-and-status example: time 1647454647, ts 2022-03-16T18:17:27Z.
        assert_eq!(rfc3339(1_647_454_647), "2022-03-16T18:17:27Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn offset_follows_a_set_time() {
        let mut clock = Clock::default();
        clock.set(1_000);
        assert!((1_000..1_010).contains(&clock.now()));
        assert_eq!(shift(5, -10), 0);
        assert_eq!(shift(u64::MAX, i64::MAX), u64::MAX);
    }
}
