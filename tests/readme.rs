//! The README's quick start is `examples/quickstart.rs`, verbatim: the code a newcomer
//! copies is the code CI compiles and runs (`ci/check.sh` lane `test` runs the example).

#[test]
fn readme_quick_start_is_the_quickstart_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let block = format!("```rust\n{example}```\n");
    assert!(
        readme.contains(&block),
        "README.md must contain examples/quickstart.rs verbatim in one ```rust block"
    );
}
