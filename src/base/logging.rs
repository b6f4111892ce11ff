//! Where events go. Operators read `journalctl -u ec2-assume-role`, so the journal gets every
//! event with structured fields (PROFILE, ROLE_ARN, EXPIRATION, ERROR_CODE, ...) and a stable
//! MESSAGE_ID per event kind. cloud-init keeps a user-data script's stderr in
//! `cloud-init-output.log`, so errors and the run summary also go to stderr, unless stderr
//! already is the journal (`JOURNAL_STREAM`), where they would appear twice.
//! On a terminal, stderr is for a person: `term`'s format (no timestamps, cargo's `error:`,
//! colour only where it is taken), warnings and errors only unless `-v` asks for more.
//! This module never formats a credential; callers pass profile names, ARNs and times only.

use super::term;
use tracing::{Level, Metadata};
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::fmt::format::debug_fn;
use tracing_subscriber::prelude::*;

/// Events with this target are the end-of-run summary: they reach stderr even when the
/// journal gets everything else.
pub const SUMMARY: &str = "ec2_assume_role::summary";

/// Stable journal MESSAGE_IDs, one per event kind (`journalctl MESSAGE_ID=...` finds them all).
/// Generated once at random; never change one.
pub mod message_id {
    pub const ROLE_ASSUMED: &str = "c710c1bb6f6f49b388c44f7c07d37158";
    pub const ROLE_FAILED: &str = "c6b53c3cb8c84d04835f75664e56c26a";
    pub const RUN_SUMMARY: &str = "41d9ced64ad64d259a828704575353fb";
    pub const IDENTITY_VERIFIED: &str = "52cdb8eac2ce4d339abf14af35caf99e";
    pub const IDENTITY_REFUSED: &str = "61937c3ac1f64138bd766a57742919fc";
    pub const IMDS_UNAVAILABLE: &str = "af572ff54ea34c04ab26d8e5acfc5086";
    pub const CONFIG_INVALID: &str = "74b6a815469c4c1d9443af1c74d8ad0c";
    pub const CONFIG_UNAVAILABLE: &str = "0d7e3f5b9c2a4e1f8b6d3a9c5e7f1b24";
    pub const CONFIG_LOADED: &str = "e2b7c94d1f6a4b3c8d5e9f0a1b2c3d4e";
    pub const CONFIG_KEPT: &str = "44f55e8e4c7a4979841377f3b85a2976";
    pub const FILE_WRITTEN: &str = "b481de301f7a4f88b24d6b10df7a9128";
    pub const FILE_WRITE_FAILED: &str = "5ac53c6b58ea471e909fc5f83a155c4d";
    pub const PROFILE_REMOVED: &str = "d14a71c7f7b4460ea8c1dd0586a8505d";
    pub const PROFILE_CONFLICT: &str = "5b3439893c664700a80d1037e0c2a3e4";
    pub const CLOCK_SKEW: &str = "b8add2334a3148c29cba5e7837ae7756";
    pub const ACCOUNTS_DISCOVERED: &str = "a0ffd5f560044222a2c8a5fca0b97c5d";
    pub const ACCOUNTS_PUBLISHED: &str = "4dc68a604b1043c1b0e8557f1b9690f4";
    /// One answer of the credential endpoint to a credentials request: OWNER, PROFILE, PEER,
    /// STATUS (and REASON for a refusal).
    pub const ENDPOINT_RESPONSE: &str = "0402436c8ade458093e667cce4e3192f";
    /// The endpoint answers of one kind that were not logged one by one during the last audit
    /// period, with their count (DROPPED).
    pub const ENDPOINT_UNLOGGED: &str = "2eabe680630b4224acb18f2be039efca";
}

const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// The journal when its socket exists, else stderr.
    Auto,
    /// The journal (errors and the summary also on stderr).
    Journald,
    /// stderr only.
    Stderr,
}

