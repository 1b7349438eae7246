//! A case for the people who work on it (a supervisor, an assigned guardian or social worker,
//! a linked carer): the documents their role may read under the same access rules as sync,
//! rendered on the server and never sent to keep; the history of a field with its authors;
//! conflicts resolved from the page (the choice written into the document as the person's
//! change, with this browser as the device, and synced to the phones); the police pack of an
//! open missing episode. Every document shown is audited as a device's read is; a case the
//! person may not read is refused 403 and the refusal audited.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use casebook_core::doc::{CaseDoc, DocId, DocKind};
use casebook_core::ids::{CaseId, EntryId};
use serde::Deserialize;
use serde_json::json;

use super::case_view::{self, CaseView, Names};
use super::field_history::field_history;
use super::page::{self, Chrome};
use super::session::Browser;
use crate::audit::{self, Event};
use crate::directory::{self, Permissions};
use crate::error::{Error, Result};
use crate::sql::Conn;
use crate::state::AppState;

/// The documents the case page lays out, in reading order.
const SHOWN: [DocKind; 3] = [DocKind::Profile, DocKind::Visits, DocKind::Safety];

#[derive(Template)]
#[template(path = "console/case_read.html")]
struct CaseReadPage {
    chrome: Option<Chrome>,
    case: String,
    view: CaseView,
}

/// What reading a case found.
enum Read<T> {
    /// The person may read none of the case's documents (or not the one asked for).
    Denied,
    /// What was read, and the documents it read (to audit).
    Shown(T, Vec<DocId>),
}

fn stored(conn: Conn<'_>, doc: &DocId) -> Result<Option<Vec<u8>>> {
    Ok(crate::db::docs::read_bytes(conn, &doc.to_string())?)
}

fn load(conn: Conn<'_>, doc: DocId) -> Result<Option<CaseDoc>> {
    match stored(conn, &doc)? {
        Some(bytes) => CaseDoc::load(doc, Some(&bytes), &[])
            .map(Some)
            .map_err(|_| Error::Corrupt("stored document does not load".into())),
        None => Ok(None),
    }
}

/// The names of the people of the case's organisation, by user id.
fn names(conn: Conn<'_>, case: &CaseId) -> Result<Names> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.name FROM users u JOIN cases c ON c.org_id = u.org_id WHERE c.id = ?1",
    )?;
    let rows = stmt
        .query_map([case.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<crate::sql::Result<Names>>()?;
    Ok(rows)
}

fn may_open(perms: &Permissions, case: CaseId) -> bool {
    DocKind::ALL
        .iter()
        .any(|k| perms.access(&DocId::new(case, *k)).can_read())
}

/// Read the case for `b`'s person: the view and the documents in it.
fn read_case(conn: Conn<'_>, b: &Browser, case: CaseId) -> Result<Read<CaseView>> {
    let perms = directory::permissions(conn, &b.caller.user)?;
    if !may_open(&perms, case) {
        return Ok(Read::Denied);
    }
    let mut docs = Vec::new();
    for kind in SHOWN {
        let id = DocId::new(case, kind);
        if perms.access(&id).can_read()
            && let Some(doc) = load(conn, id)?
        {
            docs.push(doc);
        }
    }
    let read: Vec<DocId> = docs.iter().map(CaseDoc::id).collect();
    let names = names(conn, &case)?;
    let view = case_view::build(
        &mut docs,
        |k| perms.access(&DocId::new(case, k)).can_write(),
        &names,
    );
    Ok(Read::Shown(view, read))
}

/// Audit what the console showed: one `read` per document, as a device's sync records.
async fn audit_reads(
    state: &AppState,
    b: &Browser,
    docs: Vec<DocId>,
    which: &'static str,
) -> Result<()> {
    let now = state.clock.now();
    let (user, device) = (b.caller.user.id.clone(), b.caller.device.to_string());
    state
        .db
        .write(move |tx| {
            for doc in docs {
                audit::append(
                    tx,
                    now,
                    Event {
                        event: "read",
                        actor_user: Some(user.clone()),
                        actor_device: Some(device.clone()),
                        case_id: Some(doc.case.to_string()),
                        doc_id: Some(doc.to_string()),
                        detail: json!({ "console": which }),
                        ..Event::default()
                    },
                )?;
            }
            Ok(())
        })
        .await
}

/// Refuse a case the person may not read: 403, audited `denied` (reason `console_case`).
async fn deny(state: &AppState, b: &Browser, case: CaseId, which: &'static str) -> Response {
    let now = state.clock.now();
    let (user, device) = (b.caller.user.id.clone(), b.caller.device.to_string());
    let written = state
        .db
        .write(move |tx| {
            audit::append(
                tx,
                now,
                Event {
                    event: "denied",
                    actor_user: Some(user),
                    actor_device: Some(device),
                    case_id: Some(case.to_string()),
                    detail: json!({ "reason": "console_case", "page": which }),
                    ..Event::default()
                },
            )?;
            Ok(())
        })
        .await;
    let e = match written {
        Ok(()) => Error::Forbidden("this case is not one of yours"),
        Err(e) => e,
    };
    page::error_page(Some(b.chrome(state)), &e)
}

fn parse_case(id: &str) -> Result<CaseId> {
    id.parse().map_err(|_| Error::NotFound("no such case"))
}

/// Which page of one section's records (`?section=visits&page=1`); other sections show
/// their first page.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct CasePageQuery {
    #[serde(default)]
    section: String,
    #[serde(default)]
    page: u32,
}

