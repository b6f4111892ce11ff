//! docgen: writes the man pages and the shell completions of ec2-assume-role, rendered from
//! the clap definitions the binary parses with (`ec2_assume_role::cli::command()`):
//!
//! ```text
//! OUT/man/ec2-assume-role.1             the command, its global options and EXIT STATUS
//! OUT/man/ec2-assume-role-SUBCOMMAND.1  one per subcommand, with its own options
//! OUT/completions/ec2-assume-role.bash  bash
//! OUT/completions/_ec2-assume-role      zsh
//! OUT/completions/ec2-assume-role.fish  fish
//! OUT/man/ec2-assume-role.toml.5        the config file (config_docs)
//! OUT/config.schema.json                its JSON Schema (config_docs)
//! ```
//!
//! `docgen config-docs` rewrites the committed config reference instead (the key section of
//! docs/configuration.md, docs/ec2-assume-role.toml.5, docs/config.schema.json), and
//! `docgen config-docs --check` says which of them differ from what it would write.
//!
//! scripts/release.sh runs it (`cargo run -p docgen -- dist`), and the RPM and the .deb
//! install its files. The EXIT STATUS section is `cli::EXIT_CODES`, the text `--help` ends
//! with, so the man page cannot drift from it. The output depends on the sources alone (no
//! date, no environment variable's value, no terminal width), so the release stays
//! reproducible. It must never write outside OUT.

mod config_docs;

use clap_complete::Shell;
use clap_mangen::Man;
use ec2_assume_role::cli;
use roff::{bold, roman, Roff};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const BIN: &str = "ec2-assume-role";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let done = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["config-docs"] => write_config_docs(),
        ["config-docs", "--check"] => check_config_docs(),
        [out] if !out.starts_with('-') => write_all(Path::new(out)),
        _ => {
            eprintln!(
                "usage: docgen OUT_DIR   (writes OUT_DIR/man/*, OUT_DIR/completions/*, \
                 OUT_DIR/config.schema.json)\n       docgen config-docs [--check]   \
                 (rewrites, or checks, the committed config reference)"
            );
            return ExitCode::from(2);
        }
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("docgen: {err}");
            ExitCode::FAILURE
        }
    }
}

