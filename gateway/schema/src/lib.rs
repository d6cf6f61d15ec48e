//! The JSON Schemas in `schemas/`, compiled once and used to validate what users hand in:
//! adapter manifests and rule sets (kezek-catalogue), the checkpoint catalogue and the P6
//! priority policy (kezek-booking) and request bodies (kezek-api). Violations come back as JSON pointers.
//!
//! Architecture invariant: data and validation only; no I/O.

use std::sync::OnceLock;

/// A JSON document the gateway validates against a schema of `schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    AdapterManifest,
    RuleSet,
    /// The P16 application, as `POST /v1/verifications` takes it.
    Application,
    BookingCreate,
    BookingReschedule,
    BookingCancel,
    BookingPayment,
    BookingDrivers,
    BookingCapacity,
    BookingAccount,
    BookingPriorityList,
    Checkpoints,
    /// The P6 quotas, edition by edition (Order 707, Order 505).
    PriorityPolicy,
    /// Which devices serve which lane of a checkpoint (issue 13 item 3).
    LaneProfile,
}

impl Schema {
    pub const ALL: [Schema; 14] = [
        Schema::AdapterManifest,
        Schema::RuleSet,
        Schema::Application,
        Schema::BookingCreate,
        Schema::BookingReschedule,
        Schema::BookingCancel,
        Schema::BookingPayment,
        Schema::BookingDrivers,
        Schema::BookingCapacity,
        Schema::BookingAccount,
        Schema::BookingPriorityList,
        Schema::Checkpoints,
        Schema::PriorityPolicy,
        Schema::LaneProfile,
    ];

    /// The schema's text, as `schemas/` holds it (the API's OpenAPI document embeds it).
    pub fn source(self) -> &'static str {
        match self {
            Schema::AdapterManifest => {
                include_str!("../../../schemas/adapter-manifest.schema.json")
            }
            Schema::RuleSet => include_str!("../../../schemas/rule-set.schema.json"),
            Schema::Application => include_str!("../../../schemas/application.schema.json"),
            Schema::BookingCreate => include_str!("../../../schemas/booking-create.schema.json"),
            Schema::BookingReschedule => {
                include_str!("../../../schemas/booking-reschedule.schema.json")
            }
            Schema::BookingCancel => include_str!("../../../schemas/booking-cancel.schema.json"),
            Schema::BookingPayment => include_str!("../../../schemas/booking-payment.schema.json"),
            Schema::BookingDrivers => include_str!("../../../schemas/booking-drivers.schema.json"),
            Schema::BookingCapacity => {
                include_str!("../../../schemas/booking-capacity.schema.json")
            }
            Schema::BookingAccount => include_str!("../../../schemas/booking-account.schema.json"),
            Schema::BookingPriorityList => {
                include_str!("../../../schemas/booking-priority-list.schema.json")
            }
            Schema::Checkpoints => include_str!("../../../schemas/checkpoints.schema.json"),
            Schema::PriorityPolicy => {
                include_str!("../../../schemas/priority-policy.schema.json")
            }
            Schema::LaneProfile => include_str!("../../../schemas/lane-profile.schema.json"),
        }
    }

    fn validator(self) -> &'static jsonschema::Validator {
        // One compiled validator per schema, indexed by the enum's discriminant.
        static VALIDATORS: [OnceLock<jsonschema::Validator>; Schema::ALL.len()] =
            [const { OnceLock::new() }; Schema::ALL.len()];
        let cell = &VALIDATORS[self as usize];
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
        for schema in Schema::ALL {
            let _ = schema.validator();
        }
    }
}
