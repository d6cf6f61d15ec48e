//! Personal data stays out of logs (DESIGN.md invariant; issue: verification pipeline,
//! item 8): every log line of a run over many personas — approvals, refusals, notices and
//! registry faults, at TRACE level for every crate, some of them over HTTP with a query
//! string — is searched for the personas' IINs, BINs, names, phones, e-mails and document
//! numbers.

use kezek_mocks::faults::{Fault, FaultMode};
use kezek_mocks::registry::RegistryId;
use kezek_tests::http::request_as;
use kezek_tests::registries::{World, application};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn personal_data_never_reaches_the_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // With a single dispatcher registered, tracing computes a callsite's interest from the
    // default of whichever thread hits it first; a test running beside this one would then
    // switch the gateway's callsites off for good, and this test would see nothing. A second,
    // silent dispatcher makes every callsite ask this test's subscriber too.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);
    // One thread, so every span and event of the run reaches this subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secrets = runtime.block_on(async {
        let world = World::start().await;
        world
            .mocks
            .set_fault(RegistryId::Esbd, Fault::mode(FaultMode::Sce004));
        world
            .mocks
            .set_fault(RegistryId::GbdFl, Fault::mode(FaultMode::MalformedXml));
        // The HTTP edge logs every request too (issue 9 item 2): by route template, never
        // by URI or body.
        let (api, _) =
            kezek_tests::serve(world.gateway.clone(), None, kezek_api::MAX_CONNECTIONS).await;
        let mut secrets = Vec::new();
        for (i, persona) in world.scenario.personas.iter().take(25).enumerate() {
            let app = application(persona);
            if i < 5 {
                let reply = request_as(
                    "acc-logs",
                    api,
                    "POST",
                    "/v1/verifications",
                    &[("content-type", "application/json")],
                    serde_json::to_vec(&app).unwrap(),
                    None,
                )
                .await
                .unwrap();
                let id = reply.json()["id"].as_str().unwrap().to_owned();
                // A query string is the client's to fill: it must not reach the logs either.
                let marker = format!("query-string-{i}");
                let path = format!("/v1/verifications/{id}?owner={marker}");
                request_as("acc-logs", api, "GET", &path, &[], vec![], None)
                    .await
                    .unwrap();
                secrets.push(marker);
            }
            world.gateway.pipeline.verify(app.clone()).await.unwrap();
            secrets.extend(app.owner.iin_bin.clone());
            secrets.push(app.owner.name.clone());
            for d in &app.drivers {
                secrets.extend(d.iin.clone());
                secrets.extend(d.email.clone());
                secrets.push(d.full_name.clone());
                secrets.push(d.phone.clone());
                secrets.push(d.document.number.clone());
            }
        }
        secrets
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("verification decided"),
        "nothing was captured: the test would prove nothing"
    );
    assert!(
        logs.contains("/v1/verifications/{id}") && logs.contains("finished processing request"),
        "the HTTP edge logged no request: the test would prove nothing for it"
    );
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| s.len() >= 5 && logs.contains(s.as_str()))
        .collect();
    assert!(leaked.is_empty(), "personal data in logs: {leaked:?}");
}
