//! HTTP surface: the router, the extractors that turn every input rejection into the
//! `ErrorBody` shape, and thin handlers that call the services.

use std::net::SocketAddr;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use casebook_core::alert::{AcknowledgeRequest, AcknowledgeResponse};
use casebook_core::sync::wire::{
    AttachmentData, AttachmentFetch, AttachmentStored, AttachmentUpload, ChallengeRequest,
    ChallengeResponse, EnrolRequest, EnrolResponse, MAX_ATTACHMENT_REQUEST_BYTES,
    MAX_SYNC_REQUEST_BYTES, SessionRequest, SessionResponse,
};
use serde::de::DeserializeOwned;

use crate::admin::{self, CaseLink, CodeInfo, CodeIssued, Created, DeviceInfo, Lookup};
use crate::audit;
use crate::auth::{self, Caller};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::sync::negotiate::{self, SyncAnswer, SyncBody};

/// Body limit for every endpoint but `/v1/sync`.
pub const MAX_SMALL_REQUEST_BYTES: usize = 16 * 1024;

pub(crate) fn body_error(status: StatusCode, what: &str) -> Error {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge
    } else {
        Error::BadRequest(format!("{what} is not valid for this endpoint"))
    }
}

/// `Json` whose rejections use the server's error shape (and never echo the input).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = Error;
    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Error::BadRequest(
                "expected Content-Type: application/json".into(),
            )),
            Err(e) => Err(body_error(e.status(), "the JSON body")),
        }
    }
}

/// `Path` with the server's error shape.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| body_error(e.status(), "the path"))
    }
}

/// `Query` with the server's error shape.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| body_error(e.status(), "the query"))
    }
}

/// The client's address when served over a socket ("unknown" in in-process tests).
#[derive(Debug, Clone)]
pub struct Source(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Source {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Source(ip.unwrap_or_else(|| "unknown".into())))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 128)
            .ok_or(Error::Unauthenticated("missing bearer token"))?
            .to_owned();
        let now = state.clock.now();
        state
            .db
            .read_single(move |conn| auth::authenticate(conn, &token, now))
            .await
    }
}

async fn enrol(
    State(state): State<AppState>,
    source: Source,
    ApiJson(req): ApiJson<EnrolRequest>,
) -> Result<Json<EnrolResponse>> {
    auth::enrol(&state, source.0, req).await.map(Json)
}

async fn challenge(
    State(state): State<AppState>,
    source: Source,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<Json<ChallengeResponse>> {
    auth::challenge(&state, source.0, req).await.map(Json)
}

async fn session(
    State(state): State<AppState>,
    source: Source,
    ApiJson(req): ApiJson<SessionRequest>,
) -> Result<Json<SessionResponse>> {
    auth::open_session(&state, source.0, req).await.map(Json)
}

async fn sync(State(state): State<AppState>, caller: Caller, body: SyncBody) -> Result<SyncAnswer> {
    let response = crate::sync::sync(&state, caller, body.request).await?;
    negotiate::answer(body.format, body.accepts_zstd, response).await
}

async fn upload_attachment(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AttachmentUpload>,
) -> Result<Json<AttachmentStored>> {
    crate::attachments::upload(&state, caller, req)
        .await
        .map(Json)
}

async fn fetch_attachment(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AttachmentFetch>,
) -> Result<Json<AttachmentData>> {
    crate::attachments::fetch(&state, caller, req)
        .await
        .map(Json)
}

async fn create_org(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<admin::NewOrg>,
) -> Result<Json<Created>> {
    admin::create_org(&state, caller, req).await.map(Json)
}

async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<admin::NewUser>,
) -> Result<Json<Created>> {
    admin::create_user(&state, caller, req).await.map(Json)
}

async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<admin::NewTeam>,
) -> Result<Json<Created>> {
    admin::create_team(&state, caller, req).await.map(Json)
}

