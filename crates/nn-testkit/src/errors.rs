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
