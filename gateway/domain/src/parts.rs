//! The parts of an application an adapter may read, and the one projection of an
//! application onto the parts an adapter declares (WIT `request-fields`, ADR 0019).
//!
//! The host hands an adapter [`Application::project`] and the finding cache keys the answer
//! on the same projection's [`Projection::present`] parts, so what an adapter sees and what
//! its cached answer is keyed on cannot drift apart.

use crate::{Application, Cargo, Driver, Owner, RequestFields, Trailer, Vehicle};

/// One part of an application, in the order of the WIT `request-fields` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Owner,
    Drivers,
    Vehicle,
    Trailer,
    Cargo,
    Checkpoint,
    TravelDate,
}

impl Part {
    pub const ALL: [Part; 7] = [
        Part::Owner,
        Part::Drivers,
        Part::Vehicle,
        Part::Trailer,
        Part::Cargo,
        Part::Checkpoint,
        Part::TravelDate,
    ];

    /// Position in [`Part::ALL`]: a stable tag for hashing.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl RequestFields {
    pub fn reads(self, part: Part) -> bool {
        match part {
            Part::Owner => self.owner,
            Part::Drivers => self.drivers,
            Part::Vehicle => self.vehicle,
            Part::Trailer => self.trailer,
            Part::Cargo => self.cargo,
            Part::Checkpoint => self.checkpoint,
            Part::TravelDate => self.travel_date,
        }
    }
}

/// An application as one adapter sees it: every part it did not declare is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projection<'a> {
    pub owner: Option<&'a Owner>,
    pub drivers: Option<&'a [Driver]>,
    pub vehicle: Option<&'a Vehicle>,
    /// `Some(None)`: declared, and the application has no trailer.
    pub trailer: Option<Option<&'a Trailer>>,
    pub cargo: Option<&'a Cargo>,
    pub checkpoint: Option<&'a str>,
    pub travel_date: Option<&'a str>,
}

impl Application {
    /// The application as an adapter that reads `reads` is handed it.
    pub fn project(&self, reads: RequestFields) -> Projection<'_> {
        fn keep<T>(read: bool, value: T) -> Option<T> {
            read.then_some(value)
        }
        Projection {
            owner: keep(reads.owner, &self.owner),
            drivers: keep(reads.drivers, self.drivers.as_slice()),
            vehicle: keep(reads.vehicle, &self.vehicle),
            trailer: keep(reads.trailer, self.trailer.as_ref()),
            cargo: keep(reads.cargo, &self.cargo),
            checkpoint: keep(reads.checkpoint, self.checkpoint.as_str()),
            travel_date: keep(reads.travel_date, self.travel_date.as_str()),
        }
    }
}

impl Projection<'_> {
    pub fn has(&self, part: Part) -> bool {
        match part {
            Part::Owner => self.owner.is_some(),
            Part::Drivers => self.drivers.is_some(),
            Part::Vehicle => self.vehicle.is_some(),
            Part::Trailer => self.trailer.is_some(),
            Part::Cargo => self.cargo.is_some(),
            Part::Checkpoint => self.checkpoint.is_some(),
            Part::TravelDate => self.travel_date.is_some(),
        }
    }

    /// The parts this projection hands over, in [`Part::ALL`] order.
    pub fn present(&self) -> impl Iterator<Item = Part> + '_ {
        Part::ALL.into_iter().filter(|&p| self.has(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CargoClass, IdentityDocument, PartyKind, Residency, VehicleKind};

    fn application() -> Application {
        Application {
            owner: Owner {
                residency: Residency::Resident,
                kind: PartyKind::NaturalPerson,
                name: "O".into(),
                iin_bin: Some("1".into()),
                country: "KZ".into(),
            },
            drivers: vec![Driver {
                residency: Residency::Resident,
                full_name: "D".into(),
                birth_date: "1980-01-01".into(),
                iin: Some("2".into()),
                phone: "3".into(),
                email: None,
                document: IdentityDocument {
                    kind: "id-card".into(),
                    issuing_country: "KZ".into(),
                    number: "4".into(),
                    expires: "E".into(),
                },
            }],
            vehicle: Vehicle {
                kind: VehicleKind::Truck,
                country: "KZ".into(),
                plate: "101KEB02".into(),
                vin: "V".into(),
            },
            trailer: None,
            cargo: Cargo {
                classes: vec![CargoClass::General],
                hs_codes: vec![],
                declaration_number: None,
                description: String::new(),
            },
            checkpoint: "CP".into(),
            travel_date: "T".into(),
        }
    }

    fn only(part: Part) -> RequestFields {
        let mut reads = RequestFields::default();
        match part {
            Part::Owner => reads.owner = true,
            Part::Drivers => reads.drivers = true,
            Part::Vehicle => reads.vehicle = true,
            Part::Trailer => reads.trailer = true,
            Part::Cargo => reads.cargo = true,
            Part::Checkpoint => reads.checkpoint = true,
            Part::TravelDate => reads.travel_date = true,
        }
        reads
    }

    /// ADR 0019: an adapter is handed exactly the parts it declares, one at a time and all
    /// at once; a declared trailer the application lacks is still "declared".
    #[test]
    fn a_projection_holds_exactly_the_declared_parts() {
        let app = application();
        for part in Part::ALL {
            let projection = app.project(only(part));
            assert_eq!(projection.present().collect::<Vec<_>>(), vec![part]);
            assert!(only(part).reads(part));
        }
        assert_eq!(app.project(RequestFields::default()).present().count(), 0);
        let all = RequestFields {
            owner: true,
            drivers: true,
            vehicle: true,
            trailer: true,
            cargo: true,
            checkpoint: true,
            travel_date: true,
        };
        let projection = app.project(all);
        assert_eq!(projection.present().collect::<Vec<_>>(), Part::ALL);
        assert_eq!(projection.trailer, Some(None));
        assert_eq!(
            projection.vehicle.map(|v| v.plate.as_str()),
            Some("101KEB02")
        );
    }
}
