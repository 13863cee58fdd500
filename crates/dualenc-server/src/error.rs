//! Errors: [`ApiError`] is what a request gets back (a status and a JSON [`ErrorBody`]);
//! [`ServerError`] is why the service could not start or stopped.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::api::ErrorBody;
use crate::backend::SearchError;
use crate::redact::hide_paths;

/// An error answer: an HTTP status with a JSON body `{"code": ..., "error": ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status (400 for bad input, 422 for unusable queries, 404, 413, 500...).
    pub status: StatusCode,
    /// The JSON body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                error: message.into(),
                unknown_words: None,
            },
        }
    }

    /// A 400 Bad Request: the request breaks the API's rules or limits.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// A 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<SearchError> for ApiError {
    /// Queries the backend cannot use are 422 Unprocessable Content (the request was well
    /// formed); backend failures are 500, logged in full, with absolute paths hidden from the
    /// client (cut to their last component).
    fn from(error: SearchError) -> Self {
        let message = error.to_string();
        match error {
            SearchError::AllWordsUnknown { words } => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                body: ErrorBody {
                    code: "all_words_unknown".to_owned(),
                    error: message,
                    unknown_words: Some(words),
                },
            },
            SearchError::NoWords => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "no_words", message)
            }
            SearchError::Backend(_) => {
                tracing::error!(%message, "search failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "backend_error",
                    hide_paths(&message),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Why the service could not start, or failed while running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listening address could not be bound (in use, no permission, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The thumbnail directory could not be listed.
    #[error("cannot read the thumbnail directory {}: {source}", .dir.display())]
    Thumbnails {
        /// The directory given with `--thumbnails`.
        dir: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The video directory could not be listed.
    #[error("cannot read the video directory {}: {source}", .dir.display())]
    Videos {
        /// The directory given with `--videos`.
        dir: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The signal handlers for graceful shutdown could not be installed.
    #[error("cannot install the SIGTERM/Ctrl-C handlers: {0}")]
    Signals(std::io::Error),
}
