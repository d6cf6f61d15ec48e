//! The checkpoint catalogue: the 48 road checkpoints of the Order 707 appendix (P1, P5) with
//! their neighbouring country and region, plus category (Decree 977 D22), operating mode,
//! capacities and time zone. Data, validated by `schemas/checkpoints.schema.json`, editable
//! by ops (`deploy/checkpoints.json`, or the file named by `booking.checkpoints`).
//!
//! Verification and booking share one catalogue: both judge "today" on a checkpoint's local
//! calendar (its UTC offset), and an application names a checkpoint of this list (P5).

use kezek_schema::{self as schemas, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The catalogue compiled into the binary.
pub const EMBEDDED: &str = include_str!("../../../deploy/checkpoints.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    RoundTheClock,
    Daytime,
}

/// One checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Checkpoint {
    pub code: String,
    pub name_ru: String,
    pub name: String,
    /// Neighbouring country, ISO 3166 alpha-2 (P1).
    pub country: String,
    #[serde(default)]
    pub country_ru: String,
    pub region_ru: String,
    #[serde(default)]
    pub region: String,
    /// Decree 977 D22 category, 1–5.
    pub category: u8,
    pub mode: Mode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_hour: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_hour: Option<u8>,
    pub daily_capacity: i64,
    pub hourly_capacity: i64,
    pub time_zone: String,
    pub utc_offset_minutes: i32,
    #[serde(default)]
    pub suspended: bool,
}

impl Checkpoint {
    /// The hours open for booking, local time: `open..close`.
    pub fn hours(&self) -> std::ops::Range<u8> {
        match self.mode {
            Mode::RoundTheClock => 0..24,
            Mode::Daytime => self.open_hour.unwrap_or(9)..self.close_hour.unwrap_or(18),
        }
    }

    /// A day's default capacity: the daily figure, bounded by what the open hours carry.
    pub fn day_capacity(&self) -> i64 {
        let hours = self.hours().len() as i64;
        self.daily_capacity.min(self.hourly_capacity * hours)
    }

    pub fn offset(&self) -> time::UtcOffset {
        time::UtcOffset::from_whole_seconds(self.utc_offset_minutes * 60)
            .unwrap_or(time::UtcOffset::UTC)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Document {
    version: String,
    checkpoints: Vec<Checkpoint>,
}

/// The checkpoints by code.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub version: String,
    pub checkpoints: BTreeMap<String, Checkpoint>,
}

impl Catalogue {
    /// The catalogue at `path`, or the one compiled in.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        path.map_or_else(|| Ok(Self::embedded()), Self::from_file)
    }

    pub fn embedded() -> Self {
        Self::parse(EMBEDDED).expect("deploy/checkpoints.json is valid")
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Parses and validates a catalogue: the schema, unique codes, open hours, and each
    /// category's capacity band (Decree 977 D22).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        let violations = schemas::violations(Schema::Checkpoints, &value);
        if let Some(v) = violations.first() {
            anyhow::bail!("checkpoint catalogue: {v}");
        }
        let doc: Document = serde_json::from_value(value)?;
        let mut checkpoints = BTreeMap::new();
        for cp in doc.checkpoints {
            if let (Some(open), Some(close)) = (cp.open_hour, cp.close_hour) {
                anyhow::ensure!(
                    open < close,
                    "{}: open-hour must precede close-hour",
                    cp.code
                );
            }
            d22_band(&cp)?;
            let code = cp.code.clone();
            anyhow::ensure!(
                checkpoints.insert(code.clone(), cp).is_none(),
                "checkpoint {code} is listed twice"
            );
        }
        Ok(Self {
            version: doc.version,
            checkpoints,
        })
    }

    pub fn get(&self, code: &str) -> Option<&Checkpoint> {
        self.checkpoints.get(code)
    }
}

/// D22: 1st > 200 vehicles a day, round the clock; 2nd 180–200; 3rd 50–180; 4th up to
/// 150, daytime; 5th up to 100, daytime.
fn d22_band(cp: &Checkpoint) -> anyhow::Result<()> {
    let d = cp.daily_capacity;
    let ok = match cp.category {
        1 => d > 200 && cp.mode == Mode::RoundTheClock,
        2 => (180..=200).contains(&d),
        3 => (50..=180).contains(&d),
        4 => d <= 150 && cp.mode == Mode::Daytime,
        5 => d <= 100 && cp.mode == Mode::Daytime,
        _ => false,
    };
    anyhow::ensure!(
        ok,
        "{}: daily capacity {d} and mode {:?} do not fit Decree 977 D22 category {}",
        cp.code,
        cp.mode,
        cp.category
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p1_appendix_lists_48_checkpoints_by_neighbour() {
        let c = Catalogue::embedded();
        assert_eq!(c.checkpoints.len(), 48);
        let count = |cc: &str| c.checkpoints.values().filter(|p| p.country == cc).count();
        assert_eq!(
            [
                count("CN"),
                count("UZ"),
                count("TM"),
                count("RU"),
                count("KG")
            ],
            [5, 5, 1, 30, 7]
        );
        let dostyk = c.get("CN-DOSTYK").unwrap();
        assert_eq!(dostyk.name_ru, "Достык");
        assert_eq!(dostyk.region_ru, "область Жетісу");
        assert_eq!(
            c.get("UZ-TAZHEN").unwrap().region_ru,
            "Мангистауская область"
        );
        assert_eq!(c.get("KG-KEGEN").unwrap().region_ru, "Алматинская область");
    }

    #[test]
    fn d22_category_bands_are_checked() {
        let text = EMBEDDED.replacen("\"daily-capacity\": 480", "\"daily-capacity\": 150", 1);
        let err = Catalogue::parse(&text).unwrap_err().to_string();
        assert!(err.contains("D22"), "{err}");
    }

    #[test]
    fn the_schema_rejects_a_bad_catalogue_with_a_pointer() {
        let text = EMBEDDED.replacen("\"mode\": \"daytime\"", "\"mode\": \"sometimes\"", 1);
        let err = Catalogue::parse(&text).unwrap_err().to_string();
        assert!(err.contains("/checkpoints/0/mode"), "{err}");
    }

    #[test]
    fn daytime_capacity_is_bounded_by_open_hours() {
        let c = Catalogue::embedded();
        let bakhty = c.get("CN-BAKHTY").unwrap();
        assert_eq!(bakhty.hours(), 9..18);
        assert_eq!(bakhty.day_capacity(), 90);
    }
}
