//! The HTTP API, black-box (issue: verification pipeline, items 1, 6, 8; issue 9, items 2
//! and 3): decisions over HTTP, RFC 9457 problems naming the bad field, idempotency, TLS,
//! metrics, the admin token, request ids, bounded header reads, and the served OpenAPI
//! document against what the listeners really serve and answer. Public routes are called as
//! the applicant [`SUBJECT`] (the attacker's view is `security.rs`).

use kezek::server::Gateway;
use kezek_api::Listeners;
use kezek_tests::days;
use kezek_tests::http::{Reply, request, request_as};
use kezek_tests::registries::{World, application};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The applicant these tests call the public API as.
const SUBJECT: &str = "acc-api";

struct Served {
    world: World,
    api: SocketAddr,
    admin: SocketAddr,
    device_push: SocketAddr,
    ca: Option<PathBuf>,
}

async fn serve(tls: bool) -> Served {
    serve_with(tls, None).await
}

async fn serve_with(tls: bool, admin_token: Option<&str>) -> Served {
    serve_world(World::start().await, tls, admin_token).await
}

async fn serve_world(world: World, tls: bool, admin_token: Option<&str>) -> Served {
    let (tls_acceptor, ca) = if tls {
        let cert = world.rules_dir().with_file_name("dev-cert.pem");
        let config: kezek::config::ApiConfig = toml_api(&format!("dev_cert_out = {cert:?}"));
        let bound = Listeners::bind(&kezek::config::ApiConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            ..config
        })
        .await
        .unwrap();
        (bound.tls, Some(cert))
    } else {
        (None, None)
    };
    let mut gateway: Gateway = world.gateway.clone();
    gateway.admin_token = admin_token.map(str::to_owned);
    let per_peer = kezek::config::ApiConfig::default().max_connections_per_peer;
    let listening = kezek_tests::serve_all(gateway, tls_acceptor, per_peer).await;
    Served {
        world,
        api: listening.api,
        admin: listening.admin,
        device_push: listening.device_push,
        ca,
    }
}

fn toml_api(extra: &str) -> kezek::config::ApiConfig {
    #[derive(serde::Deserialize)]
    struct Wrapper {
        api: kezek::config::ApiConfig,
    }
    let w: Wrapper = toml::from_str(&format!("[api]\n{extra}\n")).unwrap();
    w.api
}

impl Served {
    fn persona_json(&self, id: &str) -> serde_json::Value {
        let p = self
            .world
            .scenario
            .personas
            .iter()
            .find(|p| p.id == id)
            .unwrap();
        serde_json::to_value(application(p)).unwrap()
    }

    async fn post(&self, body: &serde_json::Value, headers: &[(&str, &str)]) -> Reply {
        self.post_raw(serde_json::to_vec(body).unwrap(), headers)
            .await
    }

    async fn post_raw(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        request_as(
            SUBJECT,
            self.api,
            "POST",
            "/v1/verifications",
            &all,
            body,
            self.ca.as_deref(),
        )
        .await
        .unwrap()
    }
}

/// P20 over HTTP: an approval, a refusal with its reasons and rule IDs, an approval with
/// notices (P19), an indeterminate answer with Retry-After; each one fetched again by id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_over_http_and_fetch_by_id() {
    let s = serve(false).await;
    let cases = [
        ("r-clean-company-truck-trailer", "approved"),
        ("r-trailer-needs-ce", "refused"),
        ("r-unpaid-fine", "approved"),
    ];
    for (persona, decision) in cases {
        let reply = s.post(&s.persona_json(persona), &[]).await;
        assert_eq!(
            reply.status,
            200,
            "{persona}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let v = reply.json();
        assert_eq!(v["decision"], decision, "{persona}: {v}");
        let again = request_as(
            SUBJECT,
            s.api,
            "GET",
            reply.header("location").unwrap(),
            &[],
            vec![],
            None,
        )
        .await
        .unwrap();
        assert_eq!(again.json(), v);
    }
    let refused = s
        .post(&s.persona_json("r-trailer-needs-ce"), &[])
        .await
        .json();
    assert_eq!(refused["reasons"][0]["rule-id"], "P18.3");
    assert_eq!(
        refused["reasons"][0]["reason-code"],
        "licence-category-missing"
    );
    let notices = s.post(&s.persona_json("r-unpaid-fine"), &[]).await.json();
    assert_eq!(notices["notices"][0]["check"], "P18.10");

    s.world.mocks.set_fault(
        kezek_mocks::registry::RegistryId::Astana1,
        kezek_mocks::faults::Fault::mode(kezek_mocks::faults::FaultMode::MalformedXml),
    );
    let reply = s
        .post(&s.persona_json("r-clean-individual-truck"), &[])
        .await;
    let v = reply.json();
    assert_eq!(v["decision"], "indeterminate", "{v}");
    assert_eq!(v["unanswered"][0]["check"], "P18.16");
    assert!(reply.header("retry-after").is_some());
}

