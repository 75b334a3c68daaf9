//! The document's shared parts, each defined once: the schemas of bodies and answers, the
//! error answers operations refer to, and the two bearer tokens.

use serde_json::{Map, Value, json};

use crate::domain::{Customer, FIELDS, ProfileField, Rule};

/// `components`: schemas, responses and security schemes.
pub fn all() -> Value {
    json!({
        "schemas": schemas(),
        "responses": responses(),
        "securitySchemes": {
            "CustomerToken": {
                "type": "http", "scheme": "bearer",
                "description": "The opaque token `POST /customers/login` returns.",
            },
            "AdminToken": {
                "type": "http", "scheme": "bearer",
                "description": "`admin.api_token` from the configuration.",
            },
            "StaffToken": {
                "type": "http", "scheme": "bearer",
                "description": "The opaque token `POST /admin/staff/login` returns to a staff member.",
            },
        },
    })
}

fn schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "additionalProperties": false,
            "required": ["error", "message"],
            "properties": {
                "error": { "type": "string", "pattern": "^[a-z_]+$", "description": "A snake_case code: see each response." },
                "message": { "type": "string", "description": "For humans; never internal detail." },
                "fields": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                    "description": "For validation errors: each bad field (or query parameter) and its problem.",
                },
            },
        },
        "Subscription": described(
            closed(
                &[
                    ("id", text()),
                    ("name", text()),
                    ("subscribed_at", date_time()),
                    ("paused_until", described(nullable_date_time(), "Paused from the unsubscribe link's page: no members export names the customer for this list before this time; `null` when not paused (or the pause has run out).")),
                ],
                &["id", "name", "subscribed_at", "paused_until"],
            ),
            "A list the customer is subscribed to.",
        ),
        "Customer": described(
            closed_map(customer_properties(), &customer_keys()),
            "The customer object: exactly these keys, `null` where unset.",
        ),
        "AdminCustomer": described(admin_customer(), "The customer object plus what the back office sees."),
        "SubscriptionList": described(
            closed(
                &[
                    ("id", json!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$" })),
                    ("name", text()),
                    ("description", nullable()),
                ],
                &["id", "name", "description"],
            ),
            "A list customers may opt in to.",
        ),
        "SubscriptionLists": closed(&[("subscriptions", array_of("SubscriptionList"))], &["subscriptions"]),
        "Token": closed(&[("token", text())], &["token"]),
        "AuditLog": closed(&[("events", json!({ "type": "array", "items": closed(
            &[
                ("id", json!({ "type": "integer" })),
                ("at", date_time()),
                ("actor", text()),
                ("action", text()),
                ("customer_id", nullable()),
                ("ip", nullable()),
                ("detail", nullable()),
            ],
            &["id", "at", "actor", "action", "customer_id", "ip", "detail"],
        ) }))], &["events"]),
        "StaffSecondFactor": closed(&[("challenge", text()), ("code", text())], &["challenge", "code"]),
        "TotpEnrollment": closed(&[("secret", text()), ("otpauth_uri", text()), ("qr_svg", text())], &["secret", "otpauth_uri", "qr_svg"]),
        "TotpStatus": closed(
            &[
                ("enabled", json!({ "type": "boolean" })),
                ("added_at", json!({ "type": "string", "format": "date-time", "nullable": true })),
                ("recovery_codes_left", json!({ "type": "integer", "minimum": 0, "maximum": 10 })),
            ],
            &["enabled", "added_at", "recovery_codes_left"],
        ),
        "TotpCode": closed(&[("code", text())], &["code"]),
        "RecoveryCodes": closed(&[("recovery_codes", json!({ "type": "array", "items": text(), "minItems": 10, "maxItems": 10 }))], &["recovery_codes"]),
        "StaffMember": closed(
            &[
                ("email", text()),
                ("name", nullable()),
                ("role", one_of(&["support", "owner"])),
                ("enrollment_only", described(json!({ "type": "boolean" }), "Whether this session may only enroll a second factor (`POST /admin/staff/totp`).")),
            ],
            &["email", "name", "role", "enrollment_only"],
        ),
        "StaffListMember": closed(
            &[
                ("email", text()),
                ("name", nullable()),
                ("role", one_of(&["support", "owner"])),
                ("state", described(one_of(&["invited", "active", "locked"]), "`invited`: the invitation is not yet accepted; `locked`: after repeated wrong passwords, until a new invitation.")),
                ("second_factor", described(json!({ "type": "boolean" }), "Whether a second factor is enrolled.")),
                ("created_at", date_time()),
                ("activated_at", described(json!({ "type": "string", "format": "date-time", "nullable": true }), "When the invitation was accepted.")),
            ],
            &["email", "name", "role", "state", "second_factor", "created_at", "activated_at"],
        ),
        "StaffList": closed(&[("staff", array_of("StaffListMember"))], &["staff"]),
        "NewStaffMember": closed(
            &[
                ("email", text()),
                ("role", one_of(&["support", "owner"])),
                ("name", described(text(), "How the invitation greets them.")),
            ],
            &["email", "role"],
        ),
        "StaffRoleChange": closed(&[("role", one_of(&["support", "owner"]))], &["role"]),
        "StaffRemoved": closed(&[("result", one_of(&["deleted"])), ("email", text())], &["result", "email"]),
        "ListChange": open_keys(properties(&[("name", text()), ("description", nullable())])),
        "ProfileUpdate": described(
            open_keys(profile_update()),
            "Any subset of the customer object's keys, plus the three password keys (or `current_password` alone, which proves the password for an email change); any other key is a 422.",
        ),
        "Login": closed(&[("email", text()), ("password", text())], &["email", "password"]),
        "Activate": closed(
            &[("identifier", text()), ("secret", text()), ("password", text()), ("password_check", text())],
            &["identifier", "secret", "password", "password_check"],
        ),
        "PasswordResetRequest": closed(
            &[
                ("email", text()),
                ("reset_uri", described(text(), "A path, or an absolute URL on the retailer's origin or an allowed origin.")),
            ],
            &["email", "reset_uri"],
        ),
        "DoReset": closed(&[("email", text()), ("code", text())], &["email", "code"]),
        "LoginCodeRequest": closed(&[("email", text())], &["email"]),
        "CustomerSecondFactor": closed(
            &[("challenge", text()), ("code", text()), ("recovery_code", text())],
            &["challenge"],
        ),
        "LoginCodeVerify": closed(
            &[("email", text()), ("code", described(text(), "The 6 digits of the emailed code."))],
            &["email", "code"],
        ),
        "NewEmailConfirm": closed(&[("identifier", text()), ("key", text())], &["identifier", "key"]),
        "SignUp": closed(&[("email", text()), ("name", text()), ("activate_uri", nullable()), ("subscriptions", list_ids(LIST_IDS))], &["email", "name"]),
        "ResetToken": closed(
            &[("token", described(text(), "A JWT (HS256, signed with the code) whose claim `passphrase` is the new password."))],
            &["token"],
        ),
        "NewCustomer": closed_map(new_customer(), &["email", "name"]),
        "AdminCustomerChanges": described(open_keys(admin_changes()), "At least one of the profile keys, `language` and `subscriptions`; any other key is a 422."),
        "Stats": closed(
            &[
                ("customers", closed(&[("active", count()), ("pending", count()), ("locked", count())], &["active", "pending", "locked"])),
                ("signups_by_day", json!({ "type": "array", "minItems": 30, "maxItems": 30, "items": closed(
                    &[("date", json!({ "type": "string", "format": "date" })), ("count", count())],
                    &["date", "count"],
                ) })),
                ("emails", closed(&[("queued", count()), ("failed", count())], &["queued", "failed"])),
                ("webhooks", closed(&[("queued", count()), ("failed", count())], &["queued", "failed"])),
            ],
            &["customers", "signups_by_day", "emails", "webhooks"],
        ),
        "OutboxPage": closed(&[("emails", json!({ "type": "array", "items": closed(
            &[
                ("id", json!({ "type": "integer", "minimum": 1 })),
                ("kind", text()),
                ("recipient", text()),
                ("status", one_of(&["queued", "failed"])),
                ("attempts", count()),
                ("last_error", nullable()),
                ("created_at", date_time()),
                ("next_attempt_at", date_time()),
            ],
            &["id", "kind", "recipient", "status", "attempts", "last_error", "created_at", "next_attempt_at"],
        ) }))], &["emails"]),
        "DeliveriesPage": closed(&[("deliveries", json!({ "type": "array", "items": closed(
            &[
                ("id", json!({ "type": "integer", "minimum": 1 })),
                ("webhook_id", text()),
                ("endpoint", text()),
                ("event_type", text()),
                ("customer_id", nullable()),
                ("status", one_of(&["queued", "sent", "failed"])),
                ("attempts", count()),
                ("last_error", nullable()),
                ("created_at", date_time()),
            ],
            &["id", "webhook_id", "endpoint", "event_type", "customer_id", "status", "attempts", "last_error", "created_at"],
        ) }))], &["deliveries"]),
        "QueuedCount": closed(&[("result", one_of(&["queued"])), ("count", count())], &["result", "count"]),
        "SupportPasswordReset": open_keys(properties(&[("reset_uri", described(nullable(), "A path, or an absolute URL on the retailer's origin or an allowed origin; `links.reset_uri` without it."))])),
        "SentEmails": closed(&[("emails", json!({ "type": "array", "items": closed(
            &[
                ("id", json!({ "type": "integer", "minimum": 1 })),
                ("kind", text()),
                ("status", one_of(&["queued", "sent", "failed"])),
                ("at", described(date_time(), "When the email was written into the outbox.")),
            ],
            &["id", "kind", "status", "at"],
        ) }))], &["emails"]),
        "MailEvent": closed(
            &[
                ("type", one_of(&["bounce", "complaint"])),
                ("email", described(text(), "The address the email went to.")),
                ("permanent", described(json!({ "type": "boolean" }), "For a bounce: whether the address can never receive mail (a 5.x.x status), or could not for now (4.x.x).")),
                ("reason", described(json!({ "type": "string", "maxLength": 1000 }), "In the reporter's words; kept with the mark.")),
            ],
            &["type", "email"],
        ),
        "MailEventOutcome": closed(
            &[
                ("result", described(one_of(&["marked_undeliverable", "already_undeliverable", "soft_bounce_counted", "unsubscribed", "address_changed"]), "What changed: `already_undeliverable` and `address_changed` (the customer has another address now) change nothing.")),
                ("lists_left", described(json!({ "type": "array", "items": { "type": "string" } }), "With `marked_undeliverable` and `unsubscribed`: the lists the customer left.")),
                ("count", described(json!({ "type": "integer", "minimum": 1 }), "With `soft_bounce_counted`: temporary failures so far.")),
                ("limit", described(json!({ "type": "integer", "minimum": 1 }), "With `soft_bounce_counted`: the count that marks the address.")),
            ],
            &["result"],
        ),
        "ResendActivation": open_keys(properties(&[("activate_uri", nullable())])),
        "SetSubscriptions": closed(&[("subscriptions", list_ids(LIST_IDS))], &["subscriptions"]),
        "NewSubscriptionList": closed(&[("id", text()), ("name", text()), ("description", nullable())], &["id", "name"]),
        "CustomerPage": closed(
            &[
                ("customers", array_of("AdminCustomer")),
                ("total", described(json!({ "type": "integer", "minimum": 0 }), "How many customers match: all of them without `search`; with one, counted up to 1,000 (see `total_exact`).")),
                ("total_exact", described(json!({ "type": "boolean" }), "`false` when the search matches more than `total` customers and counting stopped there.")),
                ("limit", json!({ "type": "integer", "minimum": 1, "maximum": 500 })),
                ("offset", described(json!({ "type": "integer", "minimum": 0 }), "When the page was asked for by `offset`.")),
                ("after", described(text(), "When the page was asked for by `after`.")),
                ("next", described(nullable(), "The `after` of the page that follows; `null` on the last page.")),
            ],
            &["customers", "total", "total_exact", "limit", "next"],
        ),
        "Consents": closed(&[("consents", json!({ "type": "array", "items": consent() }))], &["consents"]),
        "ImportOutcome": json!({
            "type": "object",
            "description": "What the import did, or (a dry run) would do. A refused file (any row with a problem) is answered 422 with this object and the usual `error` (`import_refused`) and `message`; nothing was written.",
            "properties": {
                "created": described(json!({ "type": "integer", "minimum": 0 }), "Customers created (a dry run: that would be); 0 when the file was refused."),
                "skipped": described(json!({ "type": "integer", "minimum": 0 }), "Rows not imported: every row of a refused file, else 0."),
                "errors": {
                    "type": "array",
                    "description": "Every problem, in line order (line 1 is the header row); empty when the file is fine.",
                    "items": closed(
                        &[
                            ("line", json!({ "type": "integer", "minimum": 0 })),
                            ("column", described(text(), "The column's header name, or `header`, `row` or `file`.")),
                            ("message", text()),
                        ],
                        &["line", "column", "message"],
                    ),
                },
                "active": described(json!({ "type": "integer", "minimum": 0 }), "Of `created`, the customers who are active (moved in with a password hash, or `status` `active`)."),
                "activations_queued": described(json!({ "type": "integer", "minimum": 0 }), "Activation emails queued (`invite=true`, pending customers only)."),
                "dry_run": json!({ "type": "boolean" }),
                "error": text(),
                "message": text(),
            },
            "required": ["created", "skipped", "errors"],
        }),
        "Member": closed(
            &[
                ("id", customer_id()),
                ("email", text()),
                ("name", nullable()),
                ("subscribed_at", date_time()),
                ("unsubscribe_url", described(text(), "POST `List-Unsubscribe=One-Click` (RFC 8058) here to unsubscribe without a login; GET opens a page with a button.")),
            ],
            &["id", "email", "name", "subscribed_at", "unsubscribe_url"],
        ),
        "MembersPage": closed(
            &[
                ("members", array_of("Member")),
                ("total", described(json!({ "type": "integer", "minimum": 0 }), "How many customers match: all of them without `search`; with one, counted up to 1,000 (see `total_exact`).")),
                ("total_exact", described(json!({ "type": "boolean" }), "`false` when the search matches more than `total` customers and counting stopped there.")),
                ("limit", json!({ "type": "integer", "minimum": 1, "maximum": 500 })),
                ("offset", described(json!({ "type": "integer", "minimum": 0 }), "When the page was asked for by `offset`.")),
                ("after", described(customer_id(), "When the page was asked for by `after`.")),
                ("next", described(json!({ "type": "string", "nullable": true, "pattern": "^[0-9]{14}$" }), "The `after` of the page that follows (the last member's id); `null` on the last page.")),
            ],
            &["members", "total", "limit", "next"],
        ),
        "SubscriptionPreferences": closed(
            &[
                ("list", described(text(), "The list whose link this is.")),
                ("subscriptions", array_of("Subscription")),
            ],
            &["list", "subscriptions"],
        ),
        "Pause": closed(
            &[
                ("list", described(text(), "One of the customer's subscriptions.")),
                ("days", json!({ "type": "integer", "enum": [30, 90] })),
            ],
            &["list", "days"],
        ),
        "Paused": closed(
            &[
                ("result", one_of(&["paused"])),
                ("list", text()),
                ("paused_until", date_time()),
            ],
            &["result", "list", "paused_until"],
        ),
        "Resume": closed(&[("list", described(text(), "One of the customer's subscriptions."))], &["list"]),
        "Resumed": closed(&[("result", one_of(&["resumed", "not_paused"]))], &["result"]),
        "UnsubscribedAll": closed(
            &[
                ("result", one_of(&["unsubscribed"])),
                ("lists_left", described(json!({ "type": "array", "items": { "type": "string" } }), "The lists left, in id order; empty if there were none.")),
            ],
            &["result", "lists_left"],
        ),
        "OneClick": closed(
            &[("List-Unsubscribe", one_of(&["One-Click"]))],
            &["List-Unsubscribe"],
        ),
        "Deleted": closed(&[("result", one_of(&["deleted"]))], &["result"]),
        "Session": described(
            closed(
                &[
                    ("id", json!({ "type": "string", "pattern": "^[0-9a-f]{16}$" })),
                    ("created_at", date_time()),
                    ("last_used_at", described(date_time(), "Refreshed at most once a minute.")),
                    ("ip", nullable()),
                    ("user_agent", described(nullable(), "At most 256 characters, control characters removed.")),
                    ("device", device()),
                    ("current", described(json!({ "type": "boolean" }), "Whether this is the session making the request.")),
                ],
                &["id", "created_at", "last_used_at", "ip", "user_agent", "device", "current"],
            ),
            "A live session of the caller.",
        ),
        "Sessions": closed(&[("sessions", array_of("Session"))], &["sessions"]),
        "RevokedCount": closed(
            &[("result", one_of(&["revoked"])), ("count", json!({ "type": "integer", "minimum": 0 }))],
            &["result", "count"],
        ),
        "ActivityEvent": described(
            closed(
                &[
                    ("id", json!({ "type": "integer", "minimum": 1 })),
                    ("at", date_time()),
                    ("kind", one_of(&ACTIVITY_KINDS)),
                    ("ip", nullable()),
                    ("user_agent", nullable()),
                    ("device", device()),
                    ("method", described(one_of(&["password", "passkey"]), "How the customer signed in; on `login_succeeded` events only.")),
                    ("detail", described(text(), "What the shop's staff did (never who); on `support_action` events only.")),
                ],
                &["id", "at", "kind", "ip", "user_agent", "device"],
            ),
            "Something that happened to the account.",
        ),
        "Activity": closed(&[("events", array_of("ActivityEvent"))], &["events"]),
        "ImportRefused": closed(
            &[
                ("error", one_of(&["import_refused", "validation_failed"])),
                ("message", text()),
                ("fields", json!({ "type": "object", "additionalProperties": { "type": "string" } })),
                ("created", count()),
                ("skipped", count()),
                ("dry_run", json!({ "type": "boolean" })),
                ("errors", json!({ "type": "array", "items": closed(
                    &[("line", count()), ("column", text()), ("message", text())],
                    &["line", "column", "message"],
                ) })),
            ],
            &["error", "message"],
        ),
        "Export": described(
            closed(
                &[
                    ("customer", json!({ "$ref": "#/components/schemas/Customer" })),
                    ("account", json!({ "type": "object", "description": "identifier, status, created_at, updated_at, activated_at, last_login_at" })),
                    ("consents", json!({ "type": "array", "items": consent() })),
                    ("sessions", json!({ "type": "array", "items": { "type": "object" } })),
                    ("activity", array_of("ActivityEvent")),
                    ("pending_codes", json!({ "type": "array", "items": { "type": "object" }, "description": "purpose, new_email, created_at, expires_at: never the code" })),
                    ("email_undo_keys", json!({ "type": "array", "items": { "type": "object" }, "description": "old_email, new_email, created_at, expires_at: never the key" })),
                    ("emails", json!({ "type": "array", "items": { "type": "object" }, "description": "kind, address, created_at, sent_at, status: never the body" })),
                    ("passkeys", array_of("Passkey")),
                    ("passkey_user_handle", described(nullable(), "The WebAuthn user handle (hex) the customer's passkeys carry.")),
                    ("passkey_challenges", json!({ "type": "array", "items": { "type": "object" }, "description": "purpose, created_at, expires_at: never the state" })),
                    ("webhook_events", json!({ "type": "array", "items": { "type": "object" }, "description": "type, endpoint, status, created_at, sent_at of the events about the customer for the shop's webhooks" })),
                    ("known_devices", json!({ "type": "array", "items": { "type": "object" }, "description": "device_digest (SHA-256 of the User-Agent and network, hex), last_seen_at: the devices of new-device notices" })),
                    ("new_device_notices", json!({ "type": "array", "items": { "type": "object" }, "description": "session_id, created_at, expires_at of the \"this wasn't me\" links that still work: never the key" })),
                    ("second_factor", json!({ "description": "The customer's TOTP second factor, if any (when it was added; never its secret)." })),
                    ("recovery_codes", json!({ "type": "array", "items": { "type": "object" }, "description": "The unused recovery codes: when they were made, never the codes." })),
                    ("second_factor_challenges", json!({ "type": "array", "items": { "type": "object" }, "description": "Sign-ins waiting for a second factor: when, until when; never the challenge." })),
                ],
                &["customer", "account", "consents", "sessions", "activity", "pending_codes", "email_undo_keys", "emails", "passkeys", "passkey_user_handle", "passkey_challenges", "webhook_events", "known_devices", "new_device_notices"],
            ),
            "Everything stored about the customer; secrets (password hash, token and code digests) and email bodies are left out.",
        ),
        "Empty": described(open_keys(properties(&[])), "An empty object (or no body at all)."),
        "PasskeyChallenge": closed(
            &[
                ("challenge_id", described(text(), "Sent back with the browser's answer, once, within 5 minutes.")),
                ("options", described(
                    json!({ "type": "object" }),
                    "`{\"publicKey\": ...}` for `navigator.credentials.create()` or `.get()`, binary values in base64url.",
                )),
            ],
            &["challenge_id", "options"],
        ),
        "Passkey": described(
            closed(
                &[
                    ("id", json!({ "type": "string", "pattern": "^[0-9a-f]{16}$" })),
                    ("name", json!({ "type": "string", "minLength": 1, "maxLength": 64 })),
                    ("created_at", date_time()),
                    ("last_used_at", json!({ "type": "string", "format": "date-time", "nullable": true })),
                ],
                &["id", "name", "created_at", "last_used_at"],
            ),
            "A passkey of the caller.",
        ),
        "Passkeys": closed(&[("passkeys", array_of("Passkey"))], &["passkeys"]),
        "PasskeyRegistration": closed(
            &[
                ("challenge_id", text()),
                ("credential", described(json!({ "type": "object" }), "The browser's `PublicKeyCredential` (`toJSON()`), binary values in base64url.")),
                ("name", described(json!({ "type": "string", "minLength": 1, "maxLength": 64 }), "What the customer calls it; default `Passkey`.")),
            ],
            &["challenge_id", "credential"],
        ),
        "PasskeyLogin": closed(
            &[
                ("challenge_id", text()),
                ("credential", described(json!({ "type": "object" }), "The browser's `PublicKeyCredential` (`toJSON()`), binary values in base64url.")),
            ],
            &["challenge_id", "credential"],
        ),
        "EmailChangeUndo": closed(&[("identifier", text()), ("key", text())], &["identifier", "key"]),
        "NotMe": closed(&[("identifier", text()), ("key", text())], &["identifier", "key"]),
        "Reauthenticate": described(
            json!({ "oneOf": [
                closed(&[("password", text())], &["password"]),
                closed(
                    &[
                        ("challenge_id", described(text(), "From `POST /customers/passkey_login`.")),
                        ("credential", described(json!({ "type": "object" }), "The browser's `PublicKeyCredential` (`toJSON()`), binary values in base64url.")),
                    ],
                    &["challenge_id", "credential"],
                ),
            ] }),
            "The password, or a passkey assertion.",
        ),
        "AdminDeleted": closed(&[("result", one_of(&["deleted"])), ("id", customer_id())], &["result", "id"]),
        "Health": closed(
            &[
                ("status", one_of(&["ok"])),
                ("database", one_of(&["ok"])),
                ("store", described(one_of(&["sqlite", "postgres"]), "The database this instance runs on.")),
            ],
            &["status", "database", "store"],
        ),
        "HealthProblem": closed(
            &[
                ("status", described(one_of(&["degraded", "down"]), "`degraded`: reads go on, writes answer 503 `unavailable`; `down`: the database does not answer.")),
                ("database", described(one_of(&["full", "read_only", "permission_denied", "unreachable"]), "`full`: no space left on its disk; `read_only`: its file system is read-only; `permission_denied`: this user may not write the file or its directory; `unreachable`: it does not answer.")),
                ("store", described(one_of(&["sqlite", "postgres"]), "The database this instance runs on.")),
                ("error", one_of(&["unavailable"])),
                ("message", text()),
            ],
            &["status", "database", "store", "error", "message"],
        ),
    })
}

