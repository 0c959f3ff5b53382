//! Passwords: the rules for new ones, and Argon2id hashing off the async workers.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::{OnceCell, Semaphore};

use crate::session::Token;

/// NIST SP 800-63B's floor for user-chosen passwords.
const MIN_PASSWORD_CHARS: usize = 8;
/// Long passphrases are welcome; unbounded ones would only cost hashing time.
pub(super) const MAX_PASSWORD_CHARS: usize = 1024;

/// Whether a new password may be chosen, or what to change. Counted in characters, not
/// bytes, as a person counts them.
pub(super) fn check_new_password(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(format!(
            "Choose a password of at least {MIN_PASSWORD_CHARS} characters."
        ))
    } else if chars > MAX_PASSWORD_CHARS {
        Err(format!(
            "Choose a password of at most {MAX_PASSWORD_CHARS} characters."
        ))
    } else {
        Ok(())
    }
}

/// Argon2id hashing, off the async workers. Each hash takes 19 MiB and tens of milliseconds of
/// one core; a semaphore lets only as many run as there are cores, so a burst of sign-ins
/// queues instead of exhausting memory.
#[derive(Debug)]
pub(super) struct Passwords {
    permits: Semaphore,
    /// The hash of a random password, verified against when the account doesn't exist.
    dummy: OnceCell<String>,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the hashing queue is closed")]
    Closed(#[from] tokio::sync::AcquireError),
}

impl Passwords {
    pub(super) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            permits: Semaphore::new(cores),
            dummy: OnceCell::new(),
        }
    }

    pub(super) async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|error| PasswordError::Hash(error.to_string()))
        })
        .await?
    }

    /// Whether `password` matches `stored`; with no stored hash, the same work is done against
    /// a dummy and the answer is no.
    pub(super) async fn verify(&self, password: String, stored: Option<String>) -> bool {
        let (stored, real) = match stored {
            Some(stored) => (stored, true),
            None => {
                let dummy = self
                    .dummy
                    .get_or_try_init(|| async {
                        let random = Token::generate()
                            .map_err(|_| PasswordError::Hash("no randomness".to_owned()))?;
                        self.hash(random.as_str().to_owned()).await
                    })
                    .await;
                match dummy {
                    Ok(dummy) => (dummy.clone(), false),
                    Err(_) => return false,
                }
            }
        };
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let verified = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&stored).is_ok_and(|parsed| {
                // The parameters come from the stored hash, so old hashes keep verifying
                // after the defaults change.
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await;
        real && verified.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_must_be_8_to_1024_characters() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        // Characters, not bytes: eight accented letters are enough.
        assert!(check_new_password(&"\u{e9}".repeat(8)).is_ok());
        assert!(check_new_password(&"x".repeat(1024)).is_ok());
        assert!(check_new_password(&"x".repeat(1025)).is_err());
    }

    #[tokio::test]
    async fn passwords_hash_to_phc_strings_that_verify() {
        let passwords = Passwords::new();
        let hash = passwords
            .hash("correct horse".to_owned())
            .await
            .expect("hashed");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            passwords
                .verify("correct horse".to_owned(), Some(hash.clone()))
                .await
        );
        assert!(!passwords.verify("wrong horse".to_owned(), Some(hash)).await);
        assert!(!passwords.verify("correct horse".to_owned(), None).await);
        assert!(
            !passwords
                .verify("x".to_owned(), Some("not a hash".to_owned()))
                .await
        );
    }
}
