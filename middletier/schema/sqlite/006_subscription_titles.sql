-- A user's own title of a subscribed feed (renamed in an app or the reader), kept beside its
-- category; NULL: the feed's own title.
ALTER TABLE subscriptions ADD COLUMN title TEXT;
