//! The rules a service's identity settings follow outside development: what every service
//! that calls or serves another checks at start, so a deployment can't run with a guessable
//! service token or without mutual TLS.
//!
//! *Development* is `RSS_ENV` unset, `local` or `test`; every other environment (`prod`,
//! `staging`, ...) is held to the rules.

use super::Secret;

/// Shortest service token accepted outside development: 32 bytes, what 256 random bits
/// take as raw bytes (a base64 encoding of them is longer still).
pub const MIN_TOKEN_BYTES: usize = 32;

/// Words that mark a token copied from an example rather than generated.
const PLACEHOLDERS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "replace-me",
    "replaceme",
    "placeholder",
    "example",
    "your-token",
    "secret-token",
];

/// Whether `environment` (`$RSS_ENV`) is a development one, where the rules don't apply.
pub fn is_development(environment: Option<&str>) -> bool {
    matches!(environment, None | Some("" | "local" | "test"))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdentityError {
    #[error(
        "{variable} must be set when RSS_ENV={environment}: it is the service token, the \
         second factor after the certificates"
    )]
    TokenMissing {
        variable: &'static str,
        environment: String,
    },
    #[error(
        "{variable} is {length} bytes; outside local and test it must be at least \
         {MIN_TOKEN_BYTES} random bytes (e.g. `head -c 32 /dev/urandom | base64`)"
    )]
    TokenTooShort {
        variable: &'static str,
        length: usize,
    },
    #[error(
        "{variable} is a placeholder from an example, not a secret: generate one (e.g. \
         `head -c 32 /dev/urandom | base64`)"
    )]
    TokenPlaceholder { variable: &'static str },
    #[error(
        "RSS_TLS__CA, RSS_TLS__CERT and RSS_TLS__KEY ([tls]) must be set when \
         RSS_ENV={environment}: services prove who they are with certificates (see \
         docs/security.md, 'Service identity')"
    )]
    TlsMissing { environment: String },
}

/// Checks the service token in `variable` (e.g. `RSS_API__TOKEN`) for `environment`: outside
/// development it must be set, at least [`MIN_TOKEN_BYTES`] long and not a placeholder.
pub fn check_service_token(
    token: Option<&Secret>,
    variable: &'static str,
    environment: Option<&str>,
) -> Result<(), IdentityError> {
    if is_development(environment) {
        return Ok(());
    }
    let token = token.map(|token| token.expose().trim()).unwrap_or_default();
    if token.is_empty() {
        return Err(IdentityError::TokenMissing {
            variable,
            environment: environment.unwrap_or_default().to_owned(),
        });
    }
    let lowered = token.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|word| lowered.contains(word)) {
        return Err(IdentityError::TokenPlaceholder { variable });
    }
    if token.len() < MIN_TOKEN_BYTES {
        return Err(IdentityError::TokenTooShort {
            variable,
            length: token.len(),
        });
    }
    Ok(())
}

/// Outside development, mutual TLS is not optional.
pub fn check_tls(
    tls: &crate::tls::TlsSettings,
    environment: Option<&str>,
) -> Result<(), IdentityError> {
    let configured = tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some();
    if is_development(environment) || configured {
        return Ok(());
    }
    Err(IdentityError::TlsMissing {
        environment: environment.unwrap_or_default().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const VARIABLE: &str = "RSS_API__TOKEN";

    fn check(token: &str, environment: &str) -> Result<(), IdentityError> {
        check_service_token(Some(&Secret::new(token)), VARIABLE, Some(environment))
    }

    #[test]
    fn outside_development_a_token_must_be_long_and_not_a_placeholder() {
        let good = "q7RxkQ2m9VvB3yT8ZcL1pN4sW6hJ0aFd";
        assert_eq!(check(good, "prod"), Ok(()));
        assert_eq!(check(good, "staging"), Ok(()));
        assert!(matches!(
            check("short-but-random-9f2a", "prod"),
            Err(IdentityError::TokenTooShort { length: 21, .. })
        ));
        // What the Compose file used to ship, long enough but known to everyone.
        assert_eq!(
            check("CHANGE-ME-to-a-long-random-secret", "prod"),
            Err(IdentityError::TokenPlaceholder { variable: VARIABLE })
        );
        assert!(matches!(
            check_service_token(None, VARIABLE, Some("prod")),
            Err(IdentityError::TokenMissing { .. })
        ));
        assert!(matches!(
            check("   ", "prod"),
            Err(IdentityError::TokenMissing { .. })
        ));
    }

    #[test]
    fn development_environments_accept_any_token_or_none() {
        for environment in [None, Some("local"), Some("test")] {
            assert_eq!(check_service_token(None, VARIABLE, environment), Ok(()));
            assert_eq!(
                check_tls(&crate::tls::TlsSettings::default(), environment),
                Ok(())
            );
        }
        assert_eq!(check("short", "test"), Ok(()));
    }

    #[test]
    fn outside_development_tls_is_required() {
        assert!(matches!(
            check_tls(&crate::tls::TlsSettings::default(), Some("prod")),
            Err(IdentityError::TlsMissing { .. })
        ));
    }

    #[test]
    fn errors_never_show_the_token() {
        let token = "CHANGE-ME-to-a-long-random-secret";
        let message = check(token, "prod").unwrap_err().to_string();
        assert!(!message.contains(token), "{message}");
        let message = check("tiny", "prod").unwrap_err().to_string();
        assert!(!message.contains("tiny"), "{message}");
    }
}
