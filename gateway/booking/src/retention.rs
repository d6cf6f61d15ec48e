//! Personal data at rest (issue 11 item 5, ADR 0015). A booking keeps its whole application
//! while it lives (P16 lists what a booking holds: owner, drivers, vehicle; a reschedule
//! (P28) or new drivers (P16.2) re-verify all of it). Once it has ended — cancelled,
//! annulled, completed, expired — and `personal_data_retention_days` have passed, the
//! sweeper erases what names or identifies a person or a vehicle and keeps the rest for
//! the record (checkpoint, day, residency, kinds, cargo classes, money, ticket).

use super::engine::BookingEngine;
use super::rules::BookingError;
use kezek_store::Val;
use serde_json::{Value, json};

/// Bookings erased per sweep (one transaction); the next sweep takes the rest.
const PER_SWEEP: i64 = 500;

/// What replaces the plate and VIN keys of an erased booking.
const ERASED: &str = "erased";

impl BookingEngine {
    /// Erases the personal fields of bookings that ended more than the retention period
    /// ago, on the engine's clock. Returns how many were erased.
    pub async fn erase_personal_data(&self) -> Result<usize, BookingError> {
        let now = self.clock.now().unix_timestamp();
        let cutoff = now - i64::from(self.config.personal_data_retention_days) * 86_400;
        self.store
            .transact(move |tx| {
                let ended = tx.query(
                    "SELECT id, application FROM bookings \
                     WHERE status IN ('cancelled', 'annulled', 'completed', 'expired') \
                     AND updated_at <= $1 AND erased_at IS NULL LIMIT $2",
                    &[cutoff.into(), PER_SWEEP.into()],
                )?;
                for row in &ended {
                    let (id, application) = (row[0].text()?, row[1].text()?);
                    tx.execute(
                        "UPDATE bookings SET application = $2, plate_key = $3, vin_key = $3, erased_at = $4 \
                         WHERE id = $1 AND erased_at IS NULL",
                        &[
                            id.into(),
                            erased(application).into(),
                            Val::from(ERASED),
                            now.into(),
                        ],
                    )?;
                }
                Ok(ended.len())
            })
            .await
    }
}

/// The application of an erased booking: only what identifies nobody. A stored text that
/// is not an application keeps nothing.
fn erased(application: &str) -> String {
    let app: Value = serde_json::from_str(application).unwrap_or(Value::Null);
    let pick = |pointer: &str| app.pointer(pointer).cloned().unwrap_or(Value::Null);
    json!({
        "erased": true,
        "checkpoint": pick("/checkpoint"),
        "travel-date": pick("/travel-date"),
        "owner": {
            "residency": pick("/owner/residency"),
            "kind": pick("/owner/kind"),
            "country": pick("/owner/country"),
        },
        "drivers": app.pointer("/drivers").and_then(Value::as_array).map_or(0, Vec::len),
        "vehicle": { "kind": pick("/vehicle/kind"), "country": pick("/vehicle/country") },
        "trailer": !app.pointer("/trailer").is_none_or(Value::is_null),
        "cargo": { "classes": pick("/cargo/classes"), "hs-codes": pick("/cargo/hs-codes") },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample_application;

    /// What an erased application keeps: never a name, IIN/BIN, phone, document, plate,
    /// VIN, declaration number or free text (issue 11 item 5).
    #[test]
    fn an_erased_application_names_nobody() {
        // The travel date is only copied: any text will do, no calendar is consulted.
        let mut app = sample_application("RU-AKSAI", "travel-day", "123ABC02", "XTA0000000001");
        app.cargo.declaration_number = Some("DECL-77".into());
        app.cargo.description = "for Иванов".into();
        let stored = serde_json::to_string(&app).unwrap();
        let check = |input: &str, expect: Value| {
            let out: Value = serde_json::from_str(&erased(input)).unwrap();
            assert_eq!(out, expect, "{input}");
        };
        let driver = &app.drivers[0];
        let secrets = [
            app.owner.name.as_str(),
            app.owner.iin_bin.as_deref().unwrap(),
            driver.full_name.as_str(),
            driver.phone.as_str(),
            driver.document.number.as_str(),
            app.vehicle.plate.as_str(),
            app.vehicle.vin.as_str(),
            "DECL-77",
            "Иванов",
        ];
        let out = erased(&stored);
        for secret in secrets {
            assert!(!out.contains(secret), "{secret} survived erasure: {out}");
        }
        check(
            &stored,
            json!({
                "erased": true, "checkpoint": "RU-AKSAI", "travel-date": "travel-day",
                "owner": { "residency": "resident", "kind": app.owner.kind, "country": app.owner.country },
                "drivers": 1,
                "vehicle": { "kind": app.vehicle.kind, "country": app.vehicle.country },
                "trailer": app.trailer.is_some(),
                "cargo": { "classes": app.cargo.classes, "hs-codes": app.cargo.hs_codes },
            }),
        );
        check(
            "not json",
            json!({
                "erased": true, "checkpoint": null, "travel-date": null,
                "owner": { "residency": null, "kind": null, "country": null },
                "drivers": 0, "vehicle": { "kind": null, "country": null }, "trailer": false,
                "cargo": { "classes": null, "hs-codes": null },
            }),
        );
    }
}