/// Bad input → RFC 9457 problem+json naming the field by JSON pointer; nothing is
/// verified and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_problem_document_that_names_the_field() {
    let s = serve(false).await;
    let good = s.persona_json("r-clean-company-truck-trailer");
    let mutate = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    let cases: Vec<(serde_json::Value, u16, &str)> = vec![
        (
            mutate(&|v| {
                v.as_object_mut().unwrap().remove("vehicle");
            }),
            422,
            "",
        ),
        (
            mutate(&|v| v["drivers"] = serde_json::json!("one")),
            422,
            "/drivers",
        ),
        (
            mutate(&|v| v["vehicle"]["kind"] = serde_json::json!("bus")),
            422,
            "/vehicle/kind",
        ),
        (
            mutate(&|v| v["owner"]["iin-bin"] = serde_json::json!("123456789012")),
            422,
            "/owner/iin-bin",
        ),
        (
            mutate(&|v| v["travel-date"] = serde_json::json!("2026-02-30")),
            422,
            "/travel-date",
        ),
        // P16: yesterday at the checkpoint is the past.
        (
            mutate(&|v| v["travel-date"] = serde_json::json!(days::ahead(-1))),
            422,
            "/travel-date",
        ),
        // P22: 91 days ahead is beyond the horizon.
        (
            mutate(&|v| v["travel-date"] = serde_json::json!(days::ahead(91))),
            422,
            "/travel-date",
        ),
        // P5: a checkpoint outside the Order 707 appendix has no calendar to judge by.
        (
            mutate(&|v| v["checkpoint"] = serde_json::json!("XX-NOWHERE")),
            422,
            "/checkpoint",
        ),
        (
            mutate(&|v| v["drivers"][0]["birth-date"] = serde_json::json!(days::ahead(0))),
            422,
            "/drivers/0/birth-date",
        ),
        (
            mutate(&|v| v["drivers"][0]["phone"] = serde_json::json!("8 701 000")),
            422,
            "/drivers/0/phone",
        ),
        (mutate(&|v| v["surprise"] = serde_json::json!(1)), 422, ""),
    ];
    for (body, status, pointer) in cases {
        let reply = s.post(&body, &[]).await;
        assert_eq!(
            reply.status,
            status,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(
            reply.header("content-type"),
            Some("application/problem+json")
        );
        let problem = reply.json();
        let pointers: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["pointer"].as_str().unwrap())
            .collect();
        assert!(
            pointers.contains(&pointer),
            "expected {pointer:?} in {problem}"
        );
    }
    let reply = s.post_raw(b"{not json".to_vec(), &[]).await;
    assert_eq!(reply.status, 400);
    let reply = s.post_raw(vec![b' '; kezek_api::MAX_BODY + 1], &[]).await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["status"], 413);
    // One HTTP edge (issue 9): the booking routes have the same body limit and problem.
    let reply = request_as(
        SUBJECT,
        s.api,
        "POST",
        "/v1/bookings",
        &[("content-type", "application/json")],
        vec![b' '; kezek_api::MAX_BODY + 1],
        None,
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
    assert!(
        reply.json()["detail"]
            .as_str()
            .unwrap()
            .contains(&kezek_api::MAX_BODY.to_string())
    );
}

/// Idempotency-Key: a retried request gets the same verification; the same key with
/// another body is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_and_refuses_reuse() {
    let s = serve(false).await;
    let body = s.persona_json("r-clean-individual-truck");
    let first = s
        .post(&body, &[("idempotency-key", "booking-app-42")])
        .await
        .json();
    let second = s
        .post(&body, &[("idempotency-key", "booking-app-42")])
        .await;
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.json()["id"], first["id"]);
    let other = s.persona_json("r-unpaid-fine");
    let reused = s
        .post(&other, &[("idempotency-key", "booking-app-42")])
        .await;
    assert_eq!(reused.status, 422);
}

