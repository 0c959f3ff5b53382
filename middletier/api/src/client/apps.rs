//! The calls sync apps need (see [`crate::apps`]): items by number and in apps' orders, bulk
//! reading state, titles and categories, app passwords.

use reqwest::{Method, StatusCode};

use super::{CallError, MiddletierClient, api_url, push_segments, send, user_url};
use crate::apps::{
    AppCounts, AppItems, AppItemsQuery, AppPassword, AppPasswordOwner, CategoryChanged,
    CategoryRename, ItemNumbers, NewAppPassword, NumbersStateChange, NumbersStateChanged,
    TitleChange,
};

impl MiddletierClient {
    /// A page of a selection of the user's items, as sync apps ask for them.
    pub async fn app_items(
        &self,
        base: &url::Url,
        user: &str,
        query: &AppItemsQuery,
    ) -> Result<AppItems, CallError> {
        let mut url = user_url(base, user, Some("app"))?;
        push_segments(&mut url, &["items"])?;
        let response = send(self.request(Method::GET, url).query(query)).await;
        self.json(response?).await
    }

    /// These items of the user's feeds, with content; numbers that are none are left out.
    pub async fn app_items_by_number(
        &self,
        base: &url::Url,
        user: &str,
        numbers: &ItemNumbers,
    ) -> Result<AppItems, CallError> {
        let mut url = user_url(base, user, Some("app"))?;
        push_segments(&mut url, &["items"])?;
        self.send_json(Method::POST, url, numbers).await
    }

    /// Marks many items read/unread, starred/unstarred (idempotent).
    pub async fn set_numbers_state(
        &self,
        base: &url::Url,
        user: &str,
        change: &NumbersStateChange,
    ) -> Result<NumbersStateChanged, CallError> {
        let mut url = user_url(base, user, Some("app"))?;
        push_segments(&mut url, &["items", "state"])?;
        self.send_json(Method::POST, url, change).await
    }

    /// Per subscription: unread count, newest item, title, category.
    pub async fn app_counts(&self, base: &url::Url, user: &str) -> Result<AppCounts, CallError> {
        let mut url = user_url(base, user, Some("app"))?;
        push_segments(&mut url, &["counts"])?;
        let response = send(self.request(Method::GET, url)).await;
        self.json(response?).await
    }

    /// Sets or clears the user's own title for one subscription (idempotent).
    pub async fn set_title(
        &self,
        base: &url::Url,
        user: &str,
        change: &TitleChange,
    ) -> Result<(), CallError> {
        let url = user_url(base, user, Some("title"))?;
        let response = send(self.request(Method::PUT, url).json(change)).await;
        response.map(drop)
    }

    /// Moves every subscription of one category to another.
    pub async fn rename_category(
        &self,
        base: &url::Url,
        user: &str,
        rename: &CategoryRename,
    ) -> Result<CategoryChanged, CallError> {
        let mut url = user_url(base, user, Some("categories"))?;
        push_segments(&mut url, &["rename"])?;
        self.send_json(Method::POST, url, rename).await
    }

    /// Removes a category: its subscriptions stay, uncategorised.
    pub async fn delete_category(
        &self,
        base: &url::Url,
        user: &str,
        category: &str,
    ) -> Result<CategoryChanged, CallError> {
        let mut url = user_url(base, user, Some("categories"))?;
        push_segments(&mut url, &[category])?;
        let response = send(self.request(Method::DELETE, url)).await;
        self.json(response?).await
    }

    /// Stores a new app password; `Ok(false)` when the user has
    /// [`MAX_APP_PASSWORDS`](crate::MAX_APP_PASSWORDS) already
    /// or the id or a hash is taken (409).
    pub async fn create_app_password(
        &self,
        base: &url::Url,
        user: &str,
        password: &NewAppPassword,
    ) -> Result<bool, CallError> {
        let url = api_url(base, &["accounts", user, "app-passwords"])?;
        let response = send(self.request(Method::POST, url).json(password)).await;
        match response {
            Ok(_) => Ok(true),
            Err(CallError::Rejected { status, .. }) if status == StatusCode::CONFLICT => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The user's app passwords, newest first.
    pub async fn app_passwords(
        &self,
        base: &url::Url,
        user: &str,
    ) -> Result<Vec<AppPassword>, CallError> {
        let url = api_url(base, &["accounts", user, "app-passwords"])?;
        let response = send(self.request(Method::GET, url)).await;
        self.json(response?).await
    }

    /// Revokes an app password and ends every session issued for it (also fine when unknown).
    pub async fn revoke_app_password(
        &self,
        base: &url::Url,
        user: &str,
        id: &str,
    ) -> Result<(), CallError> {
        let url = api_url(base, &["accounts", user, "app-passwords", id])?;
        let response = send(self.request(Method::DELETE, url)).await;
        response.map(drop)
    }

    /// Whose app password has this SHA-256 (hex); `None`: nobody's. Records it as used.
    pub async fn app_password_by_secret(
        &self,
        base: &url::Url,
        secret_hash: &str,
    ) -> Result<Option<AppPasswordOwner>, CallError> {
        let url = api_url(base, &["app-passwords", "by-secret", secret_hash])?;
        self.get_optional(url).await
    }

    /// Whose app password has this Fever key hash; `None`: nobody's. Records it as used.
    pub async fn app_password_by_fever(
        &self,
        base: &url::Url,
        fever_hash: &str,
    ) -> Result<Option<AppPasswordOwner>, CallError> {
        let url = api_url(base, &["app-passwords", "by-fever", fever_hash])?;
        self.get_optional(url).await
    }
}
