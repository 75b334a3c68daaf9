//! Handlers of the customer endpoints: read the request into domain values, call the
//! operation, shape the answer. No rules live here.

use serde_json::json;
use warp::reject::Rejection;
use warp::reply::Response;

use super::body::JsonObject;
use super::reply::{ok_json, ok_result};
use crate::auth;
use crate::domain::{Client, EmailAddress, Language, ProfileChanges, ProfileField, format_time};
use crate::error::AppError;
use crate::flows::{PasswordChange, ProfileUpdate, SecondFactorCode, Services, Session, SignUp};

/// POST /customers/login
pub async fn login(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let email = body.required_str("email");
    let password = body.required_str("password");
    body.finish()?;
    let result = services.sessions().login(&email, &password, &client).await;
    let outcome = audit_outcome(&result);
    audit_login(&services, outcome, &auth::log_hash(&email), &client, None);
    Ok(ok_json(&json!({ "token": result? })))
}

/// POST /customers/login_code
pub async fn request_login_code(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let email = body.required_parsed("email", EmailAddress::parse);
    let email = body.finish_with(email)?;
    services
        .login_codes()
        .request_login_code(email, &client)
        .await?;
    Ok(ok_result("email_sent"))
}

/// POST /customers/login_code/verify
pub async fn sign_in_with_code(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let email = body.required_str("email");
    let code = body.required_str("code");
    body.finish()?;
    let result = services
        .login_codes()
        .sign_in_with_code(&email, &code, &client)
        .await;
    let outcome = audit_outcome(&result);
    let method = Some("email_code");
    audit_login(&services, outcome, &auth::log_hash(&email), &client, method);
    Ok(ok_json(&json!({ "token": result? })))
}

/// POST /customers/login/second_factor
pub async fn finish_second_factor(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let challenge = body.required_str("challenge");
    let code = body.optional_str("code");
    let recovery_code = body.optional_str("recovery_code");
    let code = match (code, recovery_code) {
        (Some(code), None) => Some(SecondFactorCode::Totp(code)),
        (None, Some(code)) => Some(SecondFactorCode::Recovery(code)),
        _ => {
            body.reject_field("code", "send either code or recovery_code");
            None
        }
    };
    body.finish()?;
    let code = code.ok_or_else(|| AppError::field("code", "send either code or recovery_code"))?;
    let result = services
        .totps()
        .finish_sign_in(&challenge, code, &client)
        .await;
    let outcome = audit_outcome(&result);
    audit_login(&services, outcome, "-", &client, Some("second_factor"));
    Ok(ok_json(&json!({ "token": result? })))
}

/// GET /customers/totp
pub async fn totp_status(services: Services, session: Session) -> Result<Response, Rejection> {
    let status = services.totps().status(&session).await?;
    Ok(ok_json(&json!({
        "enabled": status.is_some(),
        "added_at": status.as_ref().map(|s| format_time(s.added_at)),
        "recovery_codes_left": status.map_or(0, |s| s.recovery_codes_left),
    })))
}

/// POST /customers/totp
pub async fn begin_totp(services: Services, session: Session) -> Result<Response, Rejection> {
    let enrollment = services.totps().begin(&session).await?;
    Ok(ok_json(&json!({
        "secret": enrollment.secret,
        "otpauth_uri": enrollment.otpauth_uri,
        "qr_svg": super::staff::qr_svg(&enrollment.otpauth_uri)?,
    })))
}

/// POST /customers/totp/confirm
pub async fn confirm_totp(
    services: Services,
    session: Session,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let code = body.required_str("code");
    body.finish()?;
    let codes = services.totps().confirm(&session, &code).await?;
    Ok(ok_json(&json!({ "recovery_codes": codes })))
}

/// DELETE /customers/totp
pub async fn remove_totp(services: Services, session: Session) -> Result<Response, Rejection> {
    services.totps().remove(&session).await?;
    Ok(ok_result("deleted"))
}

/// What an attempt to prove a credential (a sign-in, a reauthentication) came to, as the audit
/// line and the login metrics name it.
pub(super) fn audit_outcome<T>(result: &Result<T, AppError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(AppError::InvalidCredentials) => "invalid_credentials",
        // The first factor was right; the sign-in waits for a second one or an emailed code.
        Err(AppError::SecondFactorRequired { .. }) => "second_factor_required",
        Err(AppError::EmailCodeRequired) => "email_code_required",
        Err(AppError::Throttled { .. }) => "throttled",
        Err(_) => "error",
    }
}

/// Counts a sign-in's outcome and writes its audit line: the account by a pseudonym of its
/// email (`-` when none is known), the client's IP, and the method when it is not a password.
pub(super) fn audit_login(
    services: &Services,
    outcome: &'static str,
    account: &str,
    client: &Client,
    method: Option<&'static str>,
) {
    services.metrics().observe_login(outcome);
    match method {
        None => {
            tracing::info!(target: "customer_area::audit", outcome, account = %account, ip = %client.ip, "login")
        }
        Some(method) => {
            tracing::info!(target: "customer_area::audit", outcome, account = %account, ip = %client.ip, method, "login")
        }
    }
}

/// POST /customers/logout
pub async fn logout(services: Services, session: Session) -> Result<Response, Rejection> {
    services.sessions().logout(session).await?;
    Ok(ok_result("logged_out"))
}