/// Issue 10: a replay by Idempotency-Key never pins an indeterminate answer past its
/// Retry-After — within it the same answer, after it the application is verified again and
/// the key then replays the new answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_indeterminate_answer_is_replayed_only_until_its_retry_after() {
    let s = serve(false).await;
    s.world.mocks.set_fault(
        kezek_mocks::registry::RegistryId::Astana1,
        kezek_mocks::faults::Fault::mode(kezek_mocks::faults::FaultMode::MalformedXml),
    );
    let body = s.persona_json("r-clean-individual-truck");
    let key = [("idempotency-key", "replay-after-an-outage")];
    let first = s.post(&body, &key).await;
    let outage = first.json();
    assert_eq!(outage["decision"], "indeterminate", "{outage}");
    let retry_after: i64 = first.header("retry-after").unwrap().parse().unwrap();

    let within = s.post(&body, &key).await;
    assert_eq!(within.header("idempotent-replayed"), Some("true"));
    assert_eq!(within.json()["id"], outage["id"]);

    s.world.mocks.clear_faults();
    s.world.clock.advance(time::Duration::seconds(retry_after));
    let after = s.post(&body, &key).await;
    assert_eq!(after.header("idempotent-replayed"), None);
    let fresh = after.json();
    assert_ne!(fresh["id"], outage["id"]);
    assert_eq!(fresh["decision"], "approved", "{fresh}");

    let again = s.post(&body, &key).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["id"], fresh["id"]);
}

/// Issue 11 item 2: a verification API is an oracle on the registries' records unless the
/// persons it may be asked about are limited — past the per-person limit a 429 with
/// Retry-After, while applications about other persons go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifications_naming_one_person_are_limited_per_minute() {
    let world = World::start_with(
        Default::default(),
        "[api.rate_limits]\nper_person_per_minute = 3\n",
    )
    .await;
    let s = serve_world(world, false, None).await;
    let body = s.persona_json("r-clean-individual-truck");
    for i in 0..3 {
        let reply = s.post(&body, &[]).await;
        assert_eq!(reply.status, 200, "verification {i}");
    }
    let replay_key = [("idempotency-key", "counted-once")];
    let limited = s.post(&body, &replay_key).await;
    assert_eq!(
        limited.status,
        429,
        "{}",
        String::from_utf8_lossy(&limited.body)
    );
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        limited.header("content-type"),
        Some("application/problem+json")
    );
    let other = s
        .post(&s.persona_json("r-clean-company-truck-trailer"), &[])
        .await;
    assert_eq!(other.status, 200, "another person is not limited");
}

/// Issue 11 item 3: an Idempotency-Key is kept a day, so its size is bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_idempotency_key_is_refused() {
    let s = serve(false).await;
    let body = s.persona_json("r-clean-individual-truck");
    let long = "k".repeat(kezek_api::MAX_IDEMPOTENCY_KEY + 1);
    let reply = s.post(&body, &[("idempotency-key", long.as_str())]).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["header"], "Idempotency-Key");
    let fits = "k".repeat(kezek_api::MAX_IDEMPOTENCY_KEY);
    let reply = s.post(&body, &[("idempotency-key", fits.as_str())]).await;
    assert_eq!(reply.status, 200);
}

/// TLS by default, with a generated development certificate that clients can trust.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_api_speaks_tls_with_the_development_certificate() {
    let s = serve(true).await;
    let reply = s
        .post(&s.persona_json("r-clean-individual-truck"), &[])
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["decision"], "approved");
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = request(s.api, "GET", "/healthz", &[], vec![], None).await;
    assert!(plain.is_err() || plain.unwrap().status != 200);
}

