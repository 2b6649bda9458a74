//! Compile-time checks: every mistake in `tests/ui/fail` must fail with the message in its
//! `.stderr` file; every program in `tests/ui/pass` must compile.
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
