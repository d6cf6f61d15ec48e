//! What the engine is asked and what it answers: the JSON shapes of the booking API,
//! re-exported by [`super::engine`].

use super::rules::PriorityCategory;
use kezek_domain::Application;
use serde::{Deserialize, Serialize};

/// The slot a user asks for (P16.1): a date and hour interval, or the first free one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SlotRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_free: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<String>,
}

/// A payment by bank transfer to the registrar (P23), in KZT (P26).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Payment {
    pub reference: String,
    pub amount_kzt: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CreateRequest {
    pub account: String,
    pub application: Application,
    pub slot: SlotRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<PriorityCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RescheduleRequest {
    pub account: String,
    pub slot: SlotRequest,
    #[serde(default)]
    pub payment: Option<Payment>,
}

/// A booking as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BookingView {
    pub id: String,
    pub status: String,
    pub account: String,
    pub checkpoint: String,
    /// Normalised `country:plate` (P21).
    pub vehicle: String,
    pub priority: Option<String>,
    pub trusted_drivers: i64,
    /// P20: issued when the booking is confirmed.
    pub ticket: Option<Ticket>,
    pub slot: Interval,
    pub fee_kzt: i64,
    pub paid_kzt: i64,
    pub reschedules_used: i64,
    pub free_reschedules_left: i64,
    /// Moves by ops after a capacity change (D13); not counted as reschedules.
    pub moves: i64,
    pub hold_expires_at: Option<String>,
    pub created_at: String,
    pub verification_id: String,
    pub notifications: Vec<Notification>,
}

/// P20: the sequential booking number with the date and approximate time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Ticket {
    pub number: String,
    pub sequence: i64,
    pub date: String,
    pub interval: Interval,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Interval {
    pub date: String,
    pub hour: i64,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Notification {
    pub kind: String,
    pub message: String,
    pub at: String,
}

/// The answer to a create: the booking, and whether it was an idempotent replay.
#[derive(Debug, Clone)]
pub struct Created {
    pub booking: BookingView,
    pub replayed: bool,
}

/// What a capacity change did (D13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CapacityReport {
    pub checkpoint: String,
    pub date: String,
    pub old_capacity: i64,
    pub new_capacity: i64,
    pub kept: i64,
    pub moved: Vec<Moved>,
    /// Bookings for which no slot was left within the horizon: cancelled, fee refund due.
    pub cancelled: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Moved {
    pub booking: String,
    pub priority: bool,
    pub from: String,
    pub to: String,
}

/// Availability of one checkpoint-day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DayAvailability {
    pub date: String,
    pub capacity: i64,
    pub booked: i64,
    pub free: i64,
    /// P6: the out-of-turn places of the day, all quotas of its edition together.
    pub priority_cap: i64,
    pub priority_free: i64,
    /// P6: the edition in force on the day (ADR 0013); none before the first.
    pub priority_edition: Option<String>,
    /// P6: each quota of that edition.
    pub priority_quotas: Vec<QuotaAvailability>,
    pub hours: Vec<HourAvailability>,
}

/// P6: one quota of a day's edition: the categories it covers, its cap (percent of the
/// day's actual capacity, rounded down) and what is left of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct QuotaAvailability {
    pub id: String,
    pub categories: Vec<String>,
    pub cap_percent: f64,
    pub cap: i64,
    pub free: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HourAvailability {
    pub hour: i64,
    pub from: String,
    pub to: String,
    pub capacity: i64,
    pub free: i64,
}
