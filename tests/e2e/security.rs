//! The attacker's view (issue 11, items 1, 2, 5 and 6; ADR 0014). Each test is an attack that
//! worked against the gateway before it verified its callers: no token, a forged, expired or
//! misdirected one, someone else's booking or verification, an account named in a body,
//! `/metrics` without the admin token, an empty admin token, capacity the admin route let
//! overflow, and a development certificate that changed at every start.

use kezek::server::Gateway;
use kezek_api::Listeners;
use kezek_api::auth::dev::DevIssuer;
use kezek_tests::auth::{self, AUDIENCE, ISSUER};
use kezek_tests::days;
use kezek_tests::http::{Identity, Reply, Tls, request, request_over};
use kezek_tests::registries::World;
use serde_json::{Value, json};
use std::net::SocketAddr;
use tokio::net::TcpListener;

struct Served {
    world: World,
    api: SocketAddr,
    admin: SocketAddr,
}

async fn serve() -> Served {
    serve_with(World::start().await, |_| {}).await
}

/// The world's gateway, changed by `edit` (an admin token, another authenticator), served on
/// loopback in plain HTTP.
async fn serve_with(world: World, edit: impl FnOnce(&mut Gateway)) -> Served {
    let mut gateway = world.gateway.clone();
    edit(&mut gateway);
    let (api_addr, admin_addr) =
        kezek_tests::serve(gateway, None, kezek_api::MAX_CONNECTIONS).await;
    Served {
        world,
        api: api_addr,
        admin: admin_addr,
    }
}

impl Served {
    /// A request to the public API with this `Authorization` header (or none).
    async fn call(
        &self,
        authorization: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = authorization {
            headers.push(("authorization", a));
        }
        let body = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        request(self.api, method, path, &headers, body, None)
            .await
            .unwrap()
    }

    fn persona(&self, id: &str) -> Value {
        serde_json::to_value(self.world.persona(id)).unwrap()
    }

    /// A booking of the persona's vehicle on its travel date at `hour`.
    fn booking(&self, persona: &str, hour: u8) -> Value {
        let application = self.persona(persona);
        json!({"slot": {"date": application["travel-date"], "hour": hour}, "application": application})
    }
}

fn text(reply: &Reply) -> String {
    format!("{} {}", reply.status, String::from_utf8_lossy(&reply.body))
}

/// A refusal of the caller: 401, a problem document, and the RFC 6750 challenge.
fn assert_unauthenticated(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 401, "{case}: {}", text(reply));
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{case}"
    );
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer")),
        "{case}: {:?}",
        reply.header("www-authenticate")
    );
}

/// Issue 11 item 1: every public operation the document says needs a caller answers 401
/// without a token — found from the served document, so a new route cannot slip through —
/// while health and the document itself stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_route_but_health_needs_a_token() {
    let s = serve().await;
    let doc = s.call(None, "GET", "/openapi.json", None).await;
    assert_eq!(doc.status, 200, "the API's description is public");
    let doc = doc.json();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post"] {
            let Some(op) = item.get(method) else { continue };
            let secured = op["security"].to_string().contains("\"caller\"");
            let path = template.replace("{id}", "x").replace("{code}", "CN-DOSTYK");
            if secured {
                let reply = s
                    .call(None, &method.to_uppercase(), &path, Some(&json!({})))
                    .await;
                assert_unauthenticated(&reply, &format!("{method} {template}"));
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 11,
        "only {checked} secured operations: the document lost them"
    );
    for open in ["/healthz", "/readyz"] {
        assert_eq!(s.call(None, "GET", open, None).await.status, 200, "{open}");
    }
}

/// HS256 over the token's header and payload, keyed with `secret`: the "public key as HMAC
/// secret" forgery.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64.encode(tag.as_ref()))
}

