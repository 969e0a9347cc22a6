//! The soundness suite's compile-time half: safe programs that would reach freed memory or
//! alias a C object, which the borrow checker must refuse (trybuild checks each one fails
//! to compile, with the error in its `.stderr` file). The run-time half is in the tests
//! of each object (a panic, or an `Err`, where only run time can tell).
//!
//! After a change that rewords an error (a new compiler, a renamed internal type), check
//! each case still fails for its own reason, then `TRYBUILD=overwrite cargo test --test
//! soundness` rewrites the `.stderr` files for review.

#[test]
fn the_borrow_checker_refuses_these() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/soundness/compile_fail/*.rs");
}
