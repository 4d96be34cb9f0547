//! The HTTP listener: `/metrics` (OpenMetrics text), `/healthz` (the process answers) and
//! `/readyz` (store open, records loaded, every scope polled or reported blind).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::health::Health;
use crate::metrics::Metrics;

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    health: Arc<Health>,
}

pub fn router(metrics: Metrics, health: Arc<Health>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .with_state(AppState { metrics, health })
}

/// OpenMetrics when the scraper asks for it (Prometheus does), else the classic text format.
async fn metrics_handler(State(s): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let wants_openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    if wants_openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            s.metrics.encode(),
        )
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            s.metrics.encode_prometheus(),
        )
    }
}

async fn ready_handler(State(s): State<AppState>) -> impl IntoResponse {
    match s.health.ready() {
        Ok(()) => match s.health.standby() {
            Some(leader) if leader.is_empty() => (StatusCode::OK, "ready: standby\n".to_string()),
            Some(leader) => (StatusCode::OK, format!("ready: standby, {leader} leads\n")),
            None => (StatusCode::OK, "ready\n".to_string()),
        },
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready:\n{}\n", why.join("\n")),
        ),
    }
}

/// Serve until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    metrics: Metrics,
    health: Arc<Health>,
    stop: CancellationToken,
) {
    let app = router(metrics, health);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "HTTP listener stopped");
    }
}
