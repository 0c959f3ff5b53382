-- Feed icons. The refresher records what it last found for each icon source (a feed's own
-- image URL, or a site's origin), re-checked weekly whether found or not, and stores each
-- icon's bytes once, by SHA-256; each feed's row names its icon's hash, read with the feed.
CREATE TABLE icon_sources (
    source  TEXT PRIMARY KEY,
    hash    TEXT,
    checked INTEGER NOT NULL,
    error   TEXT
);
CREATE TABLE icons (
    hash         TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    bytes        BLOB NOT NULL
);
ALTER TABLE feeds ADD COLUMN icon TEXT;
-- When the feed's icon was last settled (Unix ms): looked at again a week later.
ALTER TABLE feeds ADD COLUMN icon_checked INTEGER;
