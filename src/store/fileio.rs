//! Atomic, owner-aware replacement of one file (the AWS credentials or config file): lock the
//! directory, read, call a pure transform, and if the bytes changed write a temp file in the
//! same directory and rename it over the old one. A reader sees the old file or the new one,
//! never a torn or empty one, and a crash at any point leaves the old file whole. `read` is
//! the same careful open for readers that write nothing (`status`).
//!
//! This module must never follow a symlink or write through a hard link into a file that may
//! be someone else's, never hang on a FIFO, never leave a file readable by anyone but its
//! owner, and never look at or log the bytes it moves (they hold secrets).
//!
//! Decisions where the threat model needed one:
//! - The parent directory is created (one level only, mode 0700, owned by the owner) when
//!   missing; a missing grandparent (say the home directory) is an error, not ours to invent.
//! - An existing parent directory keeps its mode, unless group or others can write to it: then
//!   it becomes 0700 if it belongs to the owner (or to us, without an owner), and is refused
//!   otherwise, since anyone who can write there can swap files under us.
//! - Running as root, the parent directory and the file must belong to the owner (or to us,
//!   without one) or to root; with an owner, a symlinked parent directory is refused too.
//!   Ancestors above the parent directory are trusted (root or the owner controls them).
//! - The file itself is never followed when it is a symlink: a rename would replace the link,
//!   not its target, silently detaching the user's setup, so we refuse and say so.
//! - With an owner and not running as root we cannot chown, so unless the owner is us we
//!   refuse rather than leave the user a file they do not own.
//! - A file for other programs to read (`Readers::Everyone`: the metrics file that
//!   node_exporter reads) is 0644, and its directory keeps its mode (a new one is 0755):
//!   narrowing it to 0700 would lock that program out. A directory group or others can write
//!   (and that is not sticky) is refused for it instead. Never for a secret.

use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{self, Gid, Uid, UnlinkatFlags, User};
use std::ffi::{OsStr, OsString};
use std::fs::{DirBuilder, File, Permissions};
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{fchown, DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Our temp files are `.<file name>.ec2-assume-role.<pid>.<random>.tmp`.
const TEMP_TAG: &str = ".ec2-assume-role.";
/// A temp file older than this was left by a killed run, whatever its pid says now.
const STALE_AFTER: Duration = Duration::from_secs(60);

/// The user whose files we write.
#[derive(Clone, Debug)]
pub struct Owner {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    pub home: PathBuf,
}

impl Owner {
    /// The user `name` from the password database.
    pub fn lookup(name: &str) -> Result<Owner, FileError> {
        match User::from_name(name) {
            Ok(Some(user)) => Ok(Owner {
                name: user.name,
                uid: user.uid,
                gid: user.gid,
                home: user.dir,
            }),
            Ok(None) => Err(FileError::NoSuchUser { name: name.into() }),
            Err(errno) => Err(FileError::UserLookup {
                name: name.into(),
                source: errno.into(),
            }),
        }
    }

    /// The user we run as. Home is `$HOME` when it is set to an absolute path, as it is for
    /// the AWS CLI and SDKs that will read the file; otherwise the password database's.
    pub fn current() -> Result<Owner, FileError> {
        let uid = unistd::geteuid();
        let env_home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|h| h.is_absolute());
        let user = User::from_uid(uid).ok().flatten();
        let (name, gid, passwd_home) = match user {
            Some(u) => (u.name, u.gid, Some(u.dir)),
            // Containers often run as a uid with no passwd entry.
            None => (uid.to_string(), unistd::getegid(), None),
        };
        let home = env_home
            .or(passwd_home)
            .ok_or(FileError::NoHome { uid: uid.as_raw() })?;
        Ok(Owner {
            name,
            uid,
            gid,
            home,
        })
    }
}

