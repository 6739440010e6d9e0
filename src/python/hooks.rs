//! The server hooks' call points on the Rust side: `Hooks` wraps the Python
//! `ferrule.hooks.HookRunner` (None when no hook is set, so an unset hook costs nothing) and
//! calls it by hook name. The runner logs a hook's traceback with its name and answers
//! whether it ran; what a failure stops is decided by each caller (docs/hooks.md).

use pyo3::prelude::*;

use crate::log::Level;

/// The hook runner, when any hook is set.
#[derive(Default)]
pub(super) struct Hooks(Option<Py<PyAny>>);

impl Hooks {
    /// `runner`: `ferrule.hooks.HookRunner`, or None when no hook is set.
    pub(super) fn new(runner: Option<Py<PyAny>>) -> Hooks {
        Hooks(runner)
    }

    /// Calls `name(*args)` on the runner. True when the hook is unset or ran; false when it
    /// raised (the runner has logged it).
    pub(super) fn call<'py, A>(&self, py: Python<'py>, name: &str, args: A) -> bool
    where
        A: pyo3::call::PyCallArgs<'py>,
    {
        let Some(runner) = &self.0 else {
            return true;
        };
        match runner
            .bind(py)
            .call_method1(name, args)
            .and_then(|ok| ok.is_truthy())
        {
            Ok(ok) => ok,
            Err(err) => {
                // The runner itself failed (not the user's hook, which it catches).
                log_at!(Level::Error, "cannot run the {name} hook: {err}");
                false
            }
        }
    }

    /// `runner.<name>` when the runner has the hook `hook` set (a bound method for the core
    /// to call later), else None.
    pub(super) fn method(&self, py: Python<'_>, hook: &str, name: &str) -> Option<Py<PyAny>> {
        let runner = self.0.as_ref()?.bind(py);
        let set = runner
            .getattr("hooks")
            .and_then(|hooks| hooks.contains(hook))
            .unwrap_or(false);
        if !set {
            return None;
        }
        runner.getattr(name).ok().map(Bound::unbind)
    }

    /// `(pre, post)` request hooks for `wsgi::Context`, each None when unset.
    pub(super) fn request_hooks(&self, py: Python<'_>) -> (Option<Py<PyAny>>, Option<Py<PyAny>>) {
        let Some(runner) = &self.0 else {
            return (None, None);
        };
        match runner
            .bind(py)
            .call_method0("request_hooks")
            .and_then(|pair| pair.extract::<(Option<Py<PyAny>>, Option<Py<PyAny>>)>())
        {
            Ok(pair) => pair,
            Err(err) => {
                log_at!(
                    Level::Error,
                    "cannot set up pre_request/post_request: {err}"
                );
                (None, None)
            }
        }
    }

    /// Another handle on the same runner (the worker keeps one, the master another).
    pub(super) fn clone_ref(&self, py: Python<'_>) -> Hooks {
        Hooks(self.0.as_ref().map(|runner| runner.clone_ref(py)))
    }
}
