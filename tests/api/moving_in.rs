//! Moving in (SPEC 8.3): an import file with the old shop's ids, times, statuses, password hashes
//! and consents. The hashes are the vectors of `tests/vectors/password_hashes.json`, made by the
//! platforms' own algorithms (never by this product); the import runs through the same flow as
//! `customers import` and `POST /admin/import`.

use customer_area::config::Secret;
use customer_area::flows::{ImportError, ImportFile, ImportOptions, ImportSummary};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::binary::Binary;
use crate::common::{PASSWORD, TestApp, spawn_app, spawn_app_with};

/// One vector of `scheme` made for the suite's password.
pub fn vector_of(scheme: &str) -> String {
    let vectors: Vec<Value> =
        serde_json::from_str(include_str!("../vectors/password_hashes.json")).unwrap();
    vectors
        .iter()
        .find(|v| v["scheme"] == scheme && v["password"] == PASSWORD)
        .and_then(|v| v["hash"].as_str())
        .unwrap_or_else(|| panic!("no vector of {scheme} for {PASSWORD:?}"))
        .to_owned()
}

/// A CSV field with its quotes doubled, in quotes.
pub fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

async fn import(
    app: &TestApp,
    csv: &str,
    options: ImportOptions,
) -> Result<ImportSummary, ImportError> {
    app.running
        .services
        .imports()
        .import_customers(
            ImportFile::from_bytes(csv.as_bytes().to_vec()),
            options,
            |_| {},
        )
        .await
}

