//! What an icon's bytes are, from the bytes alone: publishers' `Content-Type` headers are often
//! wrong for icons, and an attacker's are whatever they like.

/// The image type of `bytes` if it is one of the accepted formats (`limits::ICON_TYPES`: PNG,
/// GIF, JPEG, ICO or WebP), by their magic numbers.
///
/// SVG is refused, not sanitized: it is a document, not a picture, which can carry script,
/// event handlers and references to other resources, and making it safe needs an SVG-aware
/// sanitizer this project does not have (ammonia knows HTML). Sites that offer an SVG icon
/// nearly always offer a PNG or `/favicon.ico` too, which the refresher tries next.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some("image/gif");
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Some("image/jpeg");
    }
    // ICONDIR: reserved 0, type 1 (icon), then a non-zero image count.
    if bytes.len() >= 6 && bytes[..4] == [0, 0, 1, 0] && bytes[4..6] != [0, 0] {
        return Some("image/x-icon");
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use middletier_api::limits::ICON_TYPES;

    #[test]
    fn each_accepted_format_is_recognised_by_its_magic_number() {
        let cases: [(&[u8], &str); 6] = [
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png"),
            (b"GIF89a\x01\0\x01\0", "image/gif"),
            (b"GIF87a\x01\0\x01\0", "image/gif"),
            (&[0xff, 0xd8, 0xff, 0xe0, 0, 0x10], "image/jpeg"),
            (&[0, 0, 1, 0, 1, 0, 16, 16], "image/x-icon"),
            (b"RIFF\x24\0\0\0WEBPVP8 ", "image/webp"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(image_type(bytes), Some(expected));
            assert!(ICON_TYPES.contains(&expected));
        }
    }

    #[test]
    fn markup_svg_and_truncated_headers_are_not_images() {
        for bytes in [
            &b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"[..],
            b"<?xml version='1.0'?><svg/>",
            b"<!DOCTYPE html><html><body>Not found</body></html>",
            b"\x89PNG",
            b"",
            &[0, 0, 1, 0, 0, 0],
            b"RIFF\x24\0\0\0WAVE",
        ] {
            assert_eq!(
                image_type(bytes),
                None,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