/// Why a file was not read or written. Every message names the path (or the user).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is a symbolic link; refusing to follow it (replace the link with what it points to, or configure the path of its target)", path.display())]
    Symlink { path: PathBuf },
    #[error("{} is a {kind}, not a regular file; refusing to use it", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} has {links} hard links; refusing to write through a link that may reach another user's file (make it a single file)", path.display())]
    HardLinked { path: PathBuf, links: u64 },
    #[error("{} is owned by uid {found}; expected uid {expected} or root", path.display())]
    WrongOwner {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{} is writable by group or others and owned by uid {found}, not uid {expected}; refusing to write there (chmod go-w it)", path.display())]
    UnsafeDirectory {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{} is writable by group or others (mode {mode:o}); refusing to write a file that others read there (chmod go-w it)", path.display())]
    WritableDirectory { path: PathBuf, mode: u32 },
    #[error("{}: writing files owned by {owner} needs root; running as uid {uid}", path.display())]
    NotRoot {
        path: PathBuf,
        owner: String,
        uid: u32,
    },
    #[error(
        "{}: refusing it: running as root, the config and every directory above it must be \
         root's and not writable by others, but {} is owned by uid {uid} with mode {mode:o} \
         (chown root and chmod go-w it)",
        path.display(),
        culprit.display()
    )]
    Untrusted {
        path: PathBuf,
        culprit: PathBuf,
        uid: u32,
        mode: u32,
    },
    #[error(
        "{} was replaced by another program {attempts} times while we wrote it; not \
         overwriting its changes (try again once it is done)",
        path.display()
    )]
    KeptChanging { path: PathBuf, attempts: u32 },
    #[error("{}: not a path to a file", path.display())]
    NotAFilePath { path: PathBuf },
    #[error("no user named {name} in the password database")]
    NoSuchUser { name: String },
    #[error("looking up user {name}: {source}")]
    UserLookup {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "uid {uid} has no home directory: it is not in the password database and $HOME is not set"
    )]
    NoHome { uid: u32 },
}

/// Wraps an I/O failure (`Errno` or `io::Error`) with what we were doing and to which path.
fn io_err<'a, E: Into<io::Error>>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(E) -> FileError + 'a {
    move |source| FileError::Io {
        action,
        path: path.to_path_buf(),
        source: source.into(),
    }
}

/// Checks, when running as root, that nobody but root can change the file at `path`: the
/// file and every directory above it are root's and not writable by group or others (a
/// sticky directory such as /tmp counts as safe: others cannot replace root's entries in it).
/// A config another user can edit would let them choose where root writes credentials.
pub fn check_trusted(path: &Path) -> Result<(), FileError> {
    if !unistd::geteuid().is_root() {
        return Ok(());
    }
    let real = std::fs::canonicalize(path).map_err(io_err("resolving", path))?;
    let mut next = Some(real.as_path());
    while let Some(current) = next {
        let meta = std::fs::metadata(current).map_err(io_err("inspecting", current))?;
        let sticky_dir = meta.is_dir() && meta.mode() & 0o1000 != 0;
        if meta.uid() != 0 || (meta.mode() & 0o022 != 0 && !sticky_dir) {
            return Err(FileError::Untrusted {
                path: path.into(),
                culprit: current.into(),
                uid: meta.uid(),
                mode: meta.mode() & 0o7777,
            });
        }
        next = current.parent();
    }
    Ok(())
}

/// Who may read a file that `update_for` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readers {
    /// Its owner only: mode 0600 in a directory narrowed to 0700 (credentials, tokens, state).
    Owner,
    /// Everyone: mode 0644, the directory's mode left as it is (0755 when created). For a
    /// file other programs read, never for a secret.
    Everyone,
    /// Its owner only (mode 0600), in a directory that other users must still enter, left as
    /// it is (0755 when created): the runtime directory, which holds each owner's own state
    /// file and token beside the daemon's state file.
    OwnerInSharedDirectory,
}

impl Readers {
    fn file_mode(self) -> u32 {
        match self {
            Readers::Owner | Readers::OwnerInSharedDirectory => 0o600,
            Readers::Everyone => 0o644,
        }
    }
}

/// Locks `path`'s directory, reads `path` (missing = empty), calls `transform`, and when the
/// bytes it returns differ from the old ones replaces the file atomically. Returns the value
/// `transform` returned alongside the bytes. To write nothing, return the old bytes.
///
/// The file ends up mode 0600 and, when `owner` is given (and we are root), owned by it;
/// an unchanged file has its mode and owner fixed in place.
pub fn update<T>(
    path: &Path,
    owner: Option<&Owner>,
    transform: impl Fn(&[u8]) -> (Vec<u8>, T),
) -> Result<T, FileError> {
    update_for(path, owner, Readers::Owner, transform)
}

