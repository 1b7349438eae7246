//! The import of users from a CSV file: the upload shows a preview of every row with its
//! errors and writes nothing; "Import" sends the same file back and the administration service
//! checks it again and writes every row in one transaction, only if no row has an error.
//! An upload over [`admin::MAX_IMPORT_BYTES`] comes back with the error beside the field.

use askama::Template;
use axum::Form;
use axum::extract::multipart::Field;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{self, Chrome};
use super::queries::{self, OrgRow};
use super::session::Browser;
use crate::admin::{self, ImportPreview, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS};
use crate::error::Error;
use crate::state::AppState;

/// Largest request body of the upload and the confirmation (the file, its form fields and,
/// for the confirmation, its URL encoding). Files between [`MAX_IMPORT_BYTES`] and this are
/// read through and refused beside the field.
pub(super) const IMPORT_BODY_LIMIT: usize = 1024 * 1024;

/// Largest text form field of the upload (the CSRF token, the organisation id).
const MAX_TEXT_FIELD: usize = 1024;

/// One row of the preview as shown.
#[derive(Debug, Clone)]
struct PreviewLine {
    line: usize,
    name: String,
    role: String,
    teams: String,
    errors: Vec<String>,
}

/// The preview of an uploaded file.
#[derive(Debug, Clone)]
struct PreviewShown {
    file_name: String,
    rows: Vec<PreviewLine>,
    bad: usize,
    csv: String,
}

#[derive(Template)]
#[template(path = "console/import.html")]
struct ImportPage {
    chrome: Option<Chrome>,
    orgs: Vec<OrgRow>,
    org_id: String,
    org_error: Option<String>,
    file_error: Option<String>,
    preview: Option<PreviewShown>,
    max_kib: usize,
    max_rows: usize,
}

/// What the page shows besides the form.
#[derive(Debug, Default)]
struct Outcome {
    org_error: Option<String>,
    file_error: Option<String>,
    preview: Option<PreviewShown>,
}

async fn import_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    org_id: String,
    outcome: Outcome,
) -> Response {
    let admin = b.caller.user.clone();
    let read = move |c: crate::sql::Conn<'_>| queries::orgs(c, &admin);
    page::read_and_render(state, b, status, read, |orgs, chrome| ImportPage {
        chrome: Some(chrome),
        orgs,
        org_id,
        org_error: outcome.org_error,
        file_error: outcome.file_error,
        preview: outcome.preview,
        max_kib: MAX_IMPORT_BYTES / 1024,
        max_rows: MAX_IMPORT_ROWS,
    })
    .await
}

/// `GET /console/users/import`: the upload form.
pub(super) async fn form(State(state): State<AppState>, b: Browser) -> Response {
    if let Err(r) = page::require_admin(&state, &b, "import_users").await {
        return r;
    }
    let org = b.caller.user.org_id.clone();
    import_page(&state, &b, StatusCode::OK, org, Outcome::default()).await
}

/// The fields of the upload form.
#[derive(Debug, Default)]
struct Upload {
    csrf: String,
    org_id: String,
    file_name: String,
    file: Vec<u8>,
    too_large: bool,
}

/// Read a text field, at most [`MAX_TEXT_FIELD`] bytes (longer is cut, and then refused as
/// a wrong token or an unknown organisation).
async fn text_field(
    mut field: Field<'_>,
) -> Result<String, axum::extract::multipart::MultipartError> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await? {
        let room = MAX_TEXT_FIELD.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Read the upload: a file over [`MAX_IMPORT_BYTES`] (or a body over the route's limit) is
/// marked too large and not kept. `None` for a body that is not a well-formed form.
async fn read_upload(mut form: Multipart) -> Option<Upload> {
    let mut up = Upload::default();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Some(up),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                up.too_large = true;
                return Some(up);
            }
            Err(_) => return None,
        };
        let read = match field.name() {
            Some("csrf") => text_field(field).await.map(|t| up.csrf = t),
            Some("org_id") => text_field(field).await.map(|t| up.org_id = t),
            Some("file") => {
                up.file_name = field.file_name().unwrap_or("").chars().take(100).collect();
                read_file(field, &mut up).await
            }
            _ => text_field(field).await.map(|_| ()),
        };
        match read {
            Ok(()) => {}
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                up.too_large = true;
                return Some(up);
            }
            Err(_) => return None,
        }
    }
}

async fn read_file(
    mut field: Field<'_>,
    up: &mut Upload,
) -> Result<(), axum::extract::multipart::MultipartError> {
    while let Some(chunk) = field.chunk().await? {
        if up.file.len() + chunk.len() > MAX_IMPORT_BYTES {
            up.too_large = true;
            up.file = Vec::new();
        }
        if !up.too_large {
            up.file.extend_from_slice(&chunk);
        }
    }
    Ok(())
}

/// The message of a refused file, as shown beside the field (`file is empty` → `The file is
/// empty.`).
fn file_message(message: &str) -> String {
    format!("The {message}.")
}

fn too_large_message() -> String {
    file_message(&format!(
        "file is larger than {} KiB; split it into smaller files",
        MAX_IMPORT_BYTES / 1024
    ))
}