/// ADR 0014: what a token must be — signed by a key the provider publishes, with that key's
/// algorithm, for this audience, by this issuer, within its lifetime, naming a caller. Each
/// forgery is refused; the genuine token next to them is served (so the test can fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_misdirected_tokens_are_refused() {
    use base64::Engine;
    let s = serve().await;
    let path = "/v1/checkpoints/CN-DOSTYK";
    let valid = auth::claims("applicant", "acc-001");
    assert_eq!(
        s.call(Some(&auth::bearer_with(&valid)), "GET", path, None)
            .await
            .status,
        200
    );

    let now = auth::now();
    let with = |member: &str, value: Value| {
        let mut c = valid.clone();
        c[member] = value;
        c
    };
    let without = |member: &str| {
        let mut c = valid.clone();
        c.as_object_mut().unwrap().remove(member);
        c
    };
    let stranger = DevIssuer::generate().unwrap();
    let kid = auth::issuer().kid().to_owned();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let public_key = auth::issuer().jwk()["x"].as_str().unwrap().to_owned();
    let genuine = auth::issuer().sign(&valid);
    let (head, rest) = genuine.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let tampered = format!(
        "{head}.{}.{signature}",
        b64.encode(with("sub", json!("acc-victim")).to_string())
    );
    let unsigned = format!(
        "{}.{}.",
        b64.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        b64.encode(valid.to_string())
    );
    let hs_header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let cases: Vec<(&str, String)> = vec![
        ("no token", String::new()),
        (
            "not a bearer token",
            format!("Basic {}", b64.encode("acc-001:pw")),
        ),
        ("not a JWT", "Bearer hello".into()),
        (
            "expired",
            auth::bearer_with(&with("exp", json!(now - 3600))),
        ),
        (
            "not valid yet",
            auth::bearer_with(&with("nbf", json!(now + 3600))),
        ),
        (
            "another audience",
            auth::bearer_with(&with("aud", json!("another-gateway"))),
        ),
        (
            "another issuer",
            auth::bearer_with(&with("iss", json!("https://id.evil.example"))),
        ),
        ("no expiry", auth::bearer_with(&without("exp"))),
        ("no subject", auth::bearer_with(&without("sub"))),
        ("no role", auth::bearer_with(&without("role"))),
        (
            "an applicant naming another account",
            auth::bearer_with(&with("account", json!("acc-victim"))),
        ),
        (
            "signed by a stranger under our key id",
            format!("Bearer {}", stranger.sign_as(&kid, &valid)),
        ),
        (
            "signed by a key nobody published",
            format!("Bearer {}", stranger.sign(&valid)),
        ),
        (
            "payload changed after signing",
            format!("Bearer {tampered}"),
        ),
        ("alg none", format!("Bearer {unsigned}")),
        (
            "HS256 keyed with the public key",
            format!(
                "Bearer {}",
                hs256(&hs_header, &valid, public_key.as_bytes())
            ),
        ),
        (
            "HS256 keyed with the public key's bytes",
            format!(
                "Bearer {}",
                hs256(&hs_header, &valid, &b64.decode(&public_key).unwrap())
            ),
        ),
    ];
    for (case, authorization) in cases {
        let header = (!authorization.is_empty()).then_some(authorization.as_str());
        let reply = s.call(header, "GET", path, None).await;
        assert_unauthenticated(&reply, case);
        // Verification is refused as well, before any registry is asked.
        let reply = s
            .call(
                header,
                "POST",
                "/v1/verifications",
                Some(&s.persona("r-clean-individual-truck")),
            )
            .await;
        assert_unauthenticated(&reply, case);
    }
}