/// `update` for a file that `readers` may read (`Readers::Everyone`: mode 0644).
pub fn update_for<T>(
    path: &Path,
    owner: Option<&Owner>,
    readers: Readers,
    transform: impl Fn(&[u8]) -> (Vec<u8>, T),
) -> Result<T, FileError> {
    let name = path
        .file_name()
        .ok_or_else(|| FileError::NotAFilePath { path: path.into() })?;
    let dir_path = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let euid = unistd::geteuid();
    let root = euid.is_root();
    if let Some(o) = owner.filter(|o| !root && o.uid != euid) {
        return Err(FileError::NotRoot {
            path: path.into(),
            owner: o.name.clone(),
            uid: euid.as_raw(),
        });
    }
    let policy = Policy {
        expected: owner.map_or(euid, |o| o.uid),
        chown: owner.filter(|_| root).map(|o| (o.uid, o.gid)),
        root,
        readers,
    };

    let dir = open_dir(dir_path, &policy)?;
    // Serialises two agents writing the same files; a lock on the directory (not a lock
    // file) leaves nothing behind in the user's directory.
    let dir = Flock::lock(dir, FlockArg::LockExclusive)
        .map_err(|(_, errno)| io_err("locking", dir_path)(errno))?;
    remove_stale_temps(&dir, dir_path);

    // Writers that take our lock are serialised by it; one that does not (an editor's atomic
    // save, a script) may replace the file between our read and our rename. Before renaming
    // we check that the file is still the one we read, and start over if it is not, so its
    // change is not lost. (A window remains between that check and the rename: no lock-free
    // writer can be excluded entirely; it is microseconds instead of the whole run.)
    for attempt in 0..CHANGED_UNDER_US_ATTEMPTS {
        if attempt > 0 {
            // Let the other writer finish its save; jittered so that two never stay in step.
            std::thread::sleep(Duration::from_millis(1 + fastrand::u64(0..10)));
        }
        let current = read_current(&*dir, name, path, &policy)?;
        // `Some(None)`: there was no file, as `current_identity` says of a missing one.
        let seen = Some(current.as_ref().and_then(|(file, _)| identity(file)));
        let old: &[u8] = current.as_ref().map_or(&[], |(_, bytes)| bytes);
        let (new, value) = transform(old);
        match &current {
            Some((file, bytes)) if *bytes == new => {
                fix_metadata(file, path, &policy)?;
                return Ok(value);
            }
            None if new.is_empty() => return Ok(value),
            _ => {}
        }
        let unchanged = || current_identity(&*dir, name) == seen;
        if replace(&dir, dir_path, name, &new, &policy, &unchanged)? {
            return Ok(value);
        }
    }
    // Never overwrite another writer's change: give up this time (the daemon retries).
    Err(FileError::KeptChanging {
        path: path.into(),
        attempts: CHANGED_UNDER_US_ATTEMPTS,
    })
}

/// How many times a write starts over because another writer replaced the file meanwhile.
const CHANGED_UNDER_US_ATTEMPTS: u32 = 50;

/// What tells one version of a file from another: device, inode, size and change time.
type FileIdentity = (u64, u64, u64, i64, i64);

fn identity(file: &File) -> Option<FileIdentity> {
    file.metadata()
        .ok()
        .map(|m| (m.dev(), m.ino(), m.size(), m.ctime(), m.ctime_nsec()))
}

fn current_identity(dir: &impl AsFd, name: &OsStr) -> Option<Option<FileIdentity>> {
    match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Some(Some((
            st.st_dev,
            st.st_ino,
            u64::try_from(st.st_size).unwrap_or(0),
            st.st_ctime,
            st.st_ctime_nsec,
        ))),
        Err(Errno::ENOENT) => Some(None),
        Err(_) => None,
    }
}

/// Who must own what, decided once per call.
struct Policy {
    /// The uid that should own the directory and the file (root may own them as well).
    expected: Uid,
    /// Set when we are root and have an owner: chown what we create to it.
    chown: Option<(Uid, Gid)>,
    root: bool,
    readers: Readers,
}

impl Policy {
    /// As root, what we read or write in must belong to the expected user or to root:
    /// anyone else could have planted it.
    fn check_owner(&self, path: &Path, meta: &std::fs::Metadata) -> Result<(), FileError> {
        let expected = self.expected.as_raw();
        if self.root && meta.uid() != expected && meta.uid() != 0 {
            return Err(FileError::WrongOwner {
                path: path.into(),
                found: meta.uid(),
                expected,
            });
        }
        Ok(())
    }
}

