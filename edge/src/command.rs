//! A Hystrix-style command: every call to the middle tier runs inside one, so it is bounded in
//! time, guarded by its own circuit breaker, and answered by a fallback when it can't succeed.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use middletier::client::CallError;
use middletier::discover::Candidate;

use crate::breaker::{BreakerSettings, CircuitBreaker, Decision};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandSettings {
    /// Bounds the whole command, retries included (Hystrix's execution timeout).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub breaker: BreakerSettings,
}

impl CommandSettings {
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            breaker: BreakerSettings::default(),
        }
    }
}

/// Why a command produced no result; the wording is shown to users.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("the feed service is failing, so calls to it are paused for a few seconds")]
    ShortCircuited,
    #[error("the feed service did not answer in time")]
    Timeout,
    #[error("the feed service is unavailable")]
    Failed(#[source] CallError),
    /// The request itself was refused (e.g. an invalid URL): the message is for the user.
    #[error("{0}")]
    BadRequest(String),
    /// The URL is a web page linking several feeds: the user picks one.
    #[error("{0}")]
    Choose(String, Vec<Candidate>),
}

#[derive(Debug)]
pub struct Command {
    name: &'static str,
    timeout: Duration,
    breaker: Mutex<CircuitBreaker>,
}

impl Command {
    pub fn new(name: &'static str, settings: &CommandSettings) -> Self {
        Self {
            name,
            timeout: settings.timeout,
            breaker: Mutex::new(CircuitBreaker::new(
                settings.breaker.clone(),
                Instant::now(),
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn is_circuit_open(&self) -> bool {
        self.with_breaker(|breaker| breaker.is_open())
    }

    /// Runs `call` unless the circuit is open, within the timeout, and records the outcome.
    pub async fn execute<T>(
        &self,
        call: impl Future<Output = Result<T, CallError>>,
    ) -> Result<T, CommandError> {
        if self.with_breaker(|breaker| breaker.decide(Instant::now())) == Decision::ShortCircuit {
            return Err(CommandError::ShortCircuited);
        }
        // If the caller goes away mid-call the outcome is unknown: count it as neither, so a
        // half-open trial slot is never lost.
        let mut pending = Pending {
            command: self,
            settled: false,
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => {
                pending.settle(CircuitBreaker::on_success);
                Ok(value)
            }
            Ok(Err(CallError::Choose {
                message,
                candidates,
            })) => {
                pending.settle(|breaker, _| breaker.on_ignored());
                Err(CommandError::Choose(message, candidates))
            }
            Ok(Err(error)) if error.is_bad_request() => {
                pending.settle(|breaker, _| breaker.on_ignored());
                Err(CommandError::BadRequest(error.to_string()))
            }
            Ok(Err(error)) => {
                tracing::warn!(command = self.name, %error, "command failed");
                pending.settle(CircuitBreaker::on_failure);
                Err(CommandError::Failed(error))
            }
            Err(_elapsed) => {
                tracing::warn!(command = self.name, timeout = ?self.timeout, "command timed out");
                pending.settle(CircuitBreaker::on_failure);
                Err(CommandError::Timeout)
            }
        }
    }

    fn with_breaker<R>(&self, f: impl FnOnce(&mut CircuitBreaker) -> R) -> R {
        // Breaker updates are single assignments; a poisoned lock holds a consistent value.
        f(&mut self.breaker.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct Pending<'a> {
    command: &'a Command,
    settled: bool,
}

impl Pending<'_> {
    fn settle(&mut self, record: impl FnOnce(&mut CircuitBreaker, Instant)) {
        self.settled = true;
        self.command
            .with_breaker(|breaker| record(breaker, Instant::now()));
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.command.with_breaker(CircuitBreaker::on_ignored);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn command() -> Command {
        Command::new(
            "test",
            &CommandSettings::with_timeout(Duration::from_millis(100)),
        )
    }

    fn server_error() -> CallError {
        CallError::Server {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "boom".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_calls_time_out_and_count_as_failures() {
        let command = command();
        let slow = async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, CallError>(())
        };
        assert!(matches!(
            command.execute(slow).await,
            Err(CommandError::Timeout)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn failures_open_the_circuit_and_then_calls_are_not_made() {
        let command = command();
        for _ in 0..20 {
            let _ = command
                .execute(async { Err::<(), _>(server_error()) })
                .await;
        }
        assert!(command.is_circuit_open());
        let mut called = false;
        let result = command
            .execute(async {
                called = true;
                Ok::<_, CallError>(())
            })
            .await;
        assert!(matches!(result, Err(CommandError::ShortCircuited)));
        assert!(!called, "an open circuit must not reach the middle tier");
    }

    #[tokio::test(start_paused = true)]
    async fn bad_requests_never_open_the_circuit() {
        let command = command();
        for _ in 0..50 {
            let rejected = CallError::Rejected {
                status: StatusCode::BAD_REQUEST,
                message: "bad url".into(),
            };
            let result = command.execute(async { Err::<(), _>(rejected) }).await;
            assert!(
                matches!(result, Err(CommandError::BadRequest(message)) if message == "bad url")
            );
        }
        assert!(!command.is_circuit_open());
    }
}
