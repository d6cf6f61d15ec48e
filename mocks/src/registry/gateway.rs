//! The e-government gateway (ШЭП/SmartBridge) synchronous channel at `/bip-sync/`:
//! checks the sender, routes by `serviceId`, and wraps the registry's business answer.

use std::sync::Arc;

use hyper::StatusCode;

use super::{
    Answer, CredentialCheck, Family, RecordedRequest, RegistryId, RegistryName, Routed, Shared,
    client_fault, keys_of, now_iso, response,
};
use crate::declared::{ProtocolFamily, select_from_xml};
use crate::soap::{self, GatewayResponse, STATUS_OK};
use crate::xml::Node;

/// Gateway status when ГБД ФЛ refuses a request for lack of a valid kdpToken.
pub const STATUS_CONSENT_REQUIRED: &str = "CONSENT_REQUIRED";

/// One `serviceId` per registry service behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceId {
    GbdFlPerson,
    GbdUlCompany,
    AutoVehicle,
    AutoLicence,
    WantedVehicles,
    WantedPersons,
    AgriMachinery,
    IntlPermits,
    TaxDebt,
    UnpaidFines,
    DigitalDocuments,
    Biometrics,
    MobileCitizens,
    Inspections,
    Certificates,
    Declarations,
}

impl ServiceId {
    pub const ALL: [ServiceId; 16] = [
        Self::GbdFlPerson,
        Self::GbdUlCompany,
        Self::AutoVehicle,
        Self::AutoLicence,
        Self::WantedVehicles,
        Self::WantedPersons,
        Self::AgriMachinery,
        Self::IntlPermits,
        Self::TaxDebt,
        Self::UnpaidFines,
        Self::DigitalDocuments,
        Self::Biometrics,
        Self::MobileCitizens,
        Self::Inspections,
        Self::Certificates,
        Self::Declarations,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GbdFlPerson => "GBDFL_PERSON_BY_IIN",
            Self::GbdUlCompany => "GBDUL_COMPANY_BY_BIN",
            Self::AutoVehicle => "AUTO_VEHICLE_REGISTRATION",
            Self::AutoLicence => "AUTO_DRIVER_LICENCE",
            Self::WantedVehicles => "MVD_WANTED_VEHICLES",
            Self::WantedPersons => "KPSISU_WANTED_PERSONS",
            Self::AgriMachinery => "MSH_AGRI_MACHINERY",
            Self::IntlPermits => "ELICENSE_INTL_PERMITS",
            Self::TaxDebt => "KGD_TAX_DEBT",
            Self::UnpaidFines => "ERAP_UNPAID_FINES",
            Self::DigitalDocuments => "MGOV_DIGITAL_DOCUMENTS",
            Self::Biometrics => "BIO_IDENTIFICATION",
            Self::MobileCitizens => "MGOV_MOBILE_CITIZENS",
            Self::Inspections => "TO_INSPECTIONS",
            Self::Certificates => "EAGRI_CERTIFICATES",
            Self::Declarations => "ASTANA1_DECLARATIONS",
        }
    }

    pub fn registry(self) -> RegistryId {
        match self {
            Self::GbdFlPerson => RegistryId::GbdFl,
            Self::GbdUlCompany => RegistryId::GbdUl,
            Self::AutoVehicle | Self::AutoLicence => RegistryId::Automobile,
            Self::WantedVehicles => RegistryId::WantedVehicles,
            Self::WantedPersons => RegistryId::WantedPersons,
            Self::AgriMachinery => RegistryId::AgriMachinery,
            Self::IntlPermits => RegistryId::ELicensing,
            Self::TaxDebt => RegistryId::Tax,
            Self::UnpaidFines => RegistryId::Erap,
            Self::DigitalDocuments => RegistryId::DigitalDocuments,
            Self::Biometrics => RegistryId::Biometrics,
            Self::MobileCitizens => RegistryId::MobileCitizens,
            Self::Inspections => RegistryId::TechInspection,
            Self::Certificates => RegistryId::EAgriculture,
            Self::Declarations => RegistryId::Astana1,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A gateway answer that can be rendered, or re-rendered with a wrong correlation id.
#[derive(Debug, Clone)]
pub(crate) struct GatewayAnswer {
    pub correlation_id: String,
    pub session_id: Option<String>,
    pub code: String,
    pub message: String,
    pub data: Option<String>,
}

impl GatewayAnswer {
    /// The same answer turned into SCE004 "service unavailable".
    pub fn unavailable(self) -> Self {
        Self {
            code: "SCE004".into(),
            message: "Service unavailable".into(),
            data: None,
            ..self
        }
    }

    pub fn render(&self, wrong_correlation: bool) -> String {
        let message_id = uuid::Uuid::new_v4().to_string();
        let wrong = uuid::Uuid::new_v4().to_string();
        let date = now_iso();
        soap::write_gateway_response(&GatewayResponse {
            message_id: &message_id,
            correlation_id: if wrong_correlation {
                &wrong
            } else {
                &self.correlation_id
            },
            response_date: &date,
            status_code: &self.code,
            status_message: &self.message,
            session_id: self.session_id.as_deref(),
            data: self.data.as_deref(),
        })
    }
}

/// Who answers a `serviceId`: a built-in service, or a registry the scenario declares (by
/// its index in `Scenario::registries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    BuiltIn(ServiceId),
    Declared(usize),
}

pub(crate) fn handle(shared: &Arc<Shared>, path: &str, body: &str) -> Result<Routed, super::Early> {
    let req = soap::parse_gateway_request(body)
        .map_err(|e| client_fault(&format!("Invalid SendMessage envelope: {e}")))?;
    let scenario = shared.scenario();
    let target = match ServiceId::parse(&req.service_id) {
        Some(service) => Target::BuiltIn(service),
        None => scenario
            .registries
            .iter()
            .position(|r| r.family == ProtocolFamily::EgovSoap && r.service_id == req.service_id)
            .map(Target::Declared)
            .ok_or_else(|| client_fault("Unknown serviceId"))?,
    };
    let registry: RegistryName = match target {
        Target::BuiltIn(service) => service.registry().into(),
        Target::Declared(i) => scenario.registries[i].id.as_str().into(),
    };
    let cfg = &shared.config;
    let sender = match (&req.sender_id, &req.sender_password) {
        (None, _) | (_, None) => CredentialCheck::Absent,
        (Some(id), Some(pw)) if *id == cfg.sender_id && *pw == cfg.sender_password => {
            CredentialCheck::Valid
        }
        _ => CredentialCheck::Invalid,
    };
    let keys = req.data.as_ref().map(keys_of).unwrap_or_default();
    let consent_token = if target == Target::BuiltIn(ServiceId::GbdFlPerson) {
        consent_check(shared, ServiceId::GbdFlPerson, req.data.as_ref())
    } else {
        CredentialCheck::NotApplicable
    };
    let record = RecordedRequest {
        registry: registry.clone(),
        method: "POST".into(),
        path: path.into(),
        service_id: Some(req.service_id.clone()),
        message_id: Some(req.message_id.clone()),
        keys,
        consent_token,
        sender,
        raw_body: body.into(),
    };
    if sender != CredentialCheck::Valid {
        // Chosen behaviour (PROTOCOLS.md): bad or missing sender credentials are a SOAP
        // Fault, not a status, because the gateway rejects before any routing.
        let fault = response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/xml; charset=utf-8",
            soap::write_fault(
                "soap:Client",
                "Sender authentication failed",
                Some("SENDER_AUTH_FAILED"),
            ),
        );
        return Ok(Routed {
            registry,
            family: Family::Gateway,
            record,
            answer: Answer::Final(fault),
        });
    }
    let mut answer = GatewayAnswer {
        correlation_id: req.message_id.clone(),
        session_id: req.session_id.clone(),
        code: STATUS_OK.into(),
        message: "OK".into(),
        data: None,
    };
    match (&req.data, consent_token) {
        (None, _) => {
            answer.code = "SCE909".into();
            answer.message = "Processing error: requestData/data is empty".into();
        }
        (Some(_), CredentialCheck::Absent | CredentialCheck::Invalid) => {
            answer.code = STATUS_CONSENT_REQUIRED.into();
            answer.message =
                "kdpToken is missing, unknown, expired or bound to another service or IIN".into();
        }
        (Some(data), _) => {
            let business = match target {
                Target::BuiltIn(service) => business(service, &scenario, data),
                Target::Declared(i) => {
                    let declared = &scenario.registries[i];
                    select_from_xml(declared, data).map(|wanted| declared.answer_for(&wanted))
                }
            };
            match business {
                Ok(xml) => answer.data = Some(xml),
                Err(msg) => {
                    answer.code = "SCE909".into();
                    answer.message = format!("Processing error: {msg}");
                }
            }
        }
    }
    Ok(Routed {
        registry,
        family: Family::Gateway,
        record,
        answer: Answer::Gateway(answer),
    })
}

