//! The AWS credentials-file and config-file transform: old file bytes plus the profiles to
//! write give the new file bytes. Pure: no I/O, no clock, no logging (`fileio` does the I/O).
//!
//! These are the user's files. We add, replace or remove only the sections we manage (those
//! whose first line is [`MARKER`]) and keep every other byte as it was: comments, order, blank
//! lines, CRLF, tabs, a missing final newline, a UTF-8 BOM, duplicate sections, even invalid
//! UTF-8. That is why this is hand-written over `&[u8]`: no INI crate round-trips all of that.
//! This module must never touch an unmanaged section unless the plan explicitly says
//! `replace_unmanaged`, and must never put a secret in a `Debug` output.

use crate::base::creds::{rfc3339, TemporaryCredentials};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;

/// The first line after the header of every section we manage. Its presence is the only way we
/// tell our sections from the user's, so it must never change.
pub const MARKER: &str =
    "# Managed by ec2-assume-role: rewritten on every refresh; edits here are lost.";

/// The key holding a section's expiry: the name other credential tools use; AWS clients
/// ignore it, and `status` and `credential-process` read it.
pub const EXPIRES_KEY: &str = "x_security_token_expires";

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Which file: the credentials file names sections `[name]`, the config file `[profile name]`
/// (and `[default]` for the default profile in both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Credentials,
    Config,
}

/// One profile's section as we write it: `key = value` lines in this order.
#[derive(Clone, PartialEq, Eq)]
pub struct Section {
    pub profile: String,
    pub entries: Vec<(String, String)>,
}

/// Values hold secrets, so only the profile and the keys are shown.
impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.entries.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Section")
            .field("profile", &self.profile)
            .field("keys", &keys)
            .finish()
    }
}

/// What one run wants done to one file.
pub struct Plan<'a> {
    pub kind: FileKind,
    /// Sections to add or replace now.
    pub write: &'a [Section],
    /// Every profile the config lists (a superset of `write`): a managed section whose
    /// profile is configured but not written keeps its old, still-valid contents.
    pub configured: &'a BTreeSet<String>,
    /// The user's explicit permission to overwrite an unmanaged section of the same name.
    pub replace_unmanaged: bool,
}

/// The new file and what changed. `text` holds secrets: never log or `Debug` it.
pub struct Outcome {
    pub text: Vec<u8>,
    /// Profiles written (added or replaced), in `write` order.
    pub written: Vec<String>,
    /// Profiles in `write` NOT written because an unmanaged section has that name.
    pub conflicts: Vec<String>,
    /// Managed sections removed because their profile is no longer configured, in file order.
    pub removed: Vec<String>,
}

/// Applies `plan` to the file `old`. Idempotent: applying the result again changes nothing.
pub fn apply(old: &[u8], plan: &Plan) -> Outcome {
    let doc = Doc::parse(old, plan.kind);

    // Every lookup below is by profile in a set or map built once: scans of the sections per
    // profile made a file of 5,000 profiles take 140 ms to update instead of a few.
    // First occurrence wins if the caller ever lists a profile twice.
    let mut wanted: Vec<&Section> = Vec::new();
    let mut listed: HashSet<&[u8]> = HashSet::with_capacity(plan.write.len());
    for s in plan.write {
        if listed.insert(s.profile.as_bytes()) {
            wanted.push(s);
        }
    }
    let unmanaged: HashSet<&[u8]> = (doc.sections.iter())
        .filter(|d| !d.managed)
        .filter_map(|d| d.profile)
        .collect();
    let mut conflicts = Vec::new();
    let mut targets: Vec<&Section> = Vec::new();
    for s in wanted.iter().copied() {
        let theirs = unmanaged.contains(s.profile.as_bytes());
        if theirs && !plan.replace_unmanaged {
            conflicts.push(s.profile.clone());
        } else {
            targets.push(s);
        }
    }

    // What becomes of each section, decided before anything is written: the newline our
    // lines use is the one of the bytes that stay.
    let mut fates: Vec<Fate> = Vec::with_capacity(doc.sections.len());
    let mut placed: BTreeSet<&[u8]> = BTreeSet::new();
    let mut removed: Vec<String> = Vec::new();
    let mut removed_set: HashSet<String> = HashSet::new();
    let target_of: HashMap<&[u8], &Section> =
        targets.iter().map(|t| (t.profile.as_bytes(), *t)).collect();
    listed.extend(plan.configured.iter().map(|c| c.as_bytes()));
    for sect in &doc.sections {
        let Some(profile) = sect.profile else {
            fates.push(Fate::Keep);
            continue;
        };
        if let Some(&new) = target_of.get(profile) {
            // The first section of a written profile is replaced in place; any later
            // duplicate is dropped, so the profile ends up defined exactly once.
            fates.push(if placed.insert(profile) {
                Fate::Render(new)
            } else {
                Fate::Drop
            });
            continue;
        }
        if sect.managed && !listed.contains(profile) {
            let name = String::from_utf8_lossy(profile).into_owned();
            if removed_set.insert(name.clone()) {
                removed.push(name);
            }
            fates.push(Fate::Drop);
            continue;
        }
        fates.push(Fate::Keep);
    }
    // From the kept bytes only: taken from a section we replace or remove, the newline could
    // differ on the next run, which would then rewrite our sections (found by fuzzing).
    let kept = doc
        .sections
        .iter()
        .zip(&fates)
        .filter(|(_, fate)| matches!(fate, Fate::Keep))
        .map(|(sect, _)| &old[sect.start..sect.end]);
    let kept: Vec<&[u8]> = std::iter::once(&old[..doc.preamble_end])
        .chain(kept)
        .collect();
    let nl = kept
        .iter()
        .find_map(|bytes| terminator(bytes))
        .or_else(|| {
            // Nothing kept is terminated, but the last kept line ends in CR: terminated, it
            // becomes a CRLF line, which is what the next run reads (found by fuzzing).
            let last = kept.iter().rev().find(|b| !b.is_empty())?;
            last.ends_with(b"\r").then_some(&b"\r\n"[..])
        })
        .or_else(|| terminator(old))
        .unwrap_or(b"\n");

    let mut text = Vec::with_capacity(old.len() + 256);
    text.extend_from_slice(&old[..doc.preamble_end]);
    for (sect, fate) in doc.sections.iter().zip(&fates) {
        match fate {
            Fate::Keep => text.extend_from_slice(&old[sect.start..sect.end]),
            Fate::Render(new) => render(&mut text, plan.kind, new, nl),
            Fate::Drop => {}
        }
    }

    let pending: Vec<&Section> = targets
        .iter()
        .copied()
        .filter(|t| !placed.contains(t.profile.as_bytes()))
        .collect();
    if !pending.is_empty() {
        separate(&mut text, nl);
        for s in pending {
            render(&mut text, plan.kind, s, nl);
        }
    }

    Outcome {
        text,
        written: targets.iter().map(|t| t.profile.clone()).collect(),
        conflicts,
        removed,
    }
}