/// The kinds of activity event.
const ACTIVITY_KINDS: [&str; 19] = [
    "login_succeeded",
    "login_failed",
    "logout",
    "session_revoked",
    "password_changed",
    "password_reset_requested",
    "password_reset_completed",
    "email_change_requested",
    "email_changed",
    "email_change_undone",
    "profile_updated",
    "subscriptions_changed",
    "account_activated",
    "passkey_added",
    "passkey_removed",
    "account_secured",
    "second_factor_added",
    "second_factor_removed",
    "support_action",
];

const LIST_IDS: &str = "List ids; the `{\"id\": ...}` objects a GET returns are accepted too.";

/// The keys of the customer object, every one always present.
fn customer_keys() -> Vec<&'static str> {
    Customer::keys().collect()
}

fn customer_properties() -> Map<String, Value> {
    let mut properties = Map::new();
    for key in Customer::keys() {
        let schema = match key {
            "id" => described(customer_id(), "14 digits, random, never reused."),
            "email" => text(),
            "email_deliverable" => described(
                json!({ "type": "boolean" }),
                "`false` once bounces showed the address dead: ask the customer for a working one. No list export names it until they confirm a new address.",
            ),
            "subscriptions" => array_of("Subscription"),
            field => match ProfileField::from_key(field).map(|f| f.spec().rule) {
                Some(Rule::Country) => {
                    json!({ "type": "string", "nullable": true, "pattern": "^[A-Z]{2}$" })
                }
                _ => nullable(),
            },
        };
        properties.insert(key.to_owned(), schema);
    }
    properties
}

