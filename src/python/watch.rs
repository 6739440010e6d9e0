//! `_ferrule.Inotify`: `supervisor::watch::DirWatch` for `ferrule.watch` (`--reload`'s
//! inotify engine). Conversion only: OS errors become `OSError` with their errno.

use std::ffi::OsString;
use std::path::PathBuf;

use pyo3::prelude::*;

use crate::supervisor::watch::DirWatch;

/// An inotify instance watching directories; `read()` never waits.
#[pyclass(module = "ferrule._ferrule")]
pub struct Inotify {
    watch: DirWatch,
}

#[pymethods]
impl Inotify {
    #[new]
    fn new() -> PyResult<Inotify> {
        Ok(Inotify {
            watch: DirWatch::new()?,
        })
    }

    /// Watches `directory` (not its subdirectories).
    // By value: pyo3 extracts `str` and `os.PathLike` arguments into an owned path.
    #[allow(clippy::needless_pass_by_value)]
    fn add(&mut self, directory: PathBuf) -> PyResult<()> {
        Ok(self.watch.add(&directory)?)
    }

    /// `(changed, overflow)`: the paths changed since the last call, each with whether it
    /// is a directory, and whether the kernel dropped events (anything may have changed).
    /// Paths are `str` as `os.fsdecode` gives them (undecodable bytes as surrogates).
    fn read(&mut self) -> PyResult<(Vec<(OsString, bool)>, bool)> {
        let changes = self.watch.read()?;
        let paths = changes
            .paths
            .into_iter()
            .map(|(path, is_dir)| (path.into_os_string(), is_dir))
            .collect();
        Ok((paths, changes.overflow))
    }

    fn __len__(&self) -> usize {
        self.watch.len()
    }
}
