//! App passwords: how the edge makes them, and how they are hashed before the middle tier sees
//! them (it never sees a password).
//!
//! An app password is a long random secret the server generates, so a fast hash is enough
//! (as for session tokens): SHA-256 of it, in lowercase hex. Fever clients never send the
//! password, only their key `md5("user:password")` (lowercase hex); the middle tier keeps
//! SHA-256 of that key, so a leaked table gives neither.

use std::fmt;

use md5::Digest as _;
use ring::rand::{SecureRandom, SystemRandom};

/// SHA-256 of an app password, lowercase hex.
pub fn secret_hash(password: &str) -> String {
    sha256_hex(password.as_bytes())
}

/// SHA-256 of a Fever `api_key` (lowercase hex as sent; callers lowercase it first).
pub fn fever_hash(api_key: &str) -> String {
    sha256_hex(api_key.as_bytes())
}

/// The Fever `api_key` an app computes from the user name and an app password:
/// `md5("user:password")` in lowercase hex (the protocol's choice, not ours).
pub fn fever_key(user: &str, password: &str) -> String {
    md5_hex(format!("{user}:{password}").as_bytes())
}

/// MD5 of `bytes`, lowercase hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&md5::Md5::digest(bytes))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The letters an app password is made of: lowercase letters and digits less `0`, `1`, `l`
/// and `o`, which read alike on a phone's keyboard. 32 of them: 5 bits each.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// Groups of four letters in a password: 28 letters, 140 bits of randomness.
const GROUPS: usize = 7;

/// A new app password, as shown once to its owner, with the id it is stored under. Never
/// logged: `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct NewSecret {
    /// 16 lowercase hex characters (64 random bits): names the password in the list and in
    /// the revoke form; it is no secret.
    pub id: String,
    /// `abcd-efgh-...`: the dashes are part of it (apps hash exactly what is typed), like the
    /// app-specific passwords people already know.
    pub password: String,
}

impl NewSecret {
    /// A fresh password and id from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let random = SystemRandom::new();
        let mut id = [0u8; 8];
        random.fill(&mut id)?;
        let mut letters = [0u8; GROUPS * 4];
        random.fill(&mut letters)?;
        let mut password = String::with_capacity(GROUPS * 5);
        for (n, byte) in letters.iter().enumerate() {
            if n > 0 && n % 4 == 0 {
                password.push('-');
            }
            // 256 is a multiple of 32: every letter equally likely.
            password.push(char::from(ALPHABET[usize::from(byte % 32)]));
        }
        Ok(Self {
            id: hex(&id),
            password,
        })
    }
}

impl fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSecret")
            .field("id", &self.id)
            .field("password", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_lowercase_hex_sha256() {
        // printf 'abc' | sha256sum
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(fever_hash("abc"), secret_hash("abc"));
    }

    #[test]
    fn fever_keys_are_md5_of_user_colon_password() {
        // printf 'abc' | md5sum; printf 'ann:pw' | md5sum
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(fever_key("ann", "pw"), md5_hex(b"ann:pw"));
        assert_eq!(fever_key("ann", "pw"), "42aa2b88a4c04032349006e42f5d36be");
    }

    #[test]
    fn new_passwords_are_long_readable_and_distinct() {
        let one = NewSecret::generate().expect("random");
        let two = NewSecret::generate().expect("random");
        assert_ne!(one.password, two.password);
        assert_ne!(one.id, two.id);
        assert_eq!(one.id.len(), 16);
        assert!(
            one.id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let groups: Vec<&str> = one.password.split('-').collect();
        assert_eq!(groups.len(), GROUPS);
        for group in groups {
            assert_eq!(group.len(), 4);
            assert!(group.bytes().all(|b| ALPHABET.contains(&b)), "{group}");
        }
        assert!(!format!("{one:?}").contains(&one.password));
    }
}
