//! The retailer's staff in tests: invited the way `customer-area staff add` invites them, the
//! invitation followed from the email the SMTP sink caught, signed in over HTTP.

use customer_area::domain::{EmailAddress, Role};
use customer_area::flows::{AuditLine, staff_actions};
use reqwest::StatusCode;
use serde_json::json;

use super::TestApp;

/// The password tests give staff members.
pub const STAFF_PASSWORD: &str = "console staff passphrase 42";

impl TestApp {
    /// Invites a staff member and answers the invitation link the email carried.
    pub async fn invite_staff(&self, email: &str, role: Role) -> String {
        let address = EmailAddress::parse(email).unwrap();
        let (invited, _) = self
            .running
            .services
            .staff()
            .add(
                address,
                role,
                Some("Sam Staff".into()),
                AuditLine::of_command_line(staff_actions::ADD_STAFF),
            )
            .await
            .expect("the staff member is added");
        let mail = self.wait_for_email(email, "console").await;
        let link = mail.link("https://");
        assert_eq!(link, invited.link, "the emailed link is the printed one");
        link
    }

    /// Invites a staff member, activates them with [`STAFF_PASSWORD`] and signs them in;
    /// answers the session token.
    pub async fn staff_token(&self, email: &str, role: Role) -> String {
        let link = self.invite_staff(email, role).await;
        let link = url::Url::parse(&link).unwrap();
        let param = |name: &str| {
            link.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap()
        };
        let (status, body) = self
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
        self.staff_login(email).await
    }

    /// Signs a staff member in with [`STAFF_PASSWORD`]; answers the token.
    pub async fn staff_login(&self, email: &str) -> String {
        let (status, body) = self
            .post(
                "/admin/staff/login",
                json!({ "email": email, "password": STAFF_PASSWORD }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }
}
