//! One-click unsubscribe (RFC 8058) and the members export of a list.

use crate::common::binary::Binary;
use crate::common::{TestApp, spawn_app_with};
use customer_area::config::Secret;
use customer_area::flows::{ImportFile, ImportOptions};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";
const MAIL_AGENT: &str = "Mailbox-Provider-One-Click/1.0";

/// An app with the list `newsletter`, its unsubscribe links on `https://ca.example.com/base`.
async fn app_with_list() -> TestApp {
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        c.links.public_url = "https://ca.example.com/base".into();
    })
    .await;
    app.add_newsletter(TOKEN).await;
    app
}

/// A signed-in subscriber of `newsletter`: their token and unsubscribe URL.
async fn subscriber(app: &TestApp, email: &str) -> (String, String) {
    let token = app.active_customer(email).await;
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let members = members(app).await;
    let url = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .unwrap()["unsubscribe_url"]
        .as_str()
        .unwrap()
        .to_owned();
    (token, url)
}

async fn members(app: &TestApp) -> Value {
    let (status, body) = app
        .call(
            Method::GET,
            "/admin/subscriptions/newsletter/members",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The path of an unsubscribe URL on this test server.
fn local(app: &TestApp, url: &str) -> String {
    let path = url
        .strip_prefix("https://ca.example.com/base")
        .unwrap_or_else(|| panic!("{url} is not on links.public_url"));
    app.url(path)
}

/// The exact request RFC 8058 has a mailbox provider send.
async fn one_click(app: &TestApp, url: &str) -> reqwest::Response {
    app.client
        .post(local(app, url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", MAIL_AGENT)
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap()
}

async fn subscriptions(app: &TestApp, token: &str) -> Vec<Value> {
    let (_, body) = app.get_self(token).await;
    body["subscriptions"].as_array().unwrap().clone()
}

async fn consents(app: &TestApp, email: &str) -> Vec<Value> {
    app.consents(TOKEN, email).await
}

#[tokio::test]
async fn the_rfc_8058_one_click_post_unsubscribes_without_a_login_and_is_recorded() {
    let app = app_with_list().await;
    let (token, url) = subscriber(&app, "reader@example.com").await;
    assert!(
        url.starts_with("https://ca.example.com/base/unsubscribe/"),
        "{url}"
    );

    let response = one_click(&app, &url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "result": "unsubscribed" })
    );
    assert!(subscriptions(&app, &token).await.is_empty());
    // Again: nothing left to end, and still 200.
    assert_eq!(one_click(&app, &url).await.status(), StatusCode::OK);

    let ledger = consents(&app, "reader@example.com").await;
    let last = ledger.last().unwrap();
    assert_eq!(last["source"], "unsubscribe_link");
    assert_eq!(last["action"], "out");
    assert_eq!(last["list_id"], "newsletter");
    assert_eq!(last["ip"], "127.0.0.1");
    assert_eq!(last["user_agent"], MAIL_AGENT);
    assert_eq!(ledger.len(), 2, "one opt-in, one opt-out: {ledger:?}");
}

#[tokio::test]
async fn opening_the_link_shows_a_button_and_never_unsubscribes() {
    let app = app_with_list().await;
    let (token, url) = subscriber(&app, "opener@example.com").await;
    for _ in 0..2 {
        let response = app.client.get(local(&app, &url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page = response.text().await.unwrap();
        assert!(page.contains("id=\"unsubscribe-submit\""), "{page}");
    }
    assert_eq!(subscriptions(&app, &token).await.len(), 1);
    // A POST without the one-click body changes nothing either.
    let response = app
        .client
        .post(local(&app, &url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=Later")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(subscriptions(&app, &token).await.len(), 1);
}

#[tokio::test]
async fn a_tampered_or_foreign_token_is_refused() {
    let app = app_with_list().await;
    let (token, url) = subscriber(&app, "target@example.com").await;
    let (_, other_url) = subscriber(&app, "other@example.com").await;
    // The payload of one member with the signature of another.
    let (payload, _) = url.rsplit_once('/').unwrap().1.split_once('.').unwrap();
    let (_, other_tag) = other_url
        .rsplit_once('/')
        .unwrap()
        .1
        .split_once('.')
        .unwrap();
    let spliced = format!("https://ca.example.com/base/unsubscribe/{payload}.{other_tag}");
    let mut flipped = url.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    // A token signed by another server's key.
    let foreign_app = app_with_list().await;
    let (_, foreign_url) = subscriber(&foreign_app, "target@example.com").await;
    let foreign_tag = foreign_url.rsplit_once('.').unwrap().1;
    let (_, tag) = url.rsplit_once('.').unwrap();
    let foreign = url.replace(tag, foreign_tag);
    assert_ne!(foreign, url);

    for bad in [spliced, flipped, foreign, format!("{url}x")] {
        assert_eq!(
            one_click(&app, &bad).await.status(),
            StatusCode::NOT_FOUND,
            "{bad}"
        );
        let page = app.client.get(local(&app, &bad)).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(subscriptions(&app, &token).await.len(), 1);
}

#[tokio::test]
async fn members_come_in_json_pages_and_unknown_lists_are_404() {
    let app = app_with_list().await;
    subscriber(&app, "paged@example.com").await;
    let body = members(&app).await;
    assert_eq!(body["total"], 1);
    assert_eq!((&body["offset"], &body["next"]), (&json!(0), &Value::Null));
    let member = &body["members"][0];
    let keys: Vec<&String> = member.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["email", "id", "name", "subscribed_at", "unsubscribe_url"]
    );
    let (status, _) = app
        .call(
            Method::GET,
            "/admin/subscriptions/nope/members",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(
            Method::GET,
            "/admin/subscriptions/newsletter/members?format=xml",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn members_pages_follow_their_cursor_in_id_order_as_offsets_do() {
    let app = app_with_list().await;
    for i in 0..5 {
        subscriber(&app, &format!("member{i}@example.com")).await;
    }
    let page = |query: String| {
        let app = &app;
        async move {
            let (status, body) = app
                .call(
                    Method::GET,
                    &format!("/admin/subscriptions/newsletter/members?{query}"),
                    Some(TOKEN),
                    None,
                )
                .await;
            (status, body)
        }
    };
    let ids = |body: &Value| -> Vec<String> {
        body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (mut walked, mut next) = (Vec::new(), None::<String>);
    loop {
        let query = match &next {
            None => "limit=2".to_owned(),
            Some(after) => format!("limit=2&after={after}"),
        };
        let (status, body) = page(query).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["total"], 5);
        walked.extend(ids(&body));
        match body["next"].as_str() {
            Some(after) => next = Some(after.to_owned()),
            None => break,
        }
    }
    let mut sorted = walked.clone();
    sorted.sort();
    assert_eq!(walked, sorted, "in id order");
    assert_eq!(walked.len(), 5, "{walked:?}");
    let (_, by_offset) = page("limit=2&offset=2".into()).await;
    assert_eq!(ids(&by_offset), walked[2..4]);
    for query in ["after=abc", "after=1", "offset=1&after=10000000000000"] {
        let (status, body) = page(query.into()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert!(body["fields"]["after"].is_string(), "{query}: {body}");
    }
}

#[tokio::test]
async fn the_csv_export_of_ten_thousand_members_streams_and_defuses_formulas() {
    let app = app_with_list().await;
    let mut file = String::from("email,name,subscriptions\n");
    for n in 0..10_000 {
        let name = match n % 4 {
            0 => "=HYPERLINK(\"http://evil.example\")".to_owned(),
            1 => "+1 Plus".to_owned(),
            2 => "@Handle".to_owned(),
            _ => format!("Reader {n}"),
        };
        let name = name.replace('"', "\"\"");
        file.push_str(&format!("m{n:05}@example.com,\"{name}\",newsletter\n"));
    }
    let file = ImportFile::from_bytes(file);
    app.running
        .services
        .imports()
        .import_customers(file, ImportOptions::default(), |_| {})
        .await
        .unwrap();
    // Imported customers are pending, and no list counts them before they activate: here
    // they all have, as ten thousand activations through the API would take long.
    app.db()
        .execute("UPDATE customers SET status = 'active'", params![])
        .unwrap();

    let response = app
        .client
        .get(app.url("/admin/subscriptions/newsletter/members?format=csv"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    // Streamed: sent in chunks as it is read, with no length known up front.
    assert!(response.headers().get("content-length").is_none());
    assert_eq!(response.headers()["transfer-encoding"], "chunked");
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["id", "email", "name", "subscribed_at", "unsubscribe_url"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 10_000);
    for row in &rows {
        let name = &row[2];
        assert!(
            !name.starts_with(['=', '+', '-', '@']),
            "a formula-looking value went out as is: {name}"
        );
        assert!(row[4].starts_with("https://ca.example.com/base/unsubscribe/"));
    }
    assert!(
        rows.iter()
            .any(|r| &r[2] == "'=HYPERLINK(\"http://evil.example\")")
    );
    assert!(rows.iter().any(|r| &r[2] == "'+1 Plus"));

    // The admin command prints the same export.
    let mut binary = Binary::new().env("CUSTOMER_AREA_DATABASE_PATH", &app.config.database.path);
    if !app.config.database.url.expose().is_empty() {
        binary = binary.env(
            "CUSTOMER_AREA_DATABASE_URL",
            app.config.database.url.expose(),
        );
    }
    let output = binary
        .env(
            "CUSTOMER_AREA_LINKS_PUBLIC_URL",
            "https://ca.example.com/base",
        )
        .in_dir(app.dir.path())
        .args(["subscriptions", "members", "newsletter", "--csv"])
        .output_async()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8(output.stdout).unwrap(), text);
}
