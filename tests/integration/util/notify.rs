//! A stand-in for systemd's notify socket: a unix datagram socket bound to a path in the test
//! dir, handed to the binary as `NOTIFY_SOCKET`, collecting what it sends (`READY=1`,
//! `STATUS=...`, `WATCHDOG=1`, `STOPPING=1`) with the time each datagram arrived. It only
//! listens; it never answers and never touches the host's real systemd socket.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One datagram: one or more `KEY=VALUE` lines.
#[derive(Clone, Debug)]
pub struct Notification {
    pub at: Instant,
    pub text: String,
}

impl Notification {
    /// Whether one of its lines is exactly `line` (`READY=1`).
    pub fn has(&self, line: &str) -> bool {
        self.text.lines().any(|l| l == line)
    }

    /// The value of `key` (`STATUS`), if the datagram sets it.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    }
}

pub struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds `path` (which must not exist yet).
    pub fn bind(path: impl Into<PathBuf>) -> NotifySocket {
        let path = path.into();
        let socket =
            UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("binding {}: {e}", path.display()));
        NotifySocket { socket, path }
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Collects datagrams until one satisfies `done` or `timeout` passes, and returns all that
    /// arrived, the satisfying one last. Tests assert on the result, so a timeout is no panic.
    pub fn recv_until(
        &self,
        mut done: impl FnMut(&Notification) -> bool,
        timeout: Duration,
    ) -> Vec<Notification> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return got;
            }
            self.socket
                .set_read_timeout(Some(left))
                .expect("setting a read timeout");
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return got
                }
                Err(e) => panic!("receiving on {}: {e}", self.path.display()),
            };
            let notification = Notification {
                at: Instant::now(),
                text: String::from_utf8_lossy(&buf[..n]).into_owned(),
            };
            let stop = done(&notification);
            got.push(notification);
            if stop {
                return got;
            }
        }
    }

    /// Everything that arrives within `period`.
    pub fn collect_for(&self, period: Duration) -> Vec<Notification> {
        self.recv_until(|_| false, period)
    }
}