fn open_dir(dir_path: &Path, policy: &Policy) -> Result<File, FileError> {
    let strict = policy.chown.is_some();
    let dir_mode = match policy.readers {
        Readers::Owner => 0o700,
        Readers::Everyone | Readers::OwnerInSharedDirectory => 0o755,
    };
    let created = match DirBuilder::new().mode(dir_mode).create(dir_path) {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => false,
        Err(e) => return Err(io_err("creating directory", dir_path)(e)),
    };
    let mut flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    if strict {
        flags |= OFlag::O_NOFOLLOW;
    }
    let dir = match fcntl::open(dir_path, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        // With O_DIRECTORY a symlink gives ENOTDIR rather than ELOOP.
        Err(Errno::ELOOP | Errno::ENOTDIR)
            if strict
                && std::fs::symlink_metadata(dir_path)
                    .is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            return Err(FileError::Symlink {
                path: dir_path.into(),
            })
        }
        Err(errno) => return Err(io_err("opening directory", dir_path)(errno)),
    };
    if created {
        if let Some((uid, gid)) = policy.chown {
            fchown(&dir, Some(uid.as_raw()), Some(gid.as_raw()))
                .map_err(io_err("changing the owner of", dir_path))?;
        }
        // The umask may have narrowed the mode; 0700 (0755) is what we promise.
        dir.set_permissions(Permissions::from_mode(dir_mode))
            .map_err(io_err("setting the mode of", dir_path))?;
    }
    let meta = dir.metadata().map_err(io_err("inspecting", dir_path))?;
    policy.check_owner(dir_path, &meta)?;
    let expected = policy.expected.as_raw();
    // A directory of the owner's that others can read or enter becomes 0700, as promised;
    // one that others can write and that is not the owner's is refused, since they could swap
    // the file under us.
    if meta.mode() & 0o022 != 0 && meta.uid() != expected {
        return Err(FileError::UnsafeDirectory {
            path: dir_path.into(),
            found: meta.uid(),
            expected,
        });
    }
    if policy.readers != Readers::Owner {
        // Left as it is (others must read the file, or enter the directory), but not where
        // others could swap it.
        if meta.mode() & 0o022 != 0 && meta.mode() & 0o1000 == 0 {
            return Err(FileError::WritableDirectory {
                path: dir_path.into(),
                mode: meta.mode() & 0o7777,
            });
        }
        return Ok(dir);
    }
    if meta.mode() & 0o077 != 0 && meta.uid() == expected {
        dir.set_permissions(Permissions::from_mode(0o700))
            .map_err(io_err("setting the mode of", dir_path))?;
    }
    Ok(dir)
}

/// Reads `path` for a reader that writes nothing (`status`): `Ok(None)` when it is missing.
/// Like `update`, it refuses a symlink or anything but a regular file, and a FIFO cannot make
/// it hang. Hard links and owners are not checked: reading through them harms no one.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, FileError> {
    match open_regular(fcntl::AT_FDCWD, path, path)? {
        Some((mut file, meta)) => read_all(&mut file, &meta, path).map(Some),
        None => Ok(None),
    }
}

/// The current file and its bytes, or `None` when there is none.
fn read_current(
    dir: &impl AsFd,
    name: &OsStr,
    path: &Path,
    policy: &Policy,
) -> Result<Option<(File, Vec<u8>)>, FileError> {
    let Some((mut file, meta)) = open_regular(dir, name, path)? else {
        return Ok(None);
    };
    if meta.nlink() > 1 {
        return Err(FileError::HardLinked {
            path: path.into(),
            links: meta.nlink(),
        });
    }
    policy.check_owner(path, &meta)?;
    let bytes = read_all(&mut file, &meta, path)?;
    Ok(Some((file, bytes)))
}

/// Opens `name` relative to `dir` for reading, without following a symlink, and only if it
/// is a regular file; `None` when it does not exist. `path` is for messages.
fn open_regular<P: ?Sized + nix::NixPath>(
    dir: impl AsFd,
    name: &P,
    path: &Path,
) -> Result<Option<(File, std::fs::Metadata)>, FileError> {
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer.
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    let file = match fcntl::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => File::from(fd),
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => return Err(FileError::Symlink { path: path.into() }),
        Err(errno) => return Err(io_err("opening", path)(errno)),
    };
    let meta = file.metadata().map_err(io_err("inspecting", path))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_fifo() {
            "FIFO"
        } else if ft.is_socket() {
            "socket"
        } else if ft.is_char_device() || ft.is_block_device() {
            "device"
        } else {
            "special file"
        };
        return Err(FileError::NotRegular {
            path: path.into(),
            kind,
        });
    }
    Ok(Some((file, meta)))
}

fn read_all(file: &mut File, meta: &std::fs::Metadata, path: &Path) -> Result<Vec<u8>, FileError> {
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)
        .map_err(io_err("reading", path))?;
    Ok(bytes)
}

