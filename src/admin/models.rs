//! `/api/models…` and `/api/catalogs…`: the learning packages' models, rescanning them, selecting
//! the one a launch loads, and their splash images.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::{ApiError, ApiResult, App, audited};
use crate::control::operator::OpError;
use crate::control::said::{Code, Said};

#[derive(Serialize)]
struct ModelEntry {
    index: usize,
    name: String,
    experiment_name: String,
    model_file_path: String,
    min_players: Option<u32>,
    max_players: Option<u32>,
    selected_monitoring: Option<String>,
    splashscreen: Option<String>,
    settings_file: String,
    selected: bool,
}

/// `GET /api/models`: the catalog, its models, which one is selected, and what is wrong in the
/// learning packages.
pub(super) async fn models(State(app): State<App>) -> impl IntoResponse {
    let catalog = app.operator.catalog();
    let selected = app.operator.selected_model().map(|m| m.index);
    let models: Vec<ModelEntry> = catalog
        .models
        .iter()
        .map(|m| ModelEntry {
            index: m.index,
            name: m.name.clone(),
            experiment_name: m.experiment_name.clone(),
            model_file_path: m.model_file_path.display().to_string(),
            min_players: m.min_players,
            max_players: m.max_players,
            selected_monitoring: m.selected_monitoring.clone(),
            splashscreen: m
                .splashscreen
                .as_ref()
                .map(|_| format!("/api/models/{}/splash", m.index)),
            settings_file: m.settings_file.display().to_string(),
            selected: Some(m.index) == selected,
        })
        .collect();
    axum::Json(json!({
        "selected": selected,
        "models": models,
        "catalog": catalog.entries,
        "problems": catalog.problems,
    }))
}

/// `POST /api/models/rescan`: reads the learning packages again.
pub(super) async fn rescan(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> impl IntoResponse {
    app.operator.rescan();
    audited(
        &app,
        peer,
        Said::new(Code::Rescan, [], "rescan the learning packages"),
        &Ok::<(), OpError>(()),
    );
    models(State(app)).await
}

fn parse_index(raw: &str) -> ApiResult<usize> {
    raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::BadIndex,
            format!("{raw:?} is not a model index"),
        )
    })
}

/// `POST /api/models/{index}/select`: the model a launch loads.
pub(super) async fn select(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(index): Path<String>,
) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let result = app.operator.select_model(index);
    let action = match &result {
        Ok(model) => Said::new(
            Code::Select,
            [("index", json!(index)), ("model", json!(model.name))],
            format!("select model {index} ({})", model.name),
        ),
        Err(_) => Said::new(
            Code::Select,
            [("index", json!(index))],
            format!("select model {index}"),
        ),
    };
    audited(&app, peer, action, &result);
    let model = result?;
    Ok(
        axum::Json(json!({ "ok": true, "selected": model.index, "name": model.name }))
            .into_response(),
    )
}

/// `GET /api/models/{index}/splash`: a model's splash image.
pub(super) async fn splash(
    State(app): State<App>,
    Path(index): Path<String>,
) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let path = app
        .operator
        .catalog()
        .models
        .get(index)
        .and_then(|m| m.splashscreen.clone());
    image(path.as_deref(), "this model has no splash image").await
}

/// `GET /api/catalogs/{index}/splash`: a catalog's splash image.
pub(super) async fn catalog_splash(
    State(app): State<App>,
    Path(index): Path<String>,
) -> ApiResult<Response> {
    let index = parse_index(&index)?;
    let path = app.operator.catalog().catalog_splashes.get(index).cloned();
    image(path.as_deref(), "no such catalog splash image").await
}

/// The image at `path`, with its type; `missing` when there is none.
async fn image(path: Option<&std::path::Path>, missing: &str) -> ApiResult<Response> {
    let path = path.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, Code::NoImage, missing))?;
    let bytes = tokio::fs::read(path).await.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NoImage,
            format!("cannot read {}: {e}", path.display()),
        )
    })?;
    let mime = match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}