/// GET /customers/self
pub async fn show_self(services: Services, token: String) -> Result<Response, Rejection> {
    Ok(ok_json(&services.profiles().own_profile(&token).await?))
}

/// PATCH /customers/self
pub async fn update_self(
    services: Services,
    session: Session,
    body: JsonObject,
) -> Result<Response, Rejection> {
    let update = parse_update(body)?;
    Ok(ok_json(
        &services.profiles().update_profile(&session, update).await?,
    ))
}

/// DELETE /customers/self
pub async fn delete_self(services: Services, session: Session) -> Result<Response, Rejection> {
    services.accounts().delete_account(session).await?;
    Ok(ok_result("deleted"))
}

/// POST /customers/activate
pub async fn activate(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let identifier = body.required_str("identifier");
    let secret = body.required_str("secret");
    let password = body.required_str("password");
    let password_check = body.required_str("password_check");
    body.finish()?;
    services
        .activations()
        .activate(&identifier, &secret, &password, &password_check, &client)
        .await?;
    Ok(ok_result("activated"))
}

/// POST /customers/password_reset
pub async fn request_password_reset(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let email = body.required_parsed("email", EmailAddress::parse);
    let reset_uri = body.required_parsed("reset_uri", |raw| services.links().resolve(raw));
    let (email, reset_uri) = body.finish_with(email.zip(reset_uri))?;
    services
        .resets()
        .request_password_reset(email, reset_uri, &client)
        .await?;
    Ok(ok_result("email_sent"))
}

/// POST /customers/do_reset
pub async fn reset_password(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let email = body.required_str("email");
    let code = body.required_str("code");
    body.finish()?;
    let token = services
        .resets()
        .reset_password(&email, &code, &client)
        .await?;
    Ok(ok_json(&json!({ "token": token })))
}

/// POST /customers/newemail_confirm
pub async fn confirm_new_email(
    services: Services,
    client: Client,
    body: JsonObject,
) -> Result<Response, Rejection> {
    let (identifier, key) = body.identifier_and_key()?;
    services
        .email_changes()
        .confirm_new_email(&identifier, &key, &client)
        .await?;
    Ok(ok_result("updated"))
}

/// POST /customers/signup
pub async fn sign_up(
    services: Services,
    client: Client,
    mut body: JsonObject,
    accept_language: Option<String>,
) -> Result<Response, Rejection> {
    let languages = services.mailer().languages();
    let language =
        accept_language.and_then(|header| Language::negotiate(&header, |l| languages.contains(l)));
    let email = body.required_parsed("email", EmailAddress::parse);
    let name = body
        .required_parsed("name", |raw| ProfileField::Name.parse(raw))
        .flatten();
    let activate_uri = body.optional_parsed("activate_uri", |raw| services.links().resolve(raw));
    let subscriptions = super::admin::subscriptions_field(&mut body).unwrap_or_default();
    let email = body.finish_with(email)?;
    services
        .sign_ups()
        .sign_up(
            SignUp {
                email,
                name,
                activate_uri,
                language,
                subscriptions,
            },
            &client,
        )
        .await?;
    Ok(ok_result("email_sent"))
}

/// The profile keys of a PATCH body: each one given is set (`null` clears it).
pub(super) fn profile_changes(body: &mut JsonObject) -> ProfileChanges {
    let mut profile = ProfileChanges::default();
    for field in ProfileField::ALL {
        match body.nullable_str(field.key()) {
            None => {}
            Some(None) => profile.fields.push((field, None)),
            Some(Some(raw)) => {
                if let Some(value) = body.checked(field.key(), field.parse(&raw)) {
                    profile.fields.push((field, value));
                }
            }
        }
    }
    profile
}

/// Reads a PATCH body: any subset of the customer object, plus a password change, or a
/// `current_password` alone.
fn parse_update(mut body: JsonObject) -> Result<ProfileUpdate, AppError> {
    let mut update = ProfileUpdate {
        id: body.optional_str("id"),
        email: body.optional_parsed("email", EmailAddress::parse),
        ..ProfileUpdate::default()
    };
    update.profile = profile_changes(&mut body);
    // Read-only, as `id` is: a customer object read by GET may be sent back whole.
    let _ = body.optional_bool("email_deliverable");
    update.subscriptions = super::admin::subscriptions_field(&mut body)
        .map(|lists| lists.iter().map(|l| l.as_str().to_owned()).collect());
    let password = body.optional_str("password");
    let password_check = body.optional_str("password_check");
    let current_password = body.optional_str("current_password");
    if password.is_none() && password_check.is_none() {
        // Alone, it proves the password (an email change on a session that is not recent).
        update.current_password = current_password;
    } else {
        for (key, value) in [
            ("password", &password),
            ("password_check", &password_check),
            ("current_password", &current_password),
        ] {
            if value.is_none() {
                body.reject_field(key, "is required to change the password");
            }
        }
        if let (Some(password), Some(password_check), Some(current_password)) =
            (password, password_check, current_password)
        {
            update.password = Some(PasswordChange {
                password,
                password_check,
                current_password,
            });
        }
    }
    body.finish()?;
    Ok(update)
}
