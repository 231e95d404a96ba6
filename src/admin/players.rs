//! `/api/players/{id}`: what the operator does to one player (removing it from the game).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::response::IntoResponse;
use serde_json::json;

use super::{ApiResult, App, DONE, audited};
use crate::control::said::{Code, Said};

/// `DELETE /api/players/{id}`: removes a player from the game.
pub(super) async fn remove_player(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let result = app.operator.remove_player(&id);
    let action = Said::new(
        Code::Remove,
        [("player", json!(id))],
        format!("remove {id}"),
    );
    audited(&app, peer, action, &result);
    result?;
    Ok(DONE)
}
