//! The JSON Schema of scenario files, for `faultline schema` and for editors (taplo / Even
//! Better TOML complete and check scenario files with it).
//!
//! Generated from the types in `types.rs` (their doc comments become descriptions). Draft-07,
//! because taplo's validator supports the older drafts best; the semantic rules of
//! `validate.rs` (host references, ranges, times) are not in the schema.

use super::types::Scenario;
use schemars::generate::SchemaSettings;
use serde_json::json;

/// The schema's `$id`.
pub const SCHEMA_ID: &str = "urn:faultline:scenario:1";

/// The JSON Schema of a scenario file, pretty-printed.
pub fn json_schema() -> String {
    let mut schema = SchemaSettings::draft07().into_generator().into_root_schema_for::<Scenario>();
    schema.insert("$id".into(), json!(SCHEMA_ID));
    schema.insert("title".into(), json!("Faultline scenario"));
    schema.insert(
        "description".into(),
        json!(
            "A Faultline scenario: the hosts and the services they run, the links between them, \
             the workload, scripted faults and the SLOs the run must meet. See docs/scenario.md."
        ),
    );
    // taplo: the keys a new scenario file is completed with.
    schema.insert("x-taplo".into(), json!({ "initKeys": ["name", "duration", "hosts", "workload"] }));
    serde_json::to_string_pretty(&schema).expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(schema: &serde_json::Value, pointer: &str, expected: serde_json::Value) {
        assert_eq!(schema.pointer(pointer), Some(&expected), "{pointer}");
    }

    #[test]
    fn the_schema_is_json_and_describes_scenarios() {
        let text = json_schema();
        let schema: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        check(&schema, "/$id", json!(SCHEMA_ID));
        check(&schema, "/title", json!("Faultline scenario"));
        check(&schema, "/$schema", json!("http://json-schema.org/draft-07/schema#"));
        check(&schema, "/definitions/Duration/pattern", json!("^[0-9]+(\\.[0-9]+)?\\s*(ns|us|µs|ms|s|m|min|h)$"));
        let required = schema["required"].as_array().expect("a required list");
        for key in ["name", "duration", "hosts", "workload"] {
            assert!(required.contains(&json!(key)), "{key} is required");
        }
        assert!(schema.pointer("/properties/hosts").is_some());
        assert!(schema.pointer("/properties/workload").is_some());
        assert!(text.contains("Poisson process"), "doc comments become descriptions");
    }

    #[test]
    fn the_duration_pattern_matches_what_the_parser_accepts() {
        let schema: serde_json::Value = serde_json::from_str(&json_schema()).expect("valid JSON");
        let pattern = schema["definitions"]["Duration"]["pattern"].as_str().expect("a pattern");
        for unit in ["ns", "us", "µs", "ms", "s", "m", "min", "h"] {
            assert!(
                pattern.contains(&format!("|{unit}|"))
                    || pattern.contains(&format!("({unit}|"))
                    || pattern.contains(&format!("|{unit})")),
                "{unit}"
            );
            assert!(crate::scenario::units::parse_duration(&format!("5{unit}")).is_ok(), "{unit}");
        }
    }
}