/// Show one page of each section's records.
fn page_sections(view: &mut CaseView, q: &CasePageQuery) {
    for s in &mut view.sections {
        let wanted = if s.id == q.section { q.page } else { 0 };
        let (blocks, paging) = page::page_of(std::mem::take(&mut s.blocks), wanted);
        s.blocks = blocks;
        s.paging = paging;
    }
}

/// `GET /console/cases/{case}?section=&page=` for anyone but an administrator.
pub(super) async fn case(state: &AppState, b: &Browser, id: &str, q: CasePageQuery) -> Response {
    let case = match parse_case(id) {
        Ok(c) => c,
        Err(e) => return page::error_page(Some(b.chrome(state)), &e),
    };
    let reader = b.clone();
    let found = state
        .db
        .read(move |conn| read_case(conn, &reader, case))
        .await;
    match found {
        Ok(Read::Denied) => deny(state, b, case, "case").await,
        Ok(Read::Shown(mut view, docs)) => {
            page_sections(&mut view, &q);
            if let Err(e) = audit_reads(state, b, docs, "case").await {
                return page::error_page(Some(b.chrome(state)), &e);
            }
            page::render(
                StatusCode::OK,
                &CaseReadPage {
                    chrome: Some(b.chrome(state)),
                    case: case.to_string(),
                    view,
                },
            )
        }
        Err(e) => page::error_page(Some(b.chrome(state)), &e),
    }
}

/// A field's history, as shown.
#[derive(Debug, Clone)]
struct HistoryLine {
    at: String,
    author: String,
    values: String,
}

#[derive(Template)]
#[template(path = "console/field_history.html")]
struct HistoryPage {
    chrome: Option<Chrome>,
    case: String,
    doc: &'static str,
    path: String,
    lines: Vec<HistoryLine>,
}

/// `?doc=profile&path=given_name`.
#[derive(Debug, Deserialize)]
pub(super) struct HistoryQuery {
    #[serde(default)]
    doc: String,
    #[serde(default)]
    path: String,
}

fn doc_kind(name: &str) -> Option<DocKind> {
    DocKind::ALL.into_iter().find(|k| k.as_str() == name)
}

