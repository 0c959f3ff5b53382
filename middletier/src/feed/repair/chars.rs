//! XML character data: the characters XML 1.0 forbids dropped (and counted), and text escaped
//! where it is written as content.

/// `text` (which has no markup) without the characters XML 1.0 forbids.
pub(super) fn push_xml_chars(out: &mut String, text: &str, forbidden: &mut usize) {
    let is_forbidden = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    if !text.contains(is_forbidden) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        if is_forbidden(c) {
            *forbidden += 1;
        } else {
            out.push(c);
        }
    }
}

/// Text escaped for XML character data.
pub(super) fn push_escaped(out: &mut String, text: &str, forbidden: &mut usize) {
    let mut rest = text;
    while let Some(at) = rest.find(['&', '<', '>']) {
        push_xml_chars(out, &rest[..at], forbidden);
        out.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            _ => "&gt;",
        });
        rest = &rest[at + 1..];
    }
    push_xml_chars(out, rest, forbidden);
}