/// Installs the global subscriber. `verbosity` is the count of `-v` minus the count of `-q`.
pub fn init(target: Target, verbosity: i8) -> Result<(), String> {
    let level = match verbosity {
        i8::MIN..=-2 => LevelFilter::ERROR,
        -1 => LevelFilter::WARN,
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let use_journal = match target {
        Target::Stderr => false,
        Target::Journald => true,
        Target::Auto => std::path::Path::new(JOURNAL_SOCKET).exists(),
    };
    let journal = if use_journal {
        let layer = tracing_journald::layer()
            .map_err(|e| format!("connecting to the journal at {JOURNAL_SOCKET}: {e}"))?
            .with_syslog_identifier("ec2-assume-role".into())
            .with_field_prefix(None);
        Some(layer.with_filter(level).with_filter(filter_fn(ours)))
    } else {
        None
    };
    let stderr = if use_journal && stderr_is_journal() {
        None
    } else {
        // On a terminal a person reads it: no timestamps, cargo's `error:` and `warning:`,
        // colour only where the terminal takes it. Results are on stdout, so the summary
        // events are left out, and so is each profile's line unless -v asks for it; a wait
        // is shown as its updating line instead of its events, config errors as drawn.
        let terminal = term::stderr_is_terminal();
        let shown = match (terminal, verbosity) {
            (false, _) => level,
            (true, i8::MIN..=-2) => LevelFilter::ERROR,
            (true, -1 | 0) => LevelFilter::WARN,
            (true, 1) => LevelFilter::INFO,
            (true, 2) => LevelFilter::DEBUG,
            (true, _) => LevelFilter::TRACE,
        };
        let only_important = use_journal;
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(term::TermWriter::new)
            // Colour is `term`'s (tracing-subscriber's is not built in).
            .with_ansi(false)
            .event_format(term::LineFormat {
                terminal,
                colour: terminal && term::stderr_colour(),
            })
            .fmt_fields(message_only())
            .with_filter(shown)
            .with_filter(filter_fn(move |meta| {
                ours(meta)
                    && match terminal {
                        true => ![SUMMARY, term::WAIT, term::DRAWN].contains(&meta.target()),
                        false => !only_important || important(meta),
                    }
            }));
        Some(layer)
    };
    tracing_subscriber::registry()
        .with(journal)
        .with(stderr)
        .try_init()
        .map_err(|e| format!("setting up logging: {e}"))
}

/// Messages are written to stand alone; the structured fields (PROFILE, MESSAGE_ID, ...) are
/// for the journal and would only repeat them on stderr.
fn message_only() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    debug_fn(|w, field, value| match field.name() {
        "message" => write!(w, "{value:?}"),
        _ => Ok(()),
    })
}

/// Replaces Rust's default panic message, which prints the panic's payload. A formatted
/// payload quotes whatever value was at hand (a string sliced out of bounds is printed, up to
/// 256 bytes of it), and in this process that can be a credential. So only a literal payload
/// (`&'static str`, which holds no runtime value) is shown; the location says where to look.
/// Runs before the process aborts (release builds) or the thread unwinds.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("{}", panic_report(info.payload(), info.location()));
        let trace = std::backtrace::Backtrace::capture();
        if trace.status() == std::backtrace::BacktraceStatus::Captured {
            eprintln!("{trace}");
        }
    }));
}

fn panic_report(
    payload: &(dyn std::any::Any + Send),
    location: Option<&std::panic::Location<'_>>,
) -> String {
    let at = location.map_or_else(
        || "an unknown place".to_owned(),
        |l| format!("{}:{}:{}", l.file(), l.line(), l.column()),
    );
    match payload.downcast_ref::<&'static str>() {
        Some(message) => {
            format!("ec2-assume-role: internal error (panic) at {at}: {message}; please report it")
        }
        None => format!(
            "ec2-assume-role: internal error (panic) at {at}; its message is withheld because it \
             may quote a credential; please report it"
        ),
    }
}

/// Our own events only: the SDK's and hyper's debug chatter stays out of the journal.
fn ours(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("ec2_assume_role")
}

fn important(meta: &Metadata<'_>) -> bool {
    *meta.level() <= Level::WARN || meta.target() == SUMMARY
}

/// systemd sets JOURNAL_STREAM=DEV:INODE when stdout/stderr are connected to the journal.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = nix::sys::stat::fstat(std::io::stderr().as_fd()) else {
        return false;
    };
    stream == format!("{}:{}", stat.st_dev, stat.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real payloads: a string sliced out of bounds quotes the string in its message, which
    /// the report withholds; a literal message is shown.
    #[test]
    fn a_panic_report_never_quotes_a_formatted_message() {
        let secret = String::from("FwoGZXIvYXdzEBYaDSecretSessionToken");
        let sliced = std::panic::catch_unwind(|| secret[..400].len()).unwrap_err();
        let literal =
            std::panic::catch_unwind(|| -> usize { panic!("the plan is empty") }).unwrap_err();
        let here = std::panic::Location::caller();

        let report = panic_report(sliced.as_ref(), Some(here));
        assert!(!report.contains("FwoGZX"), "{report}");
        assert!(report.contains("withheld"), "{report}");
        assert!(
            report.contains(&format!("src/base/logging.rs:{}", here.line())),
            "{report}"
        );

        let report = panic_report(literal.as_ref(), None);
        assert!(
            report.ends_with("an unknown place: the plan is empty; please report it"),
            "{report}"
        );
    }
}
