//! What the admin API answers when it cannot do what was asked: a status code, the relay's words,
//! and a stable code (with its values) the page translates, as `{"error", "code", "params"}`.
//! Kept apart from the handlers, which all return it, and from the router.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::control::operator::OpError;
use crate::control::said::{Code, Said};
use crate::gama::GamaError;

/// An API error: status code and message.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    /// Stable name of the error, which the page translates.
    code: Code,
    message: String,
    /// Values for the page's sentence.
    params: Option<serde_json::Value>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            params: None,
        }
    }

    fn with_params(mut self, params: serde_json::Value) -> Self {
        self.params = Some(params).filter(|p| p.as_object().is_none_or(|o| !o.is_empty()));
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message, "code": self.code });
        if let Some(params) = self.params {
            body["params"] = params;
        }
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        let status = match &e {
            OpError::NoSuchModel(_) | OpError::NoSuchPlayer(_) => StatusCode::NOT_FOUND,
            OpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OpError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            OpError::Gama(g) => match g {
                GamaError::NotConnected | GamaError::Busy(_) | GamaError::Disconnected(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                GamaError::NoExperiment => StatusCode::CONFLICT,
                GamaError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                GamaError::Rejected { .. } => StatusCode::BAD_GATEWAY,
            },
            _ => StatusCode::CONFLICT,
        };
        ApiError::new(status, e.code(), e.to_string()).with_params(e.params())
    }
}

/// What a handler returns.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl From<&ApiError> for Said {
    fn from(e: &ApiError) -> Said {
        let params = match &e.params {
            Some(serde_json::Value::Object(params)) => params.clone(),
            _ => serde_json::Map::new(),
        };
        Said {
            text: e.message.clone(),
            code: e.code,
            params,
        }
    }
}
