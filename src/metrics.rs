//! Prometheus metrics: request counts and latencies by route, login outcomes, and gauges read
//! at scrape time (outbox, database pool, hashing queue).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    endpoint: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SuppressedLabels {
    kind: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
}

/// Point-in-time values read when metrics are scraped.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    /// Which store the database is: `sqlite` or `postgres`.
    pub store: &'static str,
    pub emails_queued: i64,
    pub emails_sent: i64,
    pub emails_failed: i64,
    pub pool_in_use: i64,
    pub pool_size: i64,
    pub hashing_queue: i64,
    /// The longest write transaction since the start, in seconds.
    pub longest_write: f64,
}

/// Every metric of the process.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    in_flight: Gauge,
    logins: Family<OutcomeLabels, Counter>,
    emails: Family<StatusLabels, Gauge>,
    suppressed: Family<SuppressedLabels, Counter>,
    pool_in_use: Gauge,
    pool_size: Gauge,
    hashing_queue: Gauge,
    longest_write: Gauge<f64, AtomicU64>,
    webhook_attempts: Family<DeliveryLabels, Counter>,
    store: Family<StoreLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("customer_area");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "http_requests_in_flight",
            "Requests received and not yet answered (a scrape counts itself)",
            in_flight.clone(),
        );
        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register("logins", "Login attempts by outcome", logins.clone());
        let emails = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "outbox_emails",
            "Emails in the outbox by status (queued is the outbox depth)",
            emails.clone(),
        );
        let suppressed = Family::<SuppressedLabels, Counter>::default();
        registry.register(
            "emails_suppressed",
            "Reset and sign-up emails not sent, by kind and reason (address_allowance, account_pending)",
            suppressed.clone(),
        );
        let pool_in_use = Gauge::default();
        registry.register(
            "db_pool_connections_in_use",
            "Database connections checked out",
            pool_in_use.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "db_pool_connections_max",
            "Size of the database pool",
            pool_size.clone(),
        );
        let hashing_queue = Gauge::default();
        registry.register(
            "password_hashing_queue",
            "Password hashes waiting for a core",
            hashing_queue.clone(),
        );
        let longest_write = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "db_longest_write_seconds",
            "The longest write transaction since the start: the longest any write waited behind another",
            longest_write.clone(),
        );
        let webhook_attempts = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook delivery attempts by endpoint and outcome (delivered, retry, failed)",
            webhook_attempts.clone(),
        );
        let store = Family::<StoreLabels, Gauge>::default();
        registry.register(
            "db_store",
            "The database this process runs on: 1 for its store (sqlite or postgres)",
            store.clone(),
        );
        Metrics {
            store,
            webhook_attempts,
            registry: Arc::new(registry),
            requests,
            latency,
            in_flight,
            logins,
            emails,
            suppressed,
            pool_in_use,
            pool_size,
            hashing_queue,
            longest_write,
        }
    }

    /// Counts one answered request. The labels are `'static` so that only the route table and
    /// the fixed method list can name a series (see `http::route`), never a request.
    pub fn observe_request(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a request refused before it could be routed (its head too slow, too large or not
    /// HTTP), under method and route `other`. It has no latency: it never reached a route.
    pub fn observe_unrouted(&self, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                method: "other",
                route: "other",
                status,
            })
            .inc();
    }

    /// Counts a request as in flight until the returned guard is dropped (answered or
    /// abandoned).
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Counts one login attempt: `success`, `invalid_credentials`, `throttled`, ...
    pub fn observe_login(&self, outcome: &str) {
        self.logins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one webhook delivery attempt to `endpoint` ending in `outcome`.
    pub fn observe_webhook(&self, endpoint: &str, outcome: &'static str) {
        self.webhook_attempts
            .get_or_create(&DeliveryLabels {
                endpoint: endpoint.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts one reset or sign-up email not sent (`kind`), and why (`reason`).
    pub fn observe_suppressed(&self, kind: &'static str, reason: &'static str) {
        self.suppressed
            .get_or_create(&SuppressedLabels { kind, reason })
            .inc();
    }

    /// The Prometheus text exposition, with gauges set from `snapshot`.
    pub fn render(&self, snapshot: Snapshot) -> String {
        for (status, value) in [
            ("queued", snapshot.emails_queued),
            ("sent", snapshot.emails_sent),
            ("failed", snapshot.emails_failed),
        ] {
            self.emails
                .get_or_create(&StatusLabels {
                    status: status.to_owned(),
                })
                .set(value);
        }
        self.store
            .get_or_create(&StoreLabels {
                store: snapshot.store,
            })
            .set(1);
        self.pool_in_use.set(snapshot.pool_in_use);
        self.pool_size.set(snapshot.pool_size);
        self.hashing_queue.set(snapshot.hashing_queue);
        self.longest_write.set(snapshot.longest_write);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

/// A request in flight; dropping it counts the request as done.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::new();
        metrics.observe_request("GET", "/customers/self", 200, Duration::from_millis(3));
        metrics.observe_login("success");
        let text = metrics.render(Snapshot {
            emails_queued: 2,
            ..Snapshot::default()
        });
        assert!(text.contains(r#"customer_area_http_requests_total{method="GET",route="/customers/self",status="200"} 1"#), "{text}");
        assert!(text.contains("customer_area_http_request_duration_seconds_bucket"));
        assert!(text.contains(r#"customer_area_logins_total{outcome="success"} 1"#));
        assert!(text.contains(r#"customer_area_outbox_emails{status="queued"} 2"#));
        assert!(
            text.contains("customer_area_http_requests_in_flight 0"),
            "{text}"
        );
    }

    #[test]
    fn a_request_is_in_flight_until_its_guard_is_dropped() {
        let metrics = Metrics::new();
        let guard = metrics.in_flight();
        let text = metrics.render(Snapshot::default());
        assert!(
            text.contains("customer_area_http_requests_in_flight 1"),
            "{text}"
        );
        drop(guard);
        let text = metrics.render(Snapshot::default());
        assert!(
            text.contains("customer_area_http_requests_in_flight 0"),
            "{text}"
        );
    }
}