fn admin_customer() -> Value {
    let mut properties = customer_properties();
    properties.insert(
        "identifier".into(),
        described(
            text(),
            "The customer's stable public handle, used in email links.",
        ),
    );
    properties.insert("status".into(), one_of(&["pending", "active"]));
    properties.insert("created_at".into(), date_time());
    properties.insert(
        "language".into(),
        described(
            nullable(),
            "The language of the customer's emails (a BCP 47 primary tag); null: `mail.default_language`.",
        ),
    );
    properties.insert(
        "email_undeliverable".into(),
        described(
            json!({
                "type": "object",
                "nullable": true,
                "additionalProperties": false,
                "required": ["since", "reason"],
                "properties": { "since": date_time(), "reason": text() },
            }),
            "Since when bounces showed the address dead, and the last report's reason; null while it is deliverable.",
        ),
    );
    let mut required = customer_keys();
    required.extend([
        "identifier",
        "status",
        "created_at",
        "language",
        "email_undeliverable",
    ]);
    closed_map(properties, &required)
}

fn profile_update() -> Map<String, Value> {
    let mut properties = properties(&[
        (
            "id",
            described(nullable(), "Accepted only when it is the caller's own id."),
        ),
        (
            "email",
            described(
                nullable(),
                "A new address is not applied at once: it is confirmed by email first.",
            ),
        ),
        (
            "name",
            described(nullable(), ProfileField::Name.spec().description),
        ),
        (
            "email_deliverable",
            described(
                json!({ "type": "boolean", "nullable": true }),
                "Read-only: accepted and ignored, so that a customer object read by GET can be sent back.",
            ),
        ),
    ]);
    properties.extend(profile_rules());
    properties.insert(
        "subscriptions".into(),
        list_ids("Replaces the set of lists the customer is subscribed to."),
    );
    properties.insert(
        "password".into(),
        described(
            nullable(),
            "With `password_check` and `current_password`: changes the password.",
        ),
    );
    properties.insert("password_check".into(), nullable());
    properties.insert("current_password".into(), nullable());
    properties
}