/// Issue 11 item 1 (P36, P21): a booking is its account's. Another subject cannot read,
/// cancel, reschedule, pay for or add drivers to it — and learns nothing, since the answer is
/// the 404 of a booking that does not exist. Nor can anyone book a vehicle under another
/// account by naming it in the body (squatting, P21). The registrar acts for the account its
/// token names; officers read at their checkpoints (P4) and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_is_its_accounts_alone() {
    let s = serve().await;
    let victim = auth::bearer("acc-victim");
    let attacker = auth::bearer("acc-attacker");

    // Squatting: the victim's vehicle booked under a body-named account is refused by name
    // and holds nothing, so the victim still books it afterwards.
    let mut squat = s.booking("r-clean-company-truck-trailer", 14);
    squat["account"] = json!("acc-victim");
    let reply = s
        .call(Some(&attacker), "POST", "/v1/bookings", Some(&squat))
        .await;
    assert_eq!(reply.status, 422, "{}", text(&reply));
    assert_eq!(reply.json()["pointer"], "/account");
    let created = s
        .call(
            Some(&victim),
            "POST",
            "/v1/bookings",
            Some(&s.booking("r-clean-company-truck-trailer", 14)),
        )
        .await;
    assert_eq!(
        created.status,
        201,
        "P21: nothing was squatted: {}",
        text(&created)
    );
    let booking = created.json();
    assert_eq!(
        booking["account"], "acc-victim",
        "the account is the token's subject"
    );
    let id = booking["id"].as_str().unwrap().to_owned();

    // The attacker: every route answers as for an id that does not exist.
    let unknown = s
        .call(Some(&attacker), "GET", "/v1/bookings/no-such-booking", None)
        .await;
    assert_eq!(unknown.status, 404);
    let drivers = json!({"drivers": s.persona("r-clean-company-truck-trailer")["drivers"]});
    for (method, path, body) in [
        ("GET", format!("/v1/bookings/{id}"), None),
        ("POST", format!("/v1/bookings/{id}/cancel"), Some(json!({}))),
        (
            "POST",
            format!("/v1/bookings/{id}/reschedule"),
            Some(json!({"slot": {"first-free": true}})),
        ),
        (
            "POST",
            format!("/v1/bookings/{id}/payment"),
            Some(json!({"reference": "x", "amount-kzt": 0})),
        ),
        (
            "POST",
            format!("/v1/bookings/{id}/drivers"),
            Some(drivers.clone()),
        ),
    ] {
        let reply = s.call(Some(&attacker), method, &path, body.as_ref()).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", text(&reply));
        assert_eq!(
            reply.json()["detail"]
                .as_str()
                .unwrap()
                .replace(&id, "no-such-booking"),
            unknown.json()["detail"].as_str().unwrap(),
            "{method} {path}: the same answer as for no booking at all"
        );
    }
    let mine = s
        .call(Some(&victim), "GET", &format!("/v1/bookings/{id}"), None)
        .await;
    assert_eq!(
        (mine.status, mine.json()["status"].as_str()),
        (200, Some("active")),
        "untouched"
    );

    // The registrar's back end acts for the account its signed claim names.
    let mut registrar = auth::claims("registrar", "registrar-web");
    registrar["account"] = json!("acc-victim");
    let registrar = auth::bearer_with(&registrar);
    let reply = s
        .call(Some(&registrar), "GET", &format!("/v1/bookings/{id}"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let mut elsewhere = auth::claims("registrar", "registrar-web");
    elsewhere["account"] = json!("acc-someone-else");
    let elsewhere = auth::bearer_with(&elsewhere);
    let reply = s
        .call(Some(&elsewhere), "GET", &format!("/v1/bookings/{id}"), None)
        .await;
    assert_eq!(reply.status, 404, "{}", text(&reply));
    let made = s
        .call(
            Some(&elsewhere),
            "POST",
            "/v1/bookings",
            Some(&s.booking("r-clean-individual-truck", 15)),
        )
        .await;
    assert_eq!(made.status, 201, "{}", text(&made));
    assert_eq!(made.json()["account"], "acc-someone-else");

    // P4: officers read at their own checkpoints, and only read.
    let officer = |checkpoints: &[&str]| {
        let mut c = auth::claims("officer", "ogd-17");
        c["checkpoints"] = json!(checkpoints);
        auth::bearer_with(&c)
    };
    let here = officer(&["CN-NUR-ZHOLY"]);
    let there = officer(&["CN-DOSTYK"]);
    let path = format!("/v1/bookings/{id}");
    assert_eq!(s.call(Some(&here), "GET", &path, None).await.status, 200);
    assert_eq!(s.call(Some(&there), "GET", &path, None).await.status, 404);
    let cancel = s
        .call(
            Some(&here),
            "POST",
            &format!("{path}/cancel"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(cancel.status, 403, "{}", text(&cancel));
    let book = s
        .call(
            Some(&here),
            "POST",
            "/v1/bookings",
            Some(&s.booking("r-unpaid-fine", 16)),
        )
        .await;
    assert_eq!(book.status, 403, "{}", text(&book));
    // Operators work on the admin listener, not here.
    let operator = auth::bearer_with(&auth::claims("operator", "ops-1"));
    assert_eq!(
        s.call(Some(&operator), "GET", &path, None).await.status,
        403
    );
}

/// Issue 11 items 2 and 5: `GET /v1/verifications/{id}` was a registry oracle for anyone
/// holding an id. Now a verification is read back by the account that asked and by officers
/// at its checkpoint; to anyone else it does not exist. Nor does another account's
/// Idempotency-Key replay it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_is_read_back_only_by_its_caller() {
    let s = serve().await;
    let victim = auth::bearer("acc-victim");
    let attacker = auth::bearer("acc-attacker");
    let application = s.persona("r-trailer-needs-ce");
    let key = ("idempotency-key", "app-7");
    let asked = request(
        s.api,
        "POST",
        "/v1/verifications",
        &[
            ("content-type", "application/json"),
            ("authorization", victim.as_str()),
            key,
        ],
        serde_json::to_vec(&application).unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(asked.status, 200, "{}", text(&asked));
    let verification = asked.json();
    assert_eq!(verification["decision"], "refused");
    let path = asked.header("location").unwrap().to_owned();

    let unknown = s
        .call(
            Some(&attacker),
            "GET",
            "/v1/verifications/6f1c2d3e-8d4b-4b0e-9a51-2f7d1c0e9b11",
            None,
        )
        .await;
    let theirs = s.call(Some(&attacker), "GET", &path, None).await;
    assert_eq!(theirs.status, 404, "{}", text(&theirs));
    assert_eq!(theirs.json()["detail"], unknown.json()["detail"]);
    let mine = s.call(Some(&victim), "GET", &path, None).await;
    assert_eq!(mine.json(), verification);

    // The same key and body from another account: a verification of its own, not a replay.
    let replay = request(
        s.api,
        "POST",
        "/v1/verifications",
        &[
            ("content-type", "application/json"),
            ("authorization", attacker.as_str()),
            key,
        ],
        serde_json::to_vec(&application).unwrap(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(replay.header("idempotent-replayed"), None);
    assert_ne!(replay.json()["id"], verification["id"]);

    // P4: an officer at the application's checkpoint reads it; one elsewhere does not.
    let officer = |checkpoint: &str| {
        let mut c = auth::claims("officer", "ogd-17");
        c["checkpoints"] = json!([checkpoint]);
        auth::bearer_with(&c)
    };
    assert_eq!(application["checkpoint"], "CN-NUR-ZHOLY");
    assert_eq!(
        s.call(Some(&officer("CN-NUR-ZHOLY")), "GET", &path, None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.call(Some(&officer("CN-DOSTYK")), "GET", &path, None)
            .await
            .status,
        404
    );
    // Issue 11 item 2: an applicant whose token says whose digital signature it is (P15)
    // verifies only applications naming that IIN/BIN — owner or driver — not strangers'.
    let own_iin = |iin: &Value| {
        let mut c = auth::claims("applicant", "acc-victim");
        c["iin"] = iin.clone();
        auth::bearer_with(&c)
    };
    let stranger = s.persona("r-clean-individual-truck")["owner"]["iin-bin"].clone();
    for (iin, status) in [
        (&application["owner"]["iin-bin"], 200),
        (&application["drivers"][0]["iin"], 200),
        (&stranger, 403),
    ] {
        assert!(iin.is_string(), "{iin}");
        let reply = s
            .call(
                Some(&own_iin(iin)),
                "POST",
                "/v1/verifications",
                Some(&application),
            )
            .await;
        assert_eq!(reply.status, status, "{iin}: {}", text(&reply));
    }
    // Officers read; they do not ask the registries about people.
    let asked = s
        .call(
            Some(&officer("CN-NUR-ZHOLY")),
            "POST",
            "/v1/verifications",
            Some(&application),
        )
        .await;
    assert_eq!(asked.status, 403, "{}", text(&asked));
}

/// Issue 11 item 2, the gateway's default: an applicant token that does not say whose digital
/// signature it is (no `iin`) verifies nothing, so no account can use the gateway as an oracle
/// about strangers; with the claim, the applicant verifies its own application.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_an_applicant_token_must_name_its_iin() {
    let world = World::start_with(Default::default(), &auth::config_toml_requiring_iin(true)).await;
    let s = serve_with(world, |_| {}).await;
    let application = s.persona("r-clean-individual-truck");
    let anonymous = s
        .call(
            Some(&auth::bearer("acc-001")),
            "POST",
            "/v1/verifications",
            Some(&application),
        )
        .await;
    assert_unauthenticated(&anonymous, "an applicant token without iin");
    let mut claims = auth::claims("applicant", "acc-001");
    claims["iin"] = application["owner"]["iin-bin"].clone();
    let own = s
        .call(
            Some(&auth::bearer_with(&claims)),
            "POST",
            "/v1/verifications",
            Some(&application),
        )
        .await;
    assert_eq!(own.status, 200, "{}", text(&own));
}

/// A JWKS on loopback that serves whatever `keys` holds now, counting its readers.
async fn jwks_server(
    keys: std::sync::Arc<std::sync::Mutex<Value>>,
    reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::TokioIo;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (keys, reads) = (keys.clone(), reads.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body = keys.lock().unwrap().to_string();
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from(body),
                        )))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}/jwks.json")
}

/// ADR 0014: with a JWKS URL the provider rotates its key and the gateway follows without a
/// restart — a token under the new key id is accepted, the withdrawn key stops working —
/// while tokens naming made-up key ids cannot make the gateway hammer the provider.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_follows_a_key_rotation_at_the_jwks_url() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    let (old, new) = (
        DevIssuer::generate().unwrap(),
        DevIssuer::generate().unwrap(),
    );
    let keys = Arc::new(Mutex::new(old.jwks()));
    let reads = Arc::new(AtomicUsize::new(0));
    let url = jwks_server(keys.clone(), reads.clone()).await;
    let config: kezek::config::ApiConfig = toml::from_str(&format!(
        "[auth]\nissuer = {ISSUER:?}\naudience = {AUDIENCE:?}\njwks_url = {url:?}\njwks_min_refresh_ms = 300\nrequire_applicant_iin = false\n"
    ))
    .unwrap();
    let authenticator = kezek_api::auth::Authenticator::from_config(config.auth.as_ref())
        .await
        .unwrap();
    let s = serve_with(World::start().await, |g| g.auth = authenticator).await;
    let claims = auth::claims("applicant", "acc-001");
    let path = "/v1/checkpoints/CN-DOSTYK";
    let by = |issuer: &DevIssuer| format!("Bearer {}", issuer.sign(&claims));

    assert_eq!(s.call(Some(&by(&old)), "GET", path, None).await.status, 200);
    assert_eq!(reads.load(Ordering::SeqCst), 1, "fetched on first use");
    *keys.lock().unwrap() = new.jwks();
    // A storm of made-up key ids right after a read: refused, and the provider is not asked
    // again within the minimum interval.
    for i in 0..20 {
        let forged = format!("Bearer {}", new.sign_as(&format!("made-up-{i}"), &claims));
        assert_unauthenticated(
            &s.call(Some(&forged), "GET", path, None).await,
            "made-up kid",
        );
    }
    assert!(
        reads.load(Ordering::SeqCst) <= 2,
        "{} reads",
        reads.load(Ordering::SeqCst)
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let rotated = s.call(Some(&by(&new)), "GET", path, None).await;
    assert_eq!(
        rotated.status,
        200,
        "the new key id is read without a restart: {}",
        text(&rotated)
    );
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_unauthenticated(
        &s.call(Some(&by(&old)), "GET", path, None).await,
        "withdrawn key",
    );
}

/// Issue 11 item 6: `/metrics` needs the admin token; an empty admin token stops the start;
/// the capacity route refuses a capacity that overflowed the P6 cap, a day in the past, and
/// closed hours that do not run forward (D13), each a 422 naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_side_is_bounded() {
    let staging = kezek_tests::Staging::new();
    let empty = staging.config("[api]\nadmin_token = { value = \"\" }\n");
    let refused = Gateway::start(&empty)
        .await
        .expect_err("an empty admin token is refused");
    assert!(refused.to_string().contains("admin_token"), "{refused}");

    let s = serve_with(World::start().await, |g| {
        g.admin_token = Some("s3cret".into())
    })
    .await;
    let admin = |method: &'static str, path: String, body: Value, token: bool| {
        let addr = s.admin;
        async move {
            let mut headers = vec![("content-type", "application/json")];
            if token {
                headers.push(("authorization", "Bearer s3cret"));
            }
            request(
                addr,
                method,
                &path,
                &headers,
                body.to_string().into_bytes(),
                None,
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(
        admin("GET", "/metrics".into(), Value::Null, false)
            .await
            .status,
        401
    );
    let applicant = auth::bearer("acc-001");
    let as_applicant = request(
        s.admin,
        "GET",
        "/metrics",
        &[("authorization", applicant.as_str())],
        vec![],
        None,
    )
    .await
    .unwrap();
    assert_eq!(as_applicant.status, 401, "a public token is no admin token");
    assert_eq!(
        admin("GET", "/metrics".into(), Value::Null, true)
            .await
            .status,
        200
    );

    let capacity = |day: String| format!("/admin/checkpoints/CN-DOSTYK/days/{day}/capacity");
    for (day, body, pointer) in [
        (
            days::ahead(3),
            json!({"capacity": i64::MAX, "reason": "overflow"}),
            "/capacity",
        ),
        (
            days::ahead(3),
            json!({"capacity": -1, "reason": "negative"}),
            "/capacity",
        ),
        (
            days::ahead(-1),
            json!({"capacity": 10, "reason": "yesterday"}),
            "/date",
        ),
        (
            days::ahead(3),
            json!({"capacity": 10, "closed-hours": {"from": 14, "to": 10}, "reason": "backwards"}),
            "/closed-hours",
        ),
        (
            days::ahead(3),
            json!({"capacity": 10, "closed-hours": {"from": 9, "to": 9}, "reason": "empty"}),
            "/closed-hours",
        ),
    ] {
        let reply = admin("POST", capacity(day), body.clone(), true).await;
        assert_eq!(reply.status, 422, "{body}: {}", text(&reply));
        let problem = reply.json();
        let named = problem["pointer"] == pointer
            || problem["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["pointer"] == pointer);
        assert!(named, "{body}: {problem}");
    }
    let fine = admin(
        "POST",
        capacity(days::ahead(0)),
        json!({"capacity": 100, "reason": "works"}),
        true,
    )
    .await;
    assert_eq!(fine.status, 200, "today is not the past: {}", text(&fine));
    assert_eq!(fine.json()["new-capacity"], 100);
}

/// Issue 11 item 6: the development certificate is made once and served again after a
/// restart, so `curl --cacert target/dev-cert.pem` keeps working; its key is the owner's only.
#[tokio::test]
async fn the_development_certificate_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dev-cert.pem");
    let config: kezek::config::ApiConfig = toml::from_str(&format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndev_cert_out = {out:?}\n"
    ))
    .unwrap();
    let first = Listeners::bind(&config).await.unwrap();
    let pem = std::fs::read_to_string(&out).unwrap();
    drop(first);
    let second = Listeners::bind(&config).await.unwrap();
    assert!(second.tls.is_some());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        pem,
        "the same certificate"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.with_extension("key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is the owner's only");
    }
}

