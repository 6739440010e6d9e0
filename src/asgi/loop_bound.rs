//! `LoopBound`: a request's state, which lives on the event loop's thread, inside the
//! Python object the app gets `receive` and `send` from. The app may keep those on any
//! thread and let go of them there (a framework's thread pool does: Django's
//! `sync_to_async`, Quart), so the object's last reference can go on a thread that must
//! not touch the state (it holds `Rc`s of the loop). `PyO3`'s `unsendable` pyclasses leak
//! their value and print an error in that case; here the value is sent back to the loop
//! (`Item::Bury`) untouched and dropped there, and a call from another thread is refused
//! with a Python error.

use std::any::Any;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::thread::{self, ThreadId};

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;

use super::event_loop::{Inbox, Item};

/// See the module docs.
pub(crate) struct LoopBound<T: 'static> {
    value: ManuallyDrop<T>,
    owner: ThreadId,
    inbox: Arc<Inbox>,
}

// SAFETY: the value is only reached through `get`/`get_mut`, which check that the calling
// thread is the one that created it, and `Drop`, which drops it on that thread or moves it
// back there without touching it. So `T` is only ever used on its own thread.
unsafe impl<T> Send for LoopBound<T> {}
// SAFETY: as for `Send`: a shared reference on another thread reaches nothing.
unsafe impl<T> Sync for LoopBound<T> {}

impl<T> LoopBound<T> {
    /// Binds `value` to the calling thread (the loop's), whose inbox is `inbox`.
    pub(crate) fn new(value: T, inbox: Arc<Inbox>) -> LoopBound<T> {
        LoopBound {
            value: ManuallyDrop::new(value),
            owner: thread::current().id(),
            inbox,
        }
    }

    fn here(&self) -> bool {
        thread::current().id() == self.owner
    }

    /// The value, on the loop's thread.
    ///
    /// # Errors
    /// Called from another thread (the ASGI spec's `receive`/`send` belong to the loop).
    pub(crate) fn get(&self) -> PyResult<&T> {
        if self.here() {
            Ok(&self.value)
        } else {
            Err(elsewhere())
        }
    }

    /// The value, on the loop's thread.
    ///
    /// # Errors
    /// As `get`.
    pub(crate) fn get_mut(&mut self) -> PyResult<&mut T> {
        if self.here() {
            Ok(&mut self.value)
        } else {
            Err(elsewhere())
        }
    }
}

fn elsewhere() -> pyo3::PyErr {
    PyRuntimeError::new_err(
        "ASGI receive() and send() must be called on the event loop's thread \
         (from another thread: asyncio.run_coroutine_threadsafe)",
    )
}

impl<T> Drop for LoopBound<T> {
    fn drop(&mut self) {
        // SAFETY: `value` is taken once, here, and never used again.
        let value = unsafe { ManuallyDrop::take(&mut self.value) };
        if self.here() {
            drop(value);
        } else {
            // The loop drops it with its next drain. A loop that has ended drains no
            // more: the value is then leaked with the inbox, at the worker's exit.
            // Boxing moves the bytes; nothing in them is read or written.
            self.inbox.push(Item::Bury(Grave {
                value: ManuallyDrop::new(Box::new(value)),
                owner: self.owner,
            }));
        }
    }
}

/// A `LoopBound` value on its way back to its thread, untouched: dropped there (`Drain`),
/// leaked anywhere else.
pub(crate) struct Grave {
    value: ManuallyDrop<Box<dyn Any>>,
    owner: ThreadId,
}

// SAFETY: the box is moved between threads, never read, and dropped only on the thread
// that created it (`Drop` below leaks it anywhere else).
unsafe impl Send for Grave {}

impl Drop for Grave {
    fn drop(&mut self) {
        if thread::current().id() == self.owner {
            // SAFETY: taken once, here.
            drop(unsafe { ManuallyDrop::take(&mut self.value) });
        }
    }
}
