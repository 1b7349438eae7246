//! Exported calls on alerts to the team: the list (unacknowledged first, then newest) and
//! acknowledging one. Alerts arrive with syncs and reach every change listener as `Alert`
//! events (see `sync.rs`).

use std::collections::HashMap;

use casebook_core::ids::{AlertId, CaseId};
use casebook_core::repo::Repo;
use chrono::Utc;

use crate::casebook::Casebook;
use crate::error::Result;
use crate::observe::Observers;
use crate::records::{ChangeEvent, ChangeSource, TeamAlert, parse_id};

#[uniffi::export]
impl Casebook {
    /// Every alert this device holds: unacknowledged first, then newest first.
    pub fn alerts(&self) -> Result<Vec<TeamAlert>> {
        self.with_unlocked(|repo| listed(repo))
    }

    /// Acknowledge an alert as this device's user. It shows as acknowledged at once; the next
    /// sync tells the server, which records who and when and tells every other recipient.
    /// Acknowledging an alert already acknowledged (by anyone) changes nothing.
    pub fn acknowledge_alert(&self, alert_id: String) -> Result<()> {
        let id: AlertId = parse_id("alert_id", &alert_id)?;
        let alert = self.with_unlocked(|repo| {
            repo.acknowledge_alert(id, Utc::now())?;
            Ok(listed(repo)?.into_iter().find(|a| a.id == alert_id))
        })?;
        if let Some(alert) = alert {
            notify_alerts(&self.observers, vec![alert]);
        }
        Ok(())
    }
}

/// Every alert held, as listed, with the case references held.
pub(crate) fn listed(repo: &Repo) -> Result<Vec<TeamAlert>> {
    let references: HashMap<CaseId, String> = repo
        .cases()?
        .into_iter()
        .map(|c| (c.case, c.reference))
        .collect();
    Ok(repo
        .alerts()?
        .into_iter()
        .map(|a| TeamAlert::new(a, &references))
        .collect())
}

/// One `Alert` event per alert.
pub(crate) fn notify_alerts(observers: &Observers, alerts: Vec<TeamAlert>) {
    for alert in alerts {
        observers.notify(&ChangeEvent {
            source: ChangeSource::Alert,
            case_id: Some(alert.case_id.clone()),
            kind: None,
            notice: None,
            alert: Some(alert),
        });
    }
}
