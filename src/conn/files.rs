//! The disk side of static files, whatever the protocol: each mount's directory opened
//! once per worker (`StaticRoots`), and a request's file opened beneath it, the kernel
//! keeping the resolution inside (`openat2` with `RESOLVE_BENEATH`), with its metadata and
//! the precompressed sibling the client would rather have. Which request is static, and
//! what its response says, is `static_files`' (sans-I/O); `http1::static_file` sends it.
//!
//! Every file is opened `O_NONBLOCK` (a FIFO under a mount must not hang the event loop)
//! and served only when `fstat` says it is a regular file. An open file keeps its inode:
//! a file deleted or replaced while being sent goes out as it was opened; one truncated
//! under it ends the response short, and the connection is closed.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use crate::config::StaticConfig;
use crate::static_files::encoding::Coding;
use crate::static_files::path::RelPath;
use crate::static_files::Mounts;

/// The static mounts of a worker, with their directories open.
#[derive(Debug, Default)]
pub struct StaticRoots {
    pub mounts: Mounts,
    /// One directory per mount, in `mounts.all()`'s order.
    dirs: Vec<OwnedFd>,
}

/// A static file, open, with what its response needs.
#[derive(Debug)]
pub struct StaticFile {
    pub file: File,
    pub len: u64,
    pub modified: SystemTime,
    /// The coding of the precompressed sibling opened instead of the file, if any.
    pub coding: Option<Coding>,
    /// The name the client asked for (the index file's, for a directory).
    pub name: String,
}

/// What a request path names beneath its mount.
#[derive(Debug)]
pub enum Found {
    File(StaticFile),
    /// A directory named without its trailing slash, which has an index file: the client
    /// is sent to the address with the slash, so relative links in the page resolve.
    DirectoryWithoutSlash,
    /// Nothing to serve here (no such file, a directory without index): the app's.
    Missing,
    /// Something the rules refuse: a symlink out of the mount, a FIFO, a device, a file
    /// the worker may not read. 404.
    Refused,
    /// The disk failed (EIO, out of file descriptors): 500, logged.
    Failed(io::Error),
}