/// The managed sections in a file, first occurrence of each profile, in file order.
/// Entries are the `key = value` lines after the marker; comments and blank lines are skipped.
pub fn managed_sections(text: &[u8], kind: FileKind) -> Vec<Section> {
    let doc = Doc::parse(text, kind);
    let mut found: Vec<Section> = Vec::new();
    for sect in &doc.sections {
        let Some(profile) = sect.profile.filter(|_| sect.managed) else {
            continue;
        };
        let profile = String::from_utf8_lossy(profile).into_owned();
        if found.iter().any(|s| s.profile == profile) {
            continue;
        }
        // The header and the marker are the section's first two lines.
        let entries = doc.lines[sect.first_line + 2..sect.end_line]
            .iter()
            .filter_map(|line| {
                let content = line.content(text).trim_ascii();
                if content.is_empty() || content[0] == b'#' || content[0] == b';' {
                    return None;
                }
                let eq = content.iter().position(|&b| b == b'=')?;
                let key = content[..eq].trim_ascii();
                let value = content[eq + 1..].trim_ascii();
                Some((
                    String::from_utf8_lossy(key).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                ))
            })
            .collect();
        found.push(Section { profile, entries });
    }
    found
}

/// Every profile section in a file, in file order, as `(profile, managed, key names)`: the
/// names only, never a value (they may be secrets). For `doctor`, which looks for sections
/// that would shadow ours.
pub fn section_keys(text: &[u8], kind: FileKind) -> Vec<(String, bool, Vec<String>)> {
    let doc = Doc::parse(text, kind);
    let mut found = Vec::new();
    for sect in &doc.sections {
        let Some(profile) = sect.profile else {
            continue;
        };
        let keys = doc.lines[sect.first_line + 1..sect.end_line]
            .iter()
            .filter_map(|line| {
                let content = line.content(text).trim_ascii();
                if content.first().is_none_or(|&b| b == b'#' || b == b';') {
                    return None;
                }
                let eq = content.iter().position(|&b| b == b'=')?;
                Some(String::from_utf8_lossy(content[..eq].trim_ascii()).into_owned())
            })
            .collect();
        found.push((
            String::from_utf8_lossy(profile).into_owned(),
            sect.managed,
            keys,
        ));
    }
    found
}

/// The credentials-file section for one assumed role. `x_security_token_expires` is the key
/// other credential tools use for the expiry; AWS clients ignore it and `status` reads it.
pub fn credentials_section(profile: &str, creds: &TemporaryCredentials) -> Section {
    let expires = rfc3339(creds.expiration);
    Section {
        profile: profile.to_owned(),
        entries: vec![
            ("aws_access_key_id".into(), creds.access_key_id.clone()),
            (
                "aws_secret_access_key".into(),
                creds.secret_access_key.expose().to_owned(),
            ),
            (
                "aws_session_token".into(),
                creds.session_token.expose().to_owned(),
            ),
            (EXPIRES_KEY.into(), expires),
        ],
    }
}

/// One line: `content` is `[start, content_end)`, its terminator `[content_end, end)`.
struct Line {
    start: usize,
    content_end: usize,
    end: usize,
}

impl Line {
    fn content<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        &text[self.start..self.content_end]
    }
}

/// A section: its header line through the line before the next header.
struct Sect<'t> {
    /// The profile the header names; `None` for config-file sections that are not profiles
    /// (`[sso-session x]`, `[services x]`), which we never touch.
    profile: Option<&'t [u8]>,
    managed: bool,
    start: usize,
    end: usize,
    first_line: usize,
    end_line: usize,
}

