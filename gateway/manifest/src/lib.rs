//! Package manifests (`manifest.json` beside each component), validated against
//! `schemas/adapter-manifest.schema.json`: a registry adapter's ([`Manifest`]) or a device
//! driver's ([`DeviceManifest`], ADR 0020), told apart by `wit`; [`Package`] reads either.
//!
//! Architecture invariant: types and parsing only. Egress, the host and the catalogue all
//! read a manifest, so it lives below all three (ADR 0009).

use kezek_domain::CheckId;
use kezek_domain::device::DeviceKind;
use kezek_schema::{self as schemas, Schema};
use serde::{Deserialize, Serialize};

/// The WIT that names checks by P18 number (`u8`): its adapters serve P18.1..=18 only.
pub const WIT_1_0: &str = "kezek:registry@1.0.0";

/// The device driver contract (ADR 0020).
pub const WIT_DEVICE: &str = "kezek:device@1.0.0";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    pub version: String,
    pub wit: String,
    pub registry: String,
    /// The checks served, by id; a P18 number n in the file means P18.n (ADR 0018).
    #[serde(deserialize_with = "kezek_domain::p18_or_id::seq")]
    pub checks: Vec<CheckId>,
    pub endpoints: Vec<EndpointDecl>,
    #[serde(default)]
    pub timeouts: Timeouts,
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointDecl {
    pub name: String,
    #[serde(default)]
    pub credentials: Vec<Credential>,
}

/// A credential the host may inject into requests to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Credential {
    GatewaySender,
    ConsentToken,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    #[serde(default = "default_response_ms")]
    pub response_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect_ms: default_connect_ms(),
            response_ms: default_response_ms(),
        }
    }
}

fn default_connect_ms() -> u64 {
    1000
}
fn default_response_ms() -> u64 {
    5000
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    #[serde(default = "default_cpu_ms")]
    pub cpu_ms: u64,
    #[serde(default = "default_response_bytes")]
    pub response_bytes: u64,
}

fn default_memory_mib() -> u64 {
    16
}
fn default_cpu_ms() -> u64 {
    100
}
fn default_response_bytes() -> u64 {
    1 << 20
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest.json is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("manifest.json breaks the schema: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Schema(Vec<schemas::Violation>),
    #[error("manifest.json: {0}")]
    Shape(serde_json::Error),
    #[error("manifest.json at /checks/{index}: {reason}")]
    Check { index: usize, reason: String },
    /// A registry adapter's manifest read as a device driver's, or the other way round.
    #[error("manifest.json at /wit: {0}")]
    World(String),
}

/// A device driver's manifest (ADR 0020): the registry adapter's format with `kind` and
/// `device` in place of `registry`, `checks`, `endpoints` and `timeouts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceManifest {
    pub id: String,
    pub version: String,
    pub wit: String,
    pub kind: DeviceKind,
    /// The device and its protocol, human-readable.
    pub device: String,
    pub limits: DeviceLimits,
}

/// A driver's sandbox limits per call: the registry adapters' memory cap and CPU budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceLimits {
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u64,
    #[serde(default = "default_cpu_ms")]
    pub cpu_ms: u64,
}

/// What a package folder's manifest declares: a registry adapter or a device driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Package {
    Adapter(Manifest),
    Driver(DeviceManifest),
}

impl Package {
    /// Validates against the schema and reads the form its `wit` names.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value = valid(bytes)?;
        if value["wit"] == WIT_DEVICE {
            DeviceManifest::from_valid(value).map(Self::Driver)
        } else {
            Manifest::from_valid(value).map(Self::Adapter)
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Self::Adapter(m) => &m.id,
            Self::Driver(m) => &m.id,
        }
    }

    pub fn version(&self) -> &str {
        match self {
            Self::Adapter(m) => &m.version,
            Self::Driver(m) => &m.version,
        }
    }
}

impl DeviceManifest {
    /// A device driver's manifest; a registry adapter's is refused at `/wit`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value = valid(bytes)?;
        if value["wit"] != WIT_DEVICE {
            return Err(ManifestError::World(format!(
                "{} is a registry adapter's contract; a device driver's manifest names {WIT_DEVICE}",
                value["wit"].as_str().unwrap_or("?")
            )));
        }
        Self::from_valid(value)
    }

    fn from_valid(value: serde_json::Value) -> Result<Self, ManifestError> {
        serde_json::from_value(value).map_err(ManifestError::Shape)
    }
}

/// The manifest as JSON, valid against the schema.
fn valid(bytes: &[u8]) -> Result<serde_json::Value, ManifestError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(ManifestError::NotJson)?;
    let violations = schemas::violations(Schema::AdapterManifest, &value);
    if !violations.is_empty() {
        return Err(ManifestError::Schema(violations));
    }
    Ok(value)
}

