//! Registries a scenario declares (issue 12, item 6): QA adds a registry and its subjects in
//! JSON, without Rust. A declaration names its protocol family, its service id, the request
//! fields that select a subject, and answer templates filled from the subject's data; the
//! server (`registry::declared`) serves it through the same envelope handling and faults as
//! the built-in registries. The JSON shape is documented in `mocks/SCENARIOS.md`.
//!
//! Declarations are parsed by hand from JSON (not derived) so that every refusal names the
//! JSON path of the mistake (`registries[1].family: …`), which serde's line/column cannot.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::xml::{self, Node, XmlOut};

/// How a declared registry is reached (PROTOCOLS.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProtocolFamily {
    /// Behind the e-government gateway: `POST /bip-sync/`, routed by `serviceId` (§2).
    EgovSoap,
    /// A direct SOAP 1.1 API like ЕСБД: `POST /{id}/soap`, operation = service id.
    Soap,
    /// JSON REST like the toll operator: `POST /{id}/v1/{service-id}` with a JSON body.
    Rest,
}

impl ProtocolFamily {
    const NAMES: &'static str = "egov-soap, soap or rest";

    fn parse(s: &str) -> Option<Self> {
        match s {
            "egov-soap" => Some(Self::EgovSoap),
            "soap" => Some(Self::Soap),
            "rest" => Some(Self::Rest),
            _ => None,
        }
    }

    /// XML families answer with XML templates, REST with JSON templates.
    pub fn is_xml(self) -> bool {
        !matches!(self, Self::Rest)
    }
}

/// One registry a scenario declares. Serialises back to the JSON it was read from, so
/// [`crate::Scenario::on`] moves the dates in its subjects like any other data.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeclaredRegistry {
    /// Name in admin URLs, fault settings and recorded requests (kebab-case).
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub family: ProtocolFamily,
    /// The gateway `serviceId`, the SOAP operation, or the REST resource.
    pub service_id: String,
    /// Request fields (XML local names or top-level JSON keys) that select a subject; a
    /// subject matches when its fields of the same names equal all of them.
    pub select: Vec<String>,
    /// Answer for a known subject: an XML string (XML families) or a JSON value (REST) with
    /// `{{field}}` placeholders filled from the subject's data.
    pub answer: Value,
    /// Answer for an unknown subject, as the registry gives it (a business answer, not a
    /// fault); placeholders see the request's selecting fields.
    pub not_found: Value,
    /// The registry's records: JSON objects holding at least the selecting fields.
    pub subjects: Vec<Map<String, Value>>,
}

const FIELDS: &[&str] = &[
    "id",
    "description",
    "family",
    "service-id",
    "select",
    "answer",
    "not-found",
    "subjects",
];

