//! What other local users can read about a running process in /proc: its command line and
//! environment, and those of every process below it (`/proc/PID/task/*/children`). Tests use
//! it to prove that no credential ever appears there.

use std::path::Path;

/// One process as /proc shows it, read at one moment.
#[derive(Debug, Clone)]
pub struct Seen {
    pub pid: u32,
    /// The NUL-separated arguments, split.
    pub cmdline: Vec<String>,
    pub environ: Vec<String>,
}

/// The processes below `pid` (children, theirs, ...), from every thread's `children` list.
/// A process that exits meanwhile is skipped.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if !found.contains(&child) {
                    found.push(child);
                    queue.push(child);
                }
            }
        }
    }
    found
}

/// `pid`'s command line and environment, or `None` once it has exited.
pub fn read(pid: u32) -> Option<Seen> {
    let split = |name: &str| -> Option<Vec<String>> {
        let bytes = std::fs::read(Path::new("/proc").join(pid.to_string()).join(name)).ok()?;
        Some(
            bytes
                .split(|&b| b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        )
    };
    let cmdline = split("cmdline")?;
    // A zombie (exited, not yet reaped) has an empty command line: nothing left to read.
    if cmdline.is_empty() {
        return None;
    }
    Some(Seen {
        pid,
        cmdline,
        environ: split("environ")?,
    })
}

/// `pid` and every process below it, as they are now.
pub fn tree(pid: u32) -> Vec<Seen> {
    std::iter::once(pid)
        .chain(descendants(pid))
        .filter_map(read)
        .collect()
}

/// Panics if any of `secrets` appears in a command line or an environment of `seen`.
pub fn assert_no_secret(seen: &[Seen], secrets: &[String]) {
    for s in seen {
        for secret in secrets {
            let hit = s
                .cmdline
                .iter()
                .chain(&s.environ)
                .find(|v| v.contains(secret.as_str()));
            assert!(
                hit.is_none(),
                "a credential is readable in /proc/{}: {:?} (command line {:?})",
                s.pid,
                hit,
                s.cmdline
            );
        }
    }
}
