//! The error the rest of the edge sees from a call to the middle tier: a command's outcome
//! (see [`crate::resilience::command`]) in the words a user reads.

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

impl UpstreamError {
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
