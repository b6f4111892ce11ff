//! Sleeping until a wall-clock time. Credentials expire at a wall-clock instant, and the
//! monotonic clock that ordinary timers use stops during suspend and knows nothing of the clock
//! step a time-sync daemon makes at boot. A `timerfd` on CLOCK_REALTIME with an absolute
//! deadline fires at the right wall time after a suspend, and TFD_TIMER_CANCEL_ON_SET wakes us
//! when the clock is stepped, so the caller recomputes its schedule instead of trusting it,
//! once the steps add up to `STEP_THRESHOLD` (`Steps`).

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Why a sleep ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// The deadline passed (or was already past).
    Deadline,
    /// The system clock was set; deadlines computed before may be wrong.
    ClockChanged,
}

struct Timer(TimerFd);

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Sleeps until the wall clock reads `at`, or until the clock is set.
pub async fn sleep_until(at: OffsetDateTime) -> Wake {
    match timer(at) {
        Ok(timer) => wait(timer).await,
        Err(err) => {
            // No timerfd (an unusual seccomp filter, say): poll the wall clock at most once a
            // minute, which still notices a suspend or a clock step within that minute.
            tracing::debug!("timerfd unavailable ({err}); checking the clock every minute");
            let left = Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO);
            tokio::time::sleep(left.min(Duration::from_secs(60))).await;
            if OffsetDateTime::now_utc() >= at {
                Wake::Deadline
            } else {
                Wake::ClockChanged
            }
        }
    }
}

fn timer(at: OffsetDateTime) -> std::io::Result<AsyncFd<Timer>> {
    let fd = TimerFd::new(
        ClockId::CLOCK_REALTIME,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )?;
    // An all-zero time would disarm the timer rather than fire it; the epoch plus 1 ns fires.
    let since_epoch = u64::try_from(at.unix_timestamp_nanos()).unwrap_or(0).max(1);
    let spec = TimeSpec::from(Duration::from_nanos(since_epoch));
    fd.set(
        Expiration::OneShot(spec),
        TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
    )?;
    // SAFETY: `Timer` owns the timerfd for as long as the AsyncFd exists and always returns
    // that same descriptor.
    unsafe { AsyncFd::register_with_interest(Timer(fd), Interest::READABLE) }
        .map_err(|e| e.into_parts().1)
}

async fn wait(timer: AsyncFd<Timer>) -> Wake {
    loop {
        let Ok(mut guard) = timer.readable().await else {
            return Wake::ClockChanged;
        };
        let mut buf = [0u8; 8];
        match nix::unistd::read(timer.get_ref().0.as_fd(), &mut buf) {
            Ok(_) => return Wake::Deadline,
            Err(nix::errno::Errno::ECANCELED) => return Wake::ClockChanged,
            Err(nix::errno::Errno::EAGAIN) => guard.clear_ready(),
            Err(_) => return Wake::ClockChanged,
        }
    }
}

/// A step of the wall clock smaller than this keeps the schedule: it is well under the least
/// any credentials have left at their refresh (`schedule::next_refresh`: 675 s for STS's
/// shortest), so no credential can expire unrefreshed for it.
/// Some hosts set the clock by a millisecond many times a second (a hypervisor's time sync,
/// seen on the machines the tests run on: every 100 ms); refreshing every profile at each of
/// those would call STS without end.
pub const STEP_THRESHOLD: Duration = Duration::from_secs(10);

/// How far the wall clock has been set since the schedule was last computed: the change of
/// wall time minus monotonic time, accumulated, so that many small steps that add up to a
/// large one still count.
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    /// Wall minus monotonic, in nanoseconds, when the schedule was last computed.
    at_schedule: i128,
    origin: std::time::Instant,
}

impl Default for Steps {
    fn default() -> Steps {
        let origin = std::time::Instant::now();
        Steps {
            at_schedule: offset(origin, OffsetDateTime::now_utc(), origin),
            origin,
        }
    }
}

fn offset(origin: std::time::Instant, wall: OffsetDateTime, now: std::time::Instant) -> i128 {
    wall.unix_timestamp_nanos() - now.duration_since(origin).as_nanos() as i128
}

impl Steps {
    /// After the clock was set: the step since the schedule was computed, if it is
    /// `STEP_THRESHOLD` or more (the caller then computes the schedule anew, and this counts
    /// from there); `None` for a smaller one, which keeps counting.
    pub fn large_step(&mut self) -> Option<Duration> {
        self.large_step_at(OffsetDateTime::now_utc(), std::time::Instant::now())
    }

    fn large_step_at(&mut self, wall: OffsetDateTime, now: std::time::Instant) -> Option<Duration> {
        let current = offset(self.origin, wall, now);
        let step = Duration::from_nanos(
            u64::try_from((current - self.at_schedule).unsigned_abs()).unwrap_or(u64::MAX),
        );
        (step >= STEP_THRESHOLD).then(|| {
            self.at_schedule = current;
            step
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_at_a_wall_clock_deadline() {
        let start = std::time::Instant::now();
        let at = OffsetDateTime::now_utc() + Duration::from_millis(300);
        assert_eq!(sleep_until(at).await, Wake::Deadline);
        assert!(OffsetDateTime::now_utc() >= at);
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn small_steps_keep_the_schedule_until_they_add_up() {
        let (wall, now) = (OffsetDateTime::now_utc(), std::time::Instant::now());
        let mut steps = Steps {
            at_schedule: offset(now, wall, now),
            origin: now,
        };
        let later = |ms: u64| now + Duration::from_millis(ms);
        let at = |ms: i64| wall + time::Duration::milliseconds(ms);
        // 1 s of monotonic time, and the wall clock 1 ms off it: kept.
        assert_eq!(steps.large_step_at(at(1_001), later(1_000)), None);
        // Ten thousand such steps later the clock is 9.999 s off: still kept...
        assert_eq!(steps.large_step_at(at(19_999), later(10_000)), None);
        // ...and at 10 s off the schedule goes: the step is told, and counting starts anew.
        assert_eq!(
            steps.large_step_at(at(20_000), later(10_000)),
            Some(Duration::from_secs(10))
        );
        assert_eq!(steps.large_step_at(at(20_500), later(10_000)), None);
        // A boot-time step back of an hour.
        assert_eq!(
            steps.large_step_at(at(20_000 - 3_600_000), later(10_000)),
            Some(Duration::from_secs(3600))
        );
    }

    #[tokio::test]
    async fn a_past_deadline_wakes_at_once() {
        let at = OffsetDateTime::now_utc() - Duration::from_secs(3600);
        assert_eq!(sleep_until(at).await, Wake::Deadline);
    }
}