/// A CA for client certificates, as the registrar's PKI would run it.
struct ClientPki {
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl ClientPki {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        Self { ca }
    }

    /// A client certificate for this DNS name.
    fn issue(&self, name: &str) -> Identity {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &*self.ca).unwrap();
        let key = rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        (vec![cert.der().clone()], key)
    }
}

/// ADR 0014, mTLS: the registrar's back end may call with a client certificate of the
/// configured CA instead of a token, acting for the account it names in `Kezek-Account`.
/// A certificate for another name, or no account, is no caller; a certificate of another
/// CA does not get through the handshake; without either the answer stays 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registrar_back_end_may_call_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = ClientPki::new();
    let client_ca = dir.path().join("clients-ca.pem");
    std::fs::write(&client_ca, pki.ca.pem()).unwrap();
    let jwks = dir.path().join("token.jwks");
    auth::issuer().write(&jwks).unwrap();
    let server_cert = dir.path().join("dev-cert.pem");
    let config: kezek::config::ApiConfig = toml::from_str(&format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndev_cert_out = {server_cert:?}\n\
         [auth]\nissuer = {ISSUER:?}\naudience = {AUDIENCE:?}\njwks_file = {jwks:?}\n\
         client_ca_file = {client_ca:?}\nregistrar_clients = [\"registrar-backend.kezek.test\"]\nrequire_applicant_iin = false\n"
    ))
    .unwrap();
    let listeners = Listeners::bind(&config).await.unwrap();
    let api = listeners.api.local_addr().unwrap();
    let authenticator = kezek_api::auth::Authenticator::from_config(config.auth.as_ref())
        .await
        .unwrap();
    let world = World::start().await;
    let mut gateway = world.gateway.clone();
    gateway.auth = authenticator;
    tokio::spawn(kezek::server::run(
        listeners,
        gateway,
        std::future::pending(),
    ));
    let call = |identity: Option<Identity>,
                method: &'static str,
                path: String,
                headers: Vec<(&'static str, String)>,
                body: Vec<u8>| {
        let server_cert = server_cert.clone();
        async move {
            let mut all = vec![("content-type", "application/json")];
            all.extend(headers.iter().map(|(k, v)| (*k, v.as_str())));
            let tls = Tls {
                ca: &server_cert,
                identity,
            };
            request_over(api, Some(tls), method, &path, &all, body).await
        }
    };
    let registrar = || Some(pki.issue("registrar-backend.kezek.test"));
    let acting = vec![("kezek-account", "acc-mtls".to_owned())];
    let path = "/v1/checkpoints/CN-DOSTYK".to_owned();

    let reply = call(registrar(), "GET", path.clone(), acting.clone(), vec![])
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", text(&reply));
    let reply = call(registrar(), "GET", path.clone(), vec![], vec![])
        .await
        .unwrap();
    assert_unauthenticated(&reply, "a registrar certificate without an account");
    let stranger = Some(pki.issue("someone.kezek.test"));
    let reply = call(stranger, "GET", path.clone(), acting.clone(), vec![])
        .await
        .unwrap();
    assert_unauthenticated(&reply, "a certificate of the CA for another name");
    let reply = call(None, "GET", path.clone(), acting.clone(), vec![])
        .await
        .unwrap();
    assert_unauthenticated(&reply, "no certificate, no token");
    let outsider = Some(ClientPki::new().issue("registrar-backend.kezek.test"));
    let refused = call(outsider, "GET", path.clone(), acting.clone(), vec![]).await;
    assert!(
        refused.is_err() || refused.as_ref().is_ok_and(|r| r.status != 200),
        "a certificate of another CA got through"
    );

    // The account it named is the verification's: that applicant reads it back, nobody else.
    let body = serde_json::to_vec(&world.persona("r-clean-individual-truck")).unwrap();
    let asked = call(
        registrar(),
        "POST",
        "/v1/verifications".into(),
        acting.clone(),
        body,
    )
    .await
    .unwrap();
    assert_eq!(asked.status, 200, "{}", text(&asked));
    let location = asked.header("location").unwrap().to_owned();
    for (subject, status) in [("acc-mtls", 200), ("acc-other", 404)] {
        let bearer = vec![("authorization", auth::bearer(subject))];
        let reply = call(None, "GET", location.clone(), bearer, vec![])
            .await
            .unwrap();
        assert_eq!(reply.status, status, "{subject}: {}", text(&reply));
    }
}
