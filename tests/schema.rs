//! `faultline schema`: a JSON Schema editors can use.

use crate::util;
use util::*;

#[test]
fn schema_is_json_and_describes_scenarios() {
    let o = faultline(&["schema"]);
    assert_eq!(code(&o), 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    let text = v.to_string();
    for field in ["hosts", "workload", "faults", "slos", "duration"] {
        assert!(text.contains(field), "schema mentions {field}");
    }
}
