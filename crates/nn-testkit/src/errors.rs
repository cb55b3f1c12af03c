//! The error policy's check: a `try_*` op returns an error whose text is
//! exactly the expected one, and its panicking twin panics with the same
//! text.

use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Asserts that `fallible` is an error reading `expected`, and that
/// `panicking` panics with exactly that text.
///
/// ```
/// let parse = |s: &str| s.parse::<u8>().map_err(|e| format!("parse: {e}"));
/// nn_testkit::errors::same_message(
///     parse("x"),
///     || parse("x").unwrap_or_else(|e| panic!("{e}")),
///     "parse: invalid digit found in string",
/// );
/// ```
#[track_caller]
pub fn same_message<T, E: Display>(
    fallible: Result<T, E>,
    panicking: impl FnOnce() -> T,
    expected: &str,
) {
    let Err(err) = fallible else {
        panic!("the op should fail with {expected:?}");
    };
    assert_eq!(err.to_string(), expected);
    let Err(payload) = catch_unwind(AssertUnwindSafe(panicking)) else {
        panic!("the twin should panic with {expected:?}");
    };
    let text = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a text panic");
    assert_eq!(text, expected);
}

/// Where a panic was raised: the file and line a `#[track_caller]` chain
/// points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicLocation {
    /// The source file, as `file!()` spells it.
    pub file: String,
    /// The 1-based line.
    pub line: u32,
}

thread_local! {
    static CAPTURING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static CAUGHT: std::cell::RefCell<Option<PanicLocation>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f`, which must panic, and returns where the panic says it happened.
///
/// The panicking twins are `#[track_caller]` so that a shape error points at
/// the user's line, not into the library; a test asserts that by calling a
/// twin and comparing this location with its own `file!()` and `line!()`.
/// The panic hook is process-wide, so the one installed here records the
/// location only for the thread that asked (tests run in parallel) and hands
/// every other panic to the previous hook.
///
/// ```
/// #[track_caller]
/// fn checked(x: i32) -> i32 {
///     assert!(x > 0, "x must be positive");
///     x
/// }
/// let (here, line) = (nn_testkit::errors::panic_location(|| { checked(-1); }), line!());
/// assert_eq!(here.line, line);
/// assert_eq!(here.file, file!());
/// ```
pub fn panic_location(f: impl FnOnce()) -> PanicLocation {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(|c| c.get()) {
                let at = info.location().map(|l| PanicLocation {
                    file: l.file().to_string(),
                    line: l.line(),
                });
                CAUGHT.with(|c| *c.borrow_mut() = at);
            } else {
                previous(info)
            }
        }));
    });
    CAPTURING.with(|c| c.set(true));
    CAUGHT.with(|c| *c.borrow_mut() = None);
    let result = catch_unwind(AssertUnwindSafe(f));
    CAPTURING.with(|c| c.set(false));
    assert!(result.is_err(), "the call should panic");
    CAUGHT
        .with(|c| c.borrow_mut().take())
        .expect("the panic hook saw a location")
}

/// Asserts that `f` panics at the line `line` of `file` (pass `file!()` and
/// the `line!()` of the call): the check that a panicking twin is
/// `#[track_caller]` all the way down.
#[track_caller]
pub fn panics_at(file: &str, line: u32, f: impl FnOnce()) {
    let at = panic_location(f);
    assert_eq!(
        (at.file.as_str(), at.line),
        (file, line),
        "the panic should point at the caller's line"
    );
}