/// `scenario.registries`, each declaration parsed with its JSON path in errors.
pub(crate) fn deserialize_registries<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<DeclaredRegistry>, D::Error> {
    let raw = Vec::<Value>::deserialize(d)?;
    raw.iter()
        .enumerate()
        .map(|(i, v)| DeclaredRegistry::from_json(v, &format!("registries[{i}]")))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

impl DeclaredRegistry {
    /// Parses one declaration; `at` is its JSON path, which every error starts with.
    pub fn from_json(value: &Value, at: &str) -> Result<Self, String> {
        let Value::Object(obj) = value else {
            return Err(format!("{at}: a registry declaration is a JSON object"));
        };
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(format!(
                "{at}.{k}: unknown field; expected one of {}",
                FIELDS.join(", ")
            ));
        }
        let string = |key: &str| -> Result<String, String> {
            match obj.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(Value::String(_)) => Err(format!("{at}.{key}: must not be empty")),
                Some(_) => Err(format!("{at}.{key}: must be a string")),
                None => Err(format!("{at}.{key}: is required")),
            }
        };
        let id = string("id")?;
        if !is_kebab(&id) {
            return Err(format!(
                "{at}.id: {id:?} is not a kebab-case name (lower-case letters, digits, single dashes)"
            ));
        }
        let description = match obj.get("description") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("{at}.description: must be a string")),
        };
        let family_name = string("family")?;
        let family = ProtocolFamily::parse(&family_name).ok_or_else(|| {
            format!(
                "{at}.family: unknown protocol family {family_name:?}; expected {}",
                ProtocolFamily::NAMES
            )
        })?;
        let service_id = string("service-id")?;
        let service_ok = match family {
            ProtocolFamily::EgovSoap => !service_id.chars().any(char::is_whitespace),
            ProtocolFamily::Soap => is_xml_name(&service_id),
            ProtocolFamily::Rest => service_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
        };
        if !service_ok {
            let what = match family {
                ProtocolFamily::EgovSoap => "a serviceId without spaces",
                ProtocolFamily::Soap => "an XML element name (the SOAP operation)",
                ProtocolFamily::Rest => "one URL path segment (letters, digits, - _ .)",
            };
            return Err(format!("{at}.service-id: {service_id:?} is not {what}"));
        }
        let select = parse_select(obj.get("select"), at, family)?;
        let answer = parse_template(obj.get("answer"), &format!("{at}.answer"), family)?;
        let not_found = parse_template(obj.get("not-found"), &format!("{at}.not-found"), family)?;
        let subjects = parse_subjects(obj.get("subjects"), at, &select)?;
        Ok(Self {
            id,
            description,
            family,
            service_id,
            select,
            answer,
            not_found,
            subjects,
        })
    }

    /// The answer to a request whose selecting fields hold `wanted` (in `select` order):
    /// the subject's answer, or the not-found answer. XML families give business XML, REST
    /// gives JSON text.
    pub fn answer_for(&self, wanted: &[String]) -> String {
        let subject = self.subjects.iter().find(|s| {
            self.select.iter().zip(wanted).all(|(field, want)| {
                s.get(field).and_then(scalar).as_deref() == Some(want.as_str())
            })
        });
        // The request's selecting fields first, so a not-found answer can echo them; a
        // subject's own data wins over them.
        let mut context: Map<String, Value> = self
            .select
            .iter()
            .cloned()
            .zip(wanted.iter().cloned().map(Value::String))
            .collect();
        let template = match subject {
            Some(s) => {
                context.extend(s.clone());
                &self.answer
            }
            None => &self.not_found,
        };
        match template {
            Value::String(x) if self.family.is_xml() => {
                let node = xml::parse(x).expect("XML templates are checked when loaded");
                let mut out = XmlOut::new();
                write_node(&mut out, &node, &context);
                out.finish()
            }
            json => fill_json(json, &context).to_string(),
        }
    }
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Element names the mocks write: a letter or `_`, then letters, digits, `_ - .`.
fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn parse_select(
    value: Option<&Value>,
    at: &str,
    family: ProtocolFamily,
) -> Result<Vec<String>, String> {
    let Some(Value::Array(items)) = value else {
        return Err(match value {
            None => format!("{at}.select: is required (the request fields that select a subject)"),
            Some(_) => format!("{at}.select: must be a list of field names, e.g. [\"iin\"]"),
        });
    };
    if items.is_empty() {
        return Err(format!(
            "{at}.select: names no field; a subject must be selected by at least one"
        ));
    }
    let mut seen = BTreeSet::new();
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let name = v
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("{at}.select[{i}]: must be a non-empty field name"))?;
            if family.is_xml() && !is_xml_name(name) {
                return Err(format!(
                    "{at}.select[{i}]: {name:?} is not an XML local name"
                ));
            }
            if !seen.insert(name) {
                return Err(format!("{at}.select[{i}]: {name:?} is named twice"));
            }
            Ok(name.to_string())
        })
        .collect()
}

fn parse_template(
    value: Option<&Value>,
    at: &str,
    family: ProtocolFamily,
) -> Result<Value, String> {
    let value = value.ok_or_else(|| format!("{at}: is required"))?;
    if family.is_xml() {
        let Value::String(text) = value else {
            return Err(format!(
                "{at}: must be an XML string for this protocol family, e.g. \"<Response><found>true</found></Response>\""
            ));
        };
        xml::parse(text).map_err(|e| format!("{at}: {e}"))?;
        check_placeholders(text, at)?;
    } else {
        if !value.is_object() {
            return Err(format!("{at}: must be a JSON object for the rest family"));
        }
        check_json_placeholders(value, at)?;
    }
    Ok(value.clone())
}

