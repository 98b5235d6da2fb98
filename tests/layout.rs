//! The integration tests' layout: `tests/*.rs` and `sim/tests/*.rs` are modules of one test
//! binary per crate (`tests/main.rs`, `sim/tests/main.rs`; `autotests = false`), so a test file
//! not declared there would never build or run. This holds every file to its declaration.

use crate::util::root;

#[test]
fn every_test_file_is_a_module_of_its_crate_s_test_binary() {
    for dir in [root().join("tests"), root().join("sim").join("tests")] {
        let main = std::fs::read_to_string(dir.join("main.rs")).expect("the test binary's root");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("the tests directory") {
            let path = entry.expect("an entry").path();
            let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
            if path.extension().is_none_or(|e| e != "rs") || stem == "main" {
                continue;
            }
            assert!(
                main.contains(&format!("\nmod {stem};\n")),
                "{} is not declared in {}/main.rs",
                path.display(),
                dir.display()
            );
            checked += 1;
        }
        assert!(checked >= 10, "{}: {checked} test files", dir.display());
    }
}
