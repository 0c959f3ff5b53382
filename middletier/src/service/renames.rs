//! A user's own names for what they read: their title for a feed, and renaming or removing a
//! category (what the Google Reader API's `subscription/edit`, `rename-tag` and `disable-tag`
//! do, and the reader's own settings).

use middletier_api::domain::{self, FeedUrl, UserId};
use middletier_api::{CategoryChanged, CategoryRename, TitleChange};

use futures::{StreamExt as _, TryStreamExt as _};

use super::{FeedService, ServiceError};

/// Subscriptions moved at once by a rename or removal of a category.
const CONCURRENT_MOVES: usize = 8;

impl FeedService {
    /// Sets the user's own title of a subscription, or goes back to the feed's (`None`, blank).
    pub async fn set_title(&self, user: &UserId, change: &TitleChange) -> Result<(), ServiceError> {
        let feed = FeedUrl::parse(&change.url)?;
        let title = domain::feed_title(change.title.as_deref())?;
        if self.store.set_title(user, &feed, title.as_deref()).await? {
            Ok(())
        } else {
            Err(ServiceError::NotSubscribed(feed.to_string()))
        }
    }

    /// Moves every subscription in category `from` to `to`, merging into `to` if the user has
    /// it already. Each subscription is one write, so a failure half-way leaves some moved:
    /// repeating the rename finishes it.
    pub async fn rename_category(
        &self,
        user: &UserId,
        rename: &CategoryRename,
    ) -> Result<CategoryChanged, ServiceError> {
        let from = domain::category(Some(&rename.from))?.ok_or(domain::ParseError::Category)?;
        let to = domain::category(Some(&rename.to))?.ok_or(domain::ParseError::Category)?;
        self.recategorize(user, &from, Some(&to)).await
    }

    /// Removes category `name`: its subscriptions stay, uncategorised.
    pub async fn delete_category(
        &self,
        user: &UserId,
        name: &str,
    ) -> Result<CategoryChanged, ServiceError> {
        let name = domain::category(Some(name))?.ok_or(domain::ParseError::Category)?;
        self.recategorize(user, &name, None).await
    }

    async fn recategorize(
        &self,
        user: &UserId,
        from: &str,
        to: Option<&str>,
    ) -> Result<CategoryChanged, ServiceError> {
        if to == Some(from) {
            return Ok(CategoryChanged { changed: 0 });
        }
        let reading = self.store.reading(user).await?;
        let mut moves = Vec::new();
        for (url, category) in &reading.subscriptions {
            if category.as_deref() == Some(from) {
                moves.push(self.store.set_category(user, url, to));
            }
        }
        // A few at once: on Cassandra each is a lightweight transaction, a round trip or more.
        let moved: Vec<bool> = futures::stream::iter(moves)
            .buffer_unordered(CONCURRENT_MOVES)
            .try_collect()
            .await?;
        // `false`: unsubscribed since the read, nothing to move.
        let changed = moved.into_iter().filter(|&moved| moved).count();
        Ok(CategoryChanged { changed })
    }
}
