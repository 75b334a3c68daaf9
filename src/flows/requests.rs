//! Password-reset, sign-up and sign-in-code requests: stored before they are answered (one
//! identical insert whatever the address), then resolved in the background, oldest first, each
//! in the transaction that removes it. The answer thus waits for the same durable write for every
//! address, and nothing acknowledged is lost to a crash: a restart resolves what is left.

use std::time::Duration;

use tokio::sync::watch;
use url::Url;

use super::Services;
use super::reset::ResetQueued;
use crate::auth;
use crate::domain::{EmailAddress, Language};
use crate::error::AppError;
use crate::store::requests::{self, Pending, Request, RequestKind};

/// How many stored requests one pass reads at a time.
const BATCH: u32 = 64;
/// How long the resolver lets a freshly stored request rest before resolving it.
const SETTLE: Duration = Duration::from_millis(20);
/// How long the resolver waits before trying again after a failed pass.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// While passes keep failing (a full disk, a database away), the failure is logged this often,
/// not at every retry.
const LOG_EVERY: Duration = Duration::from_secs(60);

flow_handle!(
    /// The journal of password-reset, sign-up and sign-in-code requests, and its resolver.
    Requests,
    requests
);

impl Requests<'_> {
    /// Commits `request` to the journal and wakes the resolver. Any failure to store it
    /// answers 503 `unavailable`, the same for every address.
    pub(super) async fn journal_request(&self, request: Request) -> Result<(), AppError> {
        match self
            .store
            .write(move |tx| requests::journal(tx, &request))
            .await
        {
            Ok(_) => {
                self.resolver_wake.notify_one();
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "a request could not be stored");
                Err(AppError::Unavailable)
            }
        }
    }

    /// Resolves every stored request, oldest first; returns how many were resolved.
    pub async fn resolve_requests(&self) -> Result<usize, AppError> {
        let mut resolved = 0;
        loop {
            let batch = self
                .store
                .read(|conn| requests::pending(conn, BATCH))
                .await?;
            if batch.is_empty() {
                return Ok(resolved);
            }
            for pending in batch {
                self.resolve(pending).await?;
                resolved += 1;
            }
        }
    }

    /// Resolves one request and removes it, in one transaction.
    async fn resolve(&self, pending: Pending) -> Result<(), AppError> {
        let services = self.0.clone();
        let resolution = self
            .store
            .write(move |tx| {
                if !requests::remove(tx, pending.id)? {
                    return Ok(Resolution::Nothing);
                }
                let Some(request) = pending.request else {
                    return Ok(Resolution::Nothing);
                };
                let Ok(email) = EmailAddress::parse(&request.email) else {
                    return Ok(Resolution::Nothing);
                };
                let kind = match request.kind {
                    RequestKind::PasswordReset => "password_reset",
                    RequestKind::SignUp => "signup",
                    RequestKind::LoginCode => "login_code",
                };
                let suppressed = |reason| Resolution::Suppressed {
                    kind,
                    reason,
                    who: auth::log_hash(email.as_str()),
                };
                let limits = &services.config.limits;
                let allowed = requests::take_allowance(
                    tx,
                    &auth::digest(email.as_str()),
                    limits.emails_per_address_per_minute.get(),
                    limits.emails_per_address_per_hour.get(),
                )?;
                if !allowed {
                    return Ok(suppressed("address_allowance"));
                }
                let link_base = request
                    .link_base
                    .as_deref()
                    .and_then(|u| Url::parse(u).ok());
                match request.kind {
                    RequestKind::PasswordReset => match link_base {
                        Some(reset_uri) => Ok(
                            match services.resets().queue_password_reset(
                                tx,
                                &email,
                                &reset_uri,
                                (request.ip, request.user_agent),
                            )? {
                                ResetQueued::Queued => Resolution::Queued,
                                ResetQueued::NoAccount => Resolution::Nothing,
                                ResetQueued::AccountPending => suppressed("account_pending"),
                            },
                        ),
                        None => Ok(Resolution::Nothing),
                    },
                    RequestKind::LoginCode => services
                        .login_codes()
                        .queue_login_code(tx, &email)
                        .map(|queued| {
                            if queued {
                                Resolution::Queued
                            } else {
                                Resolution::Nothing
                            }
                        }),
                    RequestKind::SignUp => services
                        .sign_ups()
                        .register(
                            tx,
                            &email,
                            request.name,
                            link_base.as_ref(),
                            request.language.and_then(|l| Language::parse(&l).ok()),
                            &request.subscriptions,
                        )
                        .map(|queued| {
                            if queued {
                                Resolution::Queued
                            } else {
                                Resolution::Nothing
                            }
                        }),
                }
            })
            .await?;
        match resolution {
            Resolution::Queued => self.mailer.wake_worker(),
            Resolution::Nothing => {}
            // The visitor's answer said nothing (no account enumeration); the operator's log
            // and metrics do.
            Resolution::Suppressed { kind, reason, who } => {
                tracing::info!(
                    kind,
                    reason,
                    email = %who,
                    "email not sent: {}",
                    match reason {
                        "address_allowance" => "the address used up its email allowance (limits.emails_per_address_*)",
                        _ => "the account was never activated",
                    }
                );
                self.metrics.observe_suppressed(kind, reason);
            }
        }
        Ok(())
    }
}

