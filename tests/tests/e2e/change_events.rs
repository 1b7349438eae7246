//! A sync's report names every document it changed on the device (updated, received whole,
//! purged), once each, so the app can refresh just those cases and screens.

use std::collections::BTreeSet;

use anyhow::Result;
use casebook_core::doc::{DocId, DocKind};

use crate::{record_visit, team};

fn set(docs: &[DocId]) -> BTreeSet<DocId> {
    docs.iter().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_names_the_documents_it_changed() -> Result<()> {
    let t = team().await?;
    let case = t.case;
    // The supervisor's first sync receives the whole case.
    let first = t.supervisor.sync().await?.report;
    let all: BTreeSet<DocId> = DocKind::ALL
        .into_iter()
        .map(|k| DocId::new(case, k))
        .collect();
    assert_eq!(set(&first.changed), all, "{first:?}");
    assert_eq!(first.changed.len(), all.len(), "each once");
    // Nothing new: nothing named.
    let idle = t.supervisor.sync().await?.report;
    assert!(idle.changed.is_empty(), "{idle:?}");

    // A visit note on the guardian's phone changes the visits document only.
    record_visit(&t.guardian, case, "likes football")?;
    t.guardian.sync().await?;
    let update = t.supervisor.sync().await?.report;
    assert_eq!(update.changed, vec![DocId::new(case, DocKind::Visits)]);
    assert_eq!(update.docs_updated, 1);
    // The sender's own push changes nothing on its own device.
    record_visit(&t.guardian, case, "wants to call home")?;
    let pushed = t.guardian.sync().await?.report;
    assert_eq!(pushed.docs_pushed, 1);
    assert!(pushed.changed.is_empty(), "{pushed:?}");

    // The carer holds the safety document; when the placement ends it is purged and named.
    let safety = DocId::new(case, DocKind::Safety);
    let received = t.carer.sync().await?.report;
    assert_eq!(received.changed, vec![safety]);
    t.h.admin
        .unlink_carer(&case.to_string(), &t.carer_id)
        .await?;
    let purged = t.carer.sync().await?.report;
    assert_eq!(purged.purged, vec![safety]);
    assert_eq!(purged.changed, vec![safety]);
    Ok(())
}