/// An unchanged file still gets the mode and owner we promise.
fn fix_metadata(file: &File, path: &Path, policy: &Policy) -> Result<(), FileError> {
    let meta = file.metadata().map_err(io_err("inspecting", path))?;
    if let Some((uid, gid)) = policy.chown {
        if meta.uid() != uid.as_raw() || meta.gid() != gid.as_raw() {
            fchown(file, Some(uid.as_raw()), Some(gid.as_raw()))
                .map_err(io_err("changing the owner of", path))?;
        }
    }
    let want = policy.readers.file_mode();
    if meta.mode() & 0o7777 != want {
        file.set_permissions(Permissions::from_mode(want))
            .map_err(io_err("setting the mode of", path))?;
    }
    Ok(())
}

/// Writes `bytes` to a new temp file next to `name` and renames it over `name` if
/// `still_current()` says the file is still the one the bytes were computed from; `Ok(false)`
/// (temp file removed) if not. On any error before the rename the temp file is removed and
/// the old file is untouched.
fn replace(
    dir: &File,
    dir_path: &Path,
    name: &OsStr,
    bytes: &[u8],
    policy: &Policy,
    still_current: &dyn Fn() -> bool,
) -> Result<bool, FileError> {
    let (temp_name, mut temp) = create_temp(dir, dir_path, name)?;
    let temp_path = dir_path.join(&temp_name);
    let written = (|| {
        if let Some((uid, gid)) = policy.chown {
            fchown(&temp, Some(uid.as_raw()), Some(gid.as_raw()))
                .map_err(io_err("changing the owner of", &temp_path))?;
        }
        // Set before the first byte, whatever the umask says.
        temp.set_permissions(Permissions::from_mode(policy.readers.file_mode()))
            .map_err(io_err("setting the mode of", &temp_path))?;
        temp.write_all(bytes)
            .map_err(io_err("writing", &temp_path))?;
        temp.sync_all().map_err(io_err("syncing", &temp_path))?;
        if !still_current() {
            return Ok(false);
        }
        fcntl::renameat(dir, temp_name.as_os_str(), dir, name)
            .map_err(io_err("renaming into place", &temp_path))
            .map(|()| true)
    })();
    match written {
        Ok(true) => {}
        // Best effort: the error that matters is the one above.
        Ok(false) | Err(_) => {
            let _ = unistd::unlinkat(dir, temp_name.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
    if !written? {
        return Ok(false);
    }
    // The rename is durable only once the directory is.
    unistd::fsync(dir).map_err(io_err("syncing directory", dir_path))?;
    Ok(true)
}

/// Creates `.<name>.ec2-assume-role.<pid>.<random>.tmp` exclusively, mode 0600.
fn create_temp(dir: &File, dir_path: &Path, name: &OsStr) -> Result<(OsString, File), FileError> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut attempts = 0;
    loop {
        let mut temp_name = OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(
            "{TEMP_TAG}{}.{:016x}.tmp",
            std::process::id(),
            random()
        ));
        match fcntl::openat(
            dir,
            temp_name.as_os_str(),
            flags,
            Mode::from_bits_truncate(0o600),
        ) {
            Ok(fd) => return Ok((temp_name, File::from(fd))),
            Err(Errno::EEXIST) if attempts < 8 => attempts += 1,
            Err(errno) => {
                return Err(io_err("creating temp file in", dir_path)(errno));
            }
        }
    }
}

/// A random u64 from std's per-process random hash keys: enough to make a temp name that no
/// other process guesses; `O_EXCL` makes a collision an error rather than a hazard.
fn random() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    hasher.finish()
}

/// The pid in one of our temp file names, or `None` if the name is not ours.
fn temp_pid(name: &[u8]) -> Option<u32> {
    let rest = name.strip_prefix(b".")?.strip_suffix(b".tmp")?;
    let dot = rest.iter().rposition(|&b| b == b'.')?;
    let (rest, random) = (&rest[..dot], &rest[dot + 1..]);
    if random.is_empty() || !random.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let dot = rest.iter().rposition(|&b| b == b'.')?;
    let (rest, pid) = (&rest[..=dot], &rest[dot + 1..]);
    let file = rest.strip_suffix(TEMP_TAG.as_bytes())?;
    if file.is_empty() {
        return None;
    }
    std::str::from_utf8(pid).ok()?.parse().ok()
}

