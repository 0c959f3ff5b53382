//! References made XML's: the five XML entities and numeric references kept (numeric ones
//! XML forbids replaced), HTML's named entities written as numeric references, and a bare `&`
//! escaped.

use super::report::Counts;

/// The length of a well-formed XML reference at the start of `text` (which starts with `&`).
pub(super) fn xml_reference_length(text: &[u8]) -> Option<usize> {
    let body = &text[1..];
    let end = body.iter().take(12).position(|&b| b == b';')?;
    let name = &body[..end];
    let valid = match name {
        b"amp" | b"lt" | b"gt" | b"quot" | b"apos" => true,
        [b'#', b'x' | b'X', hex @ ..] => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
        [b'#', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    valid.then_some(end + 2)
}

/// Writes the reference at the start of `text` (an `&`) as XML; returns how much input it used.
pub(super) fn fix_reference(text: &str, counts: &mut Counts, out: &mut String) -> usize {
    if let Some(length) = xml_reference_length(text.as_bytes()) {
        let body = &text[1..length - 1];
        if let Some(number) = body.strip_prefix('#') {
            let value = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            };
            character_reference(value, counts, out);
        } else {
            out.push_str(&text[..length]);
        }
        return length;
    }
    let body = &text[1..];
    let name_length = body
        .bytes()
        .take(40)
        .take_while(u8::is_ascii_alphanumeric)
        .count();
    if name_length > 0 && body.as_bytes().get(name_length) == Some(&b';') {
        let name = &body[..=name_length];
        if let Some(&(first, second)) = markup5ever::data::NAMED_ENTITIES.get(name)
            && first != 0
        {
            counts.html_entities += 1;
            for code in [first, second].into_iter().filter(|code| *code != 0) {
                out.push_str("&#");
                out.push_str(&code.to_string());
                out.push(';');
            }
            return name_length + 2;
        }
    }
    counts.bare_ampersands += 1;
    out.push_str("&amp;");
    1
}

/// A numeric reference as XML: as is if XML allows the character, C1 controls read as
/// windows-1252 (as browsers do), anything else U+FFFD.
fn character_reference(value: Option<u32>, counts: &mut Counts, out: &mut String) {
    let Some(value) = value else {
        counts.bad_character_references += 1;
        out.push('\u{fffd}');
        return;
    };
    if (0x80..=0x9f).contains(&value) {
        counts.bad_character_references += 1;
        let byte = [u8::try_from(value).unwrap_or(b'?')];
        out.push_str(
            &encoding_rs::WINDOWS_1252
                .decode_without_bom_handling(&byte)
                .0,
        );
        return;
    }
    match char::from_u32(value) {
        Some(c)
            if matches!(c, '\t' | '\n' | '\r')
                || (c >= ' ' && !matches!(c, '\u{fffe}' | '\u{ffff}')) =>
        {
            out.push_str("&#");
            out.push_str(&value.to_string());
            out.push(';');
        }
        _ => {
            counts.bad_character_references += 1;
            out.push('\u{fffd}');
        }
    }
}