/// Admin listener: adapters, rules and Prometheus metrics with cache counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_adapters_and_serves_metrics() {
    let s = serve(false).await;
    let body = s.persona_json("r-clean-individual-truck");
    s.post(&body, &[]).await;
    s.post(&body, &[]).await;
    let list = request(s.admin, "GET", "/admin/adapters", &[], vec![], None)
        .await
        .unwrap()
        .json();
    // Every registry adapter of the repository: the eighteen P18 ones and the worked
    // example of an amendment (O505.ADR), which no shipped rule set names.
    let crates = std::fs::read_dir(kezek_tests::workspace().join("adapters/registries"))
        .unwrap()
        .count();
    assert_eq!(list["adapters"].as_array().unwrap().len(), crates);
    assert_eq!(crates, 19);
    assert_eq!(list["rules"][0]["id"], "order-707");
    let metrics = String::from_utf8(
        request(s.admin, "GET", "/metrics", &[], vec![], None)
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert!(
        metrics.contains("kezek_verifications_total{decision=\"approved\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("kezek_cache_hits ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    // Admin routes are not on the public listener.
    let public = request(s.api, "GET", "/admin/adapters", &[], vec![], None)
        .await
        .unwrap();
    assert_eq!(public.status, 404);
    let ready = request(s.api, "GET", "/readyz", &[], vec![], None)
        .await
        .unwrap();
    assert_eq!(ready.status, 200);
}

/// P20: a booking is verified by the real pipeline (all 18 adapters on the mocks) before a
/// slot is held; an approved application gets a ticket, a refused one the reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_is_verified_by_the_pipeline_before_a_slot_is_held() {
    let s = serve(false).await;
    let book = |persona: &str, account: &'static str| {
        let application = s.persona_json(persona);
        let body = serde_json::json!({
            "slot": { "date": application["travel-date"], "hour": 14 },
            "application": application,
        });
        (account, body)
    };
    let post = |(account, body): (&'static str, serde_json::Value)| {
        let api = s.api;
        async move {
            request_as(
                account,
                api,
                "POST",
                "/v1/bookings",
                &[("content-type", "application/json")],
                serde_json::to_vec(&body).unwrap(),
                None,
            )
            .await
            .unwrap()
        }
    };
    let approved = post(book("r-clean-company-truck-trailer", "acc-1")).await;
    assert_eq!(
        approved.status,
        201,
        "{}",
        String::from_utf8_lossy(&approved.body)
    );
    let ticket = approved.json()["ticket"]["number"]
        .as_str()
        .unwrap()
        .to_owned();
    // P20: the ticket names the checkpoint and the booked day (the persona's travel date).
    let travel = s.persona_json("r-clean-company-truck-trailer")["travel-date"]
        .as_str()
        .unwrap()
        .replace('-', "");
    assert!(
        ticket.starts_with(&format!("CN-NUR-ZHOLY-{travel}-")),
        "{ticket}"
    );

    let refused = post(book("r-trailer-needs-ce", "acc-2")).await;
    assert_eq!(
        refused.status,
        422,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let problem = refused.json();
    assert_eq!(problem["rule"], "P20");
    assert_eq!(problem["reasons"][0]["rule"], "P18.3");
}

/// The served document (issue 9 item 3): every documented operation is answered by the
/// listener(s) its path's `servers` name, and is no route at all on the other one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served_by_its_listener_only() {
    let s = serve(false).await;
    let doc = get(s.api, "/openapi.json").await.json();
    let top = doc["servers"].clone();
    let mut checked = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        let servers = item.get("servers").unwrap_or(&top).to_string();
        let on_admin = servers.contains(":8444");
        let on_public = servers.contains(":8443");
        let on_push = servers.contains(":8450");
        assert!(
            on_admin || on_public || on_push,
            "{template}: no listener in {servers}"
        );
        let path = with_parameters(template);
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_none() {
                continue;
            }
            let method = method.to_uppercase();
            for (addr, serves) in [
                (s.api, on_public),
                (s.admin, on_admin),
                (s.device_push, on_push),
            ] {
                let reply = request(addr, &method, &path, &[], vec![], None)
                    .await
                    .unwrap();
                let no_route = reply.status == 404
                    && reply.json()["detail"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("no route for"));
                let listener = match addr {
                    a if a == s.api => "public",
                    a if a == s.admin => "admin",
                    _ => "device push",
                };
                assert_eq!(
                    no_route,
                    !serves,
                    "{method} {template} on the {listener} listener: {} {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 3 * 23,
        "only {checked} requests: the document lost operations"
    );
}

/// Answers match the schemas the document gives them: a verification of each decision, a
/// booking, the checkpoints, availability, the adapter list, health and problem documents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_the_served_document() {
    let s = serve(false).await;
    let doc = get(s.api, "/openapi.json").await.json();
    for id in [
        "r-clean-company-truck-trailer",
        "r-trailer-needs-ce",
        "r-unpaid-fine",
    ] {
        let reply = s.post(&s.persona_json(id), &[]).await;
        conforms(&doc, "/v1/verifications", "post", &reply);
        let again = get(s.api, reply.header("location").unwrap()).await;
        conforms(&doc, "/v1/verifications/{id}", "get", &again);
    }
    s.world.mocks.set_fault(
        kezek_mocks::registry::RegistryId::Astana1,
        kezek_mocks::faults::Fault::mode(kezek_mocks::faults::FaultMode::MalformedXml),
    );
    let reply = s
        .post(&s.persona_json("r-clean-individual-truck"), &[])
        .await;
    assert_eq!(reply.json()["decision"], "indeterminate");
    conforms(&doc, "/v1/verifications", "post", &reply);
    let reply = s.post(&serde_json::json!({}), &[]).await;
    assert_eq!(reply.status, 422);
    conforms(&doc, "/v1/verifications", "post", &reply);

    let application = s.persona_json("r-clean-company-truck-trailer");
    let booking = serde_json::json!({
        "slot": { "date": application["travel-date"], "hour": 10 },
        "application": application,
    });
    let book = async || {
        let json = [("content-type", "application/json")];
        let body = serde_json::to_vec(&booking).unwrap();
        request_as(SUBJECT, s.api, "POST", "/v1/bookings", &json, body, None)
            .await
            .unwrap()
    };
    let created = book().await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    conforms(&doc, "/v1/bookings", "post", &created);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let again = get(s.api, &format!("/v1/bookings/{id}")).await;
    conforms(&doc, "/v1/bookings/{id}", "get", &again);
    let twice = book().await;
    assert_eq!(twice.status, 409, "P21");
    conforms(&doc, "/v1/bookings", "post", &twice);

    for (path, template) in [
        ("/v1/checkpoints", "/v1/checkpoints"),
        ("/v1/checkpoints/CN-DOSTYK", "/v1/checkpoints/{code}"),
        (
            "/v1/checkpoints/CN-DOSTYK/availability?days=2",
            "/v1/checkpoints/{code}/availability",
        ),
        ("/healthz", "/healthz"),
        ("/readyz", "/readyz"),
    ] {
        conforms(&doc, template, "get", &get(s.api, path).await);
    }
    conforms(
        &doc,
        "/admin/adapters",
        "get",
        &get(s.admin, "/admin/adapters").await,
    );
}