impl Manifest {
    /// A registry adapter's manifest; a device driver's is refused at `/wit`.
    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        let value = valid(bytes)?;
        if value["wit"] == WIT_DEVICE {
            return Err(ManifestError::World(format!(
                "{WIT_DEVICE} is the device driver contract; a registry adapter's manifest \
                 names kezek:registry@1.0.0 or kezek:registry@1.1.0"
            )));
        }
        Self::from_valid(value)
    }

    fn from_valid(value: serde_json::Value) -> Result<Self, ManifestError> {
        let manifest: Self = serde_json::from_value(value).map_err(ManifestError::Shape)?;
        manifest.check_checks()?;
        Ok(manifest)
    }

    /// What the schema cannot see: `9` and `"P18.9"` are one check; a 1.0.0 adapter speaks
    /// P18 numbers and so cannot serve any other check.
    fn check_checks(&self) -> Result<(), ManifestError> {
        for (index, check) in self.checks.iter().enumerate() {
            let reason = if self.checks[..index].contains(check) {
                format!("{check} is listed twice")
            } else if self.wit == WIT_1_0 && check.p18_number().is_none() {
                format!(
                    "{check} cannot be served over {WIT_1_0}, which names checks by P18 number \
                     (P18.1 to P18.18 only); build the adapter against a later WIT"
                )
            } else {
                continue;
            };
            return Err(ManifestError::Check { index, reason });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id":"tax-debt","version":"1.0.0","wit":"kezek:registry@1.0.0",
        "registry":"taxpayer cabinet","checks":[9],
        "endpoints":[{"name":"egov-gateway","credentials":["gateway-sender"]}],
        "limits":{"memory_mib":16,"cpu_ms":50}}"#;

    #[test]
    fn a_valid_manifest_parses_with_defaults() {
        let m = Manifest::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(m.checks, vec![CheckId::p18(9).unwrap()]);
        assert_eq!(m.timeouts.response_ms, 5000);
        assert_eq!(m.endpoints[0].credentials, vec![Credential::GatewaySender]);
    }

    /// ADR 0018: checks by id, or by P18 number as packages before issue 12 wrote them; no
    /// cap on how many; a 1.0.0 adapter serves P18 checks only. Each refusal points at the
    /// entry.
    #[test]
    fn checks_are_ids_or_p18_numbers() {
        let check = |checks: &str, expect: Result<&[&str], &str>| {
            let json = GOOD.replace(r#""checks":[9]"#, &format!(r#""checks":{checks}"#));
            match (Manifest::parse(json.as_bytes()), expect) {
                (Ok(m), Ok(ids)) => {
                    let got: Vec<&str> = m.checks.iter().map(CheckId::as_str).collect();
                    assert_eq!(got, ids, "{checks}");
                }
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{checks}: {e}"),
                (got, _) => panic!("{checks}: {got:?}"),
            }
        };
        check("[9]", Ok(&["P18.9"]));
        check(r#"["P18.9"]"#, Ok(&["P18.9"]));
        check(r#"[9, "P18.10"]"#, Ok(&["P18.9", "P18.10"]));
        let all: Vec<u8> = (1..=18).collect();
        let ids: Vec<String> = all.iter().map(|n| format!("P18.{n}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        check(&format!("{all:?}"), Ok(&ids));
        check("[19]", Err("/checks/0"));
        check("[0]", Err("/checks/0"));
        check(r#"["p18.9"]"#, Err("/checks/0"));
        check(r#"[9, "P18..9"]"#, Err("/checks/1"));
        check("[]", Err("/checks"));
        check(r#"[9, "P18.9"]"#, Err("/checks/1: P18.9 is listed twice"));
        check(
            r#"[9, "O505.ADR"]"#,
            Err("/checks/1: O505.ADR cannot be served over kezek:registry@1.0.0"),
        );
        check(r#"["P18.19"]"#, Err("/checks/0: P18.19 cannot be served"));
    }

    const DEVICE: &str = r#"{"id":"hikvision-barrier","version":"1.0.0","wit":"kezek:device@1.0.0",
        "kind":"barrier","device":"Hikvision barrier gate (ISAPI)",
        "limits":{"memory_mib":4,"cpu_ms":20}}"#;

    /// Issue 13 item 1 (ADR 0020): a device driver's manifest is the registry adapters'
    /// format with kind and device; what it can get wrong is refused naming the JSON pointer.
    #[test]
    fn what_a_device_manifest_can_get_wrong() {
        let check = |edit: &dyn Fn(&mut serde_json::Value), expect: Result<DeviceKind, &str>| {
            let mut value: serde_json::Value = serde_json::from_str(DEVICE).unwrap();
            edit(&mut value);
            let bytes = serde_json::to_vec(&value).unwrap();
            match (Package::parse(&bytes), expect) {
                (Ok(Package::Driver(m)), Ok(kind)) => assert_eq!(m.kind, kind, "{value}"),
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{value}: {e}"),
                (got, _) => panic!("{value}: {got:?}"),
            }
        };
        // Sets the field at `pointer`, adding it if it is not there.
        let set = |pointer: &'static str, v: serde_json::Value| {
            move |m: &mut serde_json::Value| {
                let (parent, key) = pointer.rsplit_once('/').unwrap();
                let parent = m.pointer_mut(parent).unwrap().as_object_mut().unwrap();
                parent.insert(key.into(), v.clone());
            }
        };
        let add = |key: &'static str, v: serde_json::Value| {
            move |m: &mut serde_json::Value| {
                m.as_object_mut().unwrap().insert(key.into(), v.clone());
            }
        };
        let remove = |key: &'static str| {
            move |m: &mut serde_json::Value| {
                m.as_object_mut().unwrap().remove(key);
            }
        };
        use serde_json::json;
        check(&|_| {}, Ok(DeviceKind::Barrier));
        check(&set("/kind", json!("camera")), Ok(DeviceKind::Camera));
        check(&set("/kind", json!("board")), Ok(DeviceKind::Board));
        check(&set("/limits", json!({})), Ok(DeviceKind::Barrier));
        check(&set("/kind", json!("relay")), Err("/kind"));
        check(&set("/kind", json!(1)), Err("/kind"));
        check(&remove("kind"), Err("\"kind\" is a required property"));
        check(&remove("device"), Err("\"device\" is a required property"));
        check(&remove("limits"), Err("\"limits\" is a required property"));
        check(&set("/device", json!("")), Err("/device"));
        check(&set("/id", json!("Hikvision")), Err("/id"));
        check(&set("/version", json!("1.0")), Err("/version"));
        check(&set("/wit", json!("kezek:device@2.0.0")), Err("/wit"));
        check(
            &set("/limits/memory_mib", json!(0)),
            Err("/limits/memory_mib"),
        );
        check(
            &set("/limits/memory_mib", json!(257)),
            Err("/limits/memory_mib"),
        );
        check(&set("/limits/cpu_ms", json!(0)), Err("/limits/cpu_ms"));
        check(&set("/limits/cpu_ms", json!(10001)), Err("/limits/cpu_ms"));
        check(
            &set("/limits/response_bytes", json!(65536)),
            Err("/limits/response_bytes"),
        );
        check(&set("/limits/stack", json!(1)), Err("/limits"));
        // A registry adapter's fields have no place in a driver's manifest: the host owns
        // every connection and credential (ADR 0020).
        check(&add("registry", json!("r")), Err("/registry"));
        check(&add("checks", json!([9])), Err("/checks"));
        check(&add("endpoints", json!([])), Err("/endpoints"));
        check(&add("timeouts", json!({})), Err("/timeouts"));
        check(&add("credentials", json!(["isapi"])), Err("credentials"));
        // The device world without its fields is not a registry adapter either.
        check(
            &|m| {
                *m = json!({"id": "x-y", "version": "1.0.0", "wit": "kezek:device@1.0.0",
                    "registry": "r", "checks": [9], "endpoints": [], "limits": {}})
            },
            Err("/registry"),
        );
    }

    /// The world decides the form: a registry adapter claiming the device world, or a
    /// driver claiming a registry one, is refused with the reason at `/wit`.
    #[test]
    fn the_world_decides_the_form() {
        let driver = Package::parse(DEVICE.as_bytes()).unwrap();
        assert!(matches!(&driver, Package::Driver(m) if m.limits.cpu_ms == 20));
        assert_eq!(
            (driver.id(), driver.version()),
            ("hikvision-barrier", "1.0.0")
        );
        assert!(matches!(
            Package::parse(GOOD.as_bytes()),
            Ok(Package::Adapter(_))
        ));
        let err = Manifest::parse(DEVICE.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("/wit") && err.contains("device driver contract"),
            "{err}"
        );
        let err = DeviceManifest::parse(GOOD.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/wit") && err.contains("registry adapter"),
            "{err}"
        );
        // A registry manifest with a device's fields breaks the schema where they are.
        let bad = GOOD.replace(r#""registry":"#, r#""kind":"camera","registry":"#);
        let err = Package::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("/kind"), "{err}");
        let bad = GOOD.replace(r#""registry":"taxpayer cabinet","#, "");
        let err = Package::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("\"registry\" is a required property"), "{err}");
    }

    /// The five drivers' manifests in the tree are valid driver manifests whose folder is
    /// their id.
    #[test]
    fn the_drivers_in_the_tree_have_valid_manifests() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../adapters/devices");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let folder = entry.unwrap().path();
            let bytes = std::fs::read(folder.join("manifest.json")).unwrap();
            let m = DeviceManifest::parse(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
            assert_eq!(folder.file_name().unwrap().to_str(), Some(m.id.as_str()));
            seen += 1;
        }
        assert_eq!(seen, 5);
    }

    #[test]
    fn schema_errors_point_at_the_field() {
        let bad = GOOD.replace(r#""checks":[9]"#, r#""checks":[19]"#);
        let err = Manifest::parse(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("/checks/0"), "{err}");
        let bad = GOOD.replace(
            r#""wit":"kezek:registry@1.0.0""#,
            r#""wit":"kezek:registry@2.0.0""#,
        );
        assert!(
            Manifest::parse(bad.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("/wit")
        );
        let bad = GOOD.replace(r#""registry""#, r#""registyr""#);
        assert!(Manifest::parse(bad.as_bytes()).is_err());
    }
}