struct Doc<'t> {
    lines: Vec<Line>,
    /// Everything before the first header, including a BOM: never touched.
    preamble_end: usize,
    sections: Vec<Sect<'t>>,
}

impl<'t> Doc<'t> {
    fn parse(text: &'t [u8], kind: FileKind) -> Doc<'t> {
        // Lines start after the BOM so that a header on the first line is still a header,
        // while the BOM itself stays in the preamble.
        let bom = if text.starts_with(BOM) { BOM.len() } else { 0 };
        let lines = split_lines(text, bom);
        let headers: Vec<usize> = (0..lines.len())
            .filter(|&i| header_name(lines[i].content(text)).is_some())
            .collect();
        let mut sections = Vec::with_capacity(headers.len());
        for (n, &i) in headers.iter().enumerate() {
            let end_line = headers.get(n + 1).copied().unwrap_or(lines.len());
            let profile =
                header_name(lines[i].content(text)).and_then(|name| profile_of(name, kind));
            let managed = lines
                .get(i + 1)
                .filter(|_| i + 1 < end_line)
                .is_some_and(|l| l.content(text).trim_ascii_end() == MARKER.as_bytes());
            sections.push(Sect {
                profile,
                managed,
                start: lines[i].start,
                end: lines[end_line - 1].end,
                first_line: i,
                end_line,
            });
        }
        let preamble_end = sections.first().map_or(text.len(), |s| s.start);
        Doc {
            lines,
            preamble_end,
            sections,
        }
    }
}

fn split_lines(text: &[u8], from: usize) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut start = from;
    while start < text.len() {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let lf = start + i;
                let content_end = if lf > start && text[lf - 1] == b'\r' {
                    lf - 1
                } else {
                    lf
                };
                lines.push(Line {
                    start,
                    content_end,
                    end: lf + 1,
                });
                start = lf + 1;
            }
            None => {
                lines.push(Line {
                    start,
                    content_end: text.len(),
                    end: text.len(),
                });
                break;
            }
        }
    }
    lines
}

/// `[ name ] anything` gives `name`; a line not starting with `[` or without `]` gives `None`.
fn header_name(content: &[u8]) -> Option<&[u8]> {
    let rest = content.strip_prefix(b"[")?;
    let close = rest.iter().position(|&b| b == b']')?;
    Some(rest[..close].trim_ascii())
}

fn profile_of(name: &[u8], kind: FileKind) -> Option<&[u8]> {
    match kind {
        FileKind::Credentials => Some(name),
        FileKind::Config if name == b"default" => Some(name),
        FileKind::Config => name
            .strip_prefix(b"profile")
            .filter(|rest| rest.first().is_some_and(u8::is_ascii_whitespace))
            .map(<[u8]>::trim_ascii)
            .filter(|p| !p.is_empty()),
    }
}

/// The terminator of the first terminated line in `text`, if it has one.
fn terminator(text: &[u8]) -> Option<&'static [u8]> {
    let i = text.iter().position(|&b| b == b'\n')?;
    Some(if i > 0 && text[i - 1] == b'\r' {
        b"\r\n"
    } else {
        b"\n"
    })
}

/// What `apply` does with one section of the old file.
enum Fate<'p> {
    Keep,
    Render(&'p Section),
    Drop,
}

/// Before appending: terminate an unterminated last line, then make sure one empty line
/// separates us from what came before (but never add a second one, so repeated add/remove
/// cycles do not pile up blank lines).
fn separate(text: &mut Vec<u8>, nl: &[u8]) {
    if text.is_empty() || text.as_slice() == BOM {
        return;
    }
    if !text.ends_with(b"\n") {
        // A last line ending in CR only lacks the LF of its CRLF.
        if nl == b"\r\n" && text.ends_with(b"\r") {
            text.push(b'\n');
        } else {
            text.extend_from_slice(nl);
        }
    }
    let before = text
        .strip_suffix(b"\r\n")
        .or_else(|| text.strip_suffix(b"\n"))
        .unwrap_or(text);
    let last_is_empty = before.is_empty() || before.ends_with(b"\n") || before == BOM;
    if !last_is_empty {
        text.extend_from_slice(nl);
    }
}

fn render(text: &mut Vec<u8>, kind: FileKind, section: &Section, nl: &[u8]) {
    let p = &section.profile;
    debug_assert!(
        !p.contains(['\n', '\r', ']']),
        "profile name checked by config"
    );
    let header = match kind {
        FileKind::Config if p != "default" => format!("[profile {p}]"),
        _ => format!("[{p}]"),
    };
    for line in [header.as_str(), MARKER] {
        text.extend_from_slice(line.as_bytes());
        text.extend_from_slice(nl);
    }
    for (key, value) in &section.entries {
        debug_assert!(!key.contains(['\n', '\r']) && !value.contains(['\n', '\r']));
        text.extend_from_slice(key.as_bytes());
        text.extend_from_slice(b" = ");
        text.extend_from_slice(value.as_bytes());
        text.extend_from_slice(nl);
    }
    text.extend_from_slice(nl);
}