/// Every answer, errors and the layers' own refusals included, carries `x-request-id`: the
/// client's when it sent one, a new one otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id() {
    let s = serve(false).await;
    let fresh = get(s.api, "/healthz").await;
    let id = fresh.header("x-request-id").expect("a request id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = get(s.api, "/healthz").await;
    assert_ne!(other.header("x-request-id"), Some(id));
    let kept = request(
        s.api,
        "GET",
        "/nowhere",
        &[("x-request-id", "trace-42")],
        vec![],
        None,
    )
    .await
    .unwrap();
    assert_eq!(kept.status, 404);
    assert_eq!(kept.header("x-request-id"), Some("trace-42"));
    let big = s.post_raw(vec![b' '; kezek_api::MAX_BODY + 1], &[]).await;
    assert_eq!(big.status, 413);
    assert!(big.header("x-request-id").is_some());
    let admin = get(s.admin, "/metrics").await;
    assert!(admin.header("x-request-id").is_some());
}

/// With `api.admin_token` set, every admin route needs it as a bearer token — unknown admin
/// paths included, so they reveal nothing, and `/metrics` (issue 11 item 6); health stays open
/// for monitoring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_guards_the_admin_routes() {
    let s = serve_with(false, Some("s3cret-token")).await;
    for (headers, status) in [
        (vec![], 401),
        (vec![("authorization", "Bearer wrong-token")], 401),
        (vec![("authorization", "s3cret-token")], 401),
        (vec![("authorization", "Bearer s3cret-token")], 200),
    ] {
        let reply = request(s.admin, "GET", "/admin/adapters", &headers, vec![], None)
            .await
            .unwrap();
        assert_eq!(reply.status, status, "{headers:?}");
        if status == 401 {
            assert_eq!(
                reply.header("content-type"),
                Some("application/problem+json")
            );
        }
    }
    let unknown = get(s.admin, "/admin/nothing-here").await;
    assert_eq!(unknown.status, 401);
    let booking_op = request(
        s.admin,
        "POST",
        "/admin/bookings/x/arrived",
        &[],
        vec![],
        None,
    )
    .await
    .unwrap();
    assert_eq!(booking_op.status, 401);
    for open in ["/healthz", "/readyz"] {
        assert_eq!(get(s.admin, open).await.status, 200, "{open}");
    }
    let admin = [("authorization", "Bearer s3cret-token")];
    let metrics = request(s.admin, "GET", "/metrics", &admin, vec![], None)
        .await
        .unwrap();
    assert_eq!(metrics.status, 200);
}

