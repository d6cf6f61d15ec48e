//! The operator's configuration of one device, checked against the fields the driver
//! describes: an unknown name (a typo), a missing required value or a value of the wrong
//! type is a `bad-config` error naming the field.

use crate::{ConfigField, ConfigType, DeviceError};

/// The configuration with defaults filled in.
#[derive(Debug)]
pub struct Config {
    values: Vec<(String, String)>,
}

impl Config {
    pub fn parse(
        fields: &[ConfigField],
        given: Vec<(String, String)>,
    ) -> Result<Config, DeviceError> {
        for (i, (name, _)) in given.iter().enumerate() {
            if !fields.iter().any(|f| &f.name == name) {
                let known: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
                return Err(DeviceError::BadConfig(format!(
                    "unknown field \"{name}\"; this driver takes {known:?}"
                )));
            }
            if given[..i].iter().any(|(n, _)| n == name) {
                return Err(DeviceError::BadConfig(format!(
                    "field \"{name}\" given twice"
                )));
            }
        }
        let mut values = Vec::with_capacity(fields.len());
        for field in fields {
            let value = match given.iter().find(|(n, _)| n == &field.name) {
                Some((_, v)) => v.trim().to_string(),
                None => field.default.clone().ok_or_else(|| {
                    DeviceError::BadConfig(format!("field \"{}\" is required", field.name))
                })?,
            };
            let ok = match field.value_type {
                ConfigType::Text => !value.is_empty(),
                ConfigType::Integer => value.parse::<u64>().is_ok(),
                ConfigType::Boolean => value == "true" || value == "false",
            };
            if !ok {
                return Err(DeviceError::BadConfig(format!(
                    "field \"{}\" is {value:?}, expected {}",
                    field.name,
                    match field.value_type {
                        ConfigType::Text => "a non-empty text",
                        ConfigType::Integer => "a whole number",
                        ConfigType::Boolean => "true or false",
                    }
                )));
            }
            values.push((field.name.clone(), value));
        }
        Ok(Config { values })
    }

    /// A described field's value. Panics on a name the driver did not describe: that is
    /// the driver's bug, caught by its own tests.
    pub fn text(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("config field {name} is not described"))
    }

    /// An integer field within `min..=max`.
    pub fn integer<T>(&self, name: &str, min: T, max: T) -> Result<T, DeviceError>
    where
        T: TryFrom<u64> + PartialOrd + std::fmt::Display + Copy,
    {
        let raw: u64 = self.text(name).parse().expect("checked by parse");
        T::try_from(raw)
            .ok()
            .filter(|v| *v >= min && *v <= max)
            .ok_or_else(|| {
                DeviceError::BadConfig(format!("field \"{name}\" is {raw}, expected {min}..={max}"))
            })
    }

    pub fn boolean(&self, name: &str) -> bool {
        self.text(name) == "true"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{optional, required};

    fn fields() -> Vec<ConfigField> {
        vec![
            required("unit-id", ConfigType::Integer, "Modbus unit"),
            optional("pulse-ms", ConfigType::Integer, "500", "pulse length"),
            optional(
                "inverted",
                ConfigType::Boolean,
                "false",
                "inputs active low",
            ),
            optional("name", ConfigType::Text, "gate", "label"),
        ]
    }

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_fill_in_and_values_are_typed() {
        let c = Config::parse(&fields(), given(&[("unit-id", " 17 ")])).unwrap();
        assert_eq!(c.integer::<u8>("unit-id", 0, 247).unwrap(), 17);
        assert_eq!(c.integer::<u32>("pulse-ms", 1, 10_000).unwrap(), 500);
        assert!(!c.boolean("inverted"));
        assert_eq!(c.text("name"), "gate");
    }

    #[test]
    fn every_mistake_names_its_field() {
        fn check(pairs: &[(&str, &str)], expect: &str) {
            match Config::parse(&fields(), given(pairs))
                .and_then(|c| c.integer::<u8>("unit-id", 1, 247).map(drop))
            {
                Err(DeviceError::BadConfig(m)) => assert!(m.contains(expect), "{pairs:?}: {m}"),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
        check(&[], "\"unit-id\" is required");
        check(&[("unit-id", "x")], "expected a whole number");
        check(&[("unit-id", "-1")], "expected a whole number");
        check(&[("unit-id", "300")], "expected 1..=247");
        check(&[("unit-id", "0")], "expected 1..=247");
        check(
            &[("unit-id", "1"), ("inverted", "yes")],
            "expected true or false",
        );
        check(&[("unit-id", "1"), ("name", " ")], "non-empty");
        check(
            &[("unit-id", "1"), ("pulse_ms", "5")],
            "unknown field \"pulse_ms\"",
        );
        check(&[("unit-id", "1"), ("unit-id", "2")], "given twice");
    }
}
