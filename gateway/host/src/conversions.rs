//! What every contract version's module shares, written once (ADR 0019).
//!
//! The released WIT versions name their records alike, so the conversions between the
//! host's types and a version's bindings read the same in each; only the types differ. A
//! version module brings its bindings' `types` into scope as `wit` and `outbound` as
//! `wit_out`, writes what its version changed (`request`, `check_error`, `check_id`,
//! `outbound_error`) and expands `shared_conversions!` for the rest: calling `describe()`
//! and `check()` in a fresh instance, the application's records, findings, the declared
//! parts, and the `outbound` import.

macro_rules! shared_conversions {
    () => {
        /// The component's `describe()`, in a fresh instance.
        pub(super) async fn describe(
            pre: &AdapterPre<CallState>,
            store: &mut wasmtime::Store<CallState>,
        ) -> wasmtime::Result<Result<Descriptor, String>> {
            let instance = pre.instantiate_async(&mut *store).await?;
            let described = instance
                .kezek_registry_checker()
                .call_describe(&mut *store)
                .await?;
            Ok(descriptor(described))
        }

        /// The component's `check()` on `projection` (what the adapter declared, no more),
        /// in a fresh instance.
        pub(super) async fn check(
            pre: &AdapterPre<CallState>,
            store: &mut wasmtime::Store<CallState>,
            projection: kezek_domain::Projection<'_>,
            check: &kezek_domain::CheckId,
            correlation_id: &str,
        ) -> wasmtime::Result<Result<kezek_domain::Finding, kezek_domain::CheckError>> {
            let request = match request(projection, check, correlation_id) {
                Ok(request) => request,
                Err(cannot) => return Ok(Err(cannot)),
            };
            let instance = pre.instantiate_async(&mut *store).await?;
            let answer = instance
                .kezek_registry_checker()
                .call_check(&mut *store, &request)
                .await?;
            Ok(answer.map(finding).map_err(check_error))
        }

        fn residency(r: kezek_domain::Residency) -> wit::Residency {
            match r {
                kezek_domain::Residency::Resident => wit::Residency::Resident,
                kezek_domain::Residency::NonResident => wit::Residency::NonResident,
            }
        }

        fn owner(o: &kezek_domain::Owner) -> wit::Owner {
            wit::Owner {
                residency: residency(o.residency),
                kind: match o.kind {
                    kezek_domain::PartyKind::NaturalPerson => wit::PartyKind::NaturalPerson,
                    kezek_domain::PartyKind::LegalEntity => wit::PartyKind::LegalEntity,
                },
                name: o.name.clone(),
                iin_bin: o.iin_bin.clone(),
                country: o.country.clone(),
            }
        }

        fn driver(d: &kezek_domain::Driver) -> wit::Driver {
            wit::Driver {
                residency: residency(d.residency),
                full_name: d.full_name.clone(),
                birth_date: d.birth_date.clone(),
                iin: d.iin.clone(),
                phone: d.phone.clone(),
                email: d.email.clone(),
                document: wit::IdentityDocument {
                    kind: d.document.kind.clone(),
                    issuing_country: d.document.issuing_country.clone(),
                    number: d.document.number.clone(),
                    expires: d.document.expires.clone(),
                },
            }
        }

        fn vehicle(v: &kezek_domain::Vehicle) -> wit::Vehicle {
            wit::Vehicle {
                kind: match v.kind {
                    kezek_domain::VehicleKind::Truck => wit::VehicleKind::Truck,
                    kezek_domain::VehicleKind::TractorUnit => wit::VehicleKind::TractorUnit,
                    kezek_domain::VehicleKind::AgriculturalMachine => {
                        wit::VehicleKind::AgriculturalMachine
                    }
                },
                country: v.country.clone(),
                plate: v.plate.clone(),
                vin: v.vin.clone(),
            }
        }

        fn trailer(t: &kezek_domain::Trailer) -> wit::Trailer {
            wit::Trailer {
                country: t.country.clone(),
                plate: t.plate.clone(),
                vin: t.vin.clone(),
            }
        }

        fn cargo(c: &kezek_domain::Cargo) -> wit::Cargo {
            use kezek_domain::CargoClass as C;
            wit::Cargo {
                classes: c
                    .classes
                    .iter()
                    .map(|c| match c {
                        C::General => wit::CargoClass::General,
                        C::Animal => wit::CargoClass::Animal,
                        C::Plant => wit::CargoClass::Plant,
                        C::Perishable => wit::CargoClass::Perishable,
                        C::Dangerous => wit::CargoClass::Dangerous,
                        C::Empty => wit::CargoClass::Empty,
                    })
                    .collect(),
                hs_codes: c.hs_codes.clone(),
                declaration_number: c.declaration_number.clone(),
                description: c.description.clone(),
            }
        }

        fn finding(f: wit::Finding) -> kezek_domain::Finding {
            kezek_domain::Finding {
                verdict: match f.verdict {
                    wit::Verdict::Pass => kezek_domain::Verdict::Pass,
                    wit::Verdict::Fail => kezek_domain::Verdict::Fail,
                    wit::Verdict::Notice => kezek_domain::Verdict::Notice,
                },
                reason_code: f.reason_code,
                message: f.message,
                registry_reference: f.registry_reference,
                valid_until: f.valid_until,
            }
        }

        /// What `describe()` says, or why the self-test cannot accept it.
        fn descriptor(d: wit::Descriptor) -> Result<Descriptor, String> {
            Ok(Descriptor {
                checks: d
                    .checks
                    .into_iter()
                    .map(check_id)
                    .collect::<Result<_, _>>()?,
                reads: reads(d.reads),
                id: d.id,
                version: d.version,
                registry: d.registry,
            })
        }

        fn reads(r: wit::RequestFields) -> kezek_domain::RequestFields {
            kezek_domain::RequestFields {
                owner: r.contains(wit::RequestFields::OWNER),
                drivers: r.contains(wit::RequestFields::DRIVERS),
                vehicle: r.contains(wit::RequestFields::VEHICLE),
                trailer: r.contains(wit::RequestFields::TRAILER),
                cargo: r.contains(wit::RequestFields::CARGO),
                checkpoint: r.contains(wit::RequestFields::CHECKPOINT),
                travel_date: r.contains(wit::RequestFields::TRAVEL_DATE),
            }
        }

        impl wit::Host for CallState {}

        impl wit_out::Host for CallState {
            async fn send(
                &mut self,
                r: wit_out::Request,
            ) -> Result<wit_out::Response, wit_out::OutboundError> {
                let request = kezek_egress::OutboundRequest {
                    endpoint: r.endpoint,
                    method: r.method,
                    path: r.path,
                    headers: r.headers,
                    body: r.body,
                    credentials: r
                        .credentials
                        .into_iter()
                        .map(|c| match c {
                            wit_out::Credential::GatewaySender => {
                                kezek_egress::CredentialRequest::GatewaySender
                            }
                            wit_out::Credential::ConsentToken(s) => {
                                kezek_egress::CredentialRequest::ConsentToken {
                                    service_id: s.service_id,
                                    iin: s.iin,
                                }
                            }
                        })
                        .collect(),
                };
                self.send_out(request)
                    .await
                    .map(|r| wit_out::Response {
                        status: r.status,
                        headers: r.headers,
                        body: r.body,
                    })
                    .map_err(outbound_error)
            }
        }
    };
}
