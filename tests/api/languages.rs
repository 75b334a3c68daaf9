//! The customer's language: stored per customer, set by the back office, the CLI and the
//! browser at sign-up; every email in English, German and French; per-language overrides;
//! pages in the browser's language.

use std::collections::BTreeMap;

use customer_area::config::Secret;
use customer_area::mail::{Kind, Vars};
use customer_area::store::outbox;
use customer_area::store::sql::params;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::binary::Binary;
use crate::common::{Email, PATIENCE, TestApp, eventually, spawn_app_with};

/// The `[database]` section of a config written from scratch: `area.db` in the working
/// directory, or a fresh PostgreSQL database when the suite runs on PostgreSQL.
fn database_section() -> String {
    let url = crate::common::postgres_server()
        .map(|server| crate::common::fresh_postgres_database(&server))
        .unwrap_or_default();
    format!("[database]\npath = \"area.db\"\nurl = {url:?}\n")
}

const TOKEN: &str = "admin-token-for-tests-0123456789";
const ACTIVATE: &str = "https://shop.example.com/activate";

/// The built-in subject of every kind in `language`, with the test shop's name filled in.
fn built_in_subjects(language: &str) -> BTreeMap<String, String> {
    let file = std::fs::read_to_string(format!(
        "{}/src/mail/text/{language}.toml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let table: toml::Table = toml::from_str(&file).unwrap();
    table
        .iter()
        .map(|(kind, texts)| {
            let subject = texts["subject"].as_str().unwrap();
            (kind.clone(), subject.replace("{{ shop }}", "Test Shop"))
        })
        .collect()
}

fn content_language(mail: &Email) -> String {
    let raw = String::from_utf8_lossy(&mail.raw);
    let headers = raw.split("\r\n\r\n").next().unwrap();
    headers
        .lines()
        .find_map(|line| line.strip_prefix("Content-Language: "))
        .unwrap_or_default()
        .to_owned()
}

fn assert_filled(mail: &Email) {
    for syntax in ["{{", "}}", "{%", "%}"] {
        assert!(
            !mail.subject.contains(syntax) && !mail.text.contains(syntax),
            "unfilled placeholder in {}: {}",
            mail.subject,
            mail.text
        );
    }
}

async fn admin_app(adjust: impl FnOnce(&mut customer_area::config::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        adjust(c);
    })
    .await
}

async fn admin_call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, Some(TOKEN), body).await
}