fn problems(outcome: Result<ImportSummary, ImportError>) -> Vec<String> {
    match outcome {
        Err(ImportError::Invalid { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        other => panic!("not refused by line: {other:?}"),
    }
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.db().query_row(sql, &[], |row| row.only()).unwrap()
}

/// The rows a file import may write, counted.
fn written(app: &TestApp) -> [i64; 4] {
    [
        count(app, "SELECT count(*) FROM customers"),
        count(app, "SELECT count(*) FROM subscriptions"),
        count(app, "SELECT count(*) FROM consent_records"),
        count(app, "SELECT count(*) FROM outbox"),
    ]
}

/// `2019-0<n+1>-02T03:04:05Z`, the `created_at` of the row of `SCHEMES[n]`.
const OPENED: [i64; 8] = [
    1_546_398_245,
    1_549_076_645,
    1_551_495_845,
    1_554_174_245,
    1_556_766_245,
    1_559_444_645,
    1_562_036_645,
    1_564_715_045,
];

const SCHEMES: [&str; 8] = [
    "phpass",
    "wordpress_bcrypt",
    "bcrypt",
    "argon2",
    "magento2",
    "django_pbkdf2_sha256",
    "drupal7",
    "pbkdf2_sha256",
];

#[tokio::test]
async fn customers_move_in_with_their_ids_times_consents_and_passwords_and_get_no_email() {
    let app = spawn_app().await;
    app.db()
        .execute(
            "INSERT INTO subscription_lists (id, name, created_at) VALUES ('newsletter', 'News', 0), ('offers', 'Offers', 0)",
            &[],
        )
        .unwrap();
    let mut csv = String::from(
        "id,email,name,identifier,created_at,status,password_hash,subscriptions,subscribed_at,consent_source\n",
    );
    for (n, scheme) in SCHEMES.iter().enumerate() {
        csv.push_str(&format!(
            "{},{scheme}@example.com,Moved {n},old-{n},2019-0{}-02T03:04:05Z,,{},newsletter;offers,2020-01-01T00:00:00Z;2021-06-30T12:00:00+02:00,magento2\n",
            10_000_000_000_000u64 + n as u64,
            n + 1,
            quoted(&vector_of(scheme)),
        ));
    }
    // Without a hash: pending, or active (a password to be reset), and no email without --invite.
    csv.push_str("20000000000001,guest@example.com,Guest,,2018-05-06T07:08:09Z,,,,,\n");
    csv.push_str("20000000000002,kept@example.com,Kept,,,active,,newsletter,,\n");
    let summary = import(&app, &csv, ImportOptions::default()).await.unwrap();
    assert_eq!(summary.created, SCHEMES.len() + 2);
    assert_eq!(summary.active, SCHEMES.len() + 1);
    assert_eq!(summary.activations_queued, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM outbox"), 0);

    for (n, scheme) in SCHEMES.iter().enumerate() {
        let email = format!("{scheme}@example.com");
        let (id, created, status): (String, i64, String) = app
            .db()
            .query_row(
                "SELECT id, created_at, status FROM customers WHERE email = ?1",
                &[&email],
                |row| Ok((row.get("id")?, row.get("created_at")?, row.get("status")?)),
            )
            .unwrap();
        assert_eq!(id, (10_000_000_000_000u64 + n as u64).to_string());
        assert_eq!(created, OPENED[n], "{scheme}");
        assert_eq!(status, "active");
        let (status, _) = app.login(&email, "not the password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{scheme}");
        app.token(&email, PASSWORD).await;
    }
    // The first sign-in after the move is from a new device by nature: no notice for it.
    assert_eq!(app.queued("new_sign_in"), 0);
    assert_eq!(count(&app, "SELECT count(*) FROM outbox"), 0);

    let consents: Vec<(String, String, i64)> = {
        let db = app.db();
        ["newsletter", "offers"]
            .iter()
            .map(|list| {
                db.query_row(
                    "SELECT r.list_id, r.source, r.at FROM consent_records r
                     JOIN customers c ON c.id = r.customer_id
                     WHERE c.email = 'phpass@example.com' AND r.list_id = ?1",
                    &[list],
                    |row| Ok((row.get("list_id")?, row.get("source")?, row.get("at")?)),
                )
                .unwrap()
            })
            .collect()
    };
    assert_eq!(
        consents,
        [
            ("newsletter".into(), "import:magento2".into(), 1_577_836_800),
            ("offers".into(), "import:magento2".into(), 1_625_047_200),
        ]
    );
    let since: i64 = count(
        &app,
        "SELECT s.subscribed_at FROM subscriptions s JOIN customers c ON c.id = s.customer_id
         WHERE c.email = 'phpass@example.com' AND s.list_id = 'offers'",
    );
    assert_eq!(since, 1_625_047_200);
    let kept: (String, String) = app
        .db()
        .query_row(
            "SELECT c.status, r.source FROM consent_records r
             JOIN customers c ON c.id = r.customer_id WHERE c.email = 'kept@example.com'",
            &[],
            |row| Ok((row.get("status")?, row.get("source")?)),
        )
        .unwrap();
    assert_eq!(
        kept,
        ("active".into(), "import".into()),
        "no consent_source: `import`"
    );
    let guest: (String, i64) = app
        .db()
        .query_row(
            "SELECT status, created_at FROM customers WHERE email = 'guest@example.com'",
            &[],
            |row| Ok((row.get("status")?, row.get("created_at")?)),
        )
        .unwrap();
    assert_eq!(guest, ("pending".into(), 1_525_590_489));
}

#[tokio::test]
async fn invite_mails_only_the_customers_who_stay_pending() {
    let app = spawn_app().await;
    let csv = format!(
        "email,name,password_hash,status\n\
         hashed@example.com,Hashed,{},\n\
         guest@example.com,Guest,,\n\
         pending@example.com,Pending,,pending\n\
         active@example.com,Active,,active\n",
        quoted(&vector_of("bcrypt"))
    );
    let invite = ImportOptions {
        invite: true,
        ..ImportOptions::default()
    };
    let summary = import(&app, &csv, invite).await.unwrap();
    assert_eq!((summary.created, summary.activations_queued), (4, 2));
    let to: Vec<String> = app
        .db()
        .query_map(
            "SELECT recipient FROM outbox WHERE kind = 'activation' ORDER BY recipient",
            &[],
            |row| row.only(),
        )
        .unwrap();
    assert_eq!(to, ["guest@example.com", "pending@example.com"]);
}

#[tokio::test]
async fn a_dry_run_checks_everything_and_writes_nothing() {
    let app = spawn_app().await;
    let csv = format!(
        "email,name,password_hash\nok@example.com,Ok,{}\nguest@example.com,Guest,\n",
        quoted(&vector_of("phpass"))
    );
    let before = written(&app);
    let dry = ImportOptions {
        dry_run: true,
        invite: true,
        ..ImportOptions::default()
    };
    let summary = import(&app, &csv, dry).await.unwrap();
    assert!(summary.dry_run);
    assert_eq!(
        (summary.created, summary.active, summary.activations_queued),
        (2, 1, 1)
    );
    assert_eq!(written(&app), before);
    let summary = import(&app, &csv, ImportOptions::default()).await.unwrap();
    assert_eq!(summary.created, 2);
}

#[tokio::test]
async fn hostile_rows_are_each_named_by_line_and_column_and_nothing_is_imported() {
    let app = spawn_app().await;
    app.db()
        .execute(
            "INSERT INTO subscription_lists (id, name, created_at) VALUES ('newsletter', 'News', 0)",
            &[],
        )
        .unwrap();
    let taken = app.create_customer("taken@example.com", "Taken").await;
    let before = written(&app);
    let bcrypt = vector_of("bcrypt");
    // A recognised prefix with a damaged body: one character short, and a cost past any bound.
    let short = &bcrypt[..bcrypt.len() - 1];
    let costly = format!("$2y$31${}", &bcrypt[7..]);
    let phpass_broken = format!("{}!", &vector_of("phpass")[..33]);
    let rows = [
        // line 2: fine
        format!("10000000000001,good@example.com,Good,,,{}", quoted(&bcrypt)),
        // line 3: the id again
        "10000000000001,again@example.com,Again,,,".to_owned(),
        // line 4: an id already issued here
        format!("{},issued@example.com,Issued,,,", taken.id),
        // line 5: an email already in the store, and one twice in the file
        "10000000000005,taken@example.com,Taken,,,".to_owned(),
        "10000000000006,good@example.com,Good Again,,,".to_owned(),
        // line 7: bad dates
        "10000000000007,dates@example.com,Dates,2021-02-30T00:00:00Z,,".to_owned(),
        "10000000000008,future@example.com,Future,2999-01-01T00:00:00Z,,".to_owned(),
        // line 9: a status SPEC does not allow
        "10000000000009,locked@example.com,Locked,,locked,".to_owned(),
        // line 10: hashes with a known prefix and a broken body, and one of no known shape
        format!("10000000000010,short@example.com,Short,,,{}", quoted(short)),
        format!(
            "10000000000011,costly@example.com,Costly,,,{}",
            quoted(&costly)
        ),
        format!(
            "10000000000012,phpass@example.com,Phpass,,,{}",
            quoted(&phpass_broken)
        ),
        "10000000000013,md5@example.com,Md5,,,5f4dcc3b5aa765d61d8327deb882cf99".to_owned(),
        // line 14: pending with a hash, and an id of the wrong shape
        format!(
            "1234,pending@example.com,Pending,,pending,{}",
            quoted(&bcrypt)
        ),
    ];
    let csv = format!(
        "id,email,name,created_at,status,password_hash\n{}\n",
        rows.join("\n")
    );
    let found = problems(import(&app, &csv, ImportOptions::default()).await);
    for expected in [
        "line 3: id: appears again (first on line 2)",
        "line 4: id: was already given to a customer",
        "line 5: email: already belongs to a customer",
        "line 6: email: appears again (first on line 2)",
        "line 7: created_at: must be an RFC 3339 time",
        "line 8: created_at: is in the future",
        "line 9: status: must be `active` or `pending`",
        "line 10: password_hash: is not a password hash of a known scheme",
        "line 11: password_hash: is not a password hash of a known scheme",
        "line 12: password_hash: is not a password hash of a known scheme",
        "line 13: password_hash: is not a password hash of a known scheme",
        "line 14: id: must be a string of 14 digits",
        "line 14: status: is `pending` but the row has a password_hash",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "missing {expected:?} in:\n{}",
            found.join("\n")
        );
    }
    assert!(!found.iter().any(|p| p.starts_with("line 2:")), "{found:?}");
    assert_eq!(found.len(), 13, "{}", found.join("\n"));
    assert!(
        found.iter().all(|p| !p.contains(&bcrypt[7..])),
        "a hash is never repeated"
    );
    assert_eq!(written(&app), before);

    let lists = "email,name,subscriptions,subscribed_at,consent_source,paused_until\n\
                 a@example.com,A,newsletter;nope,2020-01-01T00:00:00Z,x,\n\
                 b@example.com,B,newsletter,2020-01-01T00:00:00Z;2020-01-02T00:00:00Z,x,\n\
                 c@example.com,C,newsletter,,bad;source;count,\n\
                 d@example.com,D,newsletter,,\"semi\u{7}\",\n\
                 e@example.com,E,newsletter,,,next tuesday\n\
                 f@example.com,F,newsletter,,,2030-01-01T00:00:00Z;2030-01-02T00:00:00Z\n\
                 g@example.com,G,newsletter,,,1969-12-31T23:59:59Z\n";
    let found = problems(import(&app, lists, ImportOptions::default()).await);
    for expected in [
        "line 2: subscriptions: there is no subscription list `nope`",
        "line 3: subscribed_at: has 2 times for 1 list(s)",
        "line 4: consent_source: has 3 sources for 1 list(s)",
        "line 5: consent_source: must be at most 64 printable ASCII characters",
        "line 6: paused_until: must be an RFC 3339 time",
        "line 7: paused_until: has 2 values for 1 list(s)",
        "line 8: paused_until: must not be before 1970",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "missing {expected:?} in:\n{}",
            found.join("\n")
        );
    }
    assert_eq!(written(&app), before);
}

const API_TOKEN: &str = "admin-token-for-tests-0123456789";

#[tokio::test]
async fn the_admin_import_dry_runs_imports_and_refuses_a_bad_file_over_http() {
    let app = spawn_app_with(|c| c.admin.api_token = Secret::new(API_TOKEN)).await;
    let good = format!(
        "id,email,name,password_hash,created_at\n\
         10000000000042,http@example.com,By Http,{},2020-02-02T02:02:02Z\n\
         ,guest@example.com,Guest,,\n",
        quoted(&vector_of("django_pbkdf2_sha256"))
    );
    let before = written(&app);
    let (status, body) = app
        .post_csv("/admin/import?dry_run=true", API_TOKEN, &good)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], 2);
    assert_eq!(body["skipped"], 0);
    assert_eq!(body["errors"], json!([]));
    assert_eq!(body["dry_run"], true);
    assert_eq!(written(&app), before, "a dry run writes nothing");

    let bad = format!("{good},not-an-email,Bad,,\n");
    let (status, body) = app
        .post_csv("/admin/import?dry_run=false", API_TOKEN, &bad)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "import_refused");
    assert_eq!(
        (body["created"].clone(), body["skipped"].clone()),
        (json!(0), json!(3))
    );
    assert_eq!(body["errors"][0]["line"], 4, "{body}");
    assert_eq!(body["errors"][0]["column"], "email", "{body}");
    assert!(body["errors"][0]["message"].is_string(), "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(written(&app), before, "a refused file writes nothing");

    let (status, body) = app
        .post_csv("/admin/import?dry_run=false&invite=true", API_TOKEN, &good)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["created"].clone(),
            body["active"].clone(),
            body["activations_queued"].clone()
        ),
        (json!(2), json!(1), json!(1))
    );
    app.token("http@example.com", PASSWORD).await;
    assert_eq!(app.queued("activation"), 1);
    let (_, audit) = app
        .call(Method::GET, "/admin/audit", Some(API_TOKEN), None)
        .await;
    let details: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "importCustomers")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(
        details,
        [
            "import: created 2 customer(s), 1 active, 1 activation email(s)",
            "import: dry run: would create 2 customer(s), 1 active, 0 activation email(s)",
        ],
        "newest first; the refused import did nothing to audit"
    );

    let (status, body) = app.post_csv("/admin/import", API_TOKEN, &good).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["dry_run"].is_string(), "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/import?dry_run=true",
            Some(API_TOKEN),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
}

