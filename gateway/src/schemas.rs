//! The JSON Schemas in `schemas/`, compiled once and used to validate what users hand in.

use std::sync::OnceLock;

/// A JSON document the gateway validates against a schema of `schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    AdapterManifest,
    RuleSet,
    /// The P16 application, as `POST /v1/verifications` takes it.
    Application,
}

impl Schema {
    fn source(self) -> &'static str {
        match self {
            Schema::AdapterManifest => include_str!("../../schemas/adapter-manifest.schema.json"),
            Schema::RuleSet => include_str!("../../schemas/rule-set.schema.json"),
            Schema::Application => include_str!("../../schemas/application.schema.json"),
        }
    }

    fn validator(self) -> &'static jsonschema::Validator {
        static MANIFEST: OnceLock<jsonschema::Validator> = OnceLock::new();
        static RULE_SET: OnceLock<jsonschema::Validator> = OnceLock::new();
        static APPLICATION: OnceLock<jsonschema::Validator> = OnceLock::new();
        let cell = match self {
            Schema::AdapterManifest => &MANIFEST,
            Schema::RuleSet => &RULE_SET,
            Schema::Application => &APPLICATION,
        };
        cell.get_or_init(|| {
            let schema: serde_json::Value =
                serde_json::from_str(self.source()).expect("schemas/ holds valid JSON");
            jsonschema::validator_for(&schema).expect("schemas/ holds valid JSON Schemas")
        })
    }
}

/// One way a document breaks its schema: where (a JSON pointer) and what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

/// Every violation of the schema, in document order; empty when the document is valid.
pub fn violations(schema: Schema, document: &serde_json::Value) -> Vec<Violation> {
    schema
        .validator()
        .iter_errors(document)
        .map(|e| Violation {
            pointer: e.instance_path().to_string(),
            message: e.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_compiles() {
        for schema in [
            Schema::AdapterManifest,
            Schema::RuleSet,
            Schema::Application,
        ] {
            let _ = schema.validator();
        }
    }
}
