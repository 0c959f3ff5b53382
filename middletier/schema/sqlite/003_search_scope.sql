-- Search checks each match's feed against the searched feeds. In `items` that reads the
-- match's whole row (title, HTML and text: kilobytes) to learn one short column; this index
-- holds only the river key and the feed, dozens of rows to a page, so walking a common word's
-- matches newest first reads far less. A search joins `items` for its page's hits only.
CREATE INDEX items_feed_by_key ON items (river_key, feed_url);