fn count() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

fn admin_changes() -> Map<String, Value> {
    let mut properties = properties(&[
        (
            "name",
            described(nullable(), ProfileField::Name.spec().description),
        ),
        ("language", {
            let mut language = language();
            language["nullable"] = json!(true);
            language
        }),
        (
            "reason",
            described(
                nullable(),
                "Why, in the staff member's words (at most 500 characters): kept in the audit log's detail, never shown to the customer.",
            ),
        ),
    ]);
    properties.extend(profile_rules());
    properties.insert(
        "subscriptions".into(),
        list_ids("Replaces the set of lists the customer is subscribed to; recorded in the consent ledger with source `support`."),
    );
    properties
}

fn new_customer() -> Map<String, Value> {
    let mut properties = properties(&[
        ("email", text()),
        ("name", text()),
        ("identifier", nullable()),
        (
            "send_activation",
            json!({ "type": "boolean", "nullable": true, "default": true }),
        ),
        ("activate_uri", nullable()),
        ("language", language()),
    ]);
    properties.extend(profile_rules());
    properties.insert("subscriptions".into(), list_ids(LIST_IDS));
    properties
}

fn language() -> Value {
    described(
        json!({ "type": "string", "pattern": "^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$" }),
        "The language of the customer's emails, a BCP 47 tag kept as its primary subtag (`de-CH` is stored as `de`); unset: `mail.default_language`.",
    )
}

