//! The cheap pre-scan that decides whether a document that may parse strictly still needs the
//! repair pass: a few `memchr` scans, cheap beside parsing.

use memchr::memmem;

use super::references::xml_reference_length;

/// Whether a document that may parse strictly still needs the repair pass: an `&` that does
/// not start an XML reference (feed-rs would keep `&eacute;` literally), markup written
/// unescaped inside an RSS description (feed-rs would keep only the text before it), or an
/// XML declaration past the start (which makes feed-rs panic). A few `memchr` scans: cheap
/// beside parsing.
pub(in crate::feed) fn needs_repair(document: &str) -> bool {
    let bytes = document.as_bytes();
    has_foreign_reference(bytes) || has_markup_in_rss_text(bytes) || has_late_declaration(bytes)
}

/// An XML declaration after the start (two documents concatenated, junk before the real
/// one): feed-rs switches quick-xml's decoder on every declaration, and quick-xml 0.42 panics
/// when that happens after its first buffer (found by the fuzzer). The repair drops them all.
/// (`<?xml-stylesheet` is not a declaration.)
pub(in crate::feed) fn has_late_declaration(bytes: &[u8]) -> bool {
    let start = bytes.len() - bytes.trim_ascii_start().len();
    let Some(rest) = bytes.get(start + 1..) else {
        return false;
    };
    memmem::find_iter(rest, b"<?xml").any(|at| {
        rest.get(at + 5)
            .is_none_or(|&next| next.is_ascii_whitespace() || next == b'?')
    })
}

fn has_foreign_reference(bytes: &[u8]) -> bool {
    let cdata = memmem::Finder::new(b"<![CDATA[");
    let mut next_cdata = cdata.find(bytes);
    let mut at = 0;
    while let Some(found) = memchr::memchr(b'&', &bytes[at..]) {
        let amp = at + found;
        if let Some(start) = next_cdata
            && start < amp
        {
            let Some(end) = memmem::find(&bytes[start..], b"]]>") else {
                return true;
            };
            at = start + end + 3;
            next_cdata = cdata.find(&bytes[at..]).map(|next| next + at);
            continue;
        }
        if xml_reference_length(&bytes[amp..]).is_none() {
            return true;
        }
        at = amp + 1;
    }
    false
}

fn has_markup_in_rss_text(bytes: &[u8]) -> bool {
    for tag in [b"<description".as_slice(), b"<content:encoded"] {
        for start in memmem::find_iter(bytes, tag) {
            let after = start + tag.len();
            if !bytes
                .get(after)
                .is_some_and(|&b| b == b'>' || b.is_ascii_whitespace())
            {
                continue;
            }
            let Some(close) = memchr::memchr(b'>', &bytes[after..]).map(|at| after + at) else {
                return true;
            };
            if bytes[close - 1] == b'/' {
                continue;
            }
            let mut at = close + 1;
            loop {
                let Some(lt) = memchr::memchr(b'<', &bytes[at..]).map(|found| at + found) else {
                    return true;
                };
                let rest = &bytes[lt..];
                if rest.starts_with(b"<![CDATA[") {
                    match memmem::find(rest, b"]]>") {
                        Some(end) => at = lt + end + 3,
                        None => return true,
                    }
                } else if rest.starts_with(b"</") {
                    break;
                } else {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_feeds_need_no_repair() {
        for document in [
            "<rss version=\"2.0\"><channel><title>A &amp; B &#233; &#xe9;</title></channel></rss>",
            "<rss><channel><item><description><![CDATA[<p>Caf&eacute; & co</p>]]></description></item></channel></rss>",
            "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title type=\"html\">&lt;b&gt;x&lt;/b&gt;</title></feed>",
        ] {
            assert!(!needs_repair(document), "{document}");
        }
        for document in [
            "<rss><channel><title>A & B</title></channel></rss>",
            "<rss><channel><title>Caf&eacute;</title></channel></rss>",
            "<rss><channel><item><description>Hi <b>there</b></description></item></channel></rss>",
            "<rss><channel><item><description><![CDATA[x]]> &nbsp;</description></item></channel></rss>",
        ] {
            assert!(needs_repair(document), "{document}");
        }
    }
}