#[tokio::test]
async fn an_import_body_past_its_bound_is_refused_as_too_large() {
    let app = spawn_app_with(|c| c.admin.api_token = Secret::new(API_TOKEN)).await;
    // Sent in chunks with no length announced: the bound holds as the body arrives.
    let chunk = bytes::Bytes::from(vec![b'a'; 1024 * 1024]);
    let chunks = (0..65).map(move |_| Ok::<_, std::io::Error>(chunk.clone()));
    let response = app
        .client
        .post(app.url("/admin/import?dry_run=true"))
        .bearer_auth(API_TOKEN)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    // The server may close the connection once it has answered, before the body is all sent.
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "body_too_large");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM customers"), 0);
}

/// `customers export-all FILE [--with-password-hashes]` of the built binary on `app`'s store;
/// answers the file.
async fn export_all(app: &TestApp, with_password_hashes: bool) -> String {
    let file = app.dir.path().join("leaving.csv");
    let mut binary = Binary::new().env("CUSTOMER_AREA_DATABASE_PATH", &app.config.database.path);
    if !app.config.database.url.expose().is_empty() {
        binary = binary.env(
            "CUSTOMER_AREA_DATABASE_URL",
            app.config.database.url.expose(),
        );
    }
    let mut args = vec!["customers".to_owned(), "export-all".to_owned()];
    args.push(file.to_string_lossy().into_owned());
    if with_password_hashes {
        args.push("--with-password-hashes".into());
    }
    let output = binary
        .in_dir(app.dir.path())
        .args(&args)
        .output_async()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    text
}

