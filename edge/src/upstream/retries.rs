//! Ribbon's retry loop: each call's attempts go to the instances the balancer orders, again on
//! the same instance and then on the next, within the retry budget.
//!
//! Each instance is tried `1 + max_auto_retries` times, and up to
//! `max_auto_retries_next_server` further instances are tried, so one call makes at most
//! `(1 + max_auto_retries) * (1 + max_auto_retries_next_server)` attempts. Connect failures
//! are always retried (the request never arrived); timeouts and 5xx only for idempotent calls
//! or with `ok_to_retry_on_all_operations`. Bad requests are never retried. Every retry spends
//! from the retry budget; once it is spent, the first failure is final. Every attempt's
//! outcome goes back to the balancer, for its latency averages and outlier ejection.
//!
//! The loop runs inside the operation's command, so the command's timeout bounds all the
//! attempts together and the breaker sees one outcome per call.

use middletier_api::CallError;
use platform::config::Dynamic;

use crate::balancer::{Balancer, Outcome};
use crate::resilience::budget::RetryBudget;

use super::settings::MiddletierSettings;

/// Whether a call may be sent again once the middle tier may have acted on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Idempotence {
    /// Doing it twice does it once: retried after timeouts and 5xx too.
    Idempotent,
    /// Retried only when it can't have arrived (connect failures), unless the settings say
    /// `ok_to_retry_on_all_operations`.
    NotIdempotent,
}

#[derive(Debug)]
pub(super) struct Retries {
    balancer: Balancer,
    budget: RetryBudget,
    /// Live: retry counts are read per call (dynamic properties).
    settings: Dynamic<MiddletierSettings>,
}

impl Retries {
    pub(super) fn new(balancer: Balancer, settings: Dynamic<MiddletierSettings>) -> Self {
        Self {
            balancer,
            budget: RetryBudget::dynamic(settings.map(|m| m.retry_budget.clone())),
            settings,
        }
    }

    pub(super) fn balancer(&self) -> &Balancer {
        &self.balancer
    }

    /// Retries refused by the retry budget since start.
    pub(super) fn refused(&self) -> u64 {
        self.budget.exhausted()
    }

    /// Runs `attempt` against the balancer's instances (it is given each one's base URL) until
    /// one answers or the retries allowed are spent; the last failure is the call's.
    pub(super) async fn run<T, F, Fut>(
        &self,
        idempotence: Idempotence,
        mut attempt: F,
    ) -> Result<T, CallError>
    where
        F: FnMut(url::Url) -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let servers = self.balancer.order();
        let Some(first) = servers.first() else {
            return Err(CallError::Connect(
                "no middle tier instance is registered".to_owned(),
            ));
        };
        let settings = self.settings.get();
        let retry_all =
            idempotence == Idempotence::Idempotent || settings.ok_to_retry_on_all_operations;
        let server_count = (1 + settings.max_auto_retries_next_server as usize).min(servers.len());
        self.budget.deposit();
        let mut last_error = None;
        'servers: for server in servers.iter().take(server_count) {
            for _ in 0..=settings.max_auto_retries {
                if last_error.is_some() && !self.budget.try_withdraw() {
                    tracing::debug!("retry budget spent; not retrying");
                    break 'servers;
                }
                let tracked = self.balancer.start(server);
                let result = attempt(server.base_url.clone()).await;
                tracked.finish(match &result {
                    Err(error) if !error.is_bad_request() => Outcome::Failed,
                    _ => Outcome::Answered,
                });
                match result {
                    Ok(value) => return Ok(value),
                    Err(error) if error.is_bad_request() => return Err(error),
                    Err(error) if error.is_connect() || retry_all => {
                        tracing::debug!(instance = %server.id, %error, "attempt failed");
                        last_error = Some(error);
                    }
                    Err(error) => return Err(error),
                }
            }
        }
        Err(last_error.unwrap_or_else(|| CallError::Connect(format!("{} failed", first.id))))
    }
}