/// What resolving one stored request came to.
enum Resolution {
    Queued,
    Nothing,
    /// An email the request would have sent was held back, for `reason`.
    Suppressed {
        kind: &'static str,
        reason: &'static str,
        /// The address's log pseudonym.
        who: String,
    },
}

/// Resolves stored requests as they come, until `stopped`; then resolves what is left once
/// more, so that a clean shutdown leaves nothing behind.
pub async fn resolve_until(services: Services, mut stopped: watch::Receiver<bool>) {
    let mut outage = Outage::default();
    loop {
        let wait = match services.requests().resolve_requests().await {
            Ok(_) => {
                if let Some(failed) = outage.ended() {
                    tracing::info!(failed, "stored requests are resolved again");
                }
                None
            }
            Err(e) => {
                if let Some(failed) = outage.failed(std::time::Instant::now()) {
                    tracing::error!(error = %e, failed, "stored requests could not be resolved; retrying every second");
                }
                Some(RETRY_AFTER)
            }
        };
        if *stopped.borrow() || stopped.has_changed().is_err() {
            break;
        }
        let woken = tokio::select! {
            _ = services.resolver_wake.notified(), if wait.is_none() => true,
            _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => false,
            _ = stopped.changed() => false,
        };
        if woken {
            // The request is stored; resolving it a moment later keeps its work (which
            // differs between addresses) out of the way of the answers still in flight.
            tokio::time::sleep(SETTLE).await;
        }
    }
    if let Err(e) = services.requests().resolve_requests().await {
        tracing::warn!(error = %e, "stored requests are left for the next start");
    }
}

/// A run of failed passes, so that it is logged when it starts and every [`LOG_EVERY`] while
/// it lasts, not once a second.
#[derive(Default)]
struct Outage {
    /// Failed passes so far, and when the failure was last logged.
    run: Option<(u64, std::time::Instant)>,
}

impl Outage {
    /// Counts a failed pass at `now`; the passes failed so far when it is time to log.
    fn failed(&mut self, now: std::time::Instant) -> Option<u64> {
        match &mut self.run {
            None => {
                self.run = Some((1, now));
                Some(1)
            }
            Some((failed, logged)) => {
                *failed += 1;
                (now.duration_since(*logged) >= LOG_EVERY).then(|| {
                    *logged = now;
                    *failed
                })
            }
        }
    }

    /// Ends the run, if any: how many passes it failed.
    fn ended(&mut self) -> Option<u64> {
        self.run.take().map(|(failed, _)| failed)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{LOG_EVERY, Outage};

    #[test]
    fn a_run_of_failures_is_logged_when_it_starts_then_once_a_minute_and_when_it_ends() {
        let mut outage = Outage::default();
        let start = Instant::now();
        assert_eq!(outage.failed(start), Some(1));
        let logged: Vec<u64> = (2..=150)
            .filter_map(|n| outage.failed(start + Duration::from_secs(n - 1)))
            .collect();
        // A failure a second for 150 s: logged at the start, at 60 s and at 120 s.
        assert_eq!(logged, [61, 121]);
        assert_eq!(
            LOG_EVERY,
            Duration::from_secs(60),
            "the figures above assume it"
        );
        assert_eq!(outage.ended(), Some(150));
        assert_eq!(outage.ended(), None, "nothing to end twice");
        assert_eq!(outage.failed(start), Some(1), "a new run is logged at once");
    }
}
