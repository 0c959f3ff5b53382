//! The in-process load generator: readers loading the home page (the river) back to back, each
//! answer classified the way a reader experiences it. A page with the stale banner is a
//! degraded page, not a success, so load tests count it apart and fail on it where the system
//! is healthy; how fast the edge is under load is for `deploy/load/` and the benches.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use reqwest::StatusCode;

use super::{Browser, Service, eventually};

/// What one answer was to the reader who asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 200 without a banner: the real page.
    Served,
    /// A fallback: a page with a banner (`class="banner banner-`), the last good page or none.
    Stale,
    /// Shed on purpose: 503 with `Retry-After`.
    Shed,
    /// Anything else, a transport error included.
    Error,
}

fn classify(status: Option<StatusCode>, retry_after: bool, html: &str) -> Kind {
    match status {
        Some(StatusCode::OK) if html.contains(r#"class="banner banner-"#) => Kind::Stale,
        Some(StatusCode::OK) => Kind::Served,
        Some(StatusCode::SERVICE_UNAVAILABLE) if retry_after => Kind::Shed,
        _ => Kind::Error,
    }
}

/// One answer: its kind, and what came back (for failure messages).
#[derive(Debug)]
pub struct Answer {
    pub kind: Kind,
    pub status: Option<StatusCode>,
    pub body: String,
}

/// Readers at work: started by [`Load::start`], stopped (and tallied) by [`Load::stop`].
pub struct Load {
    handles: Vec<tokio::task::JoinHandle<Vec<Answer>>>,
    stop: Arc<AtomicBool>,
    /// Answers so far, so a test waits for load to have run rather than for a time.
    answered: Arc<AtomicUsize>,
}

impl Load {
    /// `readers` readers, each loading the home page until stopped, or `pages` times if given.
    pub fn start(edge: &Service, readers: usize, pages: Option<usize>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let handles = (0..readers)
            .map(|_| {
                let browser = Browser::new(edge);
                let (stop, answered) = (stop.clone(), answered.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    while !stop.load(Ordering::Relaxed)
                        && pages.is_none_or(|pages| answers.len() < pages)
                    {
                        answers.push(read(&browser).await);
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    answers
                })
            })
            .collect();
        Load {
            handles,
            stop,
            answered,
        }
    }

    /// `readers` readers loading `pages` pages each; every answer once all are done.
    pub async fn run(edge: &Service, readers: usize, pages: usize) -> Tally {
        let load = Load::start(edge, readers, Some(pages));
        let mut answers = Vec::new();
        for handle in load.handles {
            answers.extend(handle.await.expect("a load reader"));
        }
        Tally { answers }
    }

    /// Waits until `more` answers have come back from now on.
    pub async fn answers(&self, more: usize) {
        let target = self.answered.load(Ordering::Relaxed) + more;
        eventually(&format!("{more} more answers"), || async {
            self.answered.load(Ordering::Relaxed) >= target
        })
        .await;
    }

    /// Stops the readers (each finishes the page it is on) and tallies every answer.
    pub async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut answers = Vec::new();
        for handle in self.handles {
            answers.extend(handle.await.expect("a load reader"));
        }
        Tally { answers }
    }
}

async fn read(browser: &Browser) -> Answer {
    let (status, retry_after, body) = match browser.get("/").send().await {
        Ok(response) => {
            let status = response.status();
            let retry_after = response.headers().contains_key("retry-after");
            match response.text().await {
                Ok(body) => (Some(status), retry_after, body),
                Err(error) => (None, false, format!("the body failed: {error}")),
            }
        }
        Err(error) => (None, false, format!("the request failed: {error}")),
    };
    Answer {
        kind: classify(status, retry_after, &body),
        status,
        body,
    }
}

/// Every answer of a run.
pub struct Tally {
    pub answers: Vec<Answer>,
}

impl Tally {
    pub fn count(&self, kind: Kind) -> usize {
        self.answers.iter().filter(|a| a.kind == kind).count()
    }

    pub fn total(&self) -> usize {
        self.answers.len()
    }

    /// The first answer of `kind`, to show what went wrong.
    pub fn first(&self, kind: Kind) -> Option<&Answer> {
        self.answers.iter().find(|a| a.kind == kind)
    }

    /// Fails unless every answer was the real page.
    pub fn assert_all_served(&self, what: &str) {
        for kind in [Kind::Stale, Kind::Shed, Kind::Error] {
            if let Some(answer) = self.first(kind) {
                panic!(
                    "{what}: {} of {} answers were {kind:?}; the first ({:?}): {}",
                    self.count(kind),
                    self.total(),
                    answer.status,
                    excerpt(&answer.body)
                );
            }
        }
    }

    /// Fails on any error; stale and shed answers are allowed.
    pub fn assert_no_error(&self, what: &str) {
        if let Some(answer) = self.first(Kind::Error) {
            panic!(
                "{what}: {} of {} answers were errors; the first ({:?}): {}",
                self.count(Kind::Error),
                self.total(),
                answer.status,
                excerpt(&answer.body)
            );
        }
    }

    pub fn summary(&self) -> String {
        format!(
            "{} answers: {} served, {} stale, {} shed, {} errors",
            self.total(),
            self.count(Kind::Served),
            self.count(Kind::Stale),
            self.count(Kind::Shed),
            self.count(Kind::Error)
        )
    }
}

/// The banner and its surroundings, or the start of a body that has none.
fn excerpt(body: &str) -> &str {
    let start = body.find("banner banner-").unwrap_or(0);
    let start = body.floor_char_boundary(start.saturating_sub(20));
    let end = body.floor_char_boundary((start + 400).min(body.len()));
    &body[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_as_a_reader_sees_them() {
        let ok = Some(StatusCode::OK);
        let busy = Some(StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(classify(ok, false, "<main>news</main>"), Kind::Served);
        let stale = r#"<p class="banner banner-stale">busy</p>"#;
        assert_eq!(classify(ok, false, stale), Kind::Stale);
        assert_eq!(classify(busy, true, "busy"), Kind::Shed);
        assert_eq!(classify(busy, false, "busy"), Kind::Error, "no Retry-After");
        assert_eq!(classify(None, false, ""), Kind::Error);
        assert_eq!(
            classify(Some(StatusCode::INTERNAL_SERVER_ERROR), true, ""),
            Kind::Error
        );
    }
}