fn check_json_placeholders(value: &Value, at: &str) -> Result<(), String> {
    match value {
        Value::String(s) => check_placeholders(s, at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_json_placeholders(v, &format!("{at}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| check_json_placeholders(v, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

/// Every `{{` closes with `}}` around a field name.
fn check_placeholders(text: &str, at: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(format!(
                "{at}: a placeholder opened with {{{{ is not closed with }}}}"
            ));
        };
        let name = after[..end].trim();
        if name.is_empty() || name.contains(['{', '}']) {
            return Err(format!(
                "{at}: {{{{{}}}}} is not a placeholder for a field",
                &after[..end]
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

fn parse_subjects(
    value: Option<&Value>,
    at: &str,
    select: &[String],
) -> Result<Vec<Map<String, Value>>, String> {
    let items = match value {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(format!("{at}.subjects: must be a list of JSON objects")),
    };
    let mut keys: Vec<Vec<String>> = Vec::with_capacity(items.len());
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let Value::Object(subject) = v else {
                return Err(format!("{at}.subjects[{i}]: must be a JSON object"));
            };
            let key = select
                .iter()
                .map(|field| {
                    subject.get(field).and_then(scalar).filter(|s| !s.is_empty()).ok_or_else(|| {
                        format!(
                            "{at}.subjects[{i}].{field}: is required (a selecting field), as a string or number"
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            // The selecting values are personal data (IINs, plates): name positions only.
            if let Some(first) = keys.iter().position(|k| *k == key) {
                return Err(format!(
                    "{at}.subjects[{i}]: has the same selecting fields as subjects[{first}]"
                ));
            }
            keys.push(key);
            Ok(subject.clone())
        })
        .collect()
}

/// A selecting value as text: strings as written, numbers in JSON form.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The field a string is exactly a placeholder for (`"{{number}}"` → `number`).
fn whole_placeholder(s: &str) -> Option<&str> {
    let name = s.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!name.contains(['{', '}'])).then_some(name)
}

/// `text` with every `{{field}}` replaced by the field's value as text (missing → empty).
fn fill_text(text: &str, context: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .expect("placeholders are checked when loaded");
        out.push_str(&as_text(context.get(after[..end].trim())));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn as_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A JSON template filled in: a string that is one placeholder takes the field's value with
/// its JSON type; fields left `null` are omitted, like optional XML elements.
fn fill_json(template: &Value, context: &Map<String, Value>) -> Value {
    match template {
        Value::String(s) => match whole_placeholder(s) {
            Some(name) => context.get(name).cloned().unwrap_or(Value::Null),
            None => Value::String(fill_text(s, context)),
        },
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, context)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_json(v, context)))
                .filter(|(_, v)| !v.is_null())
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Writes a template element. A leaf that is exactly one placeholder is omitted when the
/// field is missing or `null`, repeated once per item when it is a list, and gets child
/// elements when it is an object; any other text has its placeholders filled in.
fn write_node(out: &mut XmlOut, node: &Node, context: &Map<String, Value>) {
    if !node.children.is_empty() {
        out.open(&node.name);
        for child in &node.children {
            write_node(out, child, context);
        }
        out.close(&node.name);
        return;
    }
    match whole_placeholder(&node.text) {
        Some(field) => write_value(out, &node.name, context.get(field)),
        None => {
            out.leaf(&node.name, fill_text(&node.text, context));
        }
    }
}

fn write_value(out: &mut XmlOut, name: &str, value: Option<&Value>) {
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => items.iter().for_each(|v| write_value(out, name, Some(v))),
        Some(Value::Object(map)) => {
            out.open(name);
            for (k, v) in map {
                write_value(out, k, Some(v));
            }
            out.close(name);
        }
        Some(v) => {
            out.leaf(name, as_text(Some(v)));
        }
    }
}

/// The selecting fields of an XML request, by local name anywhere below `root`.
pub fn select_from_xml(d: &DeclaredRegistry, root: &Node) -> Result<Vec<String>, String> {
    d.select
        .iter()
        .map(|field| {
            root.children
                .iter()
                .find_map(|c| c.find(field))
                .map(|n| n.text.trim().to_string())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| format!("{}/{field} is required", root.name))
        })
        .collect()
}

/// The selecting fields of a JSON request, as top-level keys holding a string or number.
pub fn select_from_json(d: &DeclaredRegistry, body: &Value) -> Result<Vec<String>, String> {
    let Value::Object(obj) = body else {
        return Err("the request body must be a JSON object".into());
    };
    d.select
        .iter()
        .map(|field| {
            obj.get(field)
                .and_then(scalar)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("{field} is required (a string or number)"))
        })
        .collect()
}