/// Removes temp files left by killed runs: those whose process is gone, or older than
/// `STALE_AFTER`. Called with the directory lock held, so no live run of ours is mid-write
/// in this directory. Best effort: a leftover is litter, not a reason to fail the write.
fn remove_stale_temps(dir: &File, dir_path: &Path) {
    // Listing goes through the path (std has no fd-based readdir); every action below is
    // relative to the locked directory fd and only ever touches names of our own pattern.
    let Ok(entries) = std::fs::read_dir(dir_path) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_pid(name.as_bytes()) else {
            continue;
        };
        let Ok(stat) = nix::sys::stat::fstatat(dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        else {
            continue;
        };
        let age = now.saturating_sub(u64::try_from(stat.st_mtime).unwrap_or(0));
        let gone = !Path::new("/proc").join(pid.to_string()).exists();
        if gone || age > STALE_AFTER.as_secs() {
            let _ = unistd::unlinkat(dir, name.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;

    fn me() -> Owner {
        Owner::current().expect("current user")
    }

    /// A transform that replaces the whole file and reports the old length.
    fn set(new: &'static [u8]) -> impl Fn(&[u8]) -> (Vec<u8>, usize) {
        move |old| (new.to_vec(), old.len())
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    fn temp_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(TEMP_TAG))
            .collect()
    }

    #[test]
    fn new_file_is_0600_in_a_new_0700_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".aws");
        let path = dir.join("credentials");
        let old_len = update(&path, Some(&me()), set(b"[a]\n")).unwrap();
        assert_eq!(old_len, 0);
        assert_eq!(std::fs::read(&path).unwrap(), b"[a]\n");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert!(temp_files(&dir).is_empty());
    }

    #[test]
    fn missing_grandparent_is_an_error_naming_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("no-home/.aws/credentials");
        let err = update(&path, None, set(b"x")).unwrap_err();
        assert!(matches!(err, FileError::Io { .. }), "{err}");
        assert!(err.to_string().contains("no-home/.aws"), "{err}");
    }

    #[test]
    fn existing_content_is_replaced_atomically() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("credentials");
        std::fs::write(&path, b"old contents\n").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        let before = std::fs::metadata(&path).unwrap().ino();
        // A reader that opened the old file keeps reading it whole: the new file is a new inode.
        let mut reader = File::open(&path).unwrap();

        let old_len = update(&path, None, set(b"new\n")).unwrap();

        assert_eq!(old_len, 13);
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), before);
        assert_eq!(mode(&path), 0o600);
        let mut seen = String::new();
        reader.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "old contents\n");
        assert!(temp_files(tmp.path()).is_empty());
    }

    #[test]
    fn unchanged_bytes_are_not_written_but_mode_is_fixed() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("credentials");
        std::fs::write(&path, b"same\n").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        let before = std::fs::metadata(&path).unwrap();

        update(&path, None, |old| (old.to_vec(), ())).unwrap();

        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(after.ino(), before.ino());
        assert_eq!(after.mtime_nsec(), before.mtime_nsec());
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn missing_file_and_empty_result_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("config");
        update(&path, None, set(b"")).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn symlinked_file_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        std::fs::write(&target, b"precious\n").unwrap();
        let path = tmp.path().join("credentials");
        symlink(&target, &path).unwrap();

        let err = update(&path, None, set(b"evil\n")).unwrap_err();

        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("credentials"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"precious\n");
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    /// Root with an owner must not follow a link that names the directory; anyone else
    /// writing their own files may keep `~/.aws` as a link (dotfile setups do).
    #[test]
    fn symlinked_directory_refused_for_root_with_owner() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join(".aws");
        symlink(&real, &link).unwrap();

        let result = update(&link.join("credentials"), Some(&me()), set(b"x\n"));

        if unistd::geteuid().is_root() {
            let err = result.unwrap_err();
            assert!(matches!(err, FileError::Symlink { .. }), "{err}");
            assert!(!real.join("credentials").exists());
        } else {
            result.unwrap();
            assert_eq!(std::fs::read(real.join("credentials")).unwrap(), b"x\n");
        }
    }

    #[test]
    fn fifo_is_refused_without_hanging() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("credentials");
        unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        let (tx, rx) = mpsc::channel();
        let p = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(update(&p, None, set(b"x\n")).map(|_| ()));
        });
        let result = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("update hung on a FIFO");
        let err = result.unwrap_err();
        assert!(
            matches!(err, FileError::NotRegular { kind: "FIFO", .. }),
            "{err}"
        );
    }

    #[test]
    fn read_returns_regular_files_only_and_never_hangs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("regular"), b"[a]\n").unwrap();
        symlink(dir.join("regular"), dir.join("link")).unwrap();
        unistd::mkfifo(&dir.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        std::fs::create_dir(dir.join("dir")).unwrap();

        assert_eq!(read(&dir.join("regular")).unwrap().unwrap(), b"[a]\n");
        assert_eq!(read(&dir.join("missing")).unwrap(), None);
        let err = read(&dir.join("link")).unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        let err = read(&dir.join("dir")).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    kind: "directory",
                    ..
                }
            ),
            "{err}"
        );
        let (tx, rx) = mpsc::channel();
        let fifo = dir.join("fifo");
        std::thread::spawn(move || {
            let _ = tx.send(read(&fifo).map(|_| ()));
        });
        let err = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("read hung on a FIFO")
            .unwrap_err();
        assert!(
            matches!(err, FileError::NotRegular { kind: "FIFO", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("fifo"), "{err}");
    }

    #[test]
    fn hard_linked_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let other = tmp.path().join("someone-elses");
        std::fs::write(&other, b"theirs\n").unwrap();
        let path = tmp.path().join("credentials");
        std::fs::hard_link(&other, &path).unwrap();

        let err = update(&path, None, set(b"x\n")).unwrap_err();

        assert!(
            matches!(err, FileError::HardLinked { links: 2, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(&other).unwrap(), b"theirs\n");
    }

    #[test]
    fn stale_temp_files_are_removed_and_others_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let me = std::process::id();
        // pid_max is at most 2^22, so this pid never runs.
        let dead = ".credentials.ec2-assume-role.99999999.00ab.tmp".to_string();
        let old = format!(".config.ec2-assume-role.{me}.12cd.tmp");
        let fresh = format!(".credentials.ec2-assume-role.{me}.34ef.tmp");
        let not_ours = [
            ".credentials.bak",
            ".credentials.ec2-assume-role.x.12.tmp",
            ".credentials.ec2-assume-role.99999999.nothex.tmp",
            "credentials.ec2-assume-role.99999999.12.tmp",
        ];
        for name in [&dead, &old, &fresh]
            .into_iter()
            .chain(&not_ours.map(String::from))
        {
            std::fs::write(dir.join(name), b"leftover").unwrap();
        }
        File::options()
            .write(true)
            .open(dir.join(&old))
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(120))
            .unwrap();

        update(&dir.join("credentials"), None, set(b"x\n")).unwrap();

        assert!(!dir.join(&dead).exists());
        assert!(!dir.join(&old).exists());
        assert!(dir.join(&fresh).exists(), "a live, young temp file is kept");
        for name in not_ours {
            assert!(dir.join(name).exists(), "{name} is not ours");
        }
    }

    #[test]
    fn a_file_for_everyone_is_0644_and_its_directory_keeps_its_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let everyone = |path: &Path, bytes: &'static [u8]| {
            update_for(path, None, Readers::Everyone, set(bytes))
        };
        // A new directory is 0755, so that the reader (node_exporter) reaches the file.
        let path = tmp.path().join("textfile/metrics.prom");
        everyone(&path, b"a 1\n").unwrap();
        assert_eq!(mode(path.parent().unwrap()), 0o755);
        assert_eq!(mode(&path), 0o644);
        // An existing 0750 one stays 0750 (not narrowed as for credentials); a 0600 file that
        // is already there becomes 0644 even when its bytes do not change.
        let dir = tmp.path().join("group");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, Permissions::from_mode(0o750)).unwrap();
        let path = dir.join("metrics.prom");
        std::fs::write(&path, b"a 1\n").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
        everyone(&path, b"a 1\n").unwrap();
        assert_eq!((mode(&dir), mode(&path)), (0o750, 0o644));
        everyone(&path, b"a 2\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"a 2\n");
        assert_eq!(mode(&path), 0o644);
        assert!(temp_files(&dir).is_empty());
        // One that others could write is refused, and nothing is written there.
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, Permissions::from_mode(0o777)).unwrap();
        let err = everyone(&open.join("metrics.prom"), b"a 1\n").unwrap_err();
        assert!(
            matches!(err, FileError::WritableDirectory { mode: 0o777, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod go-w"), "{err}");
        assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0);
        assert_eq!(mode(&open), 0o777);
        // A sticky one (as /tmp) is fine: others cannot replace our entries in it.
        std::fs::set_permissions(&open, Permissions::from_mode(0o1777)).unwrap();
        everyone(&open.join("metrics.prom"), b"a 1\n").unwrap();
        assert_eq!(mode(&open.join("metrics.prom")), 0o644);
    }

    #[test]
    fn temp_names_we_create_are_recognised_as_ours() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = File::open(tmp.path()).unwrap();
        let (name, _file) = create_temp(&dir, tmp.path(), OsStr::new("credentials")).unwrap();
        assert_eq!(temp_pid(name.as_bytes()), Some(std::process::id()));
        assert_eq!(mode(&tmp.path().join(&name)), 0o600);
    }

    #[test]
    fn panicking_transform_leaves_the_file_untouched_and_unlocked() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("credentials");
        std::fs::write(&path, b"old\n").unwrap();

        let panicked = std::panic::catch_unwind(|| {
            update(&path, None, |_| -> (Vec<u8>, ()) {
                panic!("transform failed")
            })
        });

        assert!(panicked.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old\n");
        assert!(temp_files(tmp.path()).is_empty());
        // The lock went with the unwound call: the next update proceeds.
        update(&path, None, set(b"new\n")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new\n");
    }

    #[test]
    fn failed_rename_removes_the_temp_file() {
        let tmp = tempfile::tempdir().unwrap();
        // A non-empty directory in the way makes the rename fail after the data is written.
        std::fs::create_dir_all(tmp.path().join("credentials/sub")).unwrap();
        let dir = File::open(tmp.path()).unwrap();
        let policy = Policy {
            expected: unistd::geteuid(),
            chown: None,
            root: false,
            readers: Readers::Owner,
        };

        let err = replace(
            &dir,
            tmp.path(),
            OsStr::new("credentials"),
            b"x\n",
            &policy,
            &|| true,
        )
        .unwrap_err();

        assert!(
            matches!(
                err,
                FileError::Io {
                    action: "renaming into place",
                    ..
                }
            ),
            "{err}"
        );
        assert!(temp_files(tmp.path()).is_empty());
        assert!(tmp.path().join("credentials/sub").is_dir());
    }

    #[test]
    fn a_file_others_can_change_is_untrusted_when_root() {
        if !unistd::geteuid().is_root() {
            return; // the rule applies to root only; CI runs as root
        }
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("config.toml");
        std::fs::write(&config, "x").unwrap();
        check_trusted(&config).unwrap();
        std::fs::set_permissions(&config, Permissions::from_mode(0o666)).unwrap();
        let err = check_trusted(&config).unwrap_err().to_string();
        assert!(err.contains("with mode 666"), "{err}");
        std::fs::set_permissions(&config, Permissions::from_mode(0o644)).unwrap();
        fchown(File::open(&config).unwrap(), Some(65534), None).unwrap();
        let err = check_trusted(&config).unwrap_err().to_string();
        assert!(err.contains("owned by uid 65534"), "{err}");
        fchown(File::open(&config).unwrap(), Some(0), None).unwrap();
        std::fs::set_permissions(tmp.path(), Permissions::from_mode(0o777)).unwrap();
        let err = check_trusted(&config).unwrap_err().to_string();
        assert!(err.contains(&tmp.path().display().to_string()), "{err}");
        // Sticky, like /tmp: safe.
        std::fs::set_permissions(tmp.path(), Permissions::from_mode(0o1777)).unwrap();
        check_trusted(&config).unwrap();
    }

    #[test]
    fn open_directory_of_ours_becomes_0700() {
        for open in [0o777, 0o755, 0o750] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join(".aws");
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, Permissions::from_mode(open)).unwrap();
            update(&dir.join("credentials"), None, set(b"x\n")).unwrap();
            assert_eq!(mode(&dir), 0o700, "from {open:o}");
        }
    }

    /// As root: files are created owned by the owner, and a directory owned by a third user
    /// is refused. Not as root: an owner other than us is refused, since we cannot chown.
    #[test]
    fn owner_is_applied_or_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let someone = Owner {
            name: "someone".into(),
            uid: Uid::from_raw(54321),
            gid: Gid::from_raw(54321),
            home: tmp.path().into(),
        };
        let dir = tmp.path().join(".aws");
        let path = dir.join("credentials");
        let result = update(&path, Some(&someone), set(b"x\n"));
        if !unistd::geteuid().is_root() {
            let err = result.unwrap_err();
            assert!(matches!(err, FileError::NotRoot { .. }), "{err}");
            return;
        }
        result.unwrap();
        for p in [&dir, &path] {
            let meta = std::fs::metadata(p).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (54321, 54321), "{}", p.display());
        }

        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(12345), None).unwrap();
        let err = update(&theirs.join("credentials"), Some(&someone), set(b"x\n")).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::WrongOwner {
                    found: 12345,
                    expected: 54321,
                    ..
                }
            ),
            "{err}"
        );
    }
}
