//! Scenario data: what the mock registries know, plus personas (applications with their
//! hand-derived expected findings). The JSON shape is documented in `mocks/SCENARIOS.md`.
//!
//! Every struct is `deny_unknown_fields` so a typo in a scenario file is an error, not a
//! silently ignored fact. All field names are kebab-case, like the WIT `check-request`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Date, Duration};

use crate::declared::DeclaredRegistry;

/// The built-in population, embedded so the binary and tests need no files.
const DEFAULT_POPULATION: &str = include_str!("../scenarios/default.json");

/// `YYYY-MM-DD`, the only date form a scenario uses.
const DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

time::serde::format_description!(day, Date, DAY);

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    // The cause is part of the message (one line for QA and the admin API), so it is
    // deliberately not a `source` as well: anyhow would print it twice.
    #[error("cannot read scenario file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("scenario {origin} is not valid: {error}")]
    Parse {
        origin: String,
        error: serde_json::Error,
    },
    #[error("scenario {origin} is inconsistent: {message}")]
    Invalid { origin: String, message: String },
}

/// Residency (P16.3, P16.4); decides the rule set (P19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Residency {
    Resident,
    NonResident,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartyKind {
    NaturalPerson,
    LegalEntity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VehicleKind {
    Truck,
    TractorUnit,
    AgriculturalMachine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CargoClass {
    General,
    Animal,
    Plant,
    Perishable,
    Dangerous,
    Empty,
}

/// Verdicts as in the WIT `verdict` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    Notice,
}

/// The whole world the mocks answer from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub description: String,
    /// The day the data was written for. [`Scenario::on`] moves every date by the days
    /// between this anchor and another day; without an anchor the dates are served as written.
    #[serde(default, with = "day::option")]
    pub anchor: Option<Date>,
    /// Named examples: example name → persona id (e.g. `approved` → a persona every check
    /// passes). Loading checks that every persona named exists.
    #[serde(default)]
    pub examples: BTreeMap<String, String>,
    /// ГБД ФЛ (P18.1) and the consent service (P16).
    #[serde(default)]
    pub persons: Vec<Person>,
    /// ГБД ЮЛ (P18.1).
    #[serde(default)]
    pub companies: Vec<Company>,
    /// "Automobile" registrations of power vehicles (P18.2).
    #[serde(default)]
    pub vehicles: Vec<VehicleRecord>,
    /// "Automobile" registrations of trailers and semi-trailers (P18.2).
    #[serde(default)]
    pub trailers: Vec<TrailerRecord>,
    /// "Automobile" driver licences (P18.3).
    #[serde(default)]
    pub licences: Vec<Licence>,
    /// Interior-ministry wanted vehicles (P18.4).
    #[serde(default)]
    pub wanted_vehicles: Vec<WantedVehicle>,
    /// Special-records wanted persons (P18.5).
    #[serde(default)]
    pub wanted_persons: Vec<WantedPerson>,
    /// Agricultural machinery register (P18.6).
    #[serde(default)]
    pub agri_machines: Vec<AgriMachine>,
    /// E-licensing international road permits (P18.7).
    #[serde(default)]
    pub permits: Vec<Permit>,
    /// ЕСБД motor third-party liability policies (P18.8).
    #[serde(default)]
    pub policies: Vec<Policy>,
    /// Taxpayer cabinet: one record per taxpayer (P18.9).
    #[serde(default)]
    pub taxpayers: Vec<Taxpayer>,
    /// ЕРАП administrative fines (P18.10).
    #[serde(default)]
    pub fines: Vec<Fine>,
    /// Mobile-government digital documents (P18.11).
    #[serde(default)]
    pub digital_documents: Vec<DigitalDocument>,
    /// Biometric identification results (P18.12).
    #[serde(default)]
    pub biometrics: Vec<BiometricRecord>,
    /// Mobile citizens base (P18.13).
    #[serde(default)]
    pub phones: Vec<PhoneRegistration>,
    /// Technical inspection records (P18.14).
    #[serde(default)]
    pub inspections: Vec<Inspection>,
    /// e-Agriculture veterinary / phytosanitary certificates (P18.15).
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    /// ASTANA-1 customs declarations (P18.16).
    #[serde(default)]
    pub declarations: Vec<Declaration>,
    /// Toll-road operator accounts (P18.17).
    #[serde(default)]
    pub toll_accounts: Vec<TollAccount>,
    /// Weigh-station records (P18.18).
    #[serde(default)]
    pub weighings: Vec<Weighing>,
    /// Registries this scenario declares besides the built-in ones (issue 12, item 6),
    /// served like them; see [`crate::declared`].
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::declared::deserialize_registries"
    )]
    pub registries: Vec<DeclaredRegistry>,
    /// Named applications with expected findings.
    #[serde(default)]
    pub personas: Vec<Persona>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Person {
    pub iin: String,
    pub last_name: String,
    pub first_name: String,
    #[serde(default)]
    pub middle_name: Option<String>,
    pub birth_date: String,
    pub residency: Residency,
    /// ISO 3166-1 alpha-2.
    pub citizenship: String,
    /// `alive` or `deceased`.
    #[serde(default = "alive")]
    pub status: String,
    /// Whether the person gave consent in the state consent service (P16).
    #[serde(default = "yes")]
    pub consent_given: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Company {
    pub bin: String,
    pub name: String,
    pub registration_date: String,
    /// `active` or `liquidated`.
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub head_iin: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct VehicleRecord {
    pub plate: String,
    pub vin: String,
    /// `truck` or `tractor-unit`.
    pub kind: String,
    pub make: String,
    pub model: String,
    pub owner_iin_bin: String,
    /// `registered` or `deregistered`.
    #[serde(default = "registered")]
    pub status: String,
    pub registration_date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TrailerRecord {
    pub plate: String,
    pub vin: String,
    /// `trailer` or `semi-trailer`.
    pub kind: String,
    pub owner_iin_bin: String,
    #[serde(default = "registered")]
    pub status: String,
    pub registration_date: String,
    pub max_mass_kg: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Licence {
    pub iin: String,
    pub number: String,
    pub categories: Vec<String>,
    pub issue_date: String,
    pub expiry_date: String,
    /// `valid` or `revoked`.
    #[serde(default = "valid")]
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WantedVehicle {
    #[serde(default)]
    pub plate: Option<String>,
    #[serde(default)]
    pub vin: Option<String>,
    pub since: String,
    pub reason: String,
    pub initiator: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WantedPerson {
    #[serde(default)]
    pub iin: Option<String>,
    pub full_name: String,
    pub birth_date: String,
    #[serde(default)]
    pub document_number: Option<String>,
    pub since: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AgriMachine {
    pub plate: String,
    pub vin: String,
    pub kind: String,
    pub owner_iin_bin: String,
    #[serde(default = "registered")]
    pub status: String,
    pub registration_date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Permit {
    pub number: String,
    pub carrier_iin_bin: String,
    pub plate: String,
    /// `bilateral`, `transit`, `third-country` or `ecmt`.
    pub kind: String,
    pub country: String,
    pub valid_from: String,
    pub valid_to: String,
    /// `active`, `used` or `revoked`.
    #[serde(default = "active")]
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct InsuredDriver {
    #[serde(default)]
    pub iin: Option<String>,
    pub full_name: String,
    pub birth_date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Policy {
    pub number: String,
    pub insurer_name: String,
    pub insurer_bin: String,
    pub holder_iin_bin: Option<String>,
    pub holder_name: String,
    pub plate: String,
    pub vin: String,
    pub start: String,
    pub end: String,
    /// Any driver is insured ("без ограничения").
    #[serde(default)]
    pub unlimited: bool,
    #[serde(default)]
    pub insured_drivers: Vec<InsuredDriver>,
    #[serde(default)]
    pub rescinded: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TaxDebt {
    /// e.g. `vehicle-tax`, `property-tax`, `personal-income-tax`, `vat`, `social`.
    pub kind: String,
    /// KZT, integer.
    pub amount: u64,
    /// KZT, integer.
    #[serde(default)]
    pub penalty: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Taxpayer {
    pub iin_bin: String,
    pub as_of: String,
    #[serde(default)]
    pub debts: Vec<TaxDebt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Fine {
    pub protocol_number: String,
    #[serde(default)]
    pub subject_iin: Option<String>,
    #[serde(default)]
    pub plate: Option<String>,
    pub article: String,
    pub offence_date: String,
    /// KZT, integer.
    pub amount: u64,
    pub due_date: String,
    #[serde(default)]
    pub paid: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DigitalDocument {
    pub iin: String,
    /// `identity-card`, `passport`, `driver-licence` or `vehicle-registration`.
    #[serde(rename = "type")]
    pub doc_type: String,
    pub number: String,
    pub issue_date: String,
    #[serde(default)]
    pub expiry_date: Option<String>,
    /// `active` or `revoked`.
    #[serde(default = "active")]
    pub status: String,
    #[serde(default)]
    pub vehicle_plate: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BiometricRecord {
    pub iin: String,
    /// Whether the state holds a reference photo for the person.
    pub has_reference: bool,
    /// Match score 0..=100 of the latest identification, if any.
    #[serde(default)]
    pub score: Option<u8>,
    #[serde(default = "threshold")]
    pub threshold: u8,
    #[serde(default)]
    pub verified_at: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PhoneRegistration {
    /// E.164, e.g. `+77011234567`.
    pub phone: String,
    pub iin: String,
    pub operator: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Inspection {
    pub number: String,
    pub plate: String,
    pub vin: String,
    pub date: String,
    pub valid_until: String,
    /// `passed` or `failed`.
    pub result: String,
    pub operator: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Certificate {
    pub number: String,
    /// `veterinary` or `phytosanitary`.
    #[serde(rename = "type")]
    pub cert_type: String,
    pub plate: String,
    pub hs_codes: Vec<String>,
    pub issue_date: String,
    pub valid_until: String,
    /// `active` or `cancelled`.
    #[serde(default = "active")]
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeclaredVehicle {
    pub plate: String,
    pub vin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Declaration {
    pub number: String,
    /// `export`, `transit`, `re-export` or `temporary-import`.
    pub procedure: String,
    /// `registered`, `released`, `rejected` or `cancelled`.
    pub status: String,
    pub registration_date: String,
    pub declarant_iin_bin: String,
    pub vehicles: Vec<DeclaredVehicle>,
    #[serde(default)]
    pub hs_codes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TollDebt {
    pub id: String,
    pub road_section: String,
    pub passage_date: String,
    /// KZT, integer.
    pub amount: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TollAccount {
    pub plate: String,
    /// KZT, integer.
    pub balance: i64,
    #[serde(default)]
    pub debts: Vec<TollDebt>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AxleLoad {
    pub index: u8,
    pub load_kg: u32,
    pub limit_kg: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Weighing {
    pub id: String,
    pub plate: String,
    pub station: String,
    /// ISO 8601 date-time.
    pub measured_at: String,
    pub gross_mass_kg: u32,
    pub gross_limit_kg: u32,
    pub axles: Vec<AxleLoad>,
    /// `none`, `open` or `paid`.
    pub violation_status: String,
}

/// A named application in the exact shape of the WIT `check-request` (kebab-case), minus
/// `check` and `correlation-id`, which the host sets per call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Persona {
    pub id: String,
    pub description: String,
    pub request: PersonaRequest,
    /// Expected finding per check that applies (P19 + plan conditions), by check id.
    pub expect: BTreeMap<CheckKey, Expectation>,
}

impl Persona {
    /// The expected finding for a check, named as an expectation key may be (`"3"` or
    /// `"P18.3"`); `None` when the check does not apply or the name is not a check id.
    pub fn expected(&self, check: &str) -> Option<&Expectation> {
        self.expect.get(CheckKey::parse(check).ok()?.as_str())
    }
}

/// A check id as a scenario names it (issue 12): any string id such as `P18.3` or
/// `O505.ADR`. A bare number `n` in 1..=18 is the shipped form and means `P18.n`; it is
/// normalised, so `"3"` and `"P18.3"` are the same key. Kept as a string, read with the
/// domain's `CheckId` grammar: the mocks do not depend on the gateway's check catalogue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CheckKey(String);

impl CheckKey {
    /// `P18.n`, the id of Order 707's check `n`.
    pub fn p18(n: u8) -> Self {
        Self(format!("P18.{n}"))
    }

    /// Parses a key: a number 1..=18 (meaning `P18.n`) or a dotted id whose first segment
    /// starts with a capital letter (`P18.3`, `O505.ADR`).
    pub fn parse(s: &str) -> Result<Self, String> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return match s.parse::<u8>() {
                Ok(n @ 1..=18) => Ok(Self::p18(n)),
                _ => Err(format!(
                    "check {s} is not a check id: a number n means P18.n, and P18 checks are \
                     1..=18; name any other check by its id, e.g. \"O505.ADR\""
                )),
            };
        }
        // One grammar for check ids: the domain's (ADR 0018).
        match s.parse::<kezek_domain::CheckId>() {
            Ok(_) => Ok(Self(s.to_string())),
            Err(_) => Err(format!(
                "check {s:?} is not a check id: expected a number 1..=18 (P18.n) or a dotted \
                 id such as \"P18.3\" or \"O505.ADR\""
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `n` when this is Order 707's check `P18.n` (the WIT 1.0.0 boundary speaks numbers).
    pub fn p18_number(&self) -> Option<u8> {
        self.0.parse::<kezek_domain::CheckId>().ok()?.p18_number()
    }
}

impl std::borrow::Borrow<str> for CheckKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CheckKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CheckKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Expectation {
    pub verdict: Verdict,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PersonaRequest {
    pub owner: Owner,
    pub drivers: Vec<Driver>,
    pub vehicle: Vehicle,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trailer: Option<Trailer>,
    pub cargo: Cargo,
    pub checkpoint: String,
    pub travel_date: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Owner {
    pub residency: Residency,
    pub kind: PartyKind,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iin_bin: Option<String>,
    pub country: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct IdentityDocument {
    pub kind: String,
    pub issuing_country: String,
    pub number: String,
    pub expires: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Driver {
    pub residency: Residency,
    pub full_name: String,
    pub birth_date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iin: Option<String>,
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub document: IdentityDocument,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Vehicle {
    pub kind: VehicleKind,
    pub country: String,
    pub plate: String,
    pub vin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Trailer {
    pub country: String,
    pub plate: String,
    pub vin: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Cargo {
    pub classes: Vec<CargoClass>,
    #[serde(default)]
    pub hs_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_number: Option<String>,
    pub description: String,
}

fn alive() -> String {
    "alive".into()
}
fn active() -> String {
    "active".into()
}
fn registered() -> String {
    "registered".into()
}
fn valid() -> String {
    "valid".into()
}
fn yes() -> bool {
    true
}
fn threshold() -> u8 {
    80
}

impl Scenario {
    /// The built-in population (`mocks/scenarios/default.json`).
    pub fn default_population() -> Self {
        // The embedded file is checked by a test; failing here is a build defect.
        Self::from_json_str(DEFAULT_POPULATION, "default.json")
            .expect("embedded default population must be valid")
    }

    /// Loads a scenario file; errors name the file and the JSON position.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Read {
            path: path.display().to_string(),
            error,
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Parses and validates a scenario; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario =
            serde_json::from_str(text).map_err(|error| ScenarioError::Parse {
                origin: origin.to_string(),
                error,
            })?;
        scenario
            .validate()
            .map_err(|message| ScenarioError::Invalid {
                origin: origin.to_string(),
                message,
            })?;
        Ok(scenario)
    }

    /// Structural checks serde cannot express.
    fn validate(&self) -> Result<(), String> {
        let mut ids = BTreeSet::new();
        for p in &self.personas {
            if !ids.insert(p.id.as_str()) {
                return Err(format!("persona id {:?} is used twice", p.id));
            }
        }
        for (name, id) in &self.examples {
            if !ids.contains(id.as_str()) {
                return Err(format!(
                    "example {name:?} names persona {id:?}, which does not exist"
                ));
            }
        }
        let mut iins = BTreeSet::new();
        for (index, p) in self.persons.iter().enumerate() {
            // The IIN itself is personal data: name the position instead.
            if !iins.insert(p.iin.as_str()) {
                return Err(format!("persons[{index}] repeats an IIN used earlier"));
            }
        }
        self.validate_registries()
    }

    /// Declared registries must not take a name or a service id that is already served:
    /// the admin API, faults and gateway routing find a registry by them.
    fn validate_registries(&self) -> Result<(), String> {
        use crate::registry::{RegistryId, is_built_in_service};
        for (i, r) in self.registries.iter().enumerate() {
            let at = format!("registries[{i}]");
            if RegistryId::ALL.iter().any(|b| b.as_str() == r.id) || r.id == "bip-sync" {
                return Err(format!(
                    "{at}.id: {:?} is the name of a built-in registry",
                    r.id
                ));
            }
            if is_built_in_service(&r.service_id) {
                return Err(format!(
                    "{at}.service-id: {:?} is a built-in registry's service",
                    r.service_id
                ));
            }
            let earlier = &self.registries[..i];
            if let Some(j) = earlier.iter().position(|e| e.id == r.id) {
                return Err(format!(
                    "{at}.id: {:?} is already declared by registries[{j}]",
                    r.id
                ));
            }
            if let Some(j) = earlier.iter().position(|e| e.service_id == r.service_id) {
                return Err(format!(
                    "{at}.service-id: {:?} is already declared by registries[{j}]",
                    r.service_id
                ));
            }
        }
        Ok(())
    }

    /// This scenario with `other`'s facts, registries, personas and examples added, e.g. a
    /// scenario that declares one registry on top of the default population. `other` is
    /// first put on this scenario's anchor, so both keep their own expectations; the result
    /// is validated like a loaded file (a persona id or IIN used by both is refused).
    pub fn merged(&self, other: &Scenario, origin: &str) -> Result<Scenario, ScenarioError> {
        let other = match self.anchor {
            Some(anchor) => other.on(anchor),
            None => other.clone(),
        };
        let invalid = |message: String| ScenarioError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let mut base = serde_json::to_value(self).expect("a scenario serialises to JSON");
        let added = serde_json::to_value(&other).expect("a scenario serialises to JSON");
        let (Value::Object(base_map), Value::Object(added)) = (&mut base, added) else {
            unreachable!("a scenario serialises to a JSON object");
        };
        for (key, value) in added {
            match (base_map.get_mut(&key), value) {
                (Some(Value::Array(mine)), Value::Array(theirs)) => mine.extend(theirs),
                (Some(Value::Object(mine)), Value::Object(theirs)) => {
                    for (name, v) in theirs {
                        if mine.insert(name.clone(), v).is_some() {
                            return Err(invalid(format!("{key}.{name} is defined by both")));
                        }
                    }
                }
                (Some(Value::String(mine)), Value::String(theirs)) if key == "description" => {
                    if !theirs.is_empty() {
                        mine.push_str(if mine.is_empty() { "" } else { " + " });
                        mine.push_str(&theirs);
                    }
                }
                (Some(_), _) => {} // the anchor: this scenario's
                (None, v) => {
                    base_map.insert(key, v);
                }
            }
        }
        let merged: Scenario =
            serde_json::from_value(base).map_err(|error| ScenarioError::Parse {
                origin: origin.to_string(),
                error,
            })?;
        merged.validate().map_err(invalid)?;
        Ok(merged)
    }
    /// The persona behind an example name (`approved`, …) or, failing that, a persona id.
    pub fn example(&self, name: &str) -> Option<&Persona> {
        let id = self.examples.get(name).map_or(name, String::as_str);
        self.personas.iter().find(|p| p.id == id)
    }

    /// One line for an example [`Scenario::example`] does not know, listing the known ones.
    pub fn unknown_example(&self, name: &str) -> String {
        let known: Vec<&str> = self.examples.keys().map(String::as_str).collect();
        let known = if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        };
        format!("unknown example {name:?}; known examples: {known}")
    }

    /// This scenario on another day: every date moved by `today − anchor` days, and `today`
    /// as the new anchor, so that what the personas expect stays true (issue 8: data
    /// relative to today). A scenario without an anchor is returned unchanged: its dates
    /// are served as written.
    ///
    /// What moves, wherever it stands (the walk is over the JSON form, so a new field is
    /// covered without code): every string value that is exactly a date `YYYY-MM-DD`, the
    /// date of every date-time `YYYY-MM-DDT…` (time and offset kept as written), and every
    /// `YYYY-MM-DD` inside a `description`. What does not: values under `birth-date` (the
    /// birth date is encoded in the IIN), strings that merely contain digits such as the
    /// document number `50102/291126/0000114`, object keys, and a date the shift would take
    /// out of the years 0000–9999.
    pub fn on(&self, today: Date) -> Scenario {
        let Some(anchor) = self.anchor else {
            return self.clone();
        };
        let days = (today - anchor).whole_days();
        let mut value = serde_json::to_value(self).expect("a scenario serialises to JSON");
        shift_dates(&mut value, None, days);
        let mut moved: Scenario =
            serde_json::from_value(value).expect("moving dates keeps the scenario's shape");
        moved.anchor = Some(today);
        moved
    }
}

/// A string that is exactly `YYYY-MM-DD` and a real day.
pub fn parse_day(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    shaped.then(|| Date::parse(s, DAY).ok()).flatten()
}

/// `day` (a `YYYY-MM-DD`) moved by `days`; `None` if it is not a date or would leave 0000–9999.
fn shift_day(day: &str, days: i64) -> Option<String> {
    let moved = parse_day(day)?.checked_add(Duration::days(days))?;
    if !(0..=9999).contains(&moved.year()) {
        return None;
    }
    moved.format(DAY).ok()
}

/// Moves the dates in a scenario's JSON form as [`Scenario::on`] describes; `key` is the
/// object key the value stands under (array items inherit it).
fn shift_dates(value: &mut Value, key: Option<&str>, days: i64) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                shift_dates(v, Some(k), days);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| shift_dates(v, key, days)),
        Value::String(s) => match key {
            Some("birth-date") => {}
            Some("description") => *s = shift_embedded_days(s, days),
            _ => {
                let moved = s
                    .get(..10)
                    .filter(|_| matches!(s.as_bytes().get(10), None | Some(b'T')));
                if let Some(moved) = moved.and_then(|day| shift_day(day, days)) {
                    s.replace_range(..10, &moved);
                }
            }
        },
        _ => {}
    }
}

/// `text` with every `YYYY-MM-DD` not joined to other digits moved by `days`.
fn shift_embedded_days(text: &str, days: i64) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut i) = (0, 0);
    while i + 10 <= b.len() {
        let bounded = (i == 0 || !b[i - 1].is_ascii_digit())
            && b.get(i + 10).is_none_or(|c| !c.is_ascii_digit());
        // An ASCII digit at `i` and `i + 9` makes both ends char boundaries.
        let moved = (bounded && b[i].is_ascii_digit() && b[i + 9].is_ascii_digit())
            .then(|| shift_day(&text[i..i + 10], days))
            .flatten();
        match moved {
            Some(moved) => {
                out.push_str(&text[copied..i]);
                out.push_str(&moved);
                i += 10;
                copied = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}
