//! The retailer's console in Chromium, driven by labels and button names: an owner's
//! invitation, second-factor enrollment with a code computed here and sign-in with a fresh
//! one; a support agent refused the owner screens; and every screen opened and checked like
//! the customer pages (CSP, axe-core, 360 px, screenshots).

use super::*;
use crate::second_factor::{base32_decode, now, totp};
use customer_area::domain::{EmailAddress, Role};
use customer_area::flows::{AuditLine, staff_actions};

/// The password the journeys' staff choose.
const STAFF_PASSWORD: &str = "console staff passphrase 42";

/// Invites a staff member as `customer-area staff add` does; answers the invitation link.
async fn invite(app: &TestApp, email: &str, role: Role, name: &str) -> String {
    let (invited, _) = app
        .running
        .services
        .staff()
        .add(
            EmailAddress::parse(email).unwrap(),
            role,
            Some(name.into()),
            AuditLine::of_command_line(staff_actions::ADD_STAFF),
        )
        .await
        .expect("the staff member is added");
    invited.link
}

/// Invites, activates and enrolls a staff member through the API, as one who did it before
/// would have; answers their TOTP secret (decoded), with its one code already spent.
async fn enrolled_staff(app: &TestApp, email: &str, role: Role) -> Vec<u8> {
    let link = url::Url::parse(&invite(app, email, role, "Sam Staff").await).unwrap();
    let param = |name: &str| {
        link.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let (status, body) = app
        .post(
            "/admin/staff/activate",
            json!({
                "identifier": param("identifier"),
                "secret": param("secret"),
                "password": STAFF_PASSWORD,
                "password_check": STAFF_PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/admin/staff/login",
            json!({ "email": email, "password": STAFF_PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, begun) = app
        .call(Method::POST, "/admin/staff/totp", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    let secret = base32_decode(begun["secret"].as_str().unwrap());
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/staff/totp/confirm",
            Some(&token),
            Some(json!({ "code": totp(&secret, now(), 6) })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    secret
}

/// A code of `secret` for the next 30-second step: one the server accepts and has not seen.
fn fresh_code(secret: &[u8]) -> String {
    totp(secret, now() + 30, 6)
}

impl Journey {
    /// Signs a staff member in at `/console/` with their password and a fresh TOTP code, and
    /// waits for the overview.
    async fn console_sign_in(&self, email: &str, secret: &[u8]) {
        let browser = &self.browser;
        browser.open(&self.app.url("/console/")).await;
        browser.fill_labelled("Email address", email).await;
        browser.fill_labelled("Password", STAFF_PASSWORD).await;
        browser.press_button("Sign in").await;
        browser.wait_for("#code-form").await;
        browser.fill_labelled("Code", &fresh_code(secret)).await;
        browser.press_button("Continue").await;
        browser.wait_for("#screen-overview").await;
        browser.wait_for("#health").await;
        // The password alone answers 401 `second_factor_required`, which Chromium logs.
        self.assert_quiet("console sign-in", &[("admin/staff/login", 401)])
            .await;
    }
}

#[tokio::test]
async fn an_owner_activates_enrolls_a_second_factor_and_signs_in_again_with_a_fresh_code() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    let email = "owner@example.com";
    let printed = invite(app, email, Role::Owner, "Olga Owner").await;

    // The emailed invitation is the printed one, and opens the console's activation page.
    let mail = app.wait_for_email(email, "console").await;
    let link = journey.link(&mail, "/console/activate?");
    assert_eq!(link, printed);
    browser.open(&link).await;
    browser.wait_for("#activate-form").await;
    journey.check_page("console-activate", &[]).await;
    browser.fill_labelled("Password", STAFF_PASSWORD).await;
    browser
        .fill_labelled("Password again", STAFF_PASSWORD)
        .await;
    browser.press_button("Set the password").await;
    browser.wait_for("#activate-done").await;

    // The password alone opens the enrollment: a QR code drawn by the server, the key as text.
    browser.press_button("Sign in").await;
    browser.wait_for("#signin-form").await;
    browser.fill_labelled("Email address", email).await;
    browser.fill_labelled("Password", STAFF_PASSWORD).await;
    journey.check_page("console-sign-in", &[]).await;
    browser.press_button("Sign in").await;
    browser.wait_for("#enroll").await;
    browser.wait_for("#qr svg path").await;
    let secret = journey.words_in("#totp-secret").await;
    journey.check_page("console-enroll", &[]).await;

    // A wrong code is refused in words; the code the test computes confirms.
    browser.fill_labelled("The six digits", "000000").await;
    browser.press_button("Confirm").await;
    browser
        .wait_for_text("#enroll-form [data-error-for=code]", "not right")
        .await;
    journey
        .assert_quiet("a wrong code", &[("admin/staff/totp/confirm", 422)])
        .await;
    let key = base32_decode(&secret);
    browser
        .fill_labelled("The six digits", &totp(&key, now(), 6))
        .await;
    browser.press_button("Confirm").await;
    browser.wait_for("#recovery").await;
    let codes = browser
        .execute(
            "return [...document.querySelectorAll('#recovery-codes li')].map(li => li.textContent);",
            vec![],
        )
        .await;
    let codes = codes.as_array().unwrap();
    assert_eq!(codes.len(), 10, "{codes:?}");
    let download = browser.attr("#recovery-download", "href").await.unwrap();
    assert!(download.starts_with("blob:"), "{download}");
    journey.check_page("console-recovery-codes", &[]).await;
    browser.press_button("I have kept them: continue").await;
    browser.wait_for("#screen-overview").await;
    browser.wait_for_text("#whoami", "Olga Owner").await;
    browser.wait_for("#health").await;
    journey.assert_quiet("enrolled", &[]).await;

    // Signed out, the password asks for the second factor; a fresh code signs in.
    browser.press_button("Sign out").await;
    browser.wait_for_text("#notice", "signed out").await;
    browser.fill_labelled("Email address", email).await;
    browser.fill_labelled("Password", STAFF_PASSWORD).await;
    browser.press_button("Sign in").await;
    browser.wait_for("#code-form").await;
    journey
        .assert_quiet("second factor asked", &[("admin/staff/login", 401)])
        .await;
    browser.fill_labelled("Code", &fresh_code(&key)).await;
    journey.check_page("console-second-factor", &[]).await;
    browser.press_button("Continue").await;
    browser.wait_for("#screen-overview").await;
    browser.wait_for_text("#whoami", "owner").await;
    browser.wait_for("#health").await;
    journey.assert_quiet("signed in again", &[]).await;

    // The session's token lives in the tab's sessionStorage; once ended, the page signs in.
    let token = browser
        .execute(
            "return sessionStorage.getItem('customer-area-staff-token');",
            vec![],
        )
        .await;
    let token = token.as_str().expect("a staff token in sessionStorage");
    let (status, _) = app
        .call(Method::POST, "/admin/staff/logout", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    browser.press_button("Audit log").await;
    browser.wait_for_text("#notice", "session has ended").await;
    browser.wait_for("#signin-form").await;
    journey
        .assert_quiet("session ended", &[("admin/audit?limit=50", 401)])
        .await;
}

#[tokio::test]
async fn a_support_agent_is_not_offered_the_owner_screens_and_is_refused_them_by_url() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let support = "support@example.com";
    let secret = enrolled_staff(&app, support, Role::Support).await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // With the keyboard alone: sign in, the second factor, a screen from the menu, a search.
    browser.open(&app.url("/console/")).await;
    browser.wait_for("#signin-form").await;
    journey.tab_to("signin-email").await;
    journey.press(support).await;
    journey.tab_to("signin-password").await;
    journey.press(&format!("{STAFF_PASSWORD}{ENTER}")).await;
    journey.wait_for_focus("code").await;
    journey
        .press(&format!("{}{ENTER}", fresh_code(&secret)))
        .await;
    browser.wait_for("#screen-overview").await;
    journey.tab_to("nav-customers").await;
    journey.press(ENTER).await;
    // The customers screen puts the focus in its search field.
    journey.wait_for_focus("search").await;
    journey.press(&format!("nobody{ENTER}")).await;
    browser.wait_for_text("#customers-total", "0 found").await;
    journey
        .assert_quiet("support by keyboard", &[("admin/staff/login", 401)])
        .await;
    for owners_only in ["lists", "emails", "webhooks", "import", "staff"] {
        assert!(
            !browser.is_shown(&format!("#nav-{owners_only}")).await,
            "support is offered {owners_only}"
        );
    }
    // The staff screen last: its list is asked of the server, whose answer stays on screen.
    for owners_only in ["import", "lists", "staff"] {
        browser
            .open(&app.url(&format!("/console/#/{owners_only}")))
            .await;
        browser.wait_for("#screen-refused").await;
        browser
            .wait_for_text("#refused-title", "Not for your role")
            .await;
        assert!(!browser.is_shown(&format!("#screen-{owners_only}")).await);
    }
    // The staff screen's list is asked of the server too, whose 403 is shown in words.
    browser
        .wait_for_text("#refused-server", "Your role does not allow this")
        .await;
    journey
        .check_page("console-refused", &[("admin/staff", 403)])
        .await;

    // The API refuses anyway.
    let token = browser
        .execute(
            "return sessionStorage.getItem('customer-area-staff-token');",
            vec![],
        )
        .await;
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/subscriptions",
            token.as_str(),
            Some(json!({ "id": "news", "name": "News" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden");
}

#[tokio::test]
async fn an_owner_opens_every_screen_of_the_console() {
    let app = spawn_linking_to_itself(|c| c.admin.api_token = Secret::new(ADMIN_TOKEN)).await;
    app.add_list(ADMIN_TOKEN, "newsletter", "Monthly newsletter")
        .await;
    let customer = "grace@example.com";
    active_customer(&app, customer, "Grace Hopper").await;
    let owner = "owner@example.com";
    let secret = enrolled_staff(&app, owner, Role::Owner).await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    journey.console_sign_in(owner, &secret).await;
    browser.wait_for_text("#health", "working").await;

    // Customers: a search by part of the address finds her; her page opens from the result.
    browser.press_button("Customers").await;
    browser.fill_labelled("Find a customer", "grace@").await;
    browser.press_button("Search").await;
    browser.wait_for_text("#customers-total", "1 found").await;
    journey.check_page("console-customers", &[]).await;
    browser.press_button(customer).await;
    browser.wait_for_text("#customer-title", customer).await;
    assert_eq!(browser.value("#name").await, "Grace Hopper");

    // Her subscriptions are saved from the page, and the API has them.
    browser.click("#customer-list-newsletter").await;
    browser.click("#subscriptions-submit").await;
    browser
        .wait_for_text("#customer-subscriptions .status", "Saved")
        .await;
    let (_, shown) = app
        .call(
            Method::GET,
            &format!("/admin/customers/{customer}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(shown["subscriptions"][0]["id"], "newsletter", "{shown}");
    browser
        .wait_for_text("#customer-consents", "newsletter")
        .await;
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    journey.check_page("console-customer", &[]).await;

    // Deleting asks for her address typed out: a wrong one deletes nothing.
    browser
        .fill_labelled("Type the customer", "someone@example.com")
        .await;
    browser.press_button("Delete the customer").await;
    browser
        .wait_for_text("#delete-error", "not this customer")
        .await;
    browser.fill_labelled("Type the customer", customer).await;
    browser.press_button("Delete the customer").await;
    browser.wait_for_text("#notice", "is deleted").await;
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/admin/customers/{customer}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Lists: one is added from the form, counted, exported as CSV.
    browser.press_button("Lists").await;
    browser.fill_labelled("List id", "offers").await;
    browser.fill_labelled("Name", "Special offers").await;
    browser.press_button("Add a list").await;
    browser.wait_for_text("#lists-rows", "Special offers").await;
    browser
        .wait_for_text("[data-members=newsletter]", "0")
        .await;
    browser.press_button("Export CSV: Monthly newsletter").await;
    let csv = browser.attr("[data-download=newsletter]", "href").await;
    assert!(csv.unwrap().starts_with("blob:"));
    // Renamed in its row: the id stays, the API has the new name.
    browser.press_button("Rename: Special offers").await;
    browser
        .fill_labelled("New name for Special offers", "Offers of the month")
        .await;
    browser.press_button("Save").await;
    browser
        .wait_for_text("#lists-status", "now called Offers of the month")
        .await;
    let (_, listed) = app
        .call(Method::GET, "/admin/subscriptions", Some(ADMIN_TOKEN), None)
        .await;
    assert!(
        listed["subscriptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == "offers" && l["name"] == "Offers of the month"),
        "{listed}"
    );
    journey.check_page("console-lists", &[]).await;

    // Staff: a support agent is invited from the form; the invitation arrives by email.
    browser.click("#nav-staff").await;
    browser.wait_for_text("#staff-rows", owner).await;
    browser
        .fill_labelled("Email address", "agent@example.com")
        .await;
    browser
        .fill_labelled("Name (optional)", "Sam Support")
        .await;
    browser.select("#invite-role", "support").await;
    browser.press_button("Send the invitation").await;
    browser
        .wait_for_text("#invite-form .status", "agent@example.com is invited")
        .await;
    browser
        .wait_for_text("#staff-rows", "agent@example.com")
        .await;
    let mail = app.wait_for_email("agent@example.com", "console").await;
    assert!(
        journey
            .link(&mail, "/console/activate?")
            .contains("secret="),
        "{}",
        mail.text
    );
    // Made an owner from their row: the API has the new role.
    browser.press_button("Make owner: agent@example.com").await;
    browser
        .wait_for_text("#staff-status", "agent@example.com is now owner")
        .await;
    browser.wait_for_text("#staff-rows", "Make support").await;
    let (_, staff) = app
        .call(Method::GET, "/admin/staff", Some(ADMIN_TOKEN), None)
        .await;
    assert!(
        staff["staff"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["email"] == "agent@example.com" && m["role"] == "owner"),
        "{staff}"
    );
    journey.check_page("console-staff", &[]).await;

    // The audit log shows what the owner did, newest first.
    browser.press_button("Audit log").await;
    browser
        .wait_for_text("#audit-rows", &format!("staff:{owner}"))
        .await;
    browser.wait_for_text("#audit-rows", "deleteCustomer").await;
    journey.check_page("console-audit", &[]).await;

    // The screens of the endpoints other work adds: each opens, and says what the API answers.
    for (screen, name) in [
        ("emails", "console-emails"),
        ("webhooks", "console-webhooks"),
        ("import", "console-import"),
        ("overview", "console-overview"),
    ] {
        browser.click(&format!("#nav-{screen}")).await;
        browser.wait_for(&format!("#screen-{screen}")).await;
        journey.check_page(name, &[]).await;
    }
}

#[tokio::test]
async fn an_owner_imports_a_csv_whose_bad_row_is_shown_by_line_then_the_fixed_file() {
    let app = spawn_linking_to_itself(|c| c.admin.api_token = Secret::new(ADMIN_TOKEN)).await;
    let owner = "owner@example.com";
    let secret = enrolled_staff(&app, owner, Role::Owner).await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("customers.csv");
    std::fs::write(
        &bad,
        "email,name\nada@example.com,Ada Lovelace\nnot an address,Bob\n",
    )
    .unwrap();
    journey.console_sign_in(owner, &secret).await;
    browser.press_button("Import").await;
    browser
        .wait_for("#import-file")
        .await
        .send_keys(bad.to_str().unwrap())
        .await
        .unwrap();
    browser.press_button("Check the file").await;

    // The check lists the bad row by line and column; nothing is imported.
    browser
        .wait_for_text("#import-summary", "nothing was imported")
        .await;
    browser.wait_for_text("#import-errors td", "3").await;
    browser.wait_for_text("#import-errors", "email").await;
    assert!(!browser.is_shown("#import-run").await);
    journey
        .check_page(
            "console-import-errors",
            &[("admin/import?dry_run=true", 422)],
        )
        .await;
    let (status, _) = app
        .call(
            Method::GET,
            "/admin/customers/ada@example.com",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing was imported");

    // Fixed, the check passes, and the import creates both.
    std::fs::write(
        &bad,
        "email,name\nada@example.com,Ada Lovelace\nbob@example.com,Bob\n",
    )
    .unwrap();
    browser
        .wait_for("#import-file")
        .await
        .send_keys(bad.to_str().unwrap())
        .await
        .unwrap();
    browser.press_button("Check the file").await;
    browser
        .wait_for_text("#import-summary", "2 customers would be created")
        .await;
    browser.press_button("Import now").await;
    browser
        .wait_for_text("#import-summary", "Imported: 2 customers")
        .await;
    journey.check_page("console-import", &[]).await;
    for email in ["ada@example.com", "bob@example.com"] {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/admin/customers/{email}"),
                Some(ADMIN_TOKEN),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{email}: {body}");
    }
}

#[tokio::test]
async fn a_support_agent_sends_a_password_reset_that_the_customer_receives_and_the_audit_and_activity_show()
 {
    let app = spawn_linking_to_itself(|c| c.admin.api_token = Secret::new(ADMIN_TOKEN)).await;
    let customer = "ada@example.com";
    active_customer(&app, customer, "Ada Lovelace").await;
    let support = "support@example.com";
    let secret = enrolled_staff(&app, support, Role::Support).await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    journey.console_sign_in(support, &secret).await;

    // Found by part of her address, her page opens from the result.
    browser.press_button("Customers").await;
    browser.fill_labelled("Find a customer", "ada@").await;
    browser.press_button("Search").await;
    browser.wait_for_text("#customers-total", "1 found").await;
    browser.press_button(customer).await;
    browser.wait_for_text("#customer-title", customer).await;
    let id = browser.text("#customer-facts dd:nth-of-type(2)").await;

    // The reset link goes out: it arrives in her mailbox.
    browser.press_button("Send a password reset link").await;
    browser
        .wait_for_text("#actions-status", "password reset link")
        .await;
    app.wait_for_email(customer, "Reset your").await;

    // Her own activity says what was done, never by whom; the console shows it too.
    let token = app.token(customer, PASSWORD).await;
    let (status, activity) = app
        .call(Method::GET, "/customers/activity", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{activity}");
    let events = activity["events"].as_array().unwrap();
    let done = events
        .iter()
        .find(|e| e["kind"] == "support_action")
        .unwrap_or_else(|| panic!("no support_action in {activity}"));
    assert!(!done.to_string().contains(support), "{done}");
    browser
        .wait_for_text("#customer-activity", "support_action")
        .await;
    browser.wait_for_text("#customer-emails", "reset").await;
    journey.check_page("console-customer-reset", &[]).await;

    // A profile edit needs a reason; with one, it is saved and the API has it.
    browser.fill_labelled("Town", "London").await;
    browser.press_button("Save").await;
    browser
        .wait_for_text("#profile-form [data-error-for=reason]", "Say why")
        .await;
    browser
        .fill_labelled("Reason for the change", "she called: moved to London")
        .await;
    browser.press_button("Save").await;
    browser.wait_for_text("#profile-status", "Saved").await;
    let (_, shown) = app
        .call(
            Method::GET,
            &format!("/admin/customers/{customer}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(shown["address_town"], "London", "{shown}");

    // The audit log names the agent and the customer.
    browser.press_button("Audit log").await;
    browser
        .wait_for_text("#audit-rows", &format!("staff:{support}"))
        .await;
    browser.wait_for_text("#audit-rows", &id).await;
    journey.check_page("console-audit-support", &[]).await;
}

#[tokio::test]
async fn a_bounced_address_is_marked_with_its_reason_in_the_customers_list_and_on_her_screen() {
    let app = spawn_linking_to_itself(|c| c.admin.api_token = Secret::new(ADMIN_TOKEN)).await;
    let (bounced, fine) = ("gone@example.com", "fine@example.com");
    active_customer(&app, bounced, "Gwen Gone").await;
    active_customer(&app, fine, "Fran Fine").await;
    let owner = "owner@example.com";
    let secret = enrolled_staff(&app, owner, Role::Owner).await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    journey.console_sign_in(owner, &secret).await;

    // Before any bounce: no mark on her screen.
    browser.press_button("Customers").await;
    browser.fill_labelled("Find a customer", "gone@").await;
    browser.press_button("Search").await;
    browser.wait_for_text("#customers-total", "1 found").await;
    browser.press_button(bounced).await;
    browser.wait_for_text("#customer-title", bounced).await;
    assert!(!browser.is_shown("#customer-undeliverable").await);

    // A mail provider's relay reports a permanent bounce.
    let reason = "550 5.1.1 <gone@example.com>: Recipient address rejected";
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/mail/events",
            Some(ADMIN_TOKEN),
            Some(
                json!({ "type": "bounce", "email": bounced, "permanent": true, "reason": reason }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "marked_undeliverable");

    // The list of every customer marks her, and only her.
    browser.press_button("Customers").await;
    browser.fill_labelled("Find a customer", "").await;
    browser.press_button("Search").await;
    browser.wait_for_text("#customers-total", "2 found").await;
    let rows = browser
        .execute(
            "return [...document.querySelectorAll('#customers-results tbody tr')]\
               .map((row) => row.cells[0].textContent);",
            vec![],
        )
        .await;
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    for row in &rows {
        assert_eq!(
            row.contains("(address undeliverable)"),
            row.starts_with(bounced),
            "{rows:?}"
        );
    }
    journey
        .check_page("console-customers-undeliverable", &[])
        .await;

    // Her screen says so, with the reason and the time.
    browser.press_button(bounced).await;
    browser.wait_for_text("#customer-title", bounced).await;
    browser
        .wait_for_text("#customer-undeliverable", "Address undeliverable since")
        .await;
    let mark = browser.text("#customer-undeliverable").await;
    assert!(mark.contains(reason), "{mark}");
    let year = time::OffsetDateTime::now_utc().year().to_string();
    assert!(mark.contains(&year), "no time in {mark}");
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    journey
        .check_page("console-customer-undeliverable", &[])
        .await;
}

#[tokio::test]
async fn a_new_staff_member_enrolls_a_passkey_instead_of_totp_and_signs_in_with_it() {
    // WebAuthn binds passkeys to a domain: the console is opened at `localhost`, not at an IP.
    let mut app = spawn_linking_to_itself(|config| {
        config.links.retailer_url = config.links.retailer_url.replace("127.0.0.1", "localhost");
    })
    .await;
    app.base = app.base.replace("127.0.0.1", "localhost");
    let email = "newcomer@example.com";
    let link = invite(&app, email, Role::Support, "Nina Newcomer").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    browser.add_virtual_authenticator().await;

    browser.open(&link).await;
    browser.wait_for("#activate-form").await;
    browser.fill_labelled("Password", STAFF_PASSWORD).await;
    browser
        .fill_labelled("Password again", STAFF_PASSWORD)
        .await;
    browser.press_button("Set the password").await;
    browser.wait_for("#activate-done").await;
    browser.press_button("Sign in").await;
    browser.wait_for("#signin-form").await;
    browser.fill_labelled("Email address", email).await;
    browser.fill_labelled("Password", STAFF_PASSWORD).await;
    browser.press_button("Sign in").await;

    // The enrollment step offers a passkey beside the authenticator app.
    browser.wait_for("#enroll").await;
    browser
        .wait_for_text("#enroll-passkey-form", "no passkey yet")
        .await;
    journey.check_page("console-enroll-passkey", &[]).await;
    browser
        .fill_labelled("Name of the new passkey", "Work laptop")
        .await;
    browser.press_button("Add a passkey").await;
    // The passkey is the second factor: the console opens at once, no code asked.
    browser.wait_for("#screen-overview").await;
    browser.wait_for_text("#whoami", "Nina Newcomer").await;
    browser.wait_for("#health").await;
    journey.assert_quiet("a passkey enrolled", &[]).await;

    // The member's own security place lists it.
    browser.press_button("Your sign-in").await;
    browser.wait_for("#screen-security").await;
    browser
        .wait_for_text("#security-passkey-form .passkey-list", "Work laptop")
        .await;
    journey.check_page("console-security", &[]).await;

    // Signed out, the password alone no longer signs in; the passkey does, alone.
    browser.press_button("Sign out").await;
    browser.wait_for_text("#notice", "signed out").await;
    browser.fill_labelled("Email address", email).await;
    browser.fill_labelled("Password", STAFF_PASSWORD).await;
    browser.press_button("Sign in").await;
    browser
        .wait_for_text("#signin-error", "Sign in with a passkey")
        .await;
    journey
        .assert_quiet("the password alone", &[("admin/staff/login", 401)])
        .await;
    browser.press_button("Sign in with a passkey").await;
    // Back where the member signed out (`#/security`), the passkey now used.
    browser.wait_for("#screen-security").await;
    browser.wait_for_text("#whoami", "Nina Newcomer").await;
    browser
        .wait_for_text("#security-passkey-form .passkey-list", "last used")
        .await;
    journey.assert_quiet("signed in with a passkey", &[]).await;
    let signed_in: i64 = app
        .db()
        .query_row(
            "SELECT count(*) FROM audit_log WHERE actor = ?1 AND action = 'staff.login'
                 AND detail = 'signed in with a passkey'",
            customer_area::store::sql::params![format!("staff:{email}")],
            |row| row.only(),
        )
        .unwrap();
    assert_eq!(signed_in, 1, "the passkey sign-in is in the audit log");

    // Removed on the security screen, it signs in no more.
    browser.press_button("Your sign-in").await;
    browser
        .wait_for_text("#security-passkey-form .passkey-list", "Work laptop")
        .await;
    browser.press_button("Remove the passkey Work laptop").await;
    browser
        .wait_for_text("#security-passkey-form .status", "The passkey is removed")
        .await;
    browser
        .wait_for_text("#security-passkey-form .passkey-none", "no passkey yet")
        .await;
    browser.press_button("Sign out").await;
    browser.wait_for_text("#notice", "signed out").await;
    browser.press_button("Sign in with a passkey").await;
    browser.wait_for_text("#signin-error", "not accepted").await;
    journey
        .assert_quiet(
            "a removed passkey",
            &[("admin/staff/passkey_login/finish", 401)],
        )
        .await;
}
