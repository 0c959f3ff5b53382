-- Item history: every item a feed has published, one row each from the first time it was seen
-- until retention removes it, and a full-text index over it.
--
-- `feeds.items` and `feeds.first_seen` stay as they were: the current document, which the
-- refresher compares with the next fetch and a feed's state is read from in one row. Saving a
-- feed's state writes its items here too, in the same transaction. The migration's Rust step
-- (`schema.rs`) copies every item already in `feeds.items` here with its first-seen time: it
-- needs the store's own date parsing and the HTML-to-text reduction, which SQL has not.

CREATE TABLE items (
    -- Where the item sorts in the river: its `time` shifted left 20 bits, plus a slot that
    -- tells apart items of the same millisecond. The full-text index uses it as its rowid, so
    -- a newest-first search walks the index backwards and stops at the page's end instead of
    -- sorting every match of a common word.
    river_key INTEGER PRIMARY KEY,
    feed_url TEXT NOT NULL,
    item_id TEXT NOT NULL,
    -- First seen, Unix milliseconds (what "read up to" and retention compare).
    seen INTEGER NOT NULL,
    -- River order, Unix milliseconds: published, never later than `seen`.
    time INTEGER NOT NULL,
    title TEXT NOT NULL,
    link TEXT,
    -- Sanitized HTML, as served.
    description TEXT NOT NULL,
    published TEXT,
    -- The description reduced to its words (tags removed, entities decoded): what the index
    -- holds, so markup never matches a search.
    text TEXT NOT NULL,
    -- An item's identity is its feed's id for it.
    UNIQUE (feed_url, item_id)
);

-- A feed's history, newest first (page views, retention, moving a feed).
CREATE INDEX items_by_feed ON items (feed_url, river_key);

-- Search over title and text, words as the memory store splits them: lower case, diacritics
-- removed, split on anything not a letter or digit. External content: the text is kept once,
-- in `items`, and the triggers below keep the index in step with it in the same transaction.
CREATE VIRTUAL TABLE items_search USING fts5 (
    title,
    text,
    content = 'items',
    content_rowid = 'river_key',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER items_search_insert AFTER INSERT ON items BEGIN
    INSERT INTO items_search (rowid, title, text) VALUES (new.river_key, new.title, new.text);
END;

CREATE TRIGGER items_search_delete AFTER DELETE ON items BEGIN
    INSERT INTO items_search (items_search, rowid, title, text)
        VALUES ('delete', old.river_key, old.title, old.text);
END;

-- Moving a feed changes only `feed_url`, which the index does not hold: no work then.
CREATE TRIGGER items_search_update AFTER UPDATE OF river_key, title, text ON items BEGIN
    INSERT INTO items_search (items_search, rowid, title, text)
        VALUES ('delete', old.river_key, old.title, old.text);
    INSERT INTO items_search (rowid, title, text) VALUES (new.river_key, new.title, new.text);
END;
