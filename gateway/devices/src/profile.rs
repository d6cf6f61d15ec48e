//! Lane profiles as data (issue 13 item 3): which devices serve which lane of which
//! checkpoint, where the host reaches them, the credential the host holds for them, and how
//! long each may stay silent. One JSON file per checkpoint in the lanes directory, validated
//! by `schemas/lane-profile.schema.json`; every refusal names the file and the JSON pointer.

use kezek_domain::device::{DeviceKind, Transport};
use kezek_egress::config::Secret;
use kezek_schema::{Schema, violations};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// One checkpoint's lanes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct LaneProfile {
    pub checkpoint: String,
    pub lanes: Vec<Lane>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Lane {
    pub id: String,
    pub role: LaneRole,
    pub devices: Vec<DeviceProfile>,
}

/// Where on the vehicle's way a lane stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaneRole {
    WaitingZoneEntry,
    WaitingZoneExit,
    /// P30: entry to the checkpoint, with a booking only.
    CheckpointEntry,
    /// P10: the plates of vehicles that crossed are stored.
    Crossing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeviceProfile {
    pub id: String,
    /// A device driver of the catalogue, by id.
    pub driver: String,
    /// `ip:port` the host connects to; for a device that pushes, its IP (or `ip:port`, the
    /// port ignored): pushes from anywhere else are refused.
    pub address: String,
    /// The driver's configuration fields. Never a credential: the driver sees these.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Held by the host and added to the device's requests; the driver never sees it.
    #[serde(default, skip_serializing)]
    pub credential: Option<Credential>,
    pub heartbeat_ms: Option<u32>,
    pub confirm_ms: Option<u32>,
}

/// The schema refuses unknown fields here (serde cannot with `flatten`).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Credential {
    pub username: String,
    /// Where the password is: profiles are data and hold no secret.
    #[serde(flatten)]
    pub password: PasswordSource,
}

/// An environment variable or a file (a mounted secret); exactly one (the schema says so).
/// Its Debug shows where, never what.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordSource {
    PasswordEnv(String),
    PasswordFile(std::path::PathBuf),
}

/// Never print a password source's value, and not the username either (it names a person
/// at some sites).
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(..)")
    }
}

impl Credential {
    /// `Authorization: Basic …`, read now (a rotated secret is picked up on the next request)
    /// by the egress's one secret reader.
    pub fn basic(&self) -> Result<String, String> {
        use base64::Engine as _;
        let secret = match &self.password {
            PasswordSource::PasswordEnv(name) => Secret::Env(name.clone()),
            PasswordSource::PasswordFile(path) => Secret::File(path.clone()),
        };
        let password = secret.resolve().map_err(|e| e.to_string())?;
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{password}", self.username));
        Ok(format!("Basic {token}"))
    }
}

/// The default time a barrier has to report the commanded position.
pub const DEFAULT_CONFIRM_MS: u32 = 5_000;

impl DeviceProfile {
    /// Where the host reaches the device (request and stream transports).
    pub fn socket(&self) -> Result<SocketAddr, String> {
        self.address
            .parse()
            .map_err(|_| format!("address {:?} is not ip:port", self.address))
    }

    /// The only address a device that pushes may push from.
    pub fn source_ip(&self) -> Result<IpAddr, String> {
        self.address
            .parse::<SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| self.address.parse::<IpAddr>())
            .map_err(|_| format!("address {:?} is not an IP address", self.address))
    }

    /// Silence after which the device is down: twice its heartbeat interval, or the
    /// driver's own `silence-ms` when the profile gives none.
    pub fn silence_ms(&self, driver_silence_ms: u32) -> u64 {
        match self.heartbeat_ms {
            Some(interval) => 2 * u64::from(interval),
            None => u64::from(driver_silence_ms),
        }
    }

    pub fn confirm_ms(&self) -> u64 {
        u64::from(self.confirm_ms.unwrap_or(DEFAULT_CONFIRM_MS))
    }
}

/// What the profiles need of a driver to check them: kind and transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverFacts {
    pub kind: DeviceKind,
    pub transport: Transport,
}

