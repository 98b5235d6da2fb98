//! Malformed scenarios through the real binary: a located error and exit 2, never a panic.

mod util;
use util::*;

fn check(body: &[u8], expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, body).unwrap();
    let o = faultline(&["run", file.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for e in expected {
        assert!(err.contains(e), "expected {e:?} in:\n{err}");
    }
}

const VALID_TAIL: &str = r#"
[[hosts]]
name = "e"
service = "echo"
[workload]
targets = ["e"]
users = 2
arrival = { poisson = { rate = 10 } }
"#;

#[test]
fn bad_toml() {
    check(b"name = \"x\"\nduration = \n", &["s.toml:2:"]);
}

#[test]
fn unknown_field() {
    check(format!("name = \"x\"\nduration = \"1s\"\ncolour = 3\n{VALID_TAIL}").as_bytes(), &["s.toml:3:1", "colour"]);
}

#[test]
fn wrong_unit() {
    check(format!("name = \"x\"\nduration = \"10 parsecs\"\n{VALID_TAIL}").as_bytes(), &["s.toml:2:", "unit"]);
}

#[test]
fn negative_rate() {
    let body = format!("name = \"x\"\nduration = \"1s\"\n{VALID_TAIL}").replace("rate = 10", "rate = -10");
    check(body.as_bytes(), &["s.toml:", "rate"]);
}

#[test]
fn unknown_host_in_a_fault() {
    let body = format!(
        "name = \"x\"\nduration = \"1s\"\n{VALID_TAIL}\n[[faults]]\nat = \"0.5s\"\nfault = {{ kill = \"ghost\" }}\n"
    );
    check(body.as_bytes(), &["s.toml:", "ghost"]);
}

#[test]
fn fault_after_the_end() {
    let body =
        format!("name = \"x\"\nduration = \"1s\"\n{VALID_TAIL}\n[[faults]]\nat = \"5s\"\nfault = {{ kill = \"e\" }}\n");
    check(body.as_bytes(), &["s.toml:", "end"]);
}

#[test]
fn empty_and_binary_files() {
    check(b"", &["empty"]);
    check(b"   \n# only a comment\n", &["empty"]);
    check(&[0x00, 0xFF, 0xFE, 0x00, 0x12, 0x80], &["s.toml"]);
}

#[test]
fn huge_number() {
    let body = format!("name = \"x\"\nduration = \"1s\"\n{VALID_TAIL}")
        .replace("users = 2", "users = 99999999999999999999999");
    check(body.as_bytes(), &["s.toml:"]);
}
