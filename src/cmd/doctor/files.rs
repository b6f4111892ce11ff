//! `doctor`'s look at each destination's files (the credentials file or the cache file, the
//! AWS config file, the user's credentials file beside a `credential_process`): who owns them,
//! their modes, and the directory they are in, against what `run` would write. It only reads
//! metadata; it never opens a file, so no value in one can reach the output.

use super::report::Check;
use crate::agent::files::Destination;
use crate::config::DEFAULT_USER;
use crate::store::fileio::Owner;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Check 5: one destination's files: owners, modes, and the directory they are in.
pub fn files(dest: &Destination) -> Check {
    let f = &dest.files;
    let owner = f.owner.clone().or_else(|| Owner::current().ok());
    let name = format!("files ({})", user_label(&dest.name));
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    let mut paths: Vec<(&Path, bool)> = vec![(&f.credentials, true), (&f.config, false)];
    if let Some(shadowed) = &f.shadowed {
        paths.push((shadowed, true));
    }
    for (path, private) in paths {
        match inspect(path, owner.as_ref(), private, &mut problems) {
            Some(meta) => seen.push(format!(
                "{} ({}, {:04o})",
                path.display(),
                user_name(meta.uid()),
                meta.mode() & 0o7777
            )),
            None => seen.push(format!("{} (to be created)", path.display())),
        }
    }
    if let Some(dir) = f.credentials.parent() {
        inspect_dir(dir, owner.as_ref(), &mut problems);
    }
    Check::of(name, seen.join(", "), problems)
}

/// `path`'s metadata when it exists; its problems added to `problems`.
fn inspect(
    path: &Path,
    owner: Option<&Owner>,
    private: bool,
    problems: &mut Vec<(String, String)>,
) -> Option<std::fs::Metadata> {
    let shown = path.display();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            problems.push((
                format!("{shown}: {e}"),
                "check the path and its directories".into(),
            ));
            return None;
        }
    };
    if meta.file_type().is_symlink() || !meta.is_file() {
        problems.push((
            format!("{shown} is not a regular file; ec2-assume-role refuses to write through it"),
            format!("replace {shown} with a regular file"),
        ));
        return Some(meta);
    }
    problems.extend(wrong_owner(path, false, meta.uid(), owner));
    let mode = meta.mode() & 0o7777;
    if private && mode & 0o077 != 0 {
        problems.push((
            format!("{shown} has mode {mode:04o}: others can read the keys (0600 expected)"),
            format!("chmod 600 {shown}"),
        ));
    } else if mode & 0o022 != 0 {
        problems.push((
            format!("{shown} has mode {mode:04o}: others can change it"),
            format!("chmod go-w {shown}"),
        ));
    }
    Some(meta)
}

/// The problem and its fix when `path` (a directory when `dir`) belongs to `uid` rather than
/// to `owner`.
fn wrong_owner(
    path: &Path,
    dir: bool,
    uid: u32,
    owner: Option<&Owner>,
) -> Option<(String, String)> {
    let owner = owner.filter(|o| o.uid.as_raw() != uid)?;
    let shown = path.display();
    let what = if dir { "the directory " } else { "" };
    Some((
        format!(
            "{what}{shown} belongs to {}, not {}",
            user_name(uid),
            owner.name
        ),
        format!("chown {}: {shown}", owner.name),
    ))
}

fn inspect_dir(dir: &Path, owner: Option<&Owner>, problems: &mut Vec<(String, String)>) {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return; // Created with the file, by its owner.
    };
    let shown = dir.display();
    problems.extend(wrong_owner(dir, true, meta.uid(), owner));
    if meta.mode() & 0o022 != 0 {
        problems.push((
            format!(
                "the directory {shown} has mode {:04o}: others could swap the files",
                meta.mode() & 0o7777
            ),
            format!("chmod go-w {shown}"),
        ));
    }
}

fn user_label(name: &str) -> String {
    match name {
        DEFAULT_USER => "[credentials]".to_owned(),
        user => format!("user {user}"),
    }
}

fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}