/// The profile fields a customer or the back office may set (but the name, which each body
/// treats its own way), with their rules.
fn profile_rules() -> Map<String, Value> {
    FIELDS
        .iter()
        .filter(|spec| spec.field != ProfileField::Name)
        .map(|spec| (spec.key.to_owned(), described(nullable(), spec.description)))
        .collect()
}

fn consent() -> Value {
    closed(
        &[
            ("list_id", text()),
            (
                "action",
                described(
                    one_of(&["in", "out", "pause", "resume"]),
                    "`in` and `out` join and leave a list; `pause` leaves the customer out of its exports until `paused_until`, `resume` ends a pause early (both from the unsubscribe link's page).",
                ),
            ),
            (
                "source",
                described(
                    text(),
                    "Who made the change: `customer`, `admin`, `import`, `import:<source>` (moved in: where the consent was first given), `signup`, `unsubscribe_link`, `support` (the shop's staff), `bounce` (a dead address left every list), `complaint` (the customer reported an email as spam), `preference_page` (the customer's choice on the unsubscribe link's page: a pause, its end, every list left).",
                ),
            ),
            ("at", date_time()),
            (
                "ip",
                described(nullable(), "Where the customer acted themselves: their IP."),
            ),
            (
                "user_agent",
                described(nullable(), "Likewise, their browser's User-Agent."),
            ),
            (
                "paused_until",
                described(
                    date_time(),
                    "With `pause` only: when the list's emails start again.",
                ),
            ),
        ],
        &["list_id", "action", "source", "at", "ip", "user_agent"],
    )
}