/// `text` with every control, bidirectional or invisible format character shown as
/// `[U+XXXX]`, so a preview cannot be reordered or hidden by what it shows.
fn visible(text: &str) -> String {
    use casebook_core::names::{NameError, check_display_name};
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // A lone whitespace character reads as "empty", so controls are tested first.
        let hidden = c.is_control()
            || matches!(
                check_display_name(c.encode_utf8(&mut [0; 4])),
                Err(NameError::Control(_) | NameError::Bidi(_) | NameError::Invisible(_))
            );
        if hidden {
            out.push_str(&format!("[U+{:04X}]", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// The preview of a read file, as the page shows it.
fn shown(preview: ImportPreview, file_name: String, csv: String) -> PreviewShown {
    let bad = preview.rows_with_errors();
    let rows = preview
        .rows
        .into_iter()
        .map(|r| PreviewLine {
            line: r.row.line,
            name: visible(&r.row.name),
            role: visible(&r.role.map(|x| x.as_str().to_owned()).unwrap_or(r.row.role)),
            teams: visible(&r.row.teams.join("; ")),
            errors: r.errors,
        })
        .collect();
    PreviewShown {
        file_name,
        rows,
        bad,
        csv,
    }
}

/// Check `file` for `org` and show the preview (or the file's or organisation's error beside
/// its field). Writes nothing.
async fn preview(
    state: &AppState,
    b: &Browser,
    org: String,
    file_name: String,
    file: Vec<u8>,
    refused_import: Option<String>,
) -> Response {
    let csv = String::from_utf8_lossy(&file).into_owned();
    let result = admin::preview_import(state, b.caller.clone(), org.clone(), file).await;
    let (status, outcome) = match result {
        Ok(p) if p.is_clean() && refused_import.is_none() => {
            let outcome = Outcome {
                preview: Some(shown(p, file_name, csv)),
                ..Outcome::default()
            };
            (StatusCode::OK, outcome)
        }
        Ok(p) => {
            let bad = p.rows_with_errors();
            let message = refused_import.unwrap_or_else(|| {
                format!(
                    "{bad} of {} rows have errors (shown below); nothing was written. Correct \
                     the file and upload it again.",
                    p.rows.len()
                )
            });
            let outcome = Outcome {
                file_error: Some(message),
                preview: Some(shown(p, file_name, csv)),
                ..Outcome::default()
            };
            (StatusCode::BAD_REQUEST, outcome)
        }
        Err(Error::NotFound(_)) => {
            let outcome = Outcome {
                org_error: Some("No such organisation.".into()),
                ..Outcome::default()
            };
            (StatusCode::BAD_REQUEST, outcome)
        }
        Err(Error::BadRequest(m)) => {
            let outcome = Outcome {
                file_error: Some(file_message(&m)),
                ..Outcome::default()
            };
            (StatusCode::BAD_REQUEST, outcome)
        }
        Err(e) => return page::error_for(state, b, &e),
    };
    import_page(state, b, status, org, outcome).await
}

/// `POST /console/users/import` (a multipart form: `csrf`, `org_id`, `file`): the preview.
pub(super) async fn upload(State(state): State<AppState>, b: Browser, form: Multipart) -> Response {
    let Some(up) = read_upload(form).await else {
        let e = Error::BadRequest("the upload is not a well-formed form".into());
        return page::error_for(&state, &b, &e);
    };
    if let Err(r) = page::admin_change(&state, &b, &up.csrf, "import_users").await {
        return r;
    }
    let mut outcome = Outcome::default();
    if up.org_id.trim().is_empty() {
        outcome.org_error = Some("Choose an organisation.".into());
    }
    if up.too_large {
        outcome.file_error = Some(too_large_message());
    } else if up.file.is_empty() && up.file_name.is_empty() {
        outcome.file_error = Some("Choose a CSV file.".into());
    }
    if outcome.org_error.is_some() || outcome.file_error.is_some() {
        let status = if up.too_large {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        return import_page(&state, &b, status, up.org_id, outcome).await;
    }
    preview(&state, &b, up.org_id, up.file_name, up.file, None).await
}

/// The confirmation: the file of a clean preview, sent back.
#[derive(Debug, Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    file_name: String,
    #[serde(default)]
    csv: String,
}

/// `POST /console/users/import/confirm`: check the file again and write every row in one
/// transaction; if any row has an error now (a user of the same name created meanwhile),
/// nothing is written and the preview comes back with the errors.
pub(super) async fn confirm(
    State(state): State<AppState>,
    b: Browser,
    Form(f): Form<ConfirmForm>,
) -> Response {
    if let Err(r) = page::admin_change(&state, &b, &f.csrf, "import_users").await {
        return r;
    }
    let file = f.csv.into_bytes();
    match admin::import_users(&state, b.caller.clone(), f.org_id.clone(), file.clone()).await {
        Ok(n) => Redirect::to(&format!("/console/users?imported={n}")).into_response(),
        Err(Error::BadRequest(m)) if m.contains("rows with errors") => {
            let refused = Some(format!("{}.", capitalised(&m)));
            preview(&state, &b, f.org_id, f.file_name, file, refused).await
        }
        Err(_) => preview(&state, &b, f.org_id, f.file_name, file, None).await,
    }
}

/// `file has 2 rows…` → `The file has 2 rows…`.
fn capitalised(message: &str) -> String {
    match message.strip_prefix("file ") {
        Some(rest) => format!("The file {rest}"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_shows_invisible_and_reordering_characters_as_code_points() {
        assert_eq!(visible("Eve\u{202E}lyn\tX"), "Eve[U+202E]lyn[U+0009]X");
        assert_eq!(visible("Zoë Ní Bhriain"), "Zoë Ní Bhriain");
    }

    #[test]
    fn refusals_read_as_sentences() {
        assert_eq!(file_message("file is empty"), "The file is empty.");
        assert_eq!(
            too_large_message(),
            "The file is larger than 256 KiB; split it into smaller files."
        );
        assert_eq!(
            capitalised("file has 2 rows with errors; nothing was imported"),
            "The file has 2 rows with errors; nothing was imported"
        );
    }
}
