//! What a person at a terminal sees on stderr: whether stderr is one, whether it takes colour
//! (anstream's rule, which clap's own messages follow: `NO_COLOR`, `CLICOLOR`, `TERM=dumb`),
//! the `error:` / `warning:` prefixes cargo and rustc print, the one log format of stderr
//! (without timestamps on a terminal, tracing-subscriber's layout elsewhere), the one
//! updating line of a long wait, and the progress bar of a `run` of many roles (indicatif),
//! with log lines written above it. Where logs go is `logging`'s. It never writes escape codes
//! to a stream that is not a colour terminal, and never formats a credential.

use anstyle::{AnsiColor, Style};
use std::io::{IsTerminal, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::{format::Writer, FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Events with this target say that a wait started or ended: the journal and pipes get them
/// as lines; a terminal gets the updating line of `Waiting` instead.
pub const WAIT: &str = "ec2_assume_role::wait";

/// Events with this target were drawn on the terminal already (config errors, as rustc draws
/// them): the journal gets them; the terminal's log filter leaves them out.
pub const DRAWN: &str = "ec2_assume_role::drawn";

pub const ERROR: Style = AnsiColor::BrightRed.on_default().bold();
pub const WARNING: Style = AnsiColor::BrightYellow.on_default().bold();
pub const GOOD: Style = AnsiColor::BrightGreen.on_default().bold();

/// Whether stderr is a terminal (a person reads it as it is written).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// Whether stderr takes colour: a terminal, `NO_COLOR` unset, `TERM` not `dumb` (anstream's
/// rule, so that our messages and clap's agree).
pub fn stderr_colour() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != anstream::ColorChoice::Never
}

/// Whether stdout takes colour, by the same rule.
pub fn stdout_colour() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != anstream::ColorChoice::Never
}

/// `text` in `style` when `colour`, else plain.
pub fn paint(style: Style, text: &str, colour: bool) -> String {
    match colour {
        true => format!("{}{text}{}", style.render(), style.render_reset()),
        false => text.to_owned(),
    }
}

/// The prefix cargo gives a line of `level`: `error: `, `warning: `; none for info.
fn prefix(level: Level, colour: bool) -> String {
    let (style, word) = match level {
        Level::ERROR => (ERROR, "error"),
        Level::WARN => (WARNING, "warning"),
        Level::INFO => return String::new(),
        Level::DEBUG => (Style::new().bold(), "debug"),
        Level::TRACE => (Style::new().dimmed(), "trace"),
    };
    format!("{}: ", paint(style, word, colour))
}

/// `error: MESSAGE` on stderr, as clap and cargo print theirs: the program's own usage
/// errors, which are not events for the journal.
pub fn error(message: &str) {
    print_err(&format!(
        "{}{message}",
        prefix(Level::ERROR, stderr_colour())
    ));
}

/// `text` and a newline on stderr, the updating line cleared first.
pub fn print_err(text: &str) {
    clear_then(|| {
        let _ = writeln!(std::io::stderr(), "{text}");
    });
}

/// The progress bar shown now, if any (`Bar`): what a role's end moves on.
static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

fn with_bar<T>(f: impl FnOnce(Option<&indicatif::ProgressBar>) -> T) -> T {
    let bar = BAR.lock().unwrap_or_else(|p| p.into_inner());
    f(bar.as_ref())
}

/// A progress bar of roles assumed and failed, on a terminal that can redraw a line (not
/// `TERM=dumb`), cleared when dropped; the `run` of many roles shows one. Log lines printed
/// meanwhile go above it (`TermWriter`).
pub struct Bar;

