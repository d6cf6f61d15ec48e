//! Personal data stays out of logs (DESIGN.md invariant; issue: verification pipeline,
//! item 8): every log line of a run over many personas — approvals, refusals, notices and
//! registry faults, at TRACE level for every crate — is searched for the personas' IINs,
//! BINs, names, phones, e-mails and document numbers.

use kezek_mocks::faults::{Fault, FaultMode};
use kezek_mocks::registry::RegistryId;
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
        // Other tests of this binary run on other threads with no subscriber; make every
        // callsite they may have seen first ask this thread's subscriber again.
        tracing::callsite::rebuild_interest_cache();
        let mut secrets = Vec::new();
        for persona in world.scenario.personas.iter().take(25) {
            let app = application(persona);
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
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| s.len() >= 5 && logs.contains(s.as_str()))
        .collect();
    assert!(leaked.is_empty(), "personal data in logs: {leaked:?}");
}