async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(team): ApiPath<String>,
    ApiJson(req): ApiJson<admin::UserRef>,
) -> Result<StatusCode> {
    admin::team_member(&state, caller, team, req.user_id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((team, user)): ApiPath<(String, String)>,
) -> Result<StatusCode> {
    admin::team_member(&state, caller, team, user, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_case(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<admin::NewCase>,
) -> Result<Json<Created>> {
    admin::create_case(&state, caller, req).await.map(Json)
}

async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case): ApiPath<String>,
    ApiJson(req): ApiJson<admin::UserRef>,
) -> Result<StatusCode> {
    admin::case_link(
        &state,
        caller,
        case,
        req.user_id,
        CaseLink::Assignment,
        true,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unassign(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((case, user)): ApiPath<(String, String)>,
) -> Result<StatusCode> {
    admin::case_link(&state, caller, case, user, CaseLink::Assignment, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn link_placement(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case): ApiPath<String>,
    ApiJson(req): ApiJson<admin::UserRef>,
) -> Result<StatusCode> {
    admin::case_link(&state, caller, case, req.user_id, CaseLink::Placement, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unlink_placement(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((case, user)): ApiPath<(String, String)>,
) -> Result<StatusCode> {
    admin::case_link(&state, caller, case, user, CaseLink::Placement, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case): ApiPath<String>,
    ApiJson(req): ApiJson<admin::SetTeam>,
) -> Result<StatusCode> {
    admin::set_case_team(&state, caller, case, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case): ApiPath<String>,
    ApiJson(req): ApiJson<admin::Transfer>,
) -> Result<StatusCode> {
    admin::transfer_case(&state, caller, case, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn issue_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<String>,
    ApiJson(req): ApiJson<admin::IssueCode>,
) -> Result<Json<CodeIssued>> {
    admin::issue_code(&state, caller, user, req).await.map(Json)
}

async fn list_codes(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<String>,
) -> Result<Json<Vec<CodeInfo>>> {
    admin::list_codes(&state, caller, user).await.map(Json)
}

async fn cancel_code(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(code_id): ApiPath<String>,
) -> Result<StatusCode> {
    admin::cancel_code(&state, caller, code_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn disable_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<String>,
) -> Result<StatusCode> {
    admin::set_disabled(&state, caller, user, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn enable_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user): ApiPath<String>,
) -> Result<StatusCode> {
    admin::set_disabled(&state, caller, user, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(lookup): ApiQuery<Lookup>,
) -> Result<Json<Vec<DeviceInfo>>> {
    admin::list_devices(&state, caller, lookup).await.map(Json)
}

async fn revoke_device(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(device): ApiPath<String>,
) -> Result<StatusCode> {
    admin::revoke_device(&state, caller, device).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn export_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(lookup): ApiQuery<Lookup>,
) -> Result<Json<Vec<audit::Row>>> {
    admin::export_audit(&state, caller, lookup).await.map(Json)
}

async fn list_unteamed(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<admin::UnteamedCase>>> {
    admin::list_unteamed(&state, caller).await.map(Json)
}

async fn acknowledge_alerts(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AcknowledgeRequest>,
) -> Result<Json<AcknowledgeResponse>> {
    crate::alerts::acknowledge(&state, caller, req)
        .await
        .map(Json)
}

async fn deadlines(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<crate::deadlines::DeadlinesResponse>> {
    crate::deadlines::list(&state, caller).await.map(Json)
}

async fn review_queue(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<crate::review::QueueQuery>,
) -> Result<Json<crate::review::ReviewQueue>> {
    crate::review::list(&state, caller, query).await.map(Json)
}

async fn police_pack(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(case): ApiPath<String>,
    ApiJson(req): ApiJson<crate::police_pack::PackRequest>,
) -> Result<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let pdf = crate::police_pack::for_device(&state, caller, &case, &req).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf"),
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"police-pack.pdf\"",
            ),
        ],
        pdf,
    )
        .into_response())
}

async fn casework_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<crate::reports::ReportQuery>,
) -> Result<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let (period, format, suppress) = query.parse()?;
    let report = crate::reports::casework(&state, caller, period, format, suppress).await?;
    Ok(match format {
        crate::reports::Format::Json => Json(report.to_json(suppress)).into_response(),
        crate::reports::Format::Csv => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"casework-report.csv\"",
                ),
            ],
            report.to_csv(),
        )
            .into_response(),
    })
}

async fn not_found() -> Error {
    Error::NotFound("no such endpoint")
}

async fn method_not_allowed() -> (StatusCode, Json<casebook_core::sync::wire::ErrorBody>) {
    let body = casebook_core::sync::wire::ErrorBody {
        error: "method_not_allowed".into(),
        message: "method not allowed on this endpoint".into(),
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body))
}

/// The whole HTTP API over `state`.
pub fn router(state: AppState) -> Router {
    let small = DefaultBodyLimit::max(MAX_SMALL_REQUEST_BYTES);
    let admin = Router::new()
        .route("/orgs", post(create_org))
        .route("/users", post(create_user))
        .route("/users/{user}/enrolment-code", post(issue_code))
        .route("/users/{user}/enrolment-codes", get(list_codes))
        .route("/users/{user}/disable", post(disable_user))
        .route("/users/{user}/enable", post(enable_user))
        .route("/enrolment-codes/{code_id}", delete(cancel_code))
        .route("/teams", post(create_team))
        .route("/teams/{team}/members", post(add_member))
        .route("/teams/{team}/members/{user}", delete(remove_member))
        .route("/cases", post(create_case))
        .route("/cases/unteamed", get(list_unteamed))
        .route("/cases/{case}/assignments", post(assign))
        .route("/cases/{case}/assignments/{user}", delete(unassign))
        .route("/cases/{case}/placements", post(link_placement))
        .route("/cases/{case}/placements/{user}", delete(unlink_placement))
        .route("/cases/{case}/team", put(set_team))
        .route("/cases/{case}/transfer", post(transfer))
        .route("/devices", get(list_devices))
        .route("/devices/{device}/revoke", post(revoke_device))
        .route("/audit", get(export_audit))
        .layer(small);
    let app = Router::new()
        .route("/healthz", get(crate::observe::health::healthz))
        .route("/readyz", get(crate::observe::health::readyz))
        .route("/v1/enrol", post(enrol).layer(small))
        .route("/v1/challenge", post(challenge).layer(small))
        .route("/v1/session", post(session).layer(small))
        .route(
            "/v1/alerts/acknowledge",
            post(acknowledge_alerts).layer(small),
        )
        .route("/v1/sync", negotiate::route(sync, MAX_SYNC_REQUEST_BYTES))
        .route(
            "/v1/attachments/upload",
            post(upload_attachment).layer(DefaultBodyLimit::max(MAX_ATTACHMENT_REQUEST_BYTES)),
        )
        .route("/v1/attachments/fetch", post(fetch_attachment).layer(small))
        .route("/v1/deadlines", get(deadlines))
        .route("/v1/review-queue", get(review_queue))
        .route("/v1/reports/casework", get(casework_report))
        .route(
            "/v1/cases/{case}/police-pack",
            post(police_pack).layer(small),
        )
        .nest("/v1/admin", admin)
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    crate::observe::requests::instrument(app)
}