/// The transform's promises as checks that panic when one is broken: the property tests
/// below and the fuzz target (`fuzz/fuzz_targets/credfile.rs`) run the same ones.
#[cfg(any(test, fuzzing))]
pub mod invariants {
    use super::*;

    /// Applies `plan` to `old` and checks every promise `apply` makes for it.
    pub fn check(old: &[u8], plan: &Plan) -> Outcome {
        let outcome = apply(old, plan);
        let new = &outcome.text;
        let shown = |t: &[u8]| t.escape_ascii().to_string();

        let again = apply(new, plan);
        assert!(
            again.text == *new,
            "applying twice differs from once:\nonce:  {}\ntwice: {}",
            shown(new),
            shown(&again.text)
        );
        assert!(
            again.removed.is_empty(),
            "a second apply removed {:?}",
            again.removed
        );

        if !plan.replace_unmanaged {
            let (before, after) = (
                unmanaged_only(old, plan.kind),
                unmanaged_only(new, plan.kind),
            );
            assert!(
                same_but_trailing_newlines(&before, &after),
                "user bytes changed:\nbefore: {}\nafter:  {}",
                shown(&before),
                shown(&after)
            );
        }

        // The managed profiles afterwards: the ones written, plus the old ones still listed.
        let listed =
            |p: &str| plan.configured.contains(p) || plan.write.iter().any(|s| s.profile == p);
        let old_managed: BTreeSet<String> = managed_sections(old, plan.kind)
            .into_iter()
            .map(|s| s.profile)
            .collect();
        let found = managed_sections(new, plan.kind);
        for profile in &outcome.written {
            let wanted = plan.write.iter().find(|s| &s.profile == profile);
            let got = found.iter().find(|s| &s.profile == profile);
            assert!(
                got == wanted,
                "{profile} reads back as {got:?}, not {wanted:?}"
            );
        }
        for profile in &outcome.conflicts {
            assert!(
                !outcome.written.contains(profile),
                "{profile} written despite a conflict"
            );
        }
        let expected: BTreeSet<String> = old_managed
            .iter()
            .filter(|p| listed(p))
            .chain(&outcome.written)
            .cloned()
            .collect();
        let got: BTreeSet<String> = found.into_iter().map(|s| s.profile).collect();
        assert_eq!(got, expected, "managed profiles afterwards");
        let removed: BTreeSet<String> = outcome.removed.iter().cloned().collect();
        let gone: BTreeSet<String> = old_managed.into_iter().filter(|p| !listed(p)).collect();
        assert_eq!(removed, gone, "removed profiles");
        outcome
    }

    /// The file with every managed section taken out: what must survive untouched.
    fn unmanaged_only(text: &[u8], kind: FileKind) -> Vec<u8> {
        apply(
            text,
            &Plan {
                kind,
                write: &[],
                configured: &BTreeSet::new(),
                replace_unmanaged: false,
            },
        )
        .text
    }

