//! `--reload`'s inotify engine: watches directories and reports the paths that changed in
//! them, without blocking. Owns the inotify instance and its watches; which directories to
//! watch and which changes count (`.py` files, the `reload_extra` globs) are
//! `ferrule.watch`'s, which falls back to polling when this cannot be set up.
//!
//! Design: no thread. The inotify descriptor is non-blocking and read when the master's
//! loop asks (`ForkHooks::files_changed`, once per turn, at least once a second), so the
//! master stays single-threaded across fork (see `fork.rs`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

/// What changed since the last `read`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Each changed path, with whether it is a directory (a new one is to be watched too).
    pub paths: Vec<(PathBuf, bool)>,
    /// The kernel's queue overflowed: anything may have changed.
    pub overflow: bool,
}

/// See the module docs.
pub struct DirWatch {
    inotify: Inotify,
    dirs: HashMap<WatchDescriptor, PathBuf>,
}

/// 64 KiB: room for about 2,000 events of short names per read; more are read by the next
/// call of the same `read`. Chosen without measurement.
const BUFFER: usize = 64 * 1024;

impl DirWatch {
    /// A new inotify instance.
    ///
    /// # Errors
    /// `inotify_init1(2)` failed: too many instances (`fs.inotify.max_user_instances`) or
    /// descriptors.
    pub fn new() -> io::Result<DirWatch> {
        Ok(DirWatch {
            inotify: Inotify::init()?,
            dirs: HashMap::new(),
        })
    }

    /// Watches `dir` (not its subdirectories: the caller adds each).
    ///
    /// # Errors
    /// `inotify_add_watch(2)` failed: ENOSPC is the watch limit
    /// (`fs.inotify.max_user_watches`); ENOENT, ENOTDIR, EACCES as for open.
    pub fn add(&mut self, dir: &Path) -> io::Result<()> {
        let mask = WatchMask::CLOSE_WRITE
            | WatchMask::MODIFY
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::ATTRIB
            | WatchMask::ONLYDIR
            | WatchMask::DONT_FOLLOW;
        let wd = self.inotify.watches().add(dir, mask)?;
        self.dirs.insert(wd, dir.to_path_buf());
        Ok(())
    }

    /// How many directories are watched.
    pub fn len(&self) -> usize {
        self.dirs.len()
    }

    /// Whether no directory is watched.
    pub fn is_empty(&self) -> bool {
        self.dirs.is_empty()
    }

    /// The changes queued since the last call; never waits.
    ///
    /// # Errors
    /// read(2) failed for another reason than an empty queue.
    pub fn read(&mut self) -> io::Result<Changes> {
        let mut changes = Changes::default();
        let mut buffer = vec![0u8; BUFFER];
        loop {
            let events = match self.inotify.read_events(&mut buffer) {
                Ok(events) => events,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(changes),
                Err(err) => return Err(err),
            };
            let mut gone = Vec::new();
            for event in events {
                if event.mask.contains(EventMask::Q_OVERFLOW) {
                    changes.overflow = true;
                    continue;
                }
                if event.mask.contains(EventMask::IGNORED) {
                    // The directory was removed (or unmounted): its watch is gone.
                    gone.push(event.wd.clone());
                    continue;
                }
                let (Some(dir), Some(name)) = (self.dirs.get(&event.wd), event.name) else {
                    continue;
                };
                let path = dir.join(name);
                let is_dir = event.mask.contains(EventMask::ISDIR);
                if !changes.paths.iter().any(|(p, _)| *p == path) {
                    changes.paths.push((path, is_dir));
                }
            }
            for wd in gone {
                self.dirs.remove(&wd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_in_watched_directories_are_read_without_waiting() {
        let root = std::env::temp_dir().join(format!("ferrule-watch-{}", std::process::id()));
        let sub = root.join("pkg");
        std::fs::create_dir_all(&sub).expect("mkdir");
        let mut watch = DirWatch::new().expect("inotify");
        watch.add(&root).expect("watch root");
        assert_eq!(watch.read().expect("read"), Changes::default());
        std::fs::write(root.join("app.py"), "x = 1\n").expect("write");
        std::fs::create_dir(root.join("new")).expect("mkdir");
        std::fs::write(sub.join("unwatched.py"), "").expect("write");
        let changes = watch.read().expect("read");
        assert_eq!(
            changes.paths,
            [(root.join("app.py"), false), (root.join("new"), true)]
        );
        assert!(watch.add(&root.join("missing")).is_err());
        std::fs::remove_dir_all(&root).expect("cleanup");
    }
}