#[tokio::test]
async fn every_kind_in_every_language_arrives_over_smtp_in_its_language() {
    let app = admin_app(|_| {}).await;
    let services = &app.running.services;
    let mut emails = Vec::new();
    let mut expected = Vec::new();
    for language in ["en", "de", "fr"] {
        let subjects = built_in_subjects(language);
        let tag = customer_area::domain::Language::parse(language).unwrap();
        for kind in Kind::ALL {
            let to = format!("{}.{language}@example.com", kind.name());
            let link = format!("https://shop.example.com/{}/{language}?k=1", kind.name());
            let vars = Vars {
                name: Some("Ada".into()),
                email: to.clone(),
                new_email: Some("new@example.com".into()),
                link: Some(link.clone()),
                ..Vars::default()
            };
            let email = services.mailer().compose(kind, Some(&tag), &to, &vars);
            emails.push(email);
            expected.push((to, language, subjects[kind.name()].clone(), link, kind));
        }
    }
    // Sent for no account of this database: the outbox does not check whose they are.
    let account = customer_area::domain::CustomerId::parse("10000000000001").unwrap();
    app.db()
        .with(|db| {
            for email in &emails {
                outbox::enqueue(db, &account, email)?;
            }
            Ok(())
        })
        .unwrap();
    services.mailer().wake_worker();
    let subjects_differ = built_in_subjects("en") != built_in_subjects("de")
        && built_in_subjects("de") != built_in_subjects("fr");
    assert!(subjects_differ, "each language has its own subjects");
    for (to, language, subject, link, kind) in expected {
        let mail = app.wait_for_email(&to, "").await;
        assert_eq!(mail.subject, subject, "{} in {language}", kind.name());
        assert_eq!(content_language(&mail), language);
        assert_filled(&mail);
        let template = std::fs::read_to_string(format!(
            "{}/src/mail/text/{language}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let table: toml::Table = toml::from_str(&template).unwrap();
        if table[kind.name()]["text"]
            .as_str()
            .unwrap()
            .contains("{{ link }}")
        {
            assert!(mail.text.contains(&link), "{}: {}", kind.name(), mail.text);
        }
    }
}

#[tokio::test]
async fn a_browser_preferring_swiss_french_signs_up_in_french() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    let response = app
        .client
        .post(app.url("/customers/signup"))
        .header("Accept-Language", "fr-CH, de;q=0.5")
        .json(&json!({"email": "amelie@example.com", "name": "Amélie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mail = app.wait_for_email("amelie@example.com", "Activez").await;
    assert_eq!(mail.subject, "Activez votre compte Test Shop");
    // A sign-up's activation greets no name: the visitor typed it.
    assert!(mail.text.starts_with("Bonjour,"), "{}", mail.text);
    mail.link(ACTIVATE);
    // The customer keeps the language: later emails are French too.
    let stored: String = app
        .db()
        .query_row(
            "SELECT language FROM customers WHERE email = 'amelie@example.com'",
            params![],
            |row| row.only(),
        )
        .unwrap();
    assert_eq!(stored, "fr");
}

#[tokio::test]
async fn a_sign_up_skips_languages_without_texts_and_falls_back_to_the_default() {
    let app = spawn_app_with(|c| {
        c.auth.allow_signup = true;
        c.mail.default_language = customer_area::domain::Language::parse("de").unwrap();
    })
    .await;
    for (email, header) in [("fi@example.com", "fi, sv;q=0.9"), ("none@example.com", "")] {
        let mut request = app.client.post(app.url("/customers/signup"));
        if !header.is_empty() {
            request = request.header("Accept-Language", header);
        }
        let response = request
            .json(&json!({"email": email, "name": "Kim"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mail = app.wait_for_email(email, "Aktivieren").await;
        assert_eq!(content_language(&mail), "de");
    }
}

#[tokio::test]
async fn the_back_office_sets_and_changes_a_customer_language() {
    let app = admin_app(|_| {}).await;
    let (status, created) = admin_call(
        &app,
        reqwest::Method::POST,
        "/admin/customers",
        Some(json!({"email": "greta@example.com", "name": "Greta", "language": "de-AT"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["language"], "de");
    let mail = app.wait_for_email("greta@example.com", "Aktivieren").await;
    assert!(mail.text.starts_with("Hallo Greta,"), "{}", mail.text);
    let id = created["id"].as_str().unwrap();

    let path = format!("/admin/customers/{id}");
    let (status, changed) = admin_call(
        &app,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"language": "fr"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["language"], "fr");
    let (_, shown) = admin_call(&app, reqwest::Method::GET, &path, None).await;
    assert_eq!(shown["language"], "fr");
    let resend = format!("/admin/customers/{id}/resend_activation");
    let (status, _) = admin_call(&app, reqwest::Method::POST, &resend, None).await;
    assert_eq!(status, StatusCode::OK);
    let mail = app.wait_for_email("greta@example.com", "Activez").await;
    assert!(mail.text.starts_with("Bonjour Greta,"), "{}", mail.text);

    // The customer object itself has no `language` key.
    let (_, body) = admin_call(&app, reqwest::Method::GET, &path, None).await;
    assert!(body.get("language").is_some());
    let token = {
        let secret = mail.link_param(ACTIVATE, "secret");
        let identifier = mail.link_param(ACTIVATE, "identifier");
        let (status, body) = app
            .post(
                "/customers/activate",
                json!({"identifier": identifier, "secret": secret,
                       "password": crate::common::PASSWORD, "password_check": crate::common::PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        app.token("greta@example.com", crate::common::PASSWORD)
            .await
    };
    let (_, customer) = app.get_self(&token).await;
    assert!(customer.get("language").is_none(), "{customer}");
    let (status, export) = app
        .call(
            reqwest::Method::GET,
            "/customers/self/export",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["account"]["language"], "fr");
}

#[tokio::test]
async fn a_malformed_language_is_refused_by_name() {
    let app = admin_app(|_| {}).await;
    let (status, body) = admin_call(
        &app,
        reqwest::Method::POST,
        "/admin/customers",
        Some(json!({"email": "x@example.com", "name": "X", "language": "klingon!"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["language"].is_string(), "{body}");
    let (status, body) = admin_call(
        &app,
        reqwest::Method::PATCH,
        "/admin/customers/nobody@example.com",
        Some(json!({"language": "de"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = admin_call(
        &app,
        reqwest::Method::PATCH,
        "/admin/customers/nobody@example.com",
        Some(json!({"language": "de", "colour": "red"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn an_override_for_german_only_leaves_english_customers_the_built_in_text() {
    let templates = tempfile::tempdir().unwrap();
    std::fs::create_dir(templates.path().join("de")).unwrap();
    std::fs::write(
        templates.path().join("de/activation.subject"),
        "Willkommen bei {{ shop }}, {{ name }}\n",
    )
    .unwrap();
    std::fs::write(
        templates.path().join("de/activation.txt"),
        "Grüß Gott {{ name }}! {{ link }}\n",
    )
    .unwrap();
    let dir = templates.path().to_owned();
    let app = admin_app(move |c| c.mail.templates_dir = Some(dir)).await;
    app.create_customer_in("de@example.com", "Hans", Some("de"))
        .await;
    app.create_customer_in("en@example.com", "Jane", Some("en"))
        .await;
    let german = app.wait_for_email("de@example.com", "Willkommen").await;
    assert_eq!(german.subject, "Willkommen bei Test Shop, Hans");
    assert!(
        german
            .text
            .starts_with("Grüß Gott Hans! https://shop.example.com/activate?")
    );
    let english = app.wait_for_email("en@example.com", "Activate").await;
    assert_eq!(english.subject, "Activate your Test Shop account");
    assert!(english.text.starts_with("Hello Jane,"), "{}", english.text);
    english.link(ACTIVATE);
}

#[tokio::test]
async fn a_name_full_of_template_syntax_arrives_literally() {
    let app = admin_app(|_| {}).await;
    let name = "{{ link }}{% for x in range(3) %}{{ shop }}{% endfor %}{# hidden #}";
    app.create_customer_in("curly@example.com", name, Some("fr"))
        .await;
    let mail = app.wait_for_email("curly@example.com", "Activez").await;
    assert!(
        mail.text.contains(&format!("Bonjour {name},")),
        "{}",
        mail.text
    );
    assert_eq!(mail.text.matches(ACTIVATE).count(), 1, "{}", mail.text);
    assert_eq!(mail.text.matches("Test Shop").count(), 1, "{}", mail.text);
}

#[tokio::test]
async fn a_bad_override_stops_serve_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir_all(templates.join("fr")).unwrap();
    std::fs::write(templates.join("fr/activation.txt"), "Bonjour {{ nom }}\n").unwrap();
    std::fs::write(
        dir.path().join("test.toml"),
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\n\n{}\n[mail]\ndir = \"mail\"\ntemplates_dir = {:?}\n",
            database_section(),
            templates.display().to_string()
        ),
    )
    .unwrap();
    let output = Binary::new()
        .config(dir.path().join("test.toml"))
        .arg("serve")
        .in_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "serve started: {stderr}");
    assert!(stderr.contains("fr/activation.txt"), "{stderr}");
    assert!(stderr.contains("unknown placeholder `nom`"), "{stderr}");
}

#[tokio::test]
async fn mail_preview_prints_an_email_in_the_asked_language() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("test.toml"),
        "[database]\npath = \"area.db\"\n\n[mail]\ndir = \"mail\"\nshop_name = \"Le Shop\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        Binary::new()
            .config(dir.path().join("test.toml"))
            .args(args)
            .in_dir(dir.path())
            .output()
            .unwrap()
    };
    let output = run(&["mail", "preview", "password_reset", "--language", "fr"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("Subject: Réinitialisez votre mot de passe Le Shop"),
        "{stdout}"
    );
    assert!(stdout.contains("Content-Language: fr"), "{stdout}");
    assert!(!stdout.contains("{{"), "{stdout}");
    let output = run(&["mail", "preview", "password_reset"]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Subject: Reset your Le Shop password")
    );
    let output = run(&["mail", "preview", "no_such_kind"]);
    assert!(!output.status.success());
    let output = run(&["mail", "preview", "test", "--language", "??"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--language"));
}

#[tokio::test]
async fn the_cli_and_the_import_set_the_language() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("test.toml"),
        format!(
            "{}\n[mail]\ndir = \"mail\"\n\n[auth]\npbkdf2_iterations = 1000\n",
            database_section()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let output = Binary::new()
            .config(dir.path().join("test.toml"))
            .args(args)
            .in_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap_or(Value::Null)
    };
    let created = run(&[
        "customers",
        "create",
        "--email",
        "cli@example.com",
        "--name",
        "Cli",
        "--language",
        "de",
        "--json",
    ]);
    assert_eq!(created["language"], "de");
    std::fs::write(
        dir.path().join("people.csv"),
        "email,name,language\nfr@example.com,Fleur,fr\nplain@example.com,Paul,\n",
    )
    .unwrap();
    run(&["customers", "import", "people.csv", "--json"]);
    let fleur = run(&["customers", "show", "fr@example.com", "--json"]);
    assert_eq!(fleur["language"], "fr");
    let paul = run(&["customers", "show", "plain@example.com", "--json"]);
    assert_eq!(paul["language"], "en", "the default language");
    std::fs::write(
        dir.path().join("bad.csv"),
        "email,name,language\nx@example.com,X,not a language\n",
    )
    .unwrap();
    let output = Binary::new()
        .config(dir.path().join("test.toml"))
        .args(["customers", "import", "bad.csv"])
        .in_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("language"));
}

#[tokio::test]
async fn pages_follow_the_browser_language() {
    let app = spawn_app_with(|_| {}).await;
    let page = |header: &'static str| {
        let request = app.client.get(app.url("/forgot"));
        let request = if header.is_empty() {
            request
        } else {
            request.header("Accept-Language", header)
        };
        async move {
            let response = request.send().await.unwrap();
            let language = response.headers()["content-language"]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(response.headers()["vary"], "accept-language");
            (language, response.text().await.unwrap())
        }
    };
    let (language, german) = page("de-DE,de;q=0.9,en;q=0.8").await;
    assert_eq!(language, "de");
    assert!(german.contains("<html lang=\"de\">"));
    assert!(german.contains("<h1>Passwort vergessen</h1>"), "{german}");
    let (language, french) = page("fi, fr-CA;q=0.7").await;
    assert_eq!(language, "fr");
    assert!(french.contains("<h1>Mot de passe oublié</h1>"), "{french}");
    let (language, english) = page("").await;
    assert_eq!(language, "en");
    assert!(english.contains("<h1>Forgotten password</h1>"), "{english}");
    let (language, _) = page("ja").await;
    assert_eq!(language, "en");
    // The scripts' texts travel with the page, in its language.
    assert!(german.contains("Ihre Sitzung ist abgelaufen"), "{german}");
}

#[tokio::test]
async fn a_german_customer_reads_the_account_page_and_every_email_in_german() {
    let app = spawn_app_with(|_| {}).await;
    app.create_customer_in("anna@example.com", "Anna", Some("de"))
        .await;
    let mail = app.wait_for_email("anna@example.com", "Aktivieren").await;
    let (status, _) = app
        .post(
            "/customers/activate",
            json!({"identifier": mail.link_param(ACTIVATE, "identifier"),
                   "secret": mail.link_param(ACTIVATE, "secret"),
                   "password": crate::common::PASSWORD, "password_check": crate::common::PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.ask_reset("anna@example.com").await;
    let reset = app.wait_for_email("anna@example.com", "zurücksetzen").await;
    assert_eq!(reset.subject, "Passwort für Test Shop zurücksetzen");
    assert_filled(&reset);
    reset.link("https://shop.example.com/reset/");
    let body = eventually(PATIENCE, "the account page in German", || async {
        let response = app
            .client
            .get(app.url("/"))
            .header("Accept-Language", "de")
            .send()
            .await
            .ok()?;
        let text = response.text().await.ok()?;
        text.contains("Ihre Angaben").then_some(text)
    })
    .await;
    assert!(body.contains("Passwort vergessen?"));
}