impl StaticRoots {
    /// Opens every mount's directory.
    ///
    /// # Errors
    /// One naming the mount and the directory that cannot be opened.
    pub fn open(config: &StaticConfig) -> io::Result<StaticRoots> {
        let mounts = Mounts::new(config);
        let dirs = mounts
            .all()
            .iter()
            .map(|mount| {
                let path = CString::new(mount.dir.as_os_str().as_bytes())
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
                    .and_then(|path| {
                        open_at(
                            libc::AT_FDCWD,
                            &path,
                            libc::O_DIRECTORY | libc::O_PATH,
                            Resolve::Follow,
                        )
                    });
                path.map_err(|err| {
                    io::Error::new(
                        err.kind(),
                        format!(
                            "static_map: cannot open directory '{}' for {}: {err}",
                            mount.dir.display(),
                            mount.prefix()
                        ),
                    )
                })
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(StaticRoots { mounts, dirs })
    }

    /// Opens what `path` names beneath mount number `mount`: the file, or a directory's
    /// index file (when the path ends with `/`), or, for a client that accepts one of
    /// `codings` (most wanted first), the file's precompressed sibling when it is a
    /// regular file at least as new as the file.
    pub fn find(&self, mount: usize, path: &RelPath, codings: &[Coding]) -> Found {
        let root = self.dirs[mount].as_raw_fd();
        let resolve = if self.mounts.follow_symlinks {
            Resolve::Follow
        } else {
            Resolve::Beneath
        };
        let target = if path.path.is_empty() {
            "."
        } else {
            &path.path
        };
        let (file, meta) = match open_regular(root, target, resolve) {
            // `app.css/` names a directory that is not there (as open(2) says: ENOTDIR).
            Ok(Opened::File(..)) if path.trailing_slash => return Found::Missing,
            Ok(Opened::File(file, meta)) => (file, meta),
            Ok(Opened::Directory) => return self.find_index(root, path, resolve, codings),
            Ok(Opened::Other) => return Found::Refused,
            Err(err) => return outcome_of(err),
        };
        let name = path.file_name().to_owned();
        with_sibling(root, target, file, &meta, name, resolve, codings)
    }

    fn find_index(
        &self,
        root: RawFd,
        path: &RelPath,
        resolve: Resolve,
        codings: &[Coding],
    ) -> Found {
        let Some(index) = &self.mounts.index else {
            return Found::Missing;
        };
        let target = if path.path.is_empty() {
            index.clone()
        } else {
            format!("{}/{index}", path.path)
        };
        match open_regular(root, &target, resolve) {
            Ok(Opened::File(file, meta)) => {
                if !path.trailing_slash {
                    return Found::DirectoryWithoutSlash;
                }
                with_sibling(root, &target, file, &meta, index.clone(), resolve, codings)
            }
            Ok(Opened::Directory | Opened::Other) => Found::Refused,
            Err(err) => outcome_of(err),
        }
    }
}

/// `file`, or its precompressed sibling in the first of `codings` that has a regular file
/// at least as new as it.
fn with_sibling(
    root: RawFd,
    target: &str,
    file: File,
    meta: &std::fs::Metadata,
    name: String,
    resolve: Resolve,
    codings: &[Coding],
) -> Found {
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    for &coding in codings {
        let sibling = format!("{target}{}", coding.suffix());
        if let Ok(Opened::File(file, sibling_meta)) = open_regular(root, &sibling, resolve) {
            let sibling_modified = sibling_meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            // A sibling older than its file is stale (the file was rebuilt, the
            // sibling was not): the file itself is served.
            if sibling_modified >= modified {
                return Found::File(StaticFile {
                    file,
                    len: sibling_meta.len(),
                    modified: sibling_modified,
                    coding: Some(coding),
                    name,
                });
            }
        }
    }
    Found::File(StaticFile {
        file,
        len: meta.len(),
        modified,
        coding: None,
        name,
    })
}

/// How an open error reads for a static request.
fn outcome_of(err: io::Error) -> Found {
    match err.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => Found::Missing,
        // EXDEV: RESOLVE_BENEATH caught a way out; ELOOP: a symlink where none may be (or
        // a loop); EACCES/EPERM: not the worker's to read; ENAMETOOLONG: the kernel's
        // limit, past ours.
        Some(libc::EXDEV | libc::ELOOP | libc::EACCES | libc::EPERM | libc::ENAMETOOLONG) => {
            Found::Refused
        }
        _ => Found::Failed(err),
    }
}

enum Opened {
    File(File, std::fs::Metadata),
    Directory,
    /// A FIFO, a socket, a device.
    Other,
}

/// Opens `path` beneath `root` and says what it is.
fn open_regular(root: RawFd, path: &str, resolve: Resolve) -> io::Result<Opened> {
    let c_path = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
    let fd = open_at(
        root,
        &c_path,
        libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY,
        resolve,
    )?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    let kind = meta.file_type();
    Ok(if kind.is_file() {
        Opened::File(file, meta)
    } else if kind.is_dir() {
        Opened::Directory
    } else {
        Opened::Other
    })
}

/// Whether a path may leave the directory it is resolved in through symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolve {
    /// Every component, symlinks included, must resolve beneath the directory.
    Beneath,
    /// Symlinks are followed wherever they lead (`static_follow_symlinks`; the path itself
    /// has no `..` and is relative, see `static_files::path`).
    Follow,
}

