//! Panics in the server's own code while it serves a request (bugs): each is reported once,
//! by the code that contains it (`pool`, with the request's method and path), not also by
//! Rust's panic hook and by `PyO3`. `install` sets the process's panic hook once: silent for
//! a panic inside `contain` (it keeps the panic's message and place for the container),
//! the previous hook (Rust's default prints to stderr) for any other.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};
use std::sync::Once;

/// Whether a thread runs inside `contain`.
enum Scope {
    Outside,
    /// With the first panic's description, once one happened.
    Inside(Option<String>),
}

thread_local! {
    static SCOPE: RefCell<Scope> = const { RefCell::new(Scope::Outside) };
}

/// Sets the panic hook (once per process; later calls do nothing).
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !keep(info) {
                previous(info);
            }
        }));
    });
}

/// Keeps the panic's description when the thread is inside `contain`; `false` otherwise.
fn keep(info: &PanicHookInfo<'_>) -> bool {
    SCOPE
        .try_with(|scope| {
            // Borrowed already: a panic while `contain` itself runs; let the previous hook
            // tell.
            let Ok(mut scope) = scope.try_borrow_mut() else {
                return false;
            };
            match &mut *scope {
                Scope::Outside => false,
                Scope::Inside(first) => {
                    if first.is_none() {
                        let place = info.location().map_or_else(String::new, |l| {
                            format!(" (at {}:{}:{})", l.file(), l.line(), l.column())
                        });
                        *first = Some(format!("{}{place}", message(info.payload())));
                    }
                    true
                }
            }
        })
        .unwrap_or(false)
}

/// A panic's message: the text it was given, when it was given text.
fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "a panic without a message"
    }
}

/// What `contain` saw.
pub struct Contained<R> {
    /// `f`'s value; `None` when it panicked (the panic stopped here).
    pub value: Option<R>,
    /// The first panic on this thread while `f` ran, described (`message (at file:line:col)`),
    /// also when something inside `f` caught it (`PyO3` turns a panic in a method Python
    /// called into an exception): the caller reports it, once.
    pub panic: Option<String>,
}

/// Runs `f`, stopping its panics; see `Contained`. Nests: an inner `contain` keeps its
/// panics to itself.
pub fn contain<R>(f: impl FnOnce() -> R) -> Contained<R> {
    let outer =
        SCOPE.with(|scope| std::mem::replace(&mut *scope.borrow_mut(), Scope::Inside(None)));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    let kept = SCOPE.with(|scope| std::mem::replace(&mut *scope.borrow_mut(), outer));
    let mut panic = match kept {
        Scope::Inside(first) => first,
        Scope::Outside => None,
    };
    let value = match result {
        Ok(value) => Some(value),
        Err(payload) => {
            // Without the hook (`install` not called) the payload still says what happened.
            panic.get_or_insert_with(|| message(payload.as_ref()).to_owned());
            None
        }
    };
    Contained { value, panic }
}

#[cfg(test)]
mod tests {
    use super::{contain, install};

    #[test]
    fn a_contained_panic_is_described_with_its_place_and_stopped() {
        install();
        let seen = contain(|| -> u8 { panic!("boom {}", 7) });
        assert!(seen.value.is_none());
        let text = seen.panic.expect("a description");
        assert!(text.starts_with("boom 7 (at src/log/panics.rs:"), "{text}");
    }

    #[test]
    fn a_panic_caught_inside_is_still_reported_to_the_container() {
        install();
        let seen = contain(|| {
            let inner = std::panic::catch_unwind(|| panic!("caught inside"));
            assert!(inner.is_err());
            5
        });
        assert_eq!(seen.value, Some(5));
        assert!(seen
            .panic
            .is_some_and(|text| text.starts_with("caught inside (at ")));
        let calm = contain(|| 6);
        assert_eq!((calm.value, calm.panic), (Some(6), None));
    }

    #[test]
    fn an_inner_contain_keeps_its_panic_to_itself() {
        install();
        let seen = contain(|| {
            let inner = contain(|| panic!("inner"));
            assert!(inner.panic.is_some_and(|t| t.starts_with("inner")));
            1
        });
        assert_eq!((seen.value, seen.panic), (Some(1), None));
    }
}