impl Bar {
    /// Shows a bar of `total` roles, if stderr is such a terminal.
    pub fn start(total: usize) -> Option<Bar> {
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        if !stderr_is_terminal() || dumb {
            return None;
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        let style =
            indicatif::ProgressStyle::with_template("assuming roles [{bar:30}] {pos}/{len} {msg}")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar);
        Some(Bar)
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(bar) = BAR.lock().unwrap_or_else(|p| p.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}

/// One role's AssumeRole ended (`ok` or failed): the bar, if one is shown, moves on and
/// counts the failures.
pub fn role_done(ok: bool) {
    with_bar(|bar| {
        if let Some(bar) = bar {
            if !ok {
                let failed: u64 = bar
                    .message()
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                bar.set_message(format!("{} failed", failed + 1));
            }
            bar.inc(1);
        }
    });
}

/// Where stderr's log lines are written: one whole line at a time, above the progress bar
/// when one is shown.
#[derive(Default)]
pub struct TermWriter(Vec<u8>);

impl TermWriter {
    pub fn new() -> TermWriter {
        TermWriter(Vec::new())
    }
}

impl std::io::Write for TermWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for TermWriter {
    fn drop(&mut self) {
        let text = std::mem::take(&mut self.0);
        let write = || {
            let _ = std::io::stderr().write_all(&text);
        };
        with_bar(|bar| match bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        });
    }
}

/// The one log format of stderr. On a terminal (`terminal`): no timestamp, no level for
/// information, `error:` and `warning:` as cargo prints them. Elsewhere (a pipe, a file,
/// cloud-init's log): `TIMESTAMP LEVEL message`, tracing-subscriber's own layout, so that
/// what scripts and tests read stays. The message only: the structured fields are the
/// journal's. One formatter for both keeps one instance of the fmt layer in the binary.
pub struct LineFormat {
    pub terminal: bool,
    pub colour: bool,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let level = *event.metadata().level();
        if self.terminal {
            // A waiting line in progress would be left half-overwritten.
            clear_line();
            writer.write_str(&prefix(level, self.colour))?;
        } else {
            use tracing_subscriber::fmt::time::FormatTime;
            if tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut writer)
                .is_err()
            {
                writer.write_str("<unknown time>")?;
            }
            write!(writer, " {level:>5} ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The updating line on the terminal, if one is shown now: its width, to clear it.
static LINE: Mutex<usize> = Mutex::new(0);

/// Clears the updating line, if one is shown, so that a message starts at column 0.
fn clear_line() {
    let mut width = LINE.lock().unwrap_or_else(|p| p.into_inner());
    if *width > 0 {
        let _ = write!(std::io::stderr(), "\r{:width$}\r", "", width = *width);
        *width = 0;
    }
}

/// Runs `print` with the updating line cleared first.
fn clear_then(print: impl FnOnce()) {
    clear_line();
    print();
}

fn show_line(text: &str) {
    let mut width = LINE.lock().unwrap_or_else(|p| p.into_inner());
    let new = text.chars().count();
    let pad = width.saturating_sub(new);
    let _ = write!(std::io::stderr(), "\r{text}{:pad$}", "");
    let _ = std::io::stderr().flush();
    *width = new + pad;
}

/// A wait with a deadline (IMDS at boot, the instance-profile credentials): on a terminal,
/// one line with what is awaited and how long is left, updated at every new attempt and
/// cleared when the wait ends; elsewhere an event when it starts and one when it ends or
/// gives up (`WAIT`).
pub struct Waiting {
    what: String,
    started: Instant,
    deadline: Duration,
    terminal: bool,
}

impl Waiting {
    /// Starts showing that `what` ("IMDS to answer") is awaited, until `deadline` from
    /// `started`.
    pub fn start(what: String, started: Instant, deadline: Duration) -> Waiting {
        // The journal (and a pipe) gets the start and the end; a terminal's log filter
        // leaves these out and shows the updating line instead.
        tracing::info!(target: WAIT, "waiting for {what} (up to {} s)", deadline.as_secs());
        let waiting = Waiting {
            what,
            started,
            deadline,
            terminal: stderr_is_terminal(),
        };
        waiting.tick();
        waiting
    }

    /// Another attempt is about to be made: the line shows the time left now.
    pub fn tick(&self) {
        if self.terminal {
            let left = self
                .deadline
                .saturating_sub(self.started.elapsed())
                .as_secs();
            show_line(&format!("waiting for {}: {left} s left", self.what));
        }
    }

    /// Ends the wait: `Ok` when what was awaited came, else the reason it gave up.
    pub fn end(self, outcome: Result<(), &str>) {
        clear_line();
        let waited = self.started.elapsed().as_secs();
        match outcome {
            Ok(()) => {
                tracing::info!(target: WAIT, "done waiting for {} after {waited} s", self.what)
            }
            Err(why) => tracing::warn!(
                target: WAIT,
                "gave up waiting for {} after {waited} s: {why}",
                self.what
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paint_writes_escape_codes_only_for_colour() {
        assert_eq!(paint(ERROR, "error", false), "error");
        let painted = paint(ERROR, "error", true);
        assert!(painted.starts_with("\u{1b}["), "{painted:?}");
        assert!(painted.contains("error"), "{painted:?}");
        assert_eq!(prefix(Level::INFO, true), "");
        assert_eq!(prefix(Level::WARN, false), "warning: ");
    }
}
