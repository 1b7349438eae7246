//! The JSON bodies of the administration API.

use casebook_core::ids::CaseId;
use serde::{Deserialize, Serialize};

/// `POST /v1/admin/orgs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Display name.
    pub name: String,
    /// Member local authorities of a joint arrangement (may be empty).
    #[serde(default)]
    pub authorities: Vec<String>,
}

/// The id of something just created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// Its id.
    pub id: String,
}

/// `POST /v1/admin/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Display name.
    pub name: String,
    /// `guardian`, `social_worker`, `carer`, `supervisor` or `administrator`.
    pub role: String,
    /// Their organisation.
    pub org_id: String,
}

/// `POST /v1/admin/teams`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    /// Display name.
    pub name: String,
    /// The team's organisation.
    pub org_id: String,
}

/// `POST /v1/admin/cases`: register a case ahead of any device creating it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// The case id (fresh if absent).
    #[serde(default)]
    pub case_id: Option<CaseId>,
    /// The organisation.
    pub org_id: String,
    /// The team, if any.
    #[serde(default)]
    pub team_id: Option<String>,
}

/// A body naming one user: team membership, case assignment, placement link.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    /// The user.
    pub user_id: String,
}

/// `PUT /v1/admin/cases/{case}/team`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetTeam {
    /// The team, or none.
    pub team_id: Option<String>,
}

/// `POST /v1/admin/cases/{case}/transfer`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The receiving organisation.
    pub org_id: String,
}

/// `POST /v1/admin/users/{user}/enrolment-code`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueCode {
    /// Validity in seconds (default 24 hours, at most 7 days).
    #[serde(default)]
    pub ttl_secs: Option<i64>,
}

/// A freshly issued enrolment code, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeIssued {
    /// The user it enrols.
    pub user_id: String,
    /// The code.
    pub code: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// The code's id: list it with `GET /v1/admin/users/{user}/enrolment-codes`, cancel it
    /// with `DELETE /v1/admin/enrolment-codes/{code_id}`.
    pub code_id: String,
}

/// An outstanding enrolment code (never the code itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeInfo {
    /// The code's id.
    pub code_id: String,
    /// The user it enrols.
    pub user_id: String,
    /// Who issued it (none for the first administrator's).
    pub issued_by: Option<String>,
    /// Unix seconds (unknown for codes issued before ids existed).
    pub issued_at: Option<i64>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// One enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: String,
    /// Its user.
    pub user_id: String,
    /// Its label.
    pub name: String,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// Unix seconds, if revoked.
    pub revoked_at: Option<i64>,
}

/// `GET /v1/admin/devices` and `GET /v1/admin/audit` query parameters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// A user.
    #[serde(default)]
    pub user: Option<String>,
    /// A case.
    #[serde(default)]
    pub case: Option<String>,
}