/// Validates `kdpToken` against the tokens the consent mock issued: bound to this serviceId
/// and this IIN, not expired (P16 consent).
fn consent_check(shared: &Shared, service: ServiceId, data: Option<&Node>) -> CredentialCheck {
    let Some(data) = data else {
        return CredentialCheck::Absent;
    };
    let Some(token) = data.text_of("kdpToken") else {
        return CredentialCheck::Absent;
    };
    let iin = data.text_of("iin").unwrap_or_default();
    let tokens = shared.tokens.lock().expect("token lock");
    match tokens.get(&token) {
        Some(t)
            if t.service_id == service.as_str()
                && t.iin == iin
                && t.expires > std::time::SystemTime::now() =>
        {
            CredentialCheck::Valid
        }
        _ => CredentialCheck::Invalid,
    }
}

/// Business answer of one service; `Err` is a processing error (SCE909).
fn business(
    service: ServiceId,
    s: &crate::scenario::Scenario,
    data: &Node,
) -> Result<String, String> {
    use super::{cargo, finance, people, vehicles};
    match service {
        ServiceId::GbdFlPerson => people::person(s, data),
        ServiceId::GbdUlCompany => people::company(s, data),
        ServiceId::AutoVehicle => vehicles::registration(s, data),
        ServiceId::AutoLicence => vehicles::licence(s, data),
        ServiceId::WantedVehicles => vehicles::wanted(s, data),
        ServiceId::WantedPersons => people::wanted(s, data),
        ServiceId::AgriMachinery => vehicles::agri(s, data),
        ServiceId::IntlPermits => vehicles::permits(s, data),
        ServiceId::TaxDebt => finance::tax(s, data),
        ServiceId::UnpaidFines => finance::fines(s, data),
        ServiceId::DigitalDocuments => people::documents(s, data),
        ServiceId::Biometrics => people::biometrics(s, data),
        ServiceId::MobileCitizens => people::phone(s, data),
        ServiceId::Inspections => vehicles::inspections(s, data),
        ServiceId::Certificates => cargo::certificates(s, data),
        ServiceId::Declarations => cargo::declarations(s, data),
    }
}
