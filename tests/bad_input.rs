//! Malformed scenarios through the real binary: a located error and exit 2, never a panic.

use crate::util;
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

#[test]
fn a_host_named_like_a_load_generator() {
    // Validation finds it; it used to pass and fail the run (exit 1) when laying out the world.
    let body = format!("name = \"x\"\nduration = \"1s\"\n{VALID_TAIL}").replace("name = \"e\"", "name = \"lg0\"");
    let body = body.replace("targets = [\"e\"]", "targets = [\"lg0\"]");
    check(
        body.as_bytes(),
        &["s.toml:5:8: host name \"lg0\" is reserved: the load generators are named lg0, lg1, ...", "\"lg0-host\""],
    );
}

#[test]
fn a_tick_the_engine_cannot_keep() {
    // A tick finer than tokio's 1 ms timer grid used to pass and fail the run (exit 1) with
    // trace records out of time order.
    let body = |tick: &str| format!("name = \"x\"\nduration = \"1s\"\ntick = \"{tick}\"\n{VALID_TAIL}");
    check(body("1ns").as_bytes(), &["s.toml:3:8: tick 1ns is not a whole number of milliseconds; expected e.g. 1ms"]);
    check(body("1500us").as_bytes(), &["s.toml:3:8: tick 1500us is not a whole number of milliseconds", "1ms or 2ms"]);
    check(body("0ms").as_bytes(), &["s.toml:3:8: tick 0s is out of range; expected a whole number of milliseconds"]);
}

#[test]
fn more_users_on_a_load_generator_than_it_has_ports() {
    let body =
        format!("name = \"x\"\nduration = \"1s\"\n{VALID_TAIL}").replace("users = 2", "users = 30000\nloadgens = 2");
    check(body.as_bytes(), &["s.toml:10:12: 30000 users on 2 load generator(s) puts 15000 on one", "at least 3"]);
}

#[test]
fn more_simulated_hosts_than_the_network_has_addresses() {
    let body = format!("name = \"x\"\nduration = \"1s\"\n{VALID_TAIL}")
        .replace("users = 2", "users = 1000000\nloadgens = 65535");
    check(body.as_bytes(), &["s.toml:10:12: loadgens = 65535 beside the file's 1 host(s) makes 65536 simulated hosts"]);
}
