//! The emulator's RTC: the system clock plus an offset that a check-in sets.

use hem_auth_core::{Seconds, UnixTime};

/// Unix seconds of the host clock (0 if the host clock is before 1970).
pub(crate) fn system_now() -> u64 {
    UnixTime::now().as_secs()
}

/// Device time = host time + offset. The offset starts at 0 and is set by a check-in, whose
/// `checked.iat` becomes the device time of that moment.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Clock {
    offset: i64,
}

impl Clock {
    /// The device time now.
    pub(crate) fn now(&self) -> UnixTime {
        UnixTime::from_secs(shift(system_now(), self.offset))
    }

    /// Makes `time` the device time of this moment.
    pub(crate) fn set(&mut self, time: UnixTime) {
        let host = i128::from(system_now());
        let offset = i128::from(time.as_secs()) - host;
        self.offset = i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
    }

    /// Moves the device time `secs` seconds ahead (the control API's `advance`).
    pub(crate) fn advance(&mut self, by: Seconds) {
        let secs = i64::try_from(by.get()).unwrap_or(i64::MAX);
        self.offset = self.offset.saturating_add(secs);
    }
}

fn shift(time: u64, offset: i64) -> u64 {
    let t = i128::from(time) + i128::from(offset);
    u64::try_from(t.max(0)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_follows_a_set_time() {
        let mut clock = Clock::default();
        clock.set(UnixTime::from_secs(1_000));
        assert!((1_000..1_010).contains(&clock.now().as_secs()));
        assert_eq!(shift(5, -10), 0);
        assert_eq!(shift(u64::MAX, i64::MAX), u64::MAX);
        clock.advance(Seconds::new(86_400));
        assert!((87_400..87_410).contains(&clock.now().as_secs()));
    }
}