fn write_all(out: &Path) -> Result<(), String> {
    let files = man_pages()?
        .into_iter()
        .map(|(name, text)| (format!("man/{name}"), text));
    let config = [
        (
            "man/ec2-assume-role.toml.5".to_owned(),
            config_docs::man_page(&version()),
        ),
        (
            "config.schema.json".to_owned(),
            config_docs::schema().into_bytes(),
        ),
    ];
    let files = files.chain(config);
    let files = files.chain(
        completions()
            .into_iter()
            .map(|(n, t)| (format!("completions/{n}"), t)),
    );
    for (name, text) in files {
        let path = out.join(&name);
        let dir = path.parent().expect("a file under OUT");
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The repository's root: docgen is its `docgen/` crate.
fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn version() -> String {
    cli::command().get_version().unwrap_or_default().to_string()
}

/// (path from the root, what it should hold) of the committed config reference.
fn config_docs() -> Result<Vec<(&'static str, Vec<u8>)>, String> {
    let md_path = root().join(config_docs::MARKDOWN);
    let md =
        fs::read_to_string(&md_path).map_err(|e| format!("reading {}: {e}", md_path.display()))?;
    Ok(vec![
        (
            config_docs::MARKDOWN,
            config_docs::splice(&md, &config_docs::markdown())?.into_bytes(),
        ),
        (config_docs::MAN_PAGE, config_docs::man_page(&version())),
        (config_docs::SCHEMA, config_docs::schema().into_bytes()),
    ])
}

fn write_config_docs() -> Result<(), String> {
    for (name, text) in config_docs()? {
        let path = root().join(name);
        fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("wrote {name}");
    }
    Ok(())
}

/// The committed files that differ from what `config-docs` would write now.
fn stale_config_docs() -> Result<Vec<&'static str>, String> {
    Ok(config_docs()?
        .into_iter()
        .filter(|(name, text)| fs::read(root().join(name)).ok().as_ref() != Some(text))
        .map(|(name, _)| name)
        .collect())
}

fn check_config_docs() -> Result<(), String> {
    match stale_config_docs()?[..] {
        [] => Ok(()),
        ref stale => Err(format!(
            "{} differ from src/config/keys.rs; run `cargo run -p docgen -- config-docs`",
            stale.join(", ")
        )),
    }
}

/// The command as the binary parses it, built (global options propagated to subcommands),
/// for the man pages: its `help` subcommand gets no page of its own.
fn command() -> clap::Command {
    let mut cmd = cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// (file name, roff text) of the command's page and of each visible subcommand's.
fn man_pages() -> Result<Vec<(String, Vec<u8>)>, String> {
    let codes = exit_codes(cli::EXIT_CODES)?;
    let cmd = command();
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let see_also: Vec<String> = subs
        .iter()
        .map(|s| format!("{BIN}-{}(1)", s.get_name()))
        .collect();
    let version = cmd.get_version().unwrap_or_default().to_string();
    let mut pages = vec![man_page(cmd, &version, &codes, &see_also)?];
    for sub in subs {
        pages.push(man_page(sub, &version, &codes, &[format!("{BIN}(1)")])?);
    }
    Ok(pages)
}

/// clap_mangen's sections, minus its EXTRA (the `--help` epilogue, which is the exit codes),
/// plus EXIT STATUS and SEE ALSO; VERSION is the binary's, which subcommands do not carry.
fn man_page(
    cmd: clap::Command,
    version: &str,
    codes: &[(u8, String)],
    see_also: &[String],
) -> Result<(String, Vec<u8>), String> {
    let has_subcommands = cmd.has_subcommands();
    let man = Man::new(cmd).source(format!("{BIN} {version}"));
    let mut out = Vec::new();
    let io = |e: std::io::Error| format!("rendering {}: {e}", man.get_filename());
    man.render_title(&mut out).map_err(io)?;
    man.render_name_section(&mut out).map_err(io)?;
    man.render_synopsis_section(&mut out).map_err(io)?;
    man.render_description_section(&mut out).map_err(io)?;
    man.render_options_section(&mut out).map_err(io)?;
    if has_subcommands {
        man.render_subcommands_section(&mut out).map_err(io)?;
    }
    let mut roff = Roff::default();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in codes {
        roff.control("TP", [])
            .text([bold(code.to_string())])
            .text([roman(meaning.as_str())]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<String> = see_also.to_vec();
    refs.push(format!("{BIN}.toml(5)"));
    refs.push(format!("the README in /usr/share/doc/{BIN}/"));
    roff.text([roman(refs.join(", "))]);
    roff.control("SH", ["VERSION"])
        .text([roman(format!("v{version}"))]);
    roff.to_writer(&mut out).map_err(io)?;
    out.flush().map_err(io)?;
    Ok((man.get_filename(), out))
}

/// `cli::EXIT_CODES` as (code, meaning): after the heading, a line `  N  text` starts an
/// entry and a line indented further continues it.
fn exit_codes(text: &str) -> Result<Vec<(u8, String)>, String> {
    let mut lines = text.lines();
    let heading = lines.next().unwrap_or_default();
    if heading != "Exit codes:" {
        return Err(format!(
            "cli::EXIT_CODES starts with {heading:?}, not \"Exit codes:\""
        ));
    }
    let mut codes: Vec<(u8, String)> = Vec::new();
    for line in lines {
        let entry = line.strip_prefix("  ").and_then(|rest| {
            let (code, meaning) = rest.split_once("  ")?;
            Some((code.parse::<u8>().ok()?, meaning))
        });
        match (entry, codes.last_mut()) {
            (Some((code, meaning)), _) => codes.push((code, meaning.trim().to_string())),
            (None, Some((_, meaning))) if line.starts_with("   ") => {
                meaning.push(' ');
                meaning.push_str(line.trim());
            }
            _ => return Err(format!("cli::EXIT_CODES: cannot read the line {line:?}")),
        }
    }
    Ok(codes)
}

/// (file name, script) for bash, zsh and fish, as their packages look them up.
fn completions() -> Vec<(String, Vec<u8>)> {
    [
        (Shell::Bash, format!("{BIN}.bash")),
        (Shell::Zsh, format!("_{BIN}")),
        (Shell::Fish, format!("{BIN}.fish")),
    ]
    .into_iter()
    .map(|(shell, name)| {
        let mut script = Vec::new();
        // All of it, `help` too: the completions offer what the binary accepts.
        clap_complete::generate(shell, &mut cli::command(), BIN, &mut script);
        (name, script)
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ec2_assume_role::agent::error::Exit;

    /// Every exit code the binary can end with, in order. The match makes this list fail to
    /// compile when `Exit` gains a variant, until the variant is added here.
    fn every_exit() -> Vec<u8> {
        let all = [
            Exit::Ok,
            Exit::Other,
            Exit::Usage,
            Exit::SomeRolesFailed,
            Exit::ConfigInvalid,
            Exit::IdentityRefused,
            Exit::ImdsUnavailable,
            Exit::FileNotWritten,
            Exit::ConfigUnavailable,
            Exit::DoctorFoundProblems,
            Exit::ProfileUnknown,
        ];
        for e in all {
            match e {
                Exit::Ok
                | Exit::Other
                | Exit::Usage
                | Exit::SomeRolesFailed
                | Exit::ConfigInvalid
                | Exit::IdentityRefused
                | Exit::ImdsUnavailable
                | Exit::FileNotWritten
                | Exit::ConfigUnavailable
                | Exit::DoctorFoundProblems
                | Exit::ProfileUnknown => {}
            }
        }
        all.iter().map(|e| *e as u8).collect()
    }

    #[test]
    fn exit_status_lists_every_exit_code_once() {
        let codes = exit_codes(cli::EXIT_CODES).unwrap();
        let numbers: Vec<u8> = codes.iter().map(|(c, _)| *c).collect();
        assert_eq!(numbers, every_exit());
        // Continuation lines are joined into their entry.
        let (_, six) = &codes[6];
        assert!(
            six.starts_with("IMDS did not answer") && six.ends_with("nothing was written"),
            "{six}"
        );
        assert!(!six.contains("  "), "{six}");
    }

    #[test]
    fn exit_codes_layout_errors_are_named() {
        assert!(exit_codes("Codes:\n  0  ok")
            .unwrap_err()
            .contains("starts with"));
        assert!(exit_codes("Exit codes:\nstray")
            .unwrap_err()
            .contains("\"stray\""));
        assert!(exit_codes("Exit codes:\n     continued first").is_err());
    }

    #[test]
    fn pages_cover_every_subcommand_with_exit_status() {
        let pages = man_pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        let mut want = vec![format!("{BIN}.1")];
        want.extend(
            command()
                .get_subcommands()
                .map(|s| format!("{BIN}-{}.1", s.get_name())),
        );
        assert_eq!(names, want);
        for (name, text) in &pages {
            let text = String::from_utf8(text.clone()).unwrap();
            assert!(text.contains(".SH \"EXIT STATUS\""), "{name}");
            assert!(
                text.contains("\\fB4\\fR\nthe config file is invalid"),
                "{name}: {text}"
            );
            assert!(
                text.contains(".SH OPTIONS") && text.contains("\\-\\-config"),
                "{name}"
            );
            assert!(!text.contains(".SH EXTRA"), "{name}");
        }
        let main = String::from_utf8(pages[0].1.clone()).unwrap();
        assert!(main.contains("ec2\\-assume\\-role\\-daemon(1)"), "{main}");
    }

    #[test]
    fn output_is_the_same_whatever_the_environment_says() {
        let before = (man_pages().unwrap(), completions());
        // SAFETY: this test alone touches the environment, and it restores it.
        unsafe { std::env::set_var("EC2_ASSUME_ROLE_CONFIG", "/somewhere/else.toml") };
        let after = (man_pages().unwrap(), completions());
        unsafe { std::env::remove_var("EC2_ASSUME_ROLE_CONFIG") };
        assert!(before == after, "the environment changed the output");
        let (pages, _) = &before;
        assert!(String::from_utf8_lossy(&pages[0].1).contains("EC2_ASSUME_ROLE_CONFIG"));
    }

    /// The committed reference is what the parser's list of keys gives now.
    #[test]
    fn the_committed_config_reference_is_generated() {
        assert_eq!(stale_config_docs().unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn the_config_page_is_named_beside_the_commands() {
        let main = String::from_utf8(man_pages().unwrap()[0].1.clone()).unwrap();
        assert!(main.contains("ec2\\-assume\\-role.toml(5)"), "{main}");
    }

    #[test]
    fn completions_offer_the_subcommands() {
        for (name, script) in completions() {
            let script = String::from_utf8(script).unwrap();
            assert!(
                script.contains("credential-process") && script.contains("daemon"),
                "{name}"
            );
        }
    }
}
