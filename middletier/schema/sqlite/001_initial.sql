-- The embedded store's first schema: the same relations as Cassandra's tables, normalised for
-- one machine. Times are Unix milliseconds (what Cassandra's `timestamp` keeps).

-- Who reads what: one row per subscription, holding its place in the user's list, its
-- category and its "read up to" watermark, so a page view reads a user's list in one query.
CREATE TABLE subscriptions (
    user_id TEXT NOT NULL,
    feed_url TEXT NOT NULL,
    -- Order added: increasing per user, kept when a feed moves.
    position INTEGER NOT NULL,
    category TEXT,
    read_up_to INTEGER,
    read_up_to_set_at INTEGER,
    PRIMARY KEY (user_id, feed_url)
) WITHOUT ROWID;

-- The refresher's schedule and permanent moves look subscriptions up by feed.
CREATE INDEX subscriptions_by_feed ON subscriptions (feed_url);

-- The feed cache: one row per feed, its newest items one JSON document, as in Cassandra's
-- `feeds_by_url`. Items as rows will be a later migration.
CREATE TABLE feeds (
    url TEXT PRIMARY KEY,
    title TEXT,
    items TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    http_status INTEGER,
    last_attempt INTEGER,
    last_success INTEGER,
    last_error TEXT,
    consecutive_errors INTEGER NOT NULL,
    gone INTEGER NOT NULL,
    next_refresh INTEGER NOT NULL,
    -- Item id to first-seen time, a JSON object.
    first_seen TEXT NOT NULL
);

-- One user's marks on one item. Reading state belongs to a subscription: it follows the
-- subscription when its feed moves and goes with it when the user unsubscribes.
CREATE TABLE item_marks (
    user_id TEXT NOT NULL,
    feed_url TEXT NOT NULL,
    item_id TEXT NOT NULL,
    -- NULL: never marked read or unread (the watermark decides).
    read INTEGER,
    read_at INTEGER,
    starred INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, feed_url, item_id),
    FOREIGN KEY (user_id, feed_url) REFERENCES subscriptions (user_id, feed_url)
        ON UPDATE CASCADE ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE accounts (
    user_id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL
) WITHOUT ROWID;

-- Sessions by the hash of their token; never the token itself.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires INTEGER NOT NULL
) WITHOUT ROWID;

-- Capping a user's sessions and "sign out everywhere" find them by user.
CREATE INDEX sessions_by_user ON sessions (user_id, expires);