/// Reads one profile: JSON, the schema, then what the schema cannot say.
pub fn parse(text: &str) -> Result<LaneProfile, Vec<String>> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| vec![format!("not JSON: {e}")])?;
    let broken = violations(Schema::LaneProfile, &value);
    if !broken.is_empty() {
        return Err(broken.iter().map(ToString::to_string).collect());
    }
    let mut value = value;
    if let Some(fields) = value.as_object_mut() {
        // The editor's hint, which the schema allows; not part of the profile.
        fields.remove("$schema");
    }
    let profile: LaneProfile = serde_json::from_value(value).map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    let mut lanes = BTreeSet::new();
    for (l, lane) in profile.lanes.iter().enumerate() {
        if !lanes.insert(&lane.id) {
            problems.push(format!("/lanes/{l}/id: lane {} is named twice", lane.id));
        }
    }
    if problems.is_empty() {
        Ok(profile)
    } else {
        Err(problems)
    }
}

/// Every profile of `dir` (`*.json`, in name order), checked together against the drivers
/// the catalogue serves: a device id names one device across all checkpoints, a driver
/// must exist, and the address must suit its transport. All problems, each with its file.
pub fn load_dir(
    dir: &Path,
    drivers: &dyn Fn(&str) -> Option<DriverFacts>,
) -> Result<Vec<LaneProfile>, Vec<String>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| vec![format!("{}: {e}", dir.display())])?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut problems = Vec::new();
    let mut profiles = Vec::new();
    for file in &files {
        let name = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        match parse(&text) {
            Ok(mut profile) => {
                // A password file named relative to the profile is beside it.
                for device in profile.lanes.iter_mut().flat_map(|l| &mut l.devices) {
                    if let Some(Credential {
                        password: PasswordSource::PasswordFile(path),
                        ..
                    }) = &mut device.credential
                        && path.is_relative()
                    {
                        *path = dir.join(&*path);
                    }
                }
                profiles.push((name.to_string(), profile));
            }
            Err(found) => problems.extend(found.into_iter().map(|p| format!("{name}: {p}"))),
        }
    }
    problems.extend(cross_check(&profiles, drivers));
    let mut checkpoints = BTreeMap::new();
    for (file, p) in &profiles {
        if let Some(first) = checkpoints.insert(&p.checkpoint, file) {
            problems.push(format!(
                "{file}: checkpoint {} has lanes in {first} already",
                p.checkpoint
            ));
        }
    }
    if problems.is_empty() {
        Ok(profiles.into_iter().map(|(_, p)| p).collect())
    } else {
        Err(problems)
    }
}

