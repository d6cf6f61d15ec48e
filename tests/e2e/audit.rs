//! The audit log (issue: verification pipeline, item 7): every decision and registry
//! exchange lands in a hash chain in the store; altering or removing an entry is found, and
//! the first broken link is named.

use kezek_store::{DbError, Val};
use kezek_tests::registries::{World, application};
use std::time::Duration;

async fn entries(world: &World) -> i64 {
    kezek_store::audit::verify(&world.gateway.store)
        .await
        .unwrap()
        .expect("chain intact")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_and_exchanges_are_chained_and_tampering_is_found() {
    let world = World::start().await;
    for p in world.scenario.personas.iter().take(4) {
        world.gateway.pipeline.verify(application(p)).await.unwrap();
    }
    // The writer appends in the background; wait for all four decisions.
    let mut n = 0;
    for _ in 0..100 {
        n = entries(&world).await;
        let decisions = world
            .gateway
            .store
            .transact(|tx| -> Result<_, DbError> {
                tx.query(
                    "SELECT count(*) FROM audit_log WHERE kind = 'decision'",
                    &[],
                )
            })
            .await
            .unwrap();
        if decisions[0][0].int() == Ok(4) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(n > 4, "decisions and exchanges recorded: {n}");
    let bodies = world
        .gateway
        .store
        .transact(|tx| -> Result<_, DbError> { tx.query("SELECT body FROM audit_log", &[]) })
        .await
        .unwrap();
    let all: String = bodies
        .iter()
        .map(|r| r[0].text().unwrap().to_owned())
        .collect();
    assert!(all.contains("request-sha256") && all.contains("\"decision\""));
    // No personal data: the personas' IINs are not in the log.
    for p in world.scenario.personas.iter().take(4) {
        if let Some(iin) = &p.request.owner.iin_bin {
            assert!(
                !all.contains(iin.as_str()),
                "an IIN/BIN reached the audit log"
            );
        }
    }

    // Alter one entry: the chain names it.
    world
        .gateway
        .store
        .transact(|tx| -> Result<_, DbError> {
            tx.execute(
                "UPDATE audit_log SET body = $1 WHERE seq = 3",
                &[Val::from("{\"decision\":\"approved\"}")],
            )
        })
        .await
        .unwrap();
    let broken = kezek_store::audit::verify(&world.gateway.store)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(broken.seq, 3, "{broken}");
    assert!(broken.reason.contains("altered"), "{broken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_entry_is_found() {
    let world = World::start().await;
    let p = &world.scenario.personas[0];
    world.gateway.pipeline.verify(application(p)).await.unwrap();
    for _ in 0..100 {
        if entries(&world).await >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    world
        .gateway
        .store
        .transact(|tx| -> Result<_, DbError> {
            tx.execute("DELETE FROM audit_log WHERE seq = 2", &[])
        })
        .await
        .unwrap();
    let broken = kezek_store::audit::verify(&world.gateway.store)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(broken.seq, 3, "{broken}");
}