    /// `a` equals `b` but for newlines added at the end (the separator an appended section
    /// needs).
    fn same_but_trailing_newlines(a: &[u8], b: &[u8]) -> bool {
        let trim = |x: &[u8]| -> Vec<u8> {
            let mut v = x.to_vec();
            while matches!(v.last(), Some(b'\n' | b'\r')) {
                v.pop();
            }
            v
        };
        trim(a) == trim(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::creds::Secret;

    /// `{M}` in a case stands for the marker, to keep the table readable.
    fn expand(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            if s[i..].starts_with(b"{M}") {
                out.extend_from_slice(MARKER.as_bytes());
                i += 3;
            } else {
                out.push(s[i]);
                i += 1;
            }
        }
        out
    }

    struct Case {
        name: &'static str,
        kind: FileKind,
        input: &'static [u8],
        write: &'static [&'static str],
        configured: &'static [&'static str],
        replace_unmanaged: bool,
        expected: &'static [u8],
        written: &'static [&'static str],
        conflicts: &'static [&'static str],
        removed: &'static [&'static str],
    }

    /// The defaults most cases share: credentials file, write `a`, configured `a`.
    const BASE: Case = Case {
        name: "",
        kind: FileKind::Credentials,
        input: b"",
        write: &["a"],
        configured: &["a"],
        replace_unmanaged: false,
        expected: b"",
        written: &["a"],
        conflicts: &[],
        removed: &[],
    };

    /// Each written profile gets one entry, `k = v-<profile>`, so cases can tell them apart.
    fn section(profile: &str) -> Section {
        Section {
            profile: profile.into(),
            entries: vec![("k".into(), format!("v-{profile}"))],
        }
    }

    const CASES: &[Case] = &[
        Case {
            name: "empty file",
            expected: b"[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "only [default]: appended after one blank line",
            input: b"[default]\nregion = x\n",
            expected: b"[default]\nregion = x\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "comments and blank lines kept",
            input: b"# top\n\n[default]\n; semi\nregion = x\n\n\n# trailing\n",
            expected: b"# top\n\n[default]\n; semi\nregion = x\n\n\n# trailing\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "last line already empty: no second blank line",
            input: b"[default]\nregion = x\n\n",
            expected: b"[default]\nregion = x\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "CRLF file: our lines CRLF too",
            input: b"[default]\r\nregion = x\r\n[a]\r\n{M}\r\nk = old\r\n\r\n",
            write: &["a", "b"],
            configured: &["a", "b"],
            expected: b"[default]\r\nregion = x\r\n[a]\r\n{M}\r\nk = v-a\r\n\r\n[b]\r\n{M}\r\nk = v-b\r\n\r\n",
            written: &["a", "b"],
            ..BASE
        },
        Case {
            name: "missing final newline gets one, then a blank line",
            input: b"[default]\nregion = x",
            expected: b"[default]\nregion = x\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "unterminated marker line at the end still marks the section",
            input: b"[x]\n[a]\n{M}  \t",
            expected: b"[x]\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "BOM kept, header on the first line replaced",
            input: b"\xEF\xBB\xBF[a]\n{M}\nk = old\n\n[default]\n",
            expected: b"\xEF\xBB\xBF[a]\n{M}\nk = v-a\n\n[default]\n",
            ..BASE
        },
        Case {
            name: "BOM only",
            input: b"\xEF\xBB\xBF",
            expected: b"\xEF\xBB\xBF[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "BOM and an unmanaged [a] on the first line is a conflict",
            input: b"\xEF\xBB\xBF[a]\nk = mine\n",
            expected: b"\xEF\xBB\xBF[a]\nk = mine\n",
            written: &[],
            conflicts: &["a"],
            ..BASE
        },
        Case {
            name: "invalid UTF-8 in an unmanaged section",
            input: b"[other]\nk = \xFF\xFE\x80\n[a]\n{M}\nk = old\n",
            expected: b"[other]\nk = \xFF\xFE\x80\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "tabs, ; comments and odd whitespace kept",
            input: b"[default]\n\tregion\t=\tx  \n;c\n  # indented\n",
            expected: b"[default]\n\tregion\t=\tx  \n;c\n  # indented\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "keys before any header kept",
            input: b"region = x\nfoo=bar\n",
            expected: b"region = x\nfoo=bar\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "keys before any header, unterminated",
            input: b"foo=bar",
            expected: b"foo=bar\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "duplicate unmanaged sections kept",
            input: b"[x]\nk = 1\n[x]\nk = 2\n",
            expected: b"[x]\nk = 1\n[x]\nk = 2\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "replace in place in the middle",
            input: b"[default]\nr = 1\n\n[a]\n{M}\nk = old\nk2 = old\n\n[z]\nr = 2\n",
            expected: b"[default]\nr = 1\n\n[a]\n{M}\nk = v-a\n\n[z]\nr = 2\n",
            ..BASE
        },
        Case {
            name: "duplicate managed sections: first replaced, others removed",
            input: b"[a]\n{M}\nk = 1\n\n[x]\nr = 1\n[a]\n{M}\nk = 2\n\n",
            expected: b"[a]\n{M}\nk = v-a\n\n[x]\nr = 1\n",
            ..BASE
        },
        Case {
            name: "remove a deconfigured managed section in the middle",
            input: b"[default]\nr = 1\n\n[gone]\n{M}\nk = old\n\n[a]\n{M}\nk = v-a\n\n[z]\nr = 2\n",
            expected: b"[default]\nr = 1\n\n[a]\n{M}\nk = v-a\n\n[z]\nr = 2\n",
            removed: &["gone"],
            ..BASE
        },
        Case {
            name: "remove a deconfigured managed section at the end",
            input: b"[default]\nr = 1\n\n[a]\n{M}\nk = v-a\n\n[gone]\n{M}\nk = old\n\n",
            expected: b"[default]\nr = 1\n\n[a]\n{M}\nk = v-a\n\n",
            removed: &["gone"],
            ..BASE
        },
        Case {
            name: "removing everything we wrote leaves the user's part",
            input: b"[default]\nr = 1\n\n[gone]\n{M}\nk = old\n\n",
            write: &[],
            configured: &[],
            expected: b"[default]\nr = 1\n\n",
            written: &[],
            removed: &["gone"],
            ..BASE
        },
        Case {
            name: "failed role keeps its old section byte for byte",
            input: b"[a]\n{M}\nk = old\n# user edit\n\n[b]\n{M}\nk = old\n\n",
            write: &["b"],
            configured: &["a", "b"],
            expected: b"[a]\n{M}\nk = old\n# user edit\n\n[b]\n{M}\nk = v-b\n\n",
            written: &["b"],
            ..BASE
        },
        Case {
            name: "unmanaged section of the same name is a conflict",
            input: b"[a]\nk = mine\n",
            write: &["a", "b"],
            configured: &["a", "b"],
            expected: b"[a]\nk = mine\n\n[b]\n{M}\nk = v-b\n\n",
            written: &["b"],
            conflicts: &["a"],
            ..BASE
        },
        Case {
            name: "conflict leaves our own old copy alone too",
            input: b"[a]\nk = mine\n[a]\n{M}\nk = old\n",
            expected: b"[a]\nk = mine\n[a]\n{M}\nk = old\n",
            written: &[],
            conflicts: &["a"],
            ..BASE
        },
        Case {
            name: "marker not on the line right after the header: unmanaged",
            input: b"[a]\n\n{M}\nk = mine\n",
            expected: b"[a]\n\n{M}\nk = mine\n",
            written: &[],
            conflicts: &["a"],
            ..BASE
        },
        Case {
            name: "replace_unmanaged: first replaced in place, other copies removed",
            input: b"[x]\n[a]\nk = mine\n\n[y]\n[a]\n{M}\nk = old\n\n[a]\nk = again\n",
            replace_unmanaged: true,
            expected: b"[x]\n[a]\n{M}\nk = v-a\n\n[y]\n",
            ..BASE
        },
        Case {
            name: "config file: [profile x] and [default]",
            kind: FileKind::Config,
            input: b"[default]\nregion = x\n\n[profile a]\n{M}\nk = old\n\n[sso-session a]\nk = s\n",
            write: &["a", "default", "b"],
            configured: &["a", "default", "b"],
            expected: b"[default]\nregion = x\n\n[profile a]\n{M}\nk = v-a\n\n[sso-session a]\nk = s\n\n[profile b]\n{M}\nk = v-b\n\n",
            written: &["a", "b"],
            conflicts: &["default"],
            ..BASE
        },
        Case {
            name: "config file: [a] without the prefix is not profile a",
            kind: FileKind::Config,
            input: b"[a]\nk = s\n",
            expected: b"[a]\nk = s\n\n[profile a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            name: "config file: managed default written as [default], odd spacing matched",
            kind: FileKind::Config,
            input: b"[default]\n{M}\nk = old\n\n[profile\t gone ]\n{M}\n",
            write: &["default"],
            configured: &["default"],
            expected: b"[default]\n{M}\nk = v-default\n\n",
            written: &["default"],
            removed: &["gone"],
            ..BASE
        },
        Case {
            name: "header with spaces and a trailing comment",
            input: b"[ a ]\n{M}\nk = old\n\n[gone] # c\n{M}\n\n[ keep ]\nr = 1\n",
            expected: b"[a]\n{M}\nk = v-a\n\n[ keep ]\nr = 1\n",
            removed: &["gone"],
            ..BASE
        },
        Case {
            name: "appended in write order",
            input: b"[default]\n",
            write: &["c", "a", "b"],
            configured: &["a", "b", "c"],
            expected: b"[default]\n\n[c]\n{M}\nk = v-c\n\n[a]\n{M}\nk = v-a\n\n[b]\n{M}\nk = v-b\n\n",
            written: &["c", "a", "b"],
            ..BASE
        },
        Case {
            // Found by fuzzing: the newline came from the removed section, so the next run
            // wrote our lines with LF and was not idempotent.
            name: "newline of the bytes that stay, not of a removed section",
            input: b"[gone]\r\n{M}\r\n\r\n[u]\nk = mine\n",
            expected: b"[u]\nk = mine\n\n[a]\n{M}\nk = v-a\n\n",
            removed: &["gone"],
            ..BASE
        },
        Case {
            // The bytes are kept; the LF only ends the line.
            name: "unterminated last line ending in CR gets an LF; our lines keep the file's LF",
            input: b"[u]\nk = mine\r",
            expected: b"[u]\nk = mine\r\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
        Case {
            // Found by fuzzing: the LF we add after the CR makes a CRLF line, which the next
            // run read as the file's newline, rewriting our LF lines.
            name: "only a CR: terminated as CRLF, our lines CRLF",
            input: b"\r",
            expected: b"\r\n[a]\r\n{M}\r\nk = v-a\r\n\r\n",
            ..BASE
        },
        Case {
            name: "indented bracket is not a header",
            input: b"[default]\n  [a]\n",
            expected: b"[default]\n  [a]\n\n[a]\n{M}\nk = v-a\n\n",
            ..BASE
        },
    ];

    fn run(case: &Case, input: &[u8]) -> Outcome {
        let write: Vec<Section> = case.write.iter().map(|p| section(p)).collect();
        let configured: BTreeSet<String> = case.configured.iter().map(|p| p.to_string()).collect();
        apply(
            input,
            &Plan {
                kind: case.kind,
                write: &write,
                configured: &configured,
                replace_unmanaged: case.replace_unmanaged,
            },
        )
    }

    #[test]
    fn table() {
        for case in CASES {
            let input = expand(case.input);
            let expected = expand(case.expected);
            let got = run(case, &input);
            assert_eq!(
                got.text.escape_ascii().to_string(),
                expected.escape_ascii().to_string(),
                "case: {}",
                case.name
            );
            assert_eq!(got.written, case.written, "written, case: {}", case.name);
            assert_eq!(
                got.conflicts, case.conflicts,
                "conflicts, case: {}",
                case.name
            );
            assert_eq!(got.removed, case.removed, "removed, case: {}", case.name);

            let again = run(case, &got.text);
            assert_eq!(
                again.text.escape_ascii().to_string(),
                expected.escape_ascii().to_string(),
                "not idempotent, case: {}",
                case.name
            );
            assert!(again.removed.is_empty(), "case: {}", case.name);
        }
    }

    /// Adding and removing a profile over and over neither grows nor shrinks the file.
    #[test]
    fn add_remove_cycles_do_not_accumulate_blank_lines() {
        let configured_a: BTreeSet<String> = ["a".to_string()].into();
        let none = BTreeSet::new();
        let write = [section("a")];
        let mut text = b"[default]\nregion = x\n".to_vec();
        let mut sizes = Vec::new();
        for _ in 0..3 {
            let added = apply(
                &text,
                &Plan {
                    kind: FileKind::Credentials,
                    write: &write,
                    configured: &configured_a,
                    replace_unmanaged: false,
                },
            );
            let removed = apply(
                &added.text,
                &Plan {
                    kind: FileKind::Credentials,
                    write: &[],
                    configured: &none,
                    replace_unmanaged: false,
                },
            );
            assert_eq!(removed.removed, ["a"]);
            sizes.push((added.text.len(), removed.text.len()));
            text = removed.text;
        }
        assert_eq!(text, b"[default]\nregion = x\n\n");
        assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
    }

    fn creds() -> TemporaryCredentials {
        TemporaryCredentials {
            access_key_id: "ASIAEXAMPLEKEY".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI"),
            session_token: Secret::new("FwoGZXIvYXdzEBY"),
            expiration: time::macros::datetime!(2026-11-23 11:00:00.25 +01:00),
        }
    }

    #[test]
    fn credentials_section_keys_order_and_utc_expiry() {
        let s = credentials_section("dev", &creds());
        assert_eq!(s.profile, "dev");
        let entries: Vec<(&str, &str)> = s
            .entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            entries,
            [
                ("aws_access_key_id", "ASIAEXAMPLEKEY"),
                ("aws_secret_access_key", "wJalrXUtnFEMI"),
                ("aws_session_token", "FwoGZXIvYXdzEBY"),
                ("x_security_token_expires", "2026-11-23T10:00:00Z"),
            ]
        );
    }

    #[test]
    fn section_debug_redacts_values() {
        let shown = format!("{:?}", credentials_section("dev", &creds()));
        for secret in ["ASIAEXAMPLEKEY", "wJalrXUtnFEMI", "FwoGZXIvYXdzEBY"] {
            assert!(!shown.contains(secret), "{secret} leaked in {shown}");
        }
        assert!(shown.contains("dev") && shown.contains("aws_session_token"));
    }

    #[test]
    fn managed_sections_round_trip() {
        let configured: BTreeSet<String> = ["dev", "default", "ops"].map(String::from).into();
        let write = [credentials_section("dev", &creds()), section("default")];
        for kind in [FileKind::Credentials, FileKind::Config] {
            let user = b"\xEF\xBB\xBF# mine\r\n[profile x]\r\n[x]\r\nk = mine\r\n".to_vec();
            let text = apply(
                &user,
                &Plan {
                    kind,
                    write: &write,
                    configured: &configured,
                    replace_unmanaged: false,
                },
            )
            .text;
            assert_eq!(managed_sections(&text, kind), write, "{kind:?}");
        }
    }

    #[test]
    fn managed_sections_reads_first_copy_and_skips_comments() {
        let text =
            expand(b"[a]\n{M}\n# note\n\n k = 1 \nnot a pair\n[b]\nk = mine\n[a]\n{M}\nk = 2\n");
        let found = managed_sections(&text, FileKind::Credentials);
        assert_eq!(
            found,
            [Section {
                profile: "a".into(),
                entries: vec![("k".into(), "1".into())],
            }]
        );
    }

    /// The corpus of real odd files (tests/corpus/credentials/README.md): each `NAME.ini` with
    /// the two reference profiles applied must give `NAME.ini.expected`, and the outcome its
    /// line in `outcomes.txt`. `EAR_BLESS=1` rewrites both from the code; review the diff.
    #[test]
    fn corpus_files_give_their_expected_output() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/credentials");
        let bless = std::env::var_os("EAR_BLESS").is_some();
        let expires = time::macros::datetime!(2030-01-01 00:00 UTC);
        let write: Vec<Section> = ["audit-111111111111", "audit-222222222222"]
            .iter()
            .zip(1..)
            .map(|(p, n)| {
                let creds = TemporaryCredentials {
                    access_key_id: format!("ASIACORPUSEXAMPLE00{n}"),
                    secret_access_key: Secret::new(format!("CorpusSecret/{n}/EXAMPLE")),
                    session_token: Secret::new(format!("CorpusToken/{n}/EXAMPLE")),
                    expiration: expires,
                };
                credentials_section(p, &creds)
            })
            .collect();
        let configured: BTreeSet<String> = write.iter().map(|s| s.profile.clone()).collect();
        let plan = Plan {
            kind: FileKind::Credentials,
            write: &write,
            configured: &configured,
            replace_unmanaged: false,
        };

        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".ini"))
            .collect();
        names.sort();
        assert!(names.len() >= 18, "corpus lost files: {names:?}");
        let mut outcomes = String::new();
        let mut failures = Vec::new();
        for name in &names {
            let input = std::fs::read(dir.join(name)).unwrap();
            let got = invariants::check(&input, &plan);
            let summary = format!(
                "{name}: written [{}] conflicts [{}] removed [{}]\n",
                got.written.join(" "),
                got.conflicts.join(" "),
                got.removed.join(" ")
            );
            outcomes.push_str(&summary);
            let expected_path = dir.join(format!("{name}.expected"));
            if bless {
                std::fs::write(&expected_path, &got.text).unwrap();
                continue;
            }
            let expected = std::fs::read(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
            if got.text != expected {
                failures.push(format!("{name}:\n{}", line_diff(&expected, &got.text)));
            }
        }
        let outcomes_path = dir.join("outcomes.txt");
        if bless {
            std::fs::write(&outcomes_path, &outcomes).unwrap();
            return;
        }
        let expected = std::fs::read_to_string(&outcomes_path).unwrap();
        if outcomes != expected {
            failures.push(format!(
                "outcomes.txt:\n{}",
                line_diff(expected.as_bytes(), outcomes.as_bytes())
            ));
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The lines that differ, escaped, `-` expected and `+` got, with a line of context; long
    /// lines are cut so that a 64 KB line still shows where it differs.
    fn line_diff(expected: &[u8], got: &[u8]) -> String {
        let lines = |t: &[u8]| -> Vec<String> {
            t.split_inclusive(|&b| b == b'\n')
                .map(|l| {
                    let shown = l.escape_ascii().to_string();
                    match shown.char_indices().nth(200) {
                        Some((cut, _)) => format!("{}... ({} bytes)", &shown[..cut], l.len()),
                        None => shown,
                    }
                })
                .collect()
        };
        let (e, g) = (lines(expected), lines(got));
        let mut out = String::new();
        for i in 0..e.len().max(g.len()) {
            let (a, b) = (e.get(i), g.get(i));
            if a == b {
                let near = |j: usize| e.get(j) != g.get(j);
                if (i > 0 && near(i - 1)) || near(i + 1) {
                    out += &format!("  {:4} {}\n", i + 1, a.map_or("", String::as_str));
                }
                continue;
            }
            if let Some(a) = a {
                out += &format!("- {:4} {a}\n", i + 1);
            }
            if let Some(b) = b {
                out += &format!("+ {:4} {b}\n", i + 1);
            }
        }
        out
    }

    /// Properties over arbitrary files (issue 7's fuzzing of the transform). Generated files
    /// mix well-formed lines with arbitrary bytes (invalid UTF-8, CR without LF, brackets),
    /// so that every branch of the line and header parsing is reached.
    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        fn line() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                Just(b"[default]".to_vec()),
                Just(b"[p1]".to_vec()),
                Just(b"[profile p2]".to_vec()),
                Just(MARKER.as_bytes().to_vec()),
                Just(b"aws_access_key_id = AKIAUSER".to_vec()),
                Just(b"; comment".to_vec()),
                Just(b"".to_vec()),
                "[a-z_ =\\[\\]#;\t]{0,20}".prop_map(String::into_bytes),
                vec(any::<u8>(), 0..12),
            ]
        }

        /// A file: lines joined by LF or CRLF, with or without a final newline, maybe a BOM.
        fn file() -> impl Strategy<Value = Vec<u8>> {
            (
                vec(line(), 0..12),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(lines, crlf, final_newline, bom)| {
                    let nl: &[u8] = if crlf { b"\r\n" } else { b"\n" };
                    let mut out = if bom { BOM.to_vec() } else { Vec::new() };
                    for (i, l) in lines.iter().enumerate() {
                        out.extend_from_slice(l);
                        if i + 1 < lines.len() || final_newline {
                            out.extend_from_slice(nl);
                        }
                    }
                    out
                })
        }

        fn profiles() -> impl Strategy<Value = Vec<String>> {
            proptest::sample::subsequence(vec!["p1", "p2", "p3", "default"], 0..=4)
                .prop_map(|v| v.into_iter().map(String::from).collect())
        }

        fn plan_parts(
            write: &[String],
            extra_configured: &[String],
        ) -> (Vec<Section>, BTreeSet<String>) {
            let sections = write.iter().map(|p| section(p)).collect();
            let configured = write.iter().chain(extra_configured).cloned().collect();
            (sections, configured)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]

            /// Idempotence, user bytes unchanged, written profiles read back, exactly the
            /// unlisted managed profiles removed: `invariants::check`, as the fuzz target runs it.
            #[test]
            fn every_promise_of_apply_holds_for_odd_files(
                old in file(),
                write in profiles(),
                extra in profiles(),
                config_kind in any::<bool>(),
                replace in any::<bool>(),
            ) {
                let kind = if config_kind { FileKind::Config } else { FileKind::Credentials };
                let (sections, configured) = plan_parts(&write, &extra);
                let plan = Plan { kind, write: &sections, configured: &configured, replace_unmanaged: replace };
                invariants::check(&old, &plan);
            }
        }
    }

    #[test]
    fn section_keys_names_keys_never_values() {
        let text = format!(
            "[default]\naws_access_key_id = AKIA\n# role_arn = commented\n\
             [profile p]\n{MARKER}\ncredential_process = x\n[sso-session s]\nsso_region = r\n\
             [profile q]\n  role_arn=arn\n; c\nsso_start_url = u\n"
        );
        let got = section_keys(text.as_bytes(), FileKind::Config);
        let want: Vec<(String, bool, Vec<String>)> = vec![
            ("default".into(), false, vec!["aws_access_key_id".into()]),
            ("p".into(), true, vec!["credential_process".into()]),
            (
                "q".into(),
                false,
                vec!["role_arn".into(), "sso_start_url".into()],
            ),
        ];
        assert_eq!(got, want);
    }
}
