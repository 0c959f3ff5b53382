//! The bounds the middle tier enforces on what it is sent, so callers can enforce the same ones
//! before calling (an upload limit, a form check) instead of learning them from a 400.

/// Longest feed URL accepted; real ones are far shorter, and this bounds storage per row.
pub const MAX_URL_LEN: usize = 2048;

/// Longest user name accepted.
pub const MAX_USER_LEN: usize = 64;

/// Longest item id kept; reading state is keyed by it.
pub const MAX_ITEM_ID_LEN: usize = 256;

/// Longest category name: folder names are short labels.
pub const MAX_CATEGORY_LEN: usize = 100;

/// Longest password hash stored: argon2 PHC strings are about 100 characters.
pub const MAX_PASSWORD_HASH_LEN: usize = 512;

/// Longest session lifetime accepted.
pub const MAX_SESSION_DAYS: i64 = 400;

/// Largest OPML file accepted. A list of a thousand feeds is about 200 KiB; 2 MiB allows ten
/// thousand and bounds the memory and time an upload can cost.
pub const MAX_OPML_BYTES: usize = 2 * 1024 * 1024;

/// Longest item description the middle tier answers, in bytes of sanitized HTML. Relative
/// links are made absolute against the feed's URL, so a few bytes of `<img src=.>` can become
/// kilobytes; longer descriptions are cut at a tag or character boundary, their open elements
/// closed. Full-length posts are rarely over 40 KiB of HTML.
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;

/// Longest item or feed title the middle tier answers, in bytes of plain text (cut at a
/// character boundary, ending in `…`).
pub const MAX_TITLE_BYTES: usize = 1024;

/// Most `<outline>` elements (feeds and folders) an OPML file may have. Subscriptions are
/// capped per user far below this; the cap stops a file of tiny outlines from costing work
/// per outline before that check is reached.
pub const MAX_OPML_OUTLINES: usize = 5_000;

/// Deepest element nesting an OPML file may have (`<opml><body>` plus 30 levels of folders):
/// far more than any reader produces.
pub const MAX_OPML_DEPTH: usize = 32;

/// Longest search query accepted, in characters: a few words and phrases, never a document.
pub const MAX_QUERY_CHARS: usize = 256;

/// Most words a search query may hold (required, in phrases and excluded together): each is a
/// condition every candidate item is checked against.
pub const MAX_QUERY_WORDS: usize = 16;

/// Largest feed icon kept, in bytes. Favicons are a few kilobytes; 64 KiB allows a large
/// touch icon and bounds what one site can make every store hold and every edge serve.
pub const MAX_ICON_BYTES: usize = 64 * 1024;

/// The only image types a feed icon may be (sniffed from its bytes by the middle tier, and
/// checked again by the edge before serving). SVG is not among them: it is a document that can
/// carry script.
pub const ICON_TYPES: &[&str] = &[
    "image/png",
    "image/gif",
    "image/jpeg",
    "image/x-icon",
    "image/webp",
];

/// Longest item author kept, in bytes of plain text: a byline, never a biography.
pub const MAX_AUTHOR_BYTES: usize = 256;

/// Most enclosures kept per item, in feed order: an episode has one file, a gallery a few;
/// the rest are dropped, so one item can't make a page of players.
pub const MAX_ENCLOSURES: usize = 8;

/// Longest enclosure media type kept (RFC 6838 allows 127 characters for each half).
pub const MAX_MEDIA_TYPE_LEN: usize = 255;