/// `struct open_how` of openat2(2) (`libc`'s is `non_exhaustive`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2) is missing (Linux < 5.6) or filtered (older container seccomp profiles):
/// learnt on the first call that says so.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `path` relative to `dir` with `flags` (`O_CLOEXEC` added).
fn open_at(
    dir: RawFd,
    path: &CString,
    flags: libc::c_int,
    resolve: Resolve,
) -> io::Result<OwnedFd> {
    let flags = flags | libc::O_CLOEXEC;
    if resolve == Resolve::Beneath && !NO_OPENAT2.load(Ordering::Relaxed) {
        let how = OpenHow {
            flags: u64::try_from(flags).expect("open flags are non-negative"),
            mode: 0,
            resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: `path` is a NUL-terminated string and `how` a live `open_how` of the
        // size passed; the kernel reads both during the call only.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                path.as_ptr(),
                std::ptr::from_ref(&how),
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            let fd = RawFd::try_from(fd).expect("a file descriptor fits an int");
            // SAFETY: the kernel just returned this descriptor; nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENOSYS | libc::EPERM) => NO_OPENAT2.store(true, Ordering::Relaxed),
            _ => return Err(err),
        }
    }
    if resolve == Resolve::Beneath {
        return open_without_symlinks(dir, path, flags);
    }
    // SAFETY: `path` is NUL-terminated; `dir` is an open directory or AT_FDCWD.
    let fd = unsafe { libc::openat(dir, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Where openat2(2) is missing: walks `path` one component at a time with `O_NOFOLLOW`,
/// so no symlink is followed at all (stricter than `RESOLVE_BENEATH`, which follows those
/// that stay inside). The path has no `.`/`..` components (`static_files::path`).
fn open_without_symlinks(dir: RawFd, path: &CString, flags: libc::c_int) -> io::Result<OwnedFd> {
    let bytes = path.as_bytes();
    let mut components = bytes
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .peekable();
    let mut current: Option<OwnedFd> = None;
    while let Some(component) = components.next() {
        let last = components.peek().is_none();
        let c_component =
            CString::new(component).map_err(|_| io::Error::from_raw_os_error(libc::ENOENT))?;
        let at = current.as_ref().map_or(dir, AsRawFd::as_raw_fd);
        let step_flags = if last {
            flags | libc::O_NOFOLLOW
        } else {
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC
        };
        if component == b"." {
            // Only ever the whole path: the directory itself.
            let fd = reopen_dir(at)?;
            current = Some(fd);
            continue;
        }
        // SAFETY: `c_component` is NUL-terminated; `at` is an open directory.
        let fd = unsafe { libc::openat(at, c_component.as_ptr(), step_flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        current = Some(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    current.ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
}

/// A new descriptor for the directory `fd` names, opened for reading.
fn reopen_dir(fd: RawFd) -> io::Result<OwnedFd> {
    let dot = CString::new(".").expect("no NUL in a literal");
    // SAFETY: `dot` is NUL-terminated; `fd` is an open directory.
    let new = unsafe { libc::openat(fd, dot.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StaticMount;
    use crate::static_files::path::relative;
    use std::os::unix::fs::symlink;
    use std::path::PathBuf;

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("ferrule-files-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir); // a leftover of an earlier run, if any
            std::fs::create_dir_all(dir.join("site/css")).expect("mkdir");
            std::fs::create_dir_all(dir.join("outside")).expect("mkdir");
            std::fs::write(dir.join("site/app.css"), "body{}").expect("write");
            std::fs::write(dir.join("site/css/index.html"), "<p>").expect("write");
            std::fs::write(dir.join("outside/secret.txt"), "secret").expect("write");
            symlink(
                dir.join("outside/secret.txt"),
                dir.join("site/absolute-link"),
            )
            .expect("ln");
            symlink("../outside/secret.txt", dir.join("site/relative-link")).expect("ln");
            symlink("app.css", dir.join("site/inside-link")).expect("ln");
            Scratch(dir)
        }

        fn roots(&self, follow_symlinks: bool) -> StaticRoots {
            StaticRoots::open(&StaticConfig {
                mounts: vec![
                    StaticMount::parse(&format!("/s={}", self.0.join("site").display()))
                        .expect("mount"),
                ],
                index: Some("index.html".to_owned()),
                follow_symlinks,
                ..StaticConfig::default()
            })
            .expect("open roots")
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0); // best effort cleanup
        }
    }

    fn kind(found: &Found) -> &'static str {
        match found {
            Found::File(_) => "file",
            Found::DirectoryWithoutSlash => "redirect",
            Found::Missing => "missing",
            Found::Refused => "refused",
            Found::Failed(_) => "failed",
        }
    }

    fn find(roots: &StaticRoots, rest: &str) -> &'static str {
        let path = relative(rest.as_bytes()).expect("a valid path");
        kind(&roots.find(0, &path, &[]))
    }

    #[test]
    fn opens_files_beneath_the_mount_and_refuses_links_out_of_it() {
        let scratch = Scratch::new("beneath");
        let roots = scratch.roots(false);
        let rows = [
            ("/app.css", "file"),
            ("/inside-link", "file"),
            ("/absolute-link", "refused"),
            ("/relative-link", "refused"),
            ("/nope.css", "missing"),
            ("/app.css/x", "missing"),
            ("/app.css/", "missing"),
            ("/css/", "file"),
            ("/css", "redirect"),
            ("/", "missing"),
        ];
        for (rest, want) in rows {
            assert_eq!(find(&roots, rest), want, "{rest}");
        }
        let followed = scratch.roots(true);
        assert_eq!(find(&followed, "/absolute-link"), "file");
        assert_eq!(find(&followed, "/relative-link"), "file");
    }

    #[test]
    fn without_openat2_no_symlink_is_followed() {
        let scratch = Scratch::new("fallback");
        let root = File::open(scratch.0.join("site")).expect("open");
        let open = |path: &str| {
            let c_path = CString::new(path).expect("no NUL");
            open_without_symlinks(root.as_raw_fd(), &c_path, libc::O_RDONLY | libc::O_CLOEXEC)
                .map(drop)
                .map_err(|err| err.raw_os_error())
        };
        assert_eq!(open("app.css"), Ok(()));
        assert_eq!(open("css/index.html"), Ok(()));
        assert_eq!(open("absolute-link"), Err(Some(libc::ELOOP)));
        assert_eq!(open("inside-link"), Err(Some(libc::ELOOP)));
        assert_eq!(open("nope"), Err(Some(libc::ENOENT)));
    }

    #[test]
    fn serves_a_fresh_precompressed_sibling_to_a_client_that_accepts_it() {
        let scratch = Scratch::new("siblings");
        let site = scratch.0.join("site");
        std::fs::write(site.join("app.css.br"), "BR").expect("write");
        let roots = scratch.roots(false);
        let path = relative(b"/app.css").expect("valid");
        let coding = |codings: &[Coding]| match roots.find(0, &path, codings) {
            Found::File(file) => file.coding,
            other => panic!("expected a file, got {}", kind(&other)),
        };
        assert_eq!(coding(&[Coding::Gzip, Coding::Br]), Some(Coding::Br));
        assert_eq!(coding(&[Coding::Gzip]), None);
        assert_eq!(coding(&[]), None);
        // A sibling older than its file is stale.
        let old = std::fs::File::options()
            .write(true)
            .open(site.join("app.css.br"))
            .expect("open");
        old.set_modified(SystemTime::UNIX_EPOCH).expect("touch");
        assert_eq!(coding(&[Coding::Br]), None);
    }

    #[test]
    fn a_missing_mount_directory_is_named_in_the_error() {
        let err = StaticRoots::open(&StaticConfig {
            mounts: vec![StaticMount::parse("/s=/nonexistent/ferrule").expect("mount")],
            ..StaticConfig::default()
        })
        .expect_err("no such directory");
        assert!(
            err.to_string()
                .starts_with("static_map: cannot open directory '/nonexistent/ferrule' for /s: "),
            "{err}"
        );
    }
}
