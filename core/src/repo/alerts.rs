//! The repository's alerts ([`crate::alert`]): the list a device shows, acknowledging one on
//! the device (kept until the next sync sends it), and what the server answered.

use chrono::{DateTime, Utc};

use super::Repo;
use crate::alert::{AcknowledgeResponse, MAX_ACKNOWLEDGE, StoredAlert, sort_for_listing};
use crate::error::Result;
use crate::ids::AlertId;
use crate::store::WriteOp;

impl Repo {
    /// Every alert held, unacknowledged first, then newest first.
    pub fn alerts(&self) -> Result<Vec<StoredAlert>> {
        let mut alerts = self.store.alerts()?;
        sort_for_listing(&mut alerts);
        Ok(alerts)
    }

    /// This device's user acknowledges the alert `id` at `at`; the next sync sends it.
    /// Acknowledging an alert already acknowledged (by anyone) changes nothing.
    ///
    /// # Errors
    /// [`crate::Error::NoSuchEntry`] if no such alert is held.
    pub fn acknowledge_alert(&mut self, id: AlertId, at: DateTime<Utc>) -> Result<()> {
        self.store.apply(vec![WriteOp::AcknowledgeAlert {
            id,
            at: at.timestamp(),
        }])
    }

    /// The acknowledgements made here and not yet sent (at most [`MAX_ACKNOWLEDGE`]).
    pub fn pending_acknowledgements(&self) -> Result<Vec<AlertId>> {
        let mut pending: Vec<(i64, AlertId)> = self
            .store
            .alerts()?
            .into_iter()
            .filter_map(|a| a.pending_ack_at.map(|at| (at, a.alert.id)))
            .collect();
        pending.sort();
        pending.truncate(MAX_ACKNOWLEDGE);
        Ok(pending.into_iter().map(|(_, id)| id).collect())
    }

    /// The server took the acknowledgements `sent` and answered with the alerts as they now
    /// stand: store them, and forget the pending acknowledgements (one the server did not
    /// take, for an alert this user may no longer see, is dropped with it).
    pub fn acknowledgements_sent(
        &mut self,
        sent: &[AlertId],
        answer: AcknowledgeResponse,
    ) -> Result<()> {
        let mut ops: Vec<WriteOp> = sent
            .iter()
            .map(|id| WriteOp::AcknowledgementSent(*id))
            .collect();
        ops.extend(answer.alerts.into_iter().map(WriteOp::PutAlert));
        self.store.apply(ops)
    }
}
