//! The README's quick start is `examples/quickstart.rs`, verbatim: the code a newcomer
//! copies is the code CI compiles and runs (`ci/check.sh` lane `test` runs the example).
//!
//! Both files are read at run time, not embedded: the README names private Apple symbols,
//! and the App Store audit rejects any binary that contains such a string.
// Miri's isolation forbids reading files; the host and qemu lanes run it.
#![cfg(not(miri))]

#[test]
fn readme_quick_start_is_the_quickstart_example() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let read = |f: &str| {
        std::fs::read_to_string(format!("{dir}/{f}")).unwrap_or_else(|e| panic!("{f}: {e}"))
    };
    let (readme, example) = (read("README.md"), read("examples/quickstart.rs"));
    let block = format!("```rust\n{example}```\n");
    assert!(
        readme.contains(&block),
        "README.md must contain examples/quickstart.rs verbatim in one ```rust block"
    );
}
