//! `kezek:registry@1.1.0`: its bindings and what it changed from 1.0.0 (the rest is
//! `conversions.rs`; ADR 0019). Request parts the adapter did not declare are `none`;
//! checks are named as the rules cite them ("P18.13", through `CheckId`'s `Display` and
//! `FromStr`); credential failures are typed.

use super::{CallState, Descriptor};
use kezek_domain::{CheckError, CheckId, Projection};
use kezek_egress::{ConsentRefusal, EgressError};

wasmtime::component::bindgen!({
    path: "../../wit/registry@1.1.0",
    world: "adapter",
    imports: { default: async },
    exports: { default: async },
});

use kezek::registry::{outbound as wit_out, types as wit};

shared_conversions!();

/// The request of a 1.1.0 adapter: any check, by its id.
fn request(
    app: Projection<'_>,
    check: &CheckId,
    correlation_id: &str,
) -> Result<wit::CheckRequest, CheckError> {
    Ok(wit::CheckRequest {
        correlation_id: correlation_id.to_owned(),
        check: check.to_string(),
        owner: app.owner.map(owner),
        drivers: app.drivers.map(|d| d.iter().map(driver).collect()),
        vehicle: app.vehicle.map(vehicle),
        trailer: app.trailer.map(|t| t.map(trailer)),
        cargo: app.cargo.map(cargo),
        checkpoint: app.checkpoint.map(str::to_owned),
        travel_date: app.travel_date.map(str::to_owned),
    })
}

fn check_error(e: wit::CheckError) -> CheckError {
    use wit::CredentialError as C;
    match e {
        wit::CheckError::Unavailable(m) => CheckError::Unavailable(m),
        wit::CheckError::BadResponse(m) => CheckError::BadResponse(m),
        wit::CheckError::RejectedInput(m) => CheckError::RejectedInput(m),
        wit::CheckError::Timeout(m) => CheckError::Timeout(m),
        // A credential that could not be had leaves the registry unasked: the answer is
        // unknown, never a pass, and may come on another try. Worded as the egress layer
        // words it.
        wit::CheckError::Credential(c) => CheckError::Unavailable(
            match c {
                C::ConsentNotGiven(message) => EgressError::ConsentRefused {
                    refusal: ConsentRefusal::NotGiven,
                    message,
                },
                C::SubjectNotFound(message) => EgressError::ConsentRefused {
                    refusal: ConsentRefusal::SubjectNotFound,
                    message,
                },
                C::Unavailable(m) => EgressError::CredentialUnavailable(m),
            }
            .to_string(),
        ),
    }
}

fn check_id(c: String) -> Result<CheckId, String> {
    c.parse()
        .map_err(|e| format!("describe() names an unknown check: {e}"))
}

fn outbound_error(e: EgressError) -> wit_out::OutboundError {
    use wit::CredentialError as C;
    use wit_out::OutboundError as O;
    match e {
        EgressError::Denied(m) => O::Denied(m),
        EgressError::ConnectFailed(m) => O::ConnectFailed(m),
        EgressError::Transport(m) => O::ConnectionLost(m),
        EgressError::Timeout(m) => O::Timeout(m),
        EgressError::TooLarge(m) => O::TooLarge(m),
        EgressError::ConsentRefused { refusal, message } => {
            O::CredentialUnavailable(match refusal {
                ConsentRefusal::NotGiven => C::ConsentNotGiven(message),
                ConsentRefusal::SubjectNotFound => C::SubjectNotFound(message),
            })
        }
        EgressError::CredentialUnavailable(m) => O::CredentialUnavailable(C::Unavailable(m)),
        EgressError::Protocol(m) => O::Protocol(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ADR 0019: a refused consent reaches a 1.1.0 adapter as its own case, so no adapter
    /// reads a refusal out of a message; every other credential failure is an outage.
    #[test]
    fn credential_failures_are_typed() {
        let refused = |refusal| EgressError::ConsentRefused {
            refusal,
            message: "m".into(),
        };
        assert!(matches!(
            outbound_error(refused(ConsentRefusal::NotGiven)),
            wit_out::OutboundError::CredentialUnavailable(wit::CredentialError::ConsentNotGiven(m)) if m == "m"
        ));
        assert!(matches!(
            outbound_error(refused(ConsentRefusal::SubjectNotFound)),
            wit_out::OutboundError::CredentialUnavailable(wit::CredentialError::SubjectNotFound(_))
        ));
        assert!(matches!(
            outbound_error(EgressError::CredentialUnavailable("down".into())),
            wit_out::OutboundError::CredentialUnavailable(wit::CredentialError::Unavailable(_))
        ));
        assert!(matches!(
            outbound_error(EgressError::Transport("reset".into())),
            wit_out::OutboundError::ConnectionLost(_)
        ));
    }

    /// P18: a 1.1.0 adapter names its checks as the rules cite them; a name that is no P18
    /// check fails the self-test with the accepted form.
    #[test]
    fn described_checks_are_rule_ids() {
        let described = |checks: &[&str]| {
            descriptor(wit::Descriptor {
                id: "a".into(),
                version: "1.1.0".into(),
                registry: "r".into(),
                checks: checks.iter().map(|c| c.to_string()).collect(),
                reads: wit::RequestFields::DRIVERS,
            })
        };
        let ok = described(&["P18.13"]).unwrap();
        assert_eq!(ok.checks, vec![CheckId::p18(13).unwrap()]);
        assert!(ok.reads.drivers && !ok.reads.owner);
        let err = described(&["13"]).unwrap_err();
        assert!(err.contains("P18.3"), "{err}");
    }
}
