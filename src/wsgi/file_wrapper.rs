//! `wsgi.file_wrapper` (PEP 3333 "Optional Platform-Specific File Handling"): wraps a
//! file-like object. Returned as the app's iterable over a real file, the driver sends it
//! with sendfile(2); otherwise it iterates in `blksize` blocks like any iterable.

use std::fs::File;
use std::os::fd::{FromRawFd, RawFd};

use pyo3::intern;
use pyo3::prelude::*;

/// The type behind `environ["wsgi.file_wrapper"]`.
#[pyclass(module = "ferrule._ferrule", frozen)]
pub struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: usize,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize=8192))]
    fn new(filelike: Py<PyAny>, blksize: usize) -> FileWrapper {
        FileWrapper {
            filelike,
            blksize: blksize.max(1),
        }
    }

    #[getter]
    fn filelike(&self, py: Python<'_>) -> Py<PyAny> {
        self.filelike.clone_ref(py)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        super::guard(|| {
            let block = self
                .filelike
                .bind(py)
                .call_method1(intern!(py, "read"), (self.blksize,))?;
            Ok(if block.len()? == 0 { None } else { Some(block) })
        })
    }

    /// PEP 3333: "its `close()` method ... must call the file-like object's `close()`".
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        super::guard(|| {
            let f = self.filelike.bind(py);
            if f.hasattr(intern!(py, "close"))? {
                f.call_method0(intern!(py, "close"))?;
            }
            Ok(())
        })
    }
}

/// A regular file behind the wrapper, ready for sendfile(2): a duplicate of its fd, the
/// current position and the bytes from there to the end.
pub struct SendableFile {
    pub file: File,
    pub offset: u64,
    pub len: u64,
}

impl FileWrapper {
    /// `Some` when the file-like object has a `fileno()` of a regular file and a working
    /// `tell()`. Anything else (sockets, pipes, `BytesIO`, a position we cannot learn) is
    /// iterated instead, which reads from wherever the object stands.
    pub fn sendable(&self, py: Python<'_>) -> Option<SendableFile> {
        let f = self.filelike.bind(py);
        let fd: RawFd = f.call_method0(intern!(py, "fileno")).ok()?.extract().ok()?;
        // Python's buffered files know the logical position, including read-ahead. Without
        // it, guessing 0 would resend what the app already skipped.
        let offset: u64 = f.call_method0(intern!(py, "tell")).ok()?.extract().ok()?;
        // SAFETY: `dup` on an fd the file object owns; the duplicate is owned by us alone
        // and closed when `File` drops, independent of the Python object's lifetime.
        let dup = unsafe { libc::dup(fd) };
        if dup < 0 {
            return None;
        }
        // SAFETY: `dup` is a fresh descriptor nobody else owns.
        let file = unsafe { File::from_raw_fd(dup) };
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            return None;
        }
        Some(SendableFile {
            file,
            offset,
            len: meta.len().saturating_sub(offset),
        })
    }
}
