//! Dynamic properties (Archaius' `DynamicProperty`): a handle a component keeps and reads at
//! the moment it uses a setting, so a configuration change applies to the next request without
//! a restart and without the component knowing where settings come from.
//!
//! A [`Dynamic<T>`] is either fixed (tests, or settings built by hand) or a projection of the
//! live configuration that [`crate::config::Source::watch`] keeps up to date. Reading is cheap
//! (a read lock on a `tokio::sync::watch` channel and a clone of the projected value), and every
//! reader sees either the old or the new configuration, never a mix: a reload swaps one
//! `Arc<Settings>` as a whole.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// A setting that may change while the service runs. Read it with [`Dynamic::get`] each time
/// it is used; do not cache the value.
pub struct Dynamic<T> {
    read: Arc<dyn Fn() -> T + Send + Sync>,
    /// Bumped after every swap of the root configuration; `None` for fixed values.
    changes: Option<watch::Receiver<u64>>,
}

impl<T> Clone for Dynamic<T> {
    fn clone(&self) -> Self {
        Self {
            read: self.read.clone(),
            changes: self.changes.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Dynamic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Dynamic").field(&(self.read)()).finish()
    }
}

impl<T: Default + Clone + Send + Sync + 'static> Default for Dynamic<T> {
    fn default() -> Self {
        Self::fixed(T::default())
    }
}

impl<T: Clone + Send + Sync + 'static> Dynamic<T> {
    /// A value that never changes.
    pub fn fixed(value: T) -> Self {
        Self {
            read: Arc::new(move || value.clone()),
            changes: None,
        }
    }

    /// The current value.
    pub fn get(&self) -> T {
        (self.read)()
    }

    /// A part of this value, as live as the whole (e.g. one command's settings).
    pub fn map<U>(&self, project: impl Fn(&T) -> U + Send + Sync + 'static) -> Dynamic<U> {
        let read = self.read.clone();
        Dynamic {
            read: Arc::new(move || project(&read())),
            changes: self.changes.clone(),
        }
    }

    /// Resolves once the value differs from what it is when this is called; never for a fixed
    /// value. Loops that sleep for a configured interval select on it, so a shorter interval
    /// applies at once rather than after the old one has run out.
    pub async fn changed(&self)
    where
        T: PartialEq,
    {
        let Some(changes) = &self.changes else {
            return std::future::pending().await;
        };
        let mut changes = changes.clone();
        changes.borrow_and_update();
        let before = self.get();
        loop {
            if changes.changed().await.is_err() {
                // The configuration is no longer watched: nothing will change any more.
                return std::future::pending().await;
            }
            if self.get() != before {
                return;
            }
        }
    }
}

/// The writing side of a live configuration: [`Root::set`] swaps the whole value at once.
#[derive(Debug)]
pub(crate) struct Root<T> {
    values: watch::Sender<Arc<T>>,
    changes: watch::Sender<u64>,
}

impl<T: Send + Sync + 'static> Root<T> {
    pub(crate) fn new(initial: T) -> (Self, Dynamic<Arc<T>>) {
        let (values, value) = watch::channel(Arc::new(initial));
        let (changes, generation) = watch::channel(0);
        let dynamic = Dynamic {
            read: Arc::new(move || value.borrow().clone()),
            changes: Some(generation),
        };
        (Self { values, changes }, dynamic)
    }

    pub(crate) fn get(&self) -> Arc<T> {
        self.values.borrow().clone()
    }

    /// Publishes `value`: readers see it from their next [`Dynamic::get`].
    pub(crate) fn set(&self, value: T) {
        self.values.send_replace(Arc::new(value));
        self.changes.send_modify(|generation| *generation += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Clone, Debug, PartialEq)]
    struct Settings {
        timeout: Duration,
        other: u32,
    }

    #[tokio::test]
    async fn readers_see_a_swap_at_their_next_read() {
        let (root, live) = Root::new(Settings {
            timeout: Duration::from_secs(1),
            other: 0,
        });
        let timeout = live.map(|s| s.timeout);
        assert_eq!(timeout.get(), Duration::from_secs(1));
        root.set(Settings {
            timeout: Duration::from_millis(5),
            other: 0,
        });
        assert_eq!(timeout.get(), Duration::from_millis(5));
    }

    #[tokio::test(start_paused = true)]
    async fn changed_wakes_only_when_the_projected_value_changes() {
        let (root, live) = Root::new(Settings {
            timeout: Duration::from_secs(1),
            other: 0,
        });
        let timeout = live.map(|s| s.timeout);
        let waiter = tokio::spawn({
            let timeout = timeout.clone();
            async move { timeout.changed().await }
        });
        tokio::task::yield_now().await;
        // Another key changes: the waiter keeps waiting.
        root.set(Settings {
            timeout: Duration::from_secs(1),
            other: 1,
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        root.set(Settings {
            timeout: Duration::from_secs(2),
            other: 1,
        });
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .expect("the change wakes the waiter")
            .expect("the waiter does not panic");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_value_never_changes() {
        let fixed = Dynamic::fixed(3_u32);
        assert_eq!(fixed.get(), 3);
        assert!(
            tokio::time::timeout(Duration::from_secs(60), fixed.changed())
                .await
                .is_err()
        );
    }
}