/// What one file's schema cannot see: ids across files, drivers, addresses.
pub fn cross_check(
    profiles: &[(String, LaneProfile)],
    drivers: &dyn Fn(&str) -> Option<DriverFacts>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ids = BTreeMap::new();
    for (file, profile) in profiles {
        for (l, lane) in profile.lanes.iter().enumerate() {
            for (d, device) in lane.devices.iter().enumerate() {
                let at = format!("{file}: /lanes/{l}/devices/{d}");
                if let Some(first) = ids.insert(device.id.clone(), at.clone()) {
                    problems.push(format!(
                        "{at}/id: device {} is named in {first} too",
                        device.id
                    ));
                }
                let Some(facts) = drivers(&device.driver) else {
                    problems.push(format!(
                        "{at}/driver: no device driver {} is loaded",
                        device.driver
                    ));
                    continue;
                };
                let address = match facts.transport {
                    Transport::HttpPush => device.source_ip().map(|_| ()),
                    Transport::HttpRequest | Transport::TcpStream => device.socket().map(|_| ()),
                };
                if let Err(e) = address {
                    problems.push(format!("{at}/address: {e}"));
                }
                if device.credential.is_some() && facts.transport != Transport::HttpRequest {
                    problems.push(format!(
                        "{at}/credential: the {} driver sends no requests to add it to",
                        device.driver
                    ));
                }
                if device.confirm_ms.is_some() && facts.kind != DeviceKind::Barrier {
                    problems.push(format!(
                        "{at}/confirm-ms: only a barrier confirms a position"
                    ));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(id: &str) -> Option<DriverFacts> {
        let (kind, transport) = match id {
            "hikvision-anpr" => (DeviceKind::Camera, Transport::HttpPush),
            "hikvision-barrier" => (DeviceKind::Barrier, Transport::HttpRequest),
            "modbus-relay" => (DeviceKind::Barrier, Transport::TcpStream),
            _ => return None,
        };
        Some(DriverFacts { kind, transport })
    }

    fn profile() -> serde_json::Value {
        json!({
            "checkpoint": "CN-NUR-ZHOLY",
            "lanes": [{
                "id": "entry-1",
                "role": "checkpoint-entry",
                "devices": [
                    { "id": "cam-1", "driver": "hikvision-anpr", "address": "10.1.0.5", "heartbeat-ms": 30000 },
                    { "id": "gate-1", "driver": "hikvision-barrier", "address": "10.1.0.6:80",
                      "credential": { "username": "admin", "password-env": "GATE_1_PASSWORD" } }
                ]
            }]
        })
    }

    /// Issue 13 item 3: each broken profile is refused, naming where (table test).
    #[test]
    fn a_broken_profile_is_refused_naming_where() {
        type Edit = fn(&mut serde_json::Value);
        let check = |edit: Edit, expect: Option<&str>| {
            let mut value = profile();
            edit(&mut value);
            let text = value.to_string();
            let found = parse(&text).and_then(|p| {
                let problems = cross_check(&[("cn.json".into(), p.clone())], &facts);
                if problems.is_empty() {
                    Ok(p)
                } else {
                    Err(problems)
                }
            });
            match (expect, found) {
                (None, Ok(_)) => {}
                (Some(expect), Err(problems)) => assert!(
                    problems.iter().any(|p| p.contains(expect)),
                    "expected {expect:?} in {problems:?}"
                ),
                (expect, found) => panic!("expected {expect:?}, found {found:?}"),
            }
        };
        check(|_| {}, None);
        check(|v| v["checkpoint"] = json!("nowhere"), Some("/checkpoint"));
        check(|v| v["lanes"] = json!([]), Some("/lanes"));
        check(
            |v| v["lanes"][0]["role"] = json!("exit"),
            Some("/lanes/0/role"),
        );
        check(
            |v| v["lanes"][0]["devices"][0]["driver"] = json!("dahua-anpr"),
            Some("/lanes/0/devices/0/driver: no device driver dahua-anpr"),
        );
        check(
            |v| v["lanes"][0]["devices"][1]["address"] = json!("10.1.0.6"),
            Some("/lanes/0/devices/1/address"),
        );
        check(
            |v| v["lanes"][0]["devices"][0]["address"] = json!("10.1.0.5:8080"),
            None,
        );
        check(
            |v| v["lanes"][0]["devices"][1]["id"] = json!("cam-1"),
            Some("device cam-1 is named in"),
        );
        check(
            |v| {
                v["lanes"][0]["devices"][0]["credential"] =
                    json!({ "username": "a", "password-env": "P" })
            },
            Some("/lanes/0/devices/0/credential"),
        );
        check(
            |v| v["lanes"][0]["devices"][1]["credential"]["password"] = json!("secret"),
            Some("/lanes/0/devices/1/credential"),
        );
        check(
            |v| v["lanes"][0]["devices"][0]["confirm-ms"] = json!(1000),
            Some("/confirm-ms: only a barrier"),
        );
        check(
            |v| v["lanes"][0]["devices"][0]["heartbeat-ms"] = json!(5),
            Some("/lanes/0/devices/0/heartbeat-ms"),
        );
        check(
            |v| {
                let lane = v["lanes"][0].clone();
                v["lanes"].as_array_mut().unwrap().push(lane);
            },
            Some("lane entry-1 is named twice"),
        );
    }

    /// Issue 13 item 4: silent for twice the heartbeat interval, a device is down.
    #[test]
    fn silence_is_twice_the_heartbeat_or_the_drivers_own() {
        let p: LaneProfile = serde_json::from_value(profile()).unwrap();
        let [camera, gate] = [&p.lanes[0].devices[0], &p.lanes[0].devices[1]];
        assert_eq!(camera.silence_ms(90_000), 60_000);
        assert_eq!(gate.silence_ms(5_000), 5_000);
        assert_eq!(gate.confirm_ms(), u64::from(DEFAULT_CONFIRM_MS));
    }

    /// The shipped profiles are valid against the shipped drivers.
    #[test]
    fn the_shipped_profiles_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/lanes");
        let shipped = |id: &str| {
            facts(id).or(match id {
                "alpr-json" => Some(DriverFacts {
                    kind: DeviceKind::Camera,
                    transport: Transport::HttpPush,
                }),
                "text-board" => Some(DriverFacts {
                    kind: DeviceKind::Board,
                    transport: Transport::TcpStream,
                }),
                _ => None,
            })
        };
        let profiles = load_dir(&dir, &shipped).unwrap();
        assert!(!profiles.is_empty());
    }
}
