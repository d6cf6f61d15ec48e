//! JSON REST registries reached directly: the consent service (P16), the toll-road
//! operator (P18.17) and the intelligent transport system's weigh stations (P18.18).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use hyper::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::{Answer, ConsentToken, Family, RecordedRequest, RegistryId, Routed, Shared, norm};

fn plain(status: StatusCode, value: serde_json::Value, correlation_id: Option<String>) -> Answer {
    Answer::Plain {
        status,
        content_type: "application/json",
        body: value.to_string(),
        correlation_id,
    }
}

fn not_found() -> super::Early {
    Box::new(super::response(
        StatusCode::NOT_FOUND,
        "application/json",
        json!({"error": "no-such-endpoint"}).to_string(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenRequest {
    service_id: String,
    iin: String,
}

/// `POST /consent/v1/tokens {serviceId, iin}` → a kdpToken bound to both (P16).
pub(crate) fn consent(
    shared: &Arc<Shared>,
    path: &str,
    body: &str,
    cid: Option<String>,
) -> Result<Routed, super::Early> {
    let req: TokenRequest = serde_json::from_str(body).map_err(|e| -> super::Early {
        Box::new(super::response(
            StatusCode::BAD_REQUEST,
            "application/json",
            json!({"error": "bad-request", "message": e.to_string()}).to_string(),
        ))
    })?;
    let keys = BTreeMap::from([
        ("serviceId".to_string(), req.service_id.clone()),
        ("iin".to_string(), req.iin.clone()),
    ]);
    let rec = RecordedRequest::direct(RegistryId::Consent, "POST", path, None, keys, body, &cid);
    let scenario = shared.scenario();
    let answer = match scenario.persons.iter().find(|p| p.iin == req.iin) {
        None => plain(
            StatusCode::NOT_FOUND,
            json!({"error": "subject-not-found", "message": "no person with this IIN"}),
            cid,
        ),
        Some(p) if !p.consent_given => plain(
            StatusCode::FORBIDDEN,
            json!({"error": "consent-not-given", "message": "the person has not consented to this service"}),
            cid,
        ),
        Some(_) => {
            let token = format!("kdp-{}", uuid::Uuid::new_v4());
            let ttl = shared.config.consent_token_ttl;
            let expires = SystemTime::now() + ttl;
            let expires_at = time::OffsetDateTime::now_utc() + ttl;
            shared.tokens.lock().expect("token lock").insert(
                token.clone(),
                ConsentToken {
                    service_id: req.service_id.clone(),
                    iin: req.iin.clone(),
                    expires,
                },
            );
            let expires_at = expires_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            plain(
                StatusCode::CREATED,
                json!({"token": token, "serviceId": req.service_id, "iin": req.iin, "expiresAt": expires_at}),
                cid,
            )
        }
    };
    Ok(Routed {
        registry: RegistryId::Consent.into(),
        family: Family::Json,
        record: rec,
        answer,
    })
}

/// `GET /toll/v1/accounts/{plate}`: balance and unpaid passages.
pub(crate) fn toll(
    shared: &Arc<Shared>,
    path: &str,
    cid: Option<String>,
) -> Result<Routed, super::Early> {
    let Some(plate) = path
        .strip_prefix("/toll/v1/accounts/")
        .filter(|p| !p.is_empty() && !p.contains('/'))
    else {
        return Err(not_found());
    };
    let keys = BTreeMap::from([("plate".to_string(), plate.to_string())]);
    let rec = RecordedRequest::direct(RegistryId::Toll, "GET", path, None, keys, "", &cid);
    let scenario = shared.scenario();
    let value = match scenario
        .toll_accounts
        .iter()
        .find(|a| norm(&a.plate) == norm(plate))
    {
        None => json!({"found": false, "plate": plate}),
        Some(a) => {
            let debts: Vec<_> = a
                .debts
                .iter()
                .map(|d| json!({"id": d.id, "roadSection": d.road_section, "passageDate": d.passage_date, "amount": d.amount}))
                .collect();
            let total: u64 = a.debts.iter().map(|d| d.amount).sum();
            json!({"found": true, "plate": a.plate, "balance": a.balance, "debts": debts, "totalDebt": total})
        }
    };
    Ok(Routed {
        registry: RegistryId::Toll.into(),
        family: Family::Json,
        record: rec,
        answer: plain(StatusCode::OK, value, cid),
    })
}

/// `GET /its/v1/vehicles/{plate}/weighings?from=YYYY-MM-DD&to=YYYY-MM-DD`.
pub(crate) fn its(
    shared: &Arc<Shared>,
    path: &str,
    query: &str,
    cid: Option<String>,
) -> Result<Routed, super::Early> {
    let Some(plate) = path
        .strip_prefix("/its/v1/vehicles/")
        .and_then(|r| r.strip_suffix("/weighings"))
        .filter(|p| !p.is_empty() && !p.contains('/'))
    else {
        return Err(not_found());
    };
    let params: BTreeMap<&str, &str> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let from = params.get("from").copied();
    let to = params.get("to").copied();
    let mut keys = BTreeMap::from([("plate".to_string(), plate.to_string())]);
    for (k, v) in &params {
        keys.insert((*k).to_string(), (*v).to_string());
    }
    let rec = RecordedRequest::direct(RegistryId::Its, "GET", path, None, keys, "", &cid);
    let scenario = shared.scenario();
    let all: Vec<_> = scenario
        .weighings
        .iter()
        .filter(|w| norm(&w.plate) == norm(plate))
        .collect();
    let records: Vec<_> = all
        .iter()
        .filter(|w| {
            let day = w.measured_at.get(..10).unwrap_or(&w.measured_at);
            from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t)
        })
        .map(|w| {
            let overweight = w.gross_mass_kg > w.gross_limit_kg
                || w.axles.iter().any(|a| a.load_kg > a.limit_kg);
            let axles: Vec<_> = w
                .axles
                .iter()
                .map(|a| json!({"index": a.index, "loadKg": a.load_kg, "limitKg": a.limit_kg}))
                .collect();
            json!({
                "id": w.id, "station": w.station, "measuredAt": w.measured_at,
                "grossMassKg": w.gross_mass_kg, "grossLimitKg": w.gross_limit_kg,
                "axles": axles, "overweight": overweight, "violationStatus": w.violation_status,
            })
        })
        .collect();
    let value = json!({"found": !all.is_empty(), "plate": plate, "records": records});
    Ok(Routed {
        registry: RegistryId::Its.into(),
        family: Family::Json,
        record: rec,
        answer: plain(StatusCode::OK, value, cid),
    })
}