/// The addresses of `list`'s members, as its export names them.
async fn member_emails(app: &TestApp, list: &str) -> Vec<String> {
    let members = app.members(API_TOKEN, list).await;
    members
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect()
}

/// Pauses `email`'s subscription to `list` for 30 days from the preference page of the
/// unsubscribe link the list's export gives them.
async fn pause_from_the_link(app: &TestApp, email: &str, list: &str) {
    let members = app.members(API_TOKEN, list).await;
    let link = members
        .iter()
        .find(|m| m["email"] == email)
        .and_then(|m| m["unsubscribe_url"].as_str())
        .unwrap_or_else(|| panic!("{email} is no member of {list}: {members:?}"));
    let path = url::Url::parse(link).unwrap().path().to_owned();
    let (status, body) = app
        .post(
            &format!("{path}/pause"),
            json!({ "list": list, "days": 30 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A customer as the admin API shows them, and their consent ledger.
async fn seen_by_admin(app: &TestApp, email: &str) -> (Value, Vec<Value>) {
    let (status, customer) = app
        .call(
            Method::GET,
            &format!("/admin/customers/{email}"),
            Some(API_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{customer}");
    (customer, app.consents(API_TOKEN, email).await)
}

#[tokio::test]
async fn customers_exported_with_their_hashes_sign_in_to_a_fresh_instance_unchanged() {
    let leaving = spawn_app_with(|c| c.admin.api_token = Secret::new(API_TOKEN)).await;
    leaving.add_list(API_TOKEN, "newsletter", "News").await;
    leaving.add_list(API_TOKEN, "offers", "Offers").await;
    // Subscribed by themselves, with this product's own hash.
    let token = leaving.active_customer("self@example.com").await;
    let (status, body) = leaving
        .patch_self(
            &token,
            json!({ "subscriptions": ["newsletter", "offers"], "phone": "+44 20 7946 0958", "address": "1 High St\nFlat 2" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // And paused one of the lists from an unsubscribe link's page.
    pause_from_the_link(&leaving, "self@example.com", "newsletter").await;
    // Subscribed by the shop.
    leaving.active_customer("shop@example.com").await;
    let (status, body) = leaving
        .call(
            Method::PUT,
            "/admin/customers/shop@example.com/subscriptions",
            Some(API_TOKEN),
            Some(json!({ "subscriptions": ["offers"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Moved in earlier from Magento, never signed in since: the old hash and source travel on.
    let moved = format!(
        "email,name,password_hash,created_at,subscriptions,subscribed_at,consent_source\n\
         magento@example.com,\"Moved, Once\",{},2017-07-07T07:07:07Z,newsletter,2018-01-01T00:00:00Z,magento2\n",
        quoted(&vector_of("magento2"))
    );
    let (status, body) = leaving
        .post_csv("/admin/import?dry_run=false", API_TOKEN, &moved)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Never activated.
    leaving
        .create_customer("pending@example.com", "Pending")
        .await;
    let emails = [
        "self@example.com",
        "shop@example.com",
        "magento@example.com",
        "pending@example.com",
    ];

    let file = export_all(&leaving, true).await;
    assert_eq!(
        file.lines().next().unwrap().split(',').next_back(),
        Some("password_hash")
    );
    assert!(
        file.lines().next().unwrap().contains(",paused_until,"),
        "{file}"
    );
    let without = export_all(&leaving, false).await;
    assert!(
        !without.contains("password_hash") && !without.contains("$pbkdf2"),
        "{without}"
    );

    let arriving = spawn_app_with(|c| c.admin.api_token = Secret::new(API_TOKEN)).await;
    arriving.add_list(API_TOKEN, "newsletter", "News").await;
    arriving.add_list(API_TOKEN, "offers", "Offers").await;
    let (status, body) = arriving
        .post_csv("/admin/import?dry_run=false", API_TOKEN, &file)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], 4, "{body}");
    assert_eq!(body["active"], 3, "{body}");

    for email in emails {
        let (before, consents_before) = seen_by_admin(&leaving, email).await;
        let (after, consents_after) = seen_by_admin(&arriving, email).await;
        assert_eq!(
            after, before,
            "{email}: id, created_at, status, profile, lists"
        );
        let opt_ins: Vec<(Value, Value, String)> = consents_before
            .iter()
            .filter(|c| c["action"] == "in")
            .map(|c| {
                let source = c["source"].as_str().unwrap();
                let kept = if source.starts_with("import:") {
                    source.to_owned()
                } else {
                    format!("import:{source}")
                };
                (c["list_id"].clone(), c["at"].clone(), kept)
            })
            .collect();
        let arrived: Vec<(Value, Value, String)> = consents_after
            .iter()
            .filter(|c| c["action"] == "in")
            .map(|c| {
                let source = c["source"].as_str().unwrap().to_owned();
                (c["list_id"].clone(), c["at"].clone(), source)
            })
            .collect();
        assert_eq!(
            arrived, opt_ins,
            "{email}: each consent's list, time and source"
        );
        let pauses = |consents: &[Value]| -> Vec<(Value, Value)> {
            consents
                .iter()
                .filter(|c| c["action"] == "pause")
                .map(|c| (c["list_id"].clone(), c["paused_until"].clone()))
                .collect()
        };
        assert_eq!(
            pauses(&consents_after),
            pauses(&consents_before),
            "{email}: each pause's list and end"
        );
    }
    // The pause travelled: out of the list's export until its end, in the other list's.
    let (self_after, _) = seen_by_admin(&arriving, "self@example.com").await;
    assert!(
        self_after["subscriptions"][0]["paused_until"].is_string(),
        "{self_after}"
    );
    for app in [&leaving, &arriving] {
        assert!(
            !member_emails(app, "newsletter")
                .await
                .contains(&"self@example.com".to_owned())
        );
        assert!(
            member_emails(app, "offers")
                .await
                .contains(&"self@example.com".to_owned())
        );
    }
    let (_, magento) = seen_by_admin(&arriving, "magento@example.com").await;
    assert_eq!(magento[0]["source"], "import:magento2");
    for email in &emails[..3] {
        let (status, _) = arriving.login(email, "not the password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{email}");
        arriving.token(email, PASSWORD).await;
    }
    let (status, _) = arriving.login("pending@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(arriving.queued("new_sign_in"), 0, "a move is no new device");
}
