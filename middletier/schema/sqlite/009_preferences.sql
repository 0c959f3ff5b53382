-- Each user's reading preferences (theme, page size, list style...), as the JSON of the
-- contract's `Preferences`: a new preference needs no migration, and one stored before it
-- existed reads with its default. By user name, so single-user mode's user (no account row)
-- keeps preferences too.
CREATE TABLE preferences (
    user_id TEXT PRIMARY KEY,
    json    TEXT NOT NULL
);
