//! Search as readers see it: the query language they type and the highlighted snippets they
//! are shown. Pure functions, no I/O: the service (`crate::service`) parses a query here, asks
//! the store's [`SearchStore`](crate::store::SearchStore) for hits, and builds each hit's
//! snippets here.
//!
//! What a word is (lower-case, no diacritics, split on anything but letters and digits) is the
//! store's tokenizer, [`crate::store::words`], so queries and indexes agree.
//!
//! # Layout
//! - [`query`]: the query language, parsed into [`SearchTerms`](crate::store::SearchTerms), and
//!   its limits.
//! - [`snippet`]: a title or text cut into segments, matched words marked.

pub mod query;
pub mod snippet;

pub use query::{QueryError, parse};
