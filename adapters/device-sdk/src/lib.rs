//! Guest SDK shared by every Kezek device driver (`wit/device@1.0.0`, ADR 0020).
//!
//! Every driver has the same anatomy (read `adapters/devices/hikvision-barrier` first, it
//! is the smallest):
//!
//! 1. a plain-Rust codec module — bytes in, typed values out, and back — with native table
//!    tests and no bindings;
//! 2. a state struct the driver writes to and reads from the host's state blob with
//!    [`state`] (the host gives every call a fresh instance);
//! 3. `lib.rs`, the thin export: `describe` from constants, `configure` with [`config`],
//!    and `decode` / `encode` / `poll` mapping the codec's values to [`Event`]s and
//!    [`Outbound`]s in a [`Step`].
//!
//! Shared codecs: [`multipart`] (camera pushes, split by Content-Length), [`modbus`] (Modbus
//! TCP frames), [`xml`] (elements by local name, whatever the namespace).

wit_bindgen::generate!({
    path: "../../wit/device@1.0.0",
    world: "device",
    pub_export_macro: true,
    export_macro_name: "export_driver",
    default_bindings_module: "kezek_device_sdk",
    additional_derives: [PartialEq],
});

pub mod config;
pub mod modbus;
pub mod multipart;
pub mod state;
/// The registry adapters' element tree, compiled here from the same source file: one
/// definition of local-name matching, without the registry bindings `kezek-adapter-sdk`
/// would link into a device component.
#[path = "../../sdk/src/xml.rs"]
pub mod xml;

pub use exports::kezek::device::driver::Guest as Driver;
pub use kezek::device::types::{
    BarrierPosition, BoardText, Capabilities, Command, ConfigField, ConfigType, Descriptor,
    DeviceError, DeviceKind, Direction, Event, Fault, HttpRequest, HttpResponse, Input,
    InputChange, InputRole, Outbound, Picture, PictureKind, PlateCandidate, PlateRead, Step,
    Timestamp, Transport,
};

impl Step {
    /// A step that only carries the state on.
    pub fn keep(state: Vec<u8>) -> Step {
        Step {
            events: Vec::new(),
            outbound: Vec::new(),
            state,
            wake_at: None,
        }
    }
}

/// A fault event with a stable code and an operator's sentence (never personal data).
pub fn fault(code: impl Into<String>, message: impl Into<String>) -> Event {
    Event::Fault(Fault {
        code: code.into(),
        message: message.into(),
    })
}

/// A configuration field with a default.
pub fn optional(
    name: &str,
    value_type: ConfigType,
    default: &str,
    description: &str,
) -> ConfigField {
    ConfigField {
        name: name.into(),
        description: description.into(),
        value_type,
        default: Some(default.into()),
    }
}

/// A configuration field the operator must give.
pub fn required(name: &str, value_type: ConfigType, description: &str) -> ConfigField {
    ConfigField {
        name: name.into(),
        description: description.into(),
        value_type,
        default: None,
    }
}

/// A header's value by case-insensitive name.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