/// A document path from the page: `/`-joined map keys, each a plain name or an id.
fn field_path(text: &str) -> Option<Vec<String>> {
    let parts: Vec<String> = text.split('/').map(str::to_owned).collect();
    let plain = |p: &String| {
        !p.is_empty()
            && p.len() <= 64
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    (text.len() <= 400 && parts.iter().all(plain)).then_some(parts)
}

/// `GET /console/cases/{case}/history?doc=&path=`: who changed a field, when, to what.
pub(super) async fn history(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Response {
    let case = match parse_case(&id) {
        Ok(c) => c,
        Err(e) => return page::error_page(Some(b.chrome(&state)), &e),
    };
    let (Some(kind), Some(path)) = (doc_kind(&q.doc), field_path(&q.path)) else {
        let e = Error::BadRequest("doc and path must name a field of a document".into());
        return page::error_page(Some(b.chrome(&state)), &e);
    };
    let doc_id = DocId::new(case, kind);
    let reader = b.clone();
    let found = state
        .db
        .read(move |conn| {
            let perms = directory::permissions(conn, &reader.caller.user)?;
            if !perms.access(&doc_id).can_read() {
                return Ok(Read::Denied);
            }
            let Some(mut doc) = load(conn, doc_id)? else {
                return Err(Error::NotFound("this document is not on the server yet"));
            };
            let names = names(conn, &case)?;
            let lines = field_history(&mut doc, &path)
                .into_iter()
                .rev()
                .map(|c| HistoryLine {
                    at: c.at.map(|t| page::time(t.timestamp())).unwrap_or_default(),
                    author: case_view::author_name(&names, c.author.as_ref()),
                    values: if c.values.is_empty() {
                        "(removed)".to_owned()
                    } else {
                        c.values.join(" | ")
                    },
                })
                .collect::<Vec<_>>();
            Ok(Read::Shown(lines, vec![doc_id]))
        })
        .await;
    match found {
        Ok(Read::Denied) => deny(&state, &b, case, "history").await,
        Ok(Read::Shown(lines, docs)) => {
            if let Err(e) = audit_reads(&state, &b, docs, "history").await {
                return page::error_page(Some(b.chrome(&state)), &e);
            }
            page::render(
                StatusCode::OK,
                &HistoryPage {
                    chrome: Some(b.chrome(&state)),
                    case: case.to_string(),
                    doc: kind.as_str(),
                    path: q.path,
                    lines,
                },
            )
        }
        Err(e) => page::error_page(Some(b.chrome(&state)), &e),
    }
}

/// The resolve form: which field of which document, and the value chosen (JSON text).
#[derive(Debug, Deserialize)]
pub(super) struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    doc: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    chosen: String,
}

/// `POST /console/cases/{case}/conflicts`: resolve one conflict with one of its values.
pub(super) async fn resolve(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Form(f): Form<ResolveForm>,
) -> Response {
    if let Err(r) = page::check_csrf(&state, &b, &f.csrf, "resolve_conflict").await {
        return r;
    }
    let case = match parse_case(&id) {
        Ok(c) => c,
        Err(e) => return page::error_page(Some(b.chrome(&state)), &e),
    };
    let checked = match (doc_kind(&f.doc), field_path(&f.path)) {
        (Some(kind), Some(path)) => serde_json::from_str::<serde_json::Value>(&f.chosen)
            .map(|chosen| (kind, path, chosen))
            .map_err(|_| Error::BadRequest("chosen is not one of the values".into())),
        _ => Err(Error::BadRequest(
            "doc and path must name a field of a document".into(),
        )),
    };
    let (kind, path, chosen) = match checked {
        Ok(c) => c,
        Err(e) => return page::error_page(Some(b.chrome(&state)), &e),
    };
    let resolution = EntryId::random(&mut rand::rngs::OsRng);
    let applied = crate::person_edits::apply(
        &state,
        b.caller.clone(),
        DocId::new(case, kind),
        "resolve_conflict",
        move |doc, edit| doc.resolve_conflict(edit, &path, chosen, resolution),
    )
    .await;
    match applied {
        Ok(()) => Redirect::to(&format!("/console/cases/{case}#conflicts-h")).into_response(),
        Err(e) => page::error_page(Some(b.chrome(&state)), &e),
    }
}

/// `?episode=<id>`.
#[derive(Debug, Deserialize)]
pub(super) struct PackQuery {
    #[serde(default)]
    episode: String,
}

/// `GET /console/cases/{case}/police-pack?episode=`: the police pack of an open episode as
/// PDF (made, checked and audited by [`crate::police_pack::for_user`]; never cached).
pub(super) async fn police_pack(
    State(state): State<AppState>,
    b: Browser,
    Path(id): Path<String>,
    Query(q): Query<PackQuery>,
) -> Response {
    let case = match parse_case(&id) {
        Ok(c) => c,
        Err(e) => return page::error_page(Some(b.chrome(&state)), &e),
    };
    let Ok(episode) = q.episode.parse::<EntryId>() else {
        let e = Error::BadRequest("episode is not an episode id".into());
        return page::error_page(Some(b.chrome(&state)), &e);
    };
    let now = state.clock.now();
    match crate::police_pack::for_user(&state.db, &b.caller.user.id, case, episode, now).await {
        Ok(pdf) => {
            let mut r = pdf.into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pdf"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!(
                "attachment; filename=\"police-pack-{episode}.pdf\""
            )) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => page::error_page(Some(b.chrome(&state)), &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::case_view::{Block, Section};

    fn section(id: &'static str, blocks: usize) -> Section {
        Section {
            id,
            title: "Records",
            doc: "visits",
            blocks: (0..blocks)
                .map(|n| Block {
                    title: format!("Record {n}"),
                    fields: Vec::new(),
                    open_episode: None,
                })
                .collect(),
            unreadable: false,
            paging: page::Paging::default(),
        }
    }

    #[test]
    fn each_section_pages_its_records() {
        let mut view = CaseView {
            sections: vec![section("visits", 120), section("checks", 70)],
            ..CaseView::default()
        };
        let q = CasePageQuery {
            section: "visits".into(),
            page: 1,
        };
        page_sections(&mut view, &q);
        let visits = &view.sections[0];
        assert_eq!(visits.blocks.len(), 50);
        assert_eq!(visits.blocks[0].title, "Record 50");
        assert_eq!(
            (visits.paging.prev(), visits.paging.next()),
            (Some(0), Some(2))
        );
        let checks = &view.sections[1];
        assert_eq!(
            checks.blocks.len(),
            50,
            "other sections show their first page"
        );
        assert_eq!(
            (checks.paging.prev(), checks.paging.next()),
            (None, Some(1))
        );
    }

    #[test]
    fn field_paths_from_the_page_are_plain_keys() {
        assert_eq!(
            field_path("notes/0123456789abcdef0123456789abcdef/review/status"),
            Some(vec![
                "notes".to_owned(),
                "0123456789abcdef0123456789abcdef".to_owned(),
                "review".to_owned(),
                "status".to_owned()
            ])
        );
        for bad in ["", "a//b", "../x", "a/b c", "a/<script>"] {
            assert_eq!(field_path(bad), None, "{bad}");
        }
        assert_eq!(doc_kind("safety"), Some(DocKind::Safety));
        assert_eq!(doc_kind("wizard"), None);
    }
}
