//! Waiting without sleeping blindly: tests poll a condition (a file written, a process
//! gone) with a deadline; the binary itself never polls.

use std::time::{Duration, Instant};

/// Polls `condition` every 50 ms until it holds (`true`) or `timeout` passes (`false`). Tests
/// poll files this way; the binary itself never polls.
pub fn wait_for(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
