//! The one place where failures become HTTP answers: every error, ours or warp's, leaves as
//! `{"error": "<code>", "message": "...", "fields"?: {...}}` with its status.

use std::convert::Infallible;

use http::StatusCode;
use serde::Serialize;
use warp::Reply;
use warp::reject::Rejection;
use warp::reply::Response;

use crate::error::{AppError, FieldErrors};

/// An [`AppError`] travelling through warp's rejection machinery.
#[derive(Debug)]
pub struct ApiRejection(pub AppError);

impl warp::reject::Reject for ApiRejection {}

impl From<AppError> for Rejection {
    fn from(err: AppError) -> Rejection {
        warp::reject::custom(ApiRejection(err))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a FieldErrors>,
    /// What a staff sign-in answers with a code (`second_factor_required` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge: Option<&'a str>,
}

/// The status, code and body of an error.
pub fn error_response(err: &AppError) -> Response {
    let (status, code) = match err {
        AppError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
        AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        AppError::ReauthenticationRequired => (StatusCode::FORBIDDEN, "reauthentication_required"),
        AppError::SecondFactorRequired { .. } => {
            (StatusCode::UNAUTHORIZED, "second_factor_required")
        }
        AppError::EmailCodeRequired => (StatusCode::UNAUTHORIZED, "email_code_required"),
        AppError::PasskeyRequired => (StatusCode::UNAUTHORIZED, "passkey_required"),
        AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        AppError::SecondFactorEnrollmentRequired => {
            (StatusCode::FORBIDDEN, "second_factor_enrollment_required")
        }
        AppError::InvalidCode { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_code"),
        AppError::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        AppError::MalformedBody(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
        AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        AppError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
        AppError::LastOwner(_) => (StatusCode::CONFLICT, "last_owner"),
        AppError::Throttled { .. } => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
        AppError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
        AppError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        AppError::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
        }
    };
    let field_map;
    let fields = match err {
        AppError::Validation { fields, .. } | AppError::Conflict { fields, .. }
            if !fields.is_empty() =>
        {
            Some(fields)
        }
        AppError::InvalidCode { field } => {
            field_map = FieldErrors::from([(
                field.to_string(),
                "is invalid, already used or expired".to_string(),
            )]);
            Some(&field_map)
        }
        _ => None,
    };
    let challenge = match err {
        AppError::SecondFactorRequired { challenge } => Some(challenge.as_str()),
        _ => None,
    };
    let body = ErrorBody {
        error: code,
        message: err.to_string(),
        fields,
        challenge,
    };
    let mut response = warp::reply::with_status(warp::reply::json(&body), status).into_response();
    let headers = response.headers_mut();
    match err {
        AppError::Throttled { retry_after } => {
            headers.insert(
                "retry-after",
                retry_after.to_string().parse().expect("digits"),
            );
        }
        AppError::Overloaded => {
            headers.insert("retry-after", http::HeaderValue::from_static("2"));
        }
        AppError::Unavailable => {
            headers.insert("retry-after", http::HeaderValue::from_static("5"));
        }
        AppError::Unauthenticated | AppError::InvalidCredentials => {
            headers.insert("www-authenticate", http::HeaderValue::from_static("Bearer"));
        }
        _ => {}
    }
    response
}

fn plain(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ErrorBody {
        error: code,
        message: message.to_owned(),
        fields: None,
        challenge: None,
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// Turns any rejection into the JSON error body.
pub async fn recover(rejection: Rejection) -> Result<Response, Infallible> {
    if let Some(ApiRejection(err)) = rejection.find() {
        return Ok(error_response(err));
    }
    let response = if rejection.is_not_found() {
        plain(
            StatusCode::NOT_FOUND,
            "not_found",
            "there is no such endpoint",
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some()
        || rejection.find::<super::body::TooLarge>().is_some()
    {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the request body is too large",
        )
    } else if rejection.find::<super::body::SlowBody>().is_some() {
        let mut response = plain(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request did not arrive in time",
        );
        // The rest of the body may still be on its way: the connection cannot serve another.
        response
            .headers_mut()
            .insert("connection", http::HeaderValue::from_static("close"));
        response
    } else if rejection
        .find::<warp::reject::UnsupportedMediaType>()
        .is_some()
        || rejection.find::<super::body::UnsupportedMedia>().is_some()
    {
        plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body is not of a type this endpoint takes (JSON: Content-Type: application/json)",
        )
    } else if rejection.find::<warp::reject::InvalidQuery>().is_some() {
        plain(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the query string is not valid",
        )
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        plain(StatusCode::BAD_REQUEST, "invalid_header", &e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        plain(StatusCode::BAD_REQUEST, "missing_header", &e.to_string())
    } else if rejection.find::<super::route::MethodMismatch>().is_some()
        || rejection.find::<warp::reject::MethodNotAllowed>().is_some()
    {
        // Checked after the body and header problems: those come from a route that took the
        // method, while this one comes from a sibling route on the same path that did not.
        plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take that method",
        )
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    };
    Ok(response)
}
