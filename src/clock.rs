//! Sleeping until a wall-clock time. Credentials expire at a wall-clock instant, and the
//! monotonic clock that ordinary timers use stops during suspend and knows nothing of the clock
//! step a time-sync daemon makes at boot. A `timerfd` on CLOCK_REALTIME with an absolute
//! deadline fires at the right wall time after a suspend, and TFD_TIMER_CANCEL_ON_SET wakes us
//! when the clock is stepped, so the caller recomputes its schedule instead of trusting it.

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

    #[tokio::test]
    async fn a_past_deadline_wakes_at_once() {
        let at = OffsetDateTime::now_utc() - Duration::from_secs(3600);
        assert_eq!(sleep_until(at).await, Wake::Deadline);
    }
}