/// Subscription list ids, or the `{"id"}` objects a GET returns.
fn list_ids(description: &str) -> Value {
    json!({
        "type": "array",
        "description": description,
        "items": { "oneOf": [
            { "type": "string" },
            {
                "type": "object",
                "additionalProperties": true,
                "properties": { "id": { "type": "string" } },
                "required": ["id"],
            },
        ] },
    })
}

fn responses() -> Value {
    let bearer = json!({ "WWW-Authenticate": {
        "description": "`Bearer`.", "required": true, "schema": { "type": "string" },
    } });
    let retry = json!({ "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": true,
        "schema": { "type": "integer", "minimum": 0 },
    } });
    json!({
        "BadRequest": error("`malformed_json` (a body that is not JSON, not one object, invalid UTF-8, with a duplicate key or nested deeper than 16) or `invalid_header` (a header such as `Authorization` that is not visible ASCII).", None),
        "Unauthenticated": error("`unauthenticated`: missing, unknown, expired or ended token.", Some(&bearer)),
        "InvalidCredentials": error("`invalid_credentials`: unknown email, wrong password or not-yet-activated account, all alike.", Some(&bearer)),
        "ReauthenticationRequired": error("`reauthentication_required`: the session was not opened or reauthenticated in the last `auth.reauth_seconds` (300); confirm the password with `POST /customers/reauthenticate` (or a `current_password` in the PATCH) and try again. Nothing was changed.", None),
        "Forbidden": error("`forbidden`: the caller's role lacks this right; or `second_factor_enrollment_required`: a staff session that may only enroll a second factor (`POST /admin/staff/totp`).", None),
        "NotFound": error("`not_found`.", None),
        "Conflict": error("`conflict`, with `fields` naming the duplicate.", None),
        "LastOwner": error("`last_owner`: the staff member is the shop's last owner; invite another owner first.", None),
        "TooLarge": error("`body_too_large`: the body is over 16 KiB.", None),
        "NotJson": error("`unsupported_media_type`: a body without `Content-Type: application/json`.", None),
        "Invalid": error("`validation_failed` (or `invalid_code` for a wrong, used or expired one-time code), with `fields`.", None),
        "ImportRefused": {
            "description": "`import_refused`: the file has problems, each named by line and column in `errors`; nothing was written (`created` 0, `skipped` every row). Or `validation_failed` for the query, with `fields`.",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ImportRefused" } } },
        },
        "Throttled": error("`throttled`: over a per-IP or per-account budget.", Some(&retry)),
        "Internal": error("`internal_error`: a bug or a broken database; the cause goes to the log only.", None),
        "Unhealthy": {
            "description": "`unavailable`: the database does not answer, or takes no writes (a full disk, a read-only file system); it recovers by itself once the cause is gone.",
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/HealthProblem" } } },
            "headers": retry,
        },
        "Overloaded": error("`overloaded` (database pool or hashing queue saturated) or `unavailable` (the database cannot take the write now).", Some(&retry)),
    })
}