/// A client that never finishes its headers is cut off (slow loris; DESIGN.md "Trust").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = serve(false).await;
    let mut stream = tokio::net::TcpStream::connect(s.api).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    let limit = kezek_api::HEADER_READ_TIMEOUT + std::time::Duration::from_secs(5);
    let mut rest = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut rest)).await;
    assert!(
        read.is_ok(),
        "the connection was still open after {limit:?}"
    );
}

/// Issue 11 item 3: thousands of idle connections from one peer, each with half its headers
/// sent, take only that peer's share of the listener's slots — the rest are closed at once —
/// and a new client is still served within a second, on the public and the admin listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peers_idle_connections_do_not_lock_out_the_others() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const IDLE: usize = 6_000; // more than the listener's cap; the test's own fds allow no more
    let s = serve(false).await;
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        if let Ok(mut stream) = socket.connect(s.api).await {
            let _ = stream
                .write_all(b"POST /v1/verifications HTTP/1.1\r\nhost: kezek\r\n")
                .await;
            idle.push(stream);
        }
    }
    assert!(
        idle.len() > kezek_api::MAX_CONNECTIONS,
        "{} connected",
        idle.len()
    );
    for (listener, addr) in [("public", s.api), ("admin", s.admin)] {
        let reply = tokio::time::timeout(std::time::Duration::from_secs(1), get(addr, "/healthz"))
            .await
            .unwrap_or_else(|_| panic!("the {listener} listener did not answer within a second"));
        assert_eq!(reply.status, 200, "{listener}");
    }
    // The flood's last connection was past its peer's share: closed, not left waiting.
    let mut last = idle.pop().unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        last.read_to_end(&mut rest),
    )
    .await;
    assert!(
        read.is_ok(),
        "a connection past the peer's share was kept open"
    );
}

/// Issue 11 item 3: a body declared larger than the limit is refused at once with 413 — the
/// connection does not wait for 100 GB that will never come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_oversize_body_is_refused_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = serve(false).await;
    let mut stream = tokio::net::TcpStream::connect(s.api).await.unwrap();
    stream
        .write_all(
            b"POST /v1/verifications HTTP/1.1\r\nhost: kezek\r\ncontent-type: application/json\r\n\
              content-length: 99999999999\r\n\r\n{\"owner\":",
        )
        .await
        .unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(
        std::time::Duration::from_secs(2),
        stream.read_exact(&mut head),
    )
    .await
    .expect("answered at once")
    .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
}

/// A GET as [`SUBJECT`] (the admin listener ignores the token unless it has one).
async fn get(addr: SocketAddr, path: &str) -> Reply {
    request_as(SUBJECT, addr, "GET", path, &[], vec![], None)
        .await
        .unwrap()
}

/// A path template with its `{parameters}` filled in.
fn with_parameters(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The reply's body is valid against the schema the document gives this operation's status
/// (or its `4XX`), read as JSON Schema 2020-12 with the document's components.
fn conforms(doc: &serde_json::Value, template: &str, method: &str, reply: &Reply) {
    let responses = &doc["paths"][template][method]["responses"];
    let status = reply.status.to_string();
    let range = format!("{}XX", &status[..1]);
    let response = [status.as_str(), range.as_str()]
        .iter()
        .find_map(|s| responses.get(*s))
        .unwrap_or_else(|| panic!("{method} {template}: {status} is not documented"));
    let content_type = reply.header("content-type").unwrap_or_default();
    let media = response["content"]
        .as_object()
        .and_then(|c| c.get(content_type))
        .unwrap_or_else(|| {
            panic!("{method} {template} {status}: {content_type} is not documented")
        });
    // OpenAPI 3.1 reads `components/schemas` as schemas (so the schema files embedded there
    // keep their `$id`); plain JSON Schema only looks under `$defs`, so they move there.
    let moved = |v: &serde_json::Value| -> serde_json::Value {
        let text = v
            .to_string()
            .replace("\"#/components/schemas/", "\"#/$defs/");
        serde_json::from_str(&text).unwrap()
    };
    let mut schema = moved(&media["schema"]);
    schema["$defs"] = moved(&doc["components"]["schemas"]);
    let validator = jsonschema::validator_for(&schema).expect("the document's schemas compile");
    let body = reply.json();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {template} {status} does not match the document: {errors:?}\n{body}"
    );
}
