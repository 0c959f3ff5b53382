//! The error the rest of the edge sees from a call to the middle tier: a command's outcome
//! (see [`crate::resilience::command`]) in the words a user reads.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::AppendHeaders;
use middletier_api::{CallError, Candidate};

use crate::resilience::command::{Classify, CommandError, Fault};

/// Why a call to the middle tier produced no result; the wording is shown to users.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the feed service is failing, so calls to it are paused for a few seconds")]
    ShortCircuited,
    #[error("the feed service is busy with too many requests")]
    Rejected,
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

/// How long a shed caller is told to wait before trying again. The load that shed it is a
/// burst beyond what the middle tier sustains now: within a second the queue has turned over
/// several times and the adaptive limit has moved, and `Retry-After` counts whole seconds, so
/// one is the shortest wait it can say. Longer would idle readers who would be served.
pub const SHED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// `Retry-After` in whole seconds (at least one), or no header.
pub fn retry_after_header(
    wait: Option<Duration>,
) -> AppendHeaders<Option<(HeaderName, HeaderValue)>> {
    AppendHeaders(wait.map(|wait| {
        (
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        )
    }))
}

impl UpstreamError {
    /// When a caller may try again, for the `Retry-After` of a 503: a shed call (the command
    /// was too busy to take it) may soon; for the other failures nobody knows when.
    pub fn retry_after(&self) -> Option<Duration> {
        matches!(self, UpstreamError::Rejected).then_some(SHED_RETRY_AFTER)
    }

    /// [`Self::retry_after`] as a response's headers.
    pub fn retry_after_header(&self) -> AppendHeaders<Option<(HeaderName, HeaderValue)>> {
        retry_after_header(self.retry_after())
    }

    /// The caller's fault: no fallback applies, the message goes back as it is.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            UpstreamError::BadRequest(_) | UpstreamError::Choose(..)
        )
    }
}

impl From<CommandError<CallError>> for UpstreamError {
    fn from(error: CommandError<CallError>) -> Self {
        match error {
            CommandError::ShortCircuited => UpstreamError::ShortCircuited,
            CommandError::Rejected => UpstreamError::Rejected,
            CommandError::Timeout => UpstreamError::Timeout,
            CommandError::Failed(error) => UpstreamError::Failed(error),
            CommandError::BadRequest(CallError::Choose {
                message,
                candidates,
            }) => UpstreamError::Choose(message, candidates),
            CommandError::BadRequest(error) => UpstreamError::BadRequest(error.to_string()),
        }
    }
}

/// A 4xx is the caller's fault, a 300 (several feeds at that URL) an answer to act on, and
/// everything else (refused, timed out, 5xx, a garbled or oversized answer) the middle tier's.
impl Classify for CallError {
    fn fault(&self) -> Fault {
        match self {
            CallError::Choose { .. } => Fault::Alternatives,
            error if error.is_bad_request() => Fault::BadRequest,
            _ => Fault::Upstream,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn a_refused_request_keeps_the_middle_tiers_message_for_the_user() {
        let refused = CallError::Rejected {
            status: StatusCode::BAD_REQUEST,
            message: "not a feed URL".into(),
        };
        let error = UpstreamError::from(CommandError::BadRequest(refused));
        assert!(error.is_bad_request());
        assert_eq!(error.to_string(), "not a feed URL");
    }

    #[test]
    fn several_feeds_at_a_url_become_a_choice() {
        let choose = CallError::Choose {
            message: "pick one".into(),
            candidates: Vec::new(),
        };
        assert_eq!(choose.fault(), Fault::Alternatives);
        let error = UpstreamError::from(CommandError::BadRequest(choose));
        assert!(matches!(&error, UpstreamError::Choose(message, _) if message == "pick one"));
        assert!(error.is_bad_request());
    }

    #[test]
    fn an_oversized_answer_counts_against_the_middle_tier() {
        let oversized = CallError::TooLarge { limit: 1024 };
        assert_eq!(oversized.fault(), Fault::Upstream);
        assert!(!oversized.is_bad_request());
        let error = UpstreamError::from(CommandError::Failed(oversized));
        assert_eq!(error.to_string(), "the feed service is unavailable");
    }

    #[test]
    fn only_a_shed_call_says_when_to_come_back() {
        assert_eq!(
            UpstreamError::Rejected.retry_after(),
            Some(SHED_RETRY_AFTER)
        );
        for error in [UpstreamError::ShortCircuited, UpstreamError::Timeout] {
            assert_eq!(error.retry_after(), None, "{error}");
        }
    }

    #[test]
    fn failures_are_worded_without_internals() {
        let failed = CallError::Server {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "stack trace".into(),
        };
        assert_eq!(failed.fault(), Fault::Upstream);
        let error = UpstreamError::from(CommandError::Failed(failed));
        assert!(!error.is_bad_request());
        assert_eq!(error.to_string(), "the feed service is unavailable");
    }
}
