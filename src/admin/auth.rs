//! Who may use the admin API: a token when the admin port is reachable from the network, and
//! same-origin checks so a foreign web page open in the operator's browser can neither drive the
//! session nor read its live state.
//!
//! The token travels in `Authorization: Bearer …` (or `?token=` for what a browser cannot give
//! headers to: the event socket, images), never in a cookie, so another site cannot ride it. Without
//! a token (loopback only), the `Host` header must be a loopback name, which defeats DNS rebinding.
//! Wrong tokens are answered more and more slowly per source address ([`crate::server::access`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::config::{AdminConfig, is_loopback};
use crate::control::said::Code;
use crate::server::access::{Guesses, same_token};

/// The access rules of the admin API.
#[derive(Debug, Clone)]
pub struct Access {
    token: Option<Arc<str>>,
    allowed_origins: Arc<Vec<String>>,
    guesses: Guesses,
}

impl Access {
    /// Rules from the configuration: requests must carry `token`, if any (the server's token
    /// policy decides whether the admin API asks for one: when `admin.token` is set or the admin
    /// port is reachable from the network).
    pub fn new(admin: &AdminConfig, token: Option<&str>, guesses: Guesses) -> Access {
        Access {
            token: token.map(Arc::from),
            allowed_origins: Arc::new(
                admin
                    .allowed_origins
                    .iter()
                    .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                    .collect(),
            ),
            guesses,
        }
    }

    /// The token requests must carry, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn check(
        &self,
        method: &Method,
        headers: &HeaderMap,
        uri: &axum::http::Uri,
    ) -> Result<(), ApiError> {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if self.token.is_none() && !host_is_loopback(&host) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Code::HostNotAllowed,
                format!(
                    "this admin API only answers to localhost (the request named {host:?}); \
                     set admin.token to reach it by another name"
                ),
            ));
        }
        let changes_something = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let upgrade = headers.contains_key(header::UPGRADE);
        if changes_something || upgrade {
            if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
                if !self.origin_allowed(origin, &host) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        Code::ForeignOrigin,
                        format!(
                            "requests from the page at {origin} are not allowed (see admin.allowed_origins)"
                        ),
                    ));
                }
            }
        }
        if let Some(token) = &self.token {
            let given = bearer(headers).or_else(|| query_token(uri));
            if !given.is_some_and(|g| same_token(&g, token)) {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    Code::TokenRequired,
                    "this admin API needs its access token: open the address the relay printed at start \
                     (…/#token=…), or send Authorization: Bearer <token>",
                ));
            }
        }
        Ok(())
    }

    fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        let own = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o == host);
        own || self.allowed_origins.contains(&origin)
    }
}

/// Middleware applying [`Access`] to every route it wraps.
pub async fn require(State(access): State<Access>, request: Request, next: Next) -> Response {
    let source = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    match access.check(request.method(), request.headers(), request.uri()) {
        Ok(()) => {
            if let (Some(source), Some(_)) = (source, &access.token) {
                access.guesses.succeeded(source);
            }
            next.run(request).await
        }
        Err(e) => {
            let unauthorized = e.status == StatusCode::UNAUTHORIZED;
            if let (true, Some(source)) = (unauthorized, source) {
                let wait = access.guesses.failed(source, "the admin API");
                tokio::time::sleep(wait).await;
            }
            let mut response = e.into_response();
            if unauthorized {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn query_token(uri: &axum::http::Uri) -> Option<String> {
    Query::<HashMap<String, String>>::try_from_uri(uri)
        .ok()?
        .0
        .remove("token")
}

fn host_is_loopback(host: &str) -> bool {
    // Strip the port: `localhost:8000`, `127.0.0.1:8000`, `[::1]:8000`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost" || is_loopback(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Uri};

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn config(host: &str, token: &str) -> AdminConfig {
        let mut c = crate::Config::default().admin;
        c.host = host.into();
        c.token = token.into();
        c
    }

    /// The rules of an admin API on `host` that asks for `token` (empty: for none), as the token
    /// policy decides (its cases are tested in `server::token`).
    fn access(host: &str, token: &str) -> Access {
        let guesses = Guesses::new(crate::server::metrics::Metrics::new());
        let c = config(host, token);
        Access::new(&c, Some(token).filter(|t| !t.is_empty()), guesses)
    }

    #[test]
    fn token_rules() {
        let fixed = access("0.0.0.0", "s3cret");
        let uri: Uri = "/api/state".parse().unwrap();
        let host = (header::HOST, "192.168.1.5:8000");
        assert_eq!(
            fixed
                .check(&Method::GET, &headers(std::slice::from_ref(&host)), &uri)
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        let ok = headers(&[host.clone(), (header::AUTHORIZATION, "Bearer s3cret")]);
        assert!(fixed.check(&Method::GET, &ok, &uri).is_ok());
        let wrong = headers(&[host.clone(), (header::AUTHORIZATION, "Bearer s3cre")]);
        assert!(fixed.check(&Method::GET, &wrong, &uri).is_err());
        let q: Uri = "/api/events?token=s3cret".parse().unwrap();
        assert!(fixed.check(&Method::GET, &headers(&[host]), &q).is_ok());
    }

    #[test]
    fn origins_and_hosts() {
        let access = access("127.0.0.1", "");
        let uri: Uri = "/api/experiment/stop".parse().unwrap();
        let same = headers(&[
            (header::HOST, "localhost:8000"),
            (header::ORIGIN, "http://localhost:8000"),
        ]);
        assert!(access.check(&Method::POST, &same, &uri).is_ok());
        let foreign = headers(&[
            (header::HOST, "localhost:8000"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert_eq!(
            access
                .check(&Method::POST, &foreign, &uri)
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        // Reading is allowed without Origin checks (the browser's same-origin policy hides answers).
        assert!(access.check(&Method::GET, &foreign, &uri).is_ok());
        // DNS rebinding: a foreign name pointing at 127.0.0.1.
        let rebound = headers(&[
            (header::HOST, "evil.example:8000"),
            (header::ORIGIN, "http://evil.example:8000"),
        ]);
        assert!(access.check(&Method::GET, &rebound, &uri).is_err());
        assert!(
            host_is_loopback("[::1]:8000")
                && host_is_loopback("127.0.0.1")
                && !host_is_loopback("10.0.0.1:80")
        );
    }
}