/// An error answer: the `Error` schema, and headers it always carries.
fn error(description: &str, headers: Option<&Value>) -> Value {
    let mut answer = json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
    });
    if let Some(headers) = headers {
        answer["headers"] = headers.clone();
    }
    answer
}

fn properties(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(key, schema)| ((*key).to_owned(), schema.clone()))
        .collect()
}

/// An object with exactly these properties, of which `required` must be present.
fn closed(pairs: &[(&str, Value)], required: &[&str]) -> Value {
    closed_map(properties(pairs), required)
}

fn closed_map(properties: Map<String, Value>, required: &[&str]) -> Value {
    let mut object = open_keys(properties);
    object["required"] = json!(required);
    object
}

/// An object with these properties, none required, no others.
fn open_keys(properties: Map<String, Value>) -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": properties })
}

fn described(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

fn text() -> Value {
    json!({ "type": "string" })
}

fn nullable() -> Value {
    json!({ "type": "string", "nullable": true })
}

/// The `device` of a session or an event: a name for people, its wording free to improve.
fn device() -> Value {
    described(
        text(),
        "The device in English, named from `user_agent` (\"Firefox on Windows\", \"Safari on iPhone\", \"curl\"; \"Unknown device\" when nothing is recognised). For people to read: its wording may change.",
    )
}

fn nullable_date_time() -> Value {
    json!({ "type": "string", "format": "date-time", "nullable": true })
}

fn date_time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn customer_id() -> Value {
    json!({ "type": "string", "pattern": "^[0-9]{14}$" })
}

fn one_of(values: &[&str]) -> Value {
    json!({ "type": "string", "enum": values })
}

fn array_of(schema: &str) -> Value {
    json!({ "type": "array", "items": { "$ref": format!("#/components/schemas/{schema}") } })
}
