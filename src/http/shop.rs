//! Handlers of the shop's side: a list's members for its newsletters (JSON pages or a CSV
//! stream), the one-click unsubscribe of RFC 8058, and the preference page's choices behind
//! the same link (a pause, its end, every list left).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderValue;
use http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use tokio::sync::mpsc;
use warp::Reply;
use warp::reject::Rejection;
use warp::reply::Response;

use super::body::JsonObject;
use super::query::{Listing, unknown};
use super::reply::{ok_json, ok_result};
use crate::domain::{Client, CustomerId};
use crate::error::AppError;
use crate::flows::{CSV_HEADER, PauseDays, Services, csv_rows};

/// Members per page when the query does not say.
const DEFAULT_PAGE: u32 = 100;

/// GET /admin/subscriptions/{id}/members?limit=&offset= (or &after=), or ?format=csv
pub async fn members(
    list: String,
    services: Services,
    query: Vec<(String, String)>,
) -> Result<Response, Rejection> {
    let (csv, listing) = members_query(query)?;
    if csv {
        return Ok(members_csv(list, services).await?);
    }
    let page = services
        .unsubscribes()
        .members_page(&list, listing.limit, listing.start)
        .await?;
    Ok(ok_json(&page))
}

/// Streams every member as CSV: the rows are read and sent a batch at a time, so the memory
/// an export takes does not grow with the list.
async fn members_csv(list: String, services: Services) -> Result<Response, AppError> {
    // An unknown list is a 404 before the 200 of the stream begins.
    let first = services.unsubscribes().members_after(&list, "").await?;
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let filename = format!("attachment; filename=\"{list}-members.csv\"");
    tokio::spawn(async move {
        if sender
            .send(Ok(Bytes::from_static(CSV_HEADER.as_bytes())))
            .await
            .is_err()
        {
            return;
        }
        let mut batch = first;
        while let Some(last) = batch.last() {
            let after = last.id.clone();
            if sender
                .send(Ok(Bytes::from(csv_rows(&batch))))
                .await
                .is_err()
            {
                return; // The client went away.
            }
            batch = match services.unsubscribes().members_after(&list, &after).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, list = %list, "members export broke off");
                    // Ends the body with an error: a cut-off download, not a short one.
                    let _ = sender
                        .send(Err(std::io::Error::other("export failed")))
                        .await;
                    return;
                }
            };
        }
    });
    let mut response = warp::reply::stream(Chunks(receiver)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The chunks an export task sends, as a body stream.
struct Chunks(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_util::Stream for Chunks {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// The members query: `format` (`json` or `csv`), and for JSON the paging of [`Listing`].
fn members_query(query: Vec<(String, String)>) -> Result<(bool, Listing<CustomerId>), AppError> {
    let mut csv = false;
    let after = |value: &str| CustomerId::parse(value).ok();
    let listing = Listing::parse(query, DEFAULT_PAGE, after, |key, value| match key {
        "format" => {
            csv = match value.as_str() {
                "csv" => true,
                "json" => false,
                _ => return Err("must be `json` or `csv`".into()),
            };
            Ok(())
        }
        _ => unknown(),
    })?;
    Ok((csv, listing))
}

/// POST /unsubscribe/{token} with `List-Unsubscribe=One-Click` (RFC 8058)
pub async fn unsubscribe(
    token: String,
    services: Services,
    client: Client,
    content_type: String,
    body: Bytes,
) -> Result<Response, Rejection> {
    if !is_one_click(Some(&content_type), &body) {
        return Err(AppError::field(
            "List-Unsubscribe",
            "the form body must be List-Unsubscribe=One-Click",
        )
        .into());
    }
    services.unsubscribes().unsubscribe(&token, &client).await?;
    Ok(ok_result("unsubscribed"))
}

/// GET /unsubscribe/{token}/preferences
pub async fn preferences(
    token: String,
    services: Services,
    _client: Client,
) -> Result<Response, Rejection> {
    Ok(ok_json(&services.preferences().show(&token).await?))
}

/// POST /unsubscribe/{token}/pause with `{"list","days"}`
pub async fn pause(
    token: String,
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let list = body.required_str("list");
    let days = match body.take("days") {
        None | Some(serde_json::Value::Null) => Err("is required".to_owned()),
        Some(days) => days
            .as_i64()
            .ok_or_else(|| "must be 30 or 90".to_owned())
            .and_then(PauseDays::parse),
    };
    let days = body.checked("days", days);
    let days = body.finish_with(days)?;
    let paused = services
        .preferences()
        .pause(&token, &list, days, &client)
        .await?;
    Ok(ok_json(&paused))
}

/// POST /unsubscribe/{token}/resume with `{"list"}`
pub async fn resume(
    token: String,
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let list = body.required_str("list");
    body.finish()?;
    let resumed = services
        .preferences()
        .resume(&token, &list, &client)
        .await?;
    Ok(ok_json(&serde_json::json!({ "result": resumed })))
}

/// POST /unsubscribe/{token}/all
pub async fn unsubscribe_all(
    token: String,
    services: Services,
    client: Client,
    body: JsonObject,
) -> Result<Response, Rejection> {
    body.finish()?;
    let left = services.preferences().leave_all(&token, &client).await?;
    Ok(ok_json(
        &serde_json::json!({ "result": "unsubscribed", "lists_left": left }),
    ))
}

/// Whether the body is the one-click form of RFC 8058, URL-encoded or multipart.
fn is_one_click(content_type: Option<&str>, body: &[u8]) -> bool {
    let kind = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    match kind.as_deref() {
        Some("application/x-www-form-urlencoded") => url::form_urlencoded::parse(body)
            .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click"),
        Some("multipart/form-data") => {
            let text = String::from_utf8_lossy(body);
            text.contains("name=\"List-Unsubscribe\"") && text.contains("One-Click")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_one_click_form_unsubscribes() {
        let form = Some("application/x-www-form-urlencoded");
        assert!(is_one_click(form, b"List-Unsubscribe=One-Click"));
        assert!(is_one_click(form, b"a=b&List-Unsubscribe=One-Click"));
        assert!(!is_one_click(form, b"List-Unsubscribe=Later"));
        assert!(!is_one_click(None, b"List-Unsubscribe=One-Click"));
        assert!(!is_one_click(
            Some("application/json"),
            b"List-Unsubscribe=One-Click"
        ));
        let multipart = b"--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n";
        assert!(is_one_click(
            Some("multipart/form-data; boundary=b"),
            multipart
        ));
    }
}
