//! App passwords as the middle tier stores them: never the password, only hashes.
//!
//! An app password is a long random secret the server generates, so a fast hash is enough
//! (as for session tokens): SHA-256 of it, in lowercase hex. Fever clients never send the
//! password, only their key `md5("user:password")` (lowercase hex); the middle tier keeps
//! SHA-256 of that key, so a leaked table gives neither.

/// SHA-256 of an app password, lowercase hex.
pub fn secret_hash(password: &str) -> String {
    sha256_hex(password.as_bytes())
}

/// SHA-256 of a Fever `api_key` (lowercase hex as sent; callers lowercase it first).
pub fn fever_hash(api_key: &str) -> String {
    sha256_hex(api_key.as_bytes())
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
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
}
