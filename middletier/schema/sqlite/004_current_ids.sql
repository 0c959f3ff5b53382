-- Two changes that make saving a feed cheaper.
--
-- 1. A feed's row keeps only the ids of its current document's items, in document order; the
-- items themselves are the history rows (`items`), which every save has written beside the
-- row since 002. Before, the row also held the whole document as JSON (and each item's
-- first-seen time), rewritten at every save: about as many bytes again as the items, written
-- twice, for content the history already holds.
--
-- No Rust step: since 002 every item of a row's document has a history row with the same
-- content and the kept first-seen time (a save writes both in one transaction, and retention
-- never removes an item its feed's document holds), so the ids are all the row still needs.
-- A document that no longer decodes showed no items before and lists none now.

ALTER TABLE feeds ADD COLUMN item_ids TEXT NOT NULL DEFAULT '[]';

UPDATE feeds SET item_ids = (
    SELECT json_group_array(value ->> '$.id' ORDER BY key) FROM json_each(feeds.items)
) WHERE json_valid(items) AND json_type(items) = 'array';

ALTER TABLE feeds DROP COLUMN items;
ALTER TABLE feeds DROP COLUMN first_seen;

-- 2. New rows are indexed by the code that inserts them (`items.rs`), all of one save in one
-- statement, instead of by a trigger row by row: FTS5 writes what it holds in memory out as a
-- new segment whenever a statement that may roll back on its own begins, and an insert whose
-- trigger writes the index is one, so the trigger made a segment of every item and FTS5 then
-- merged them again and again (about half the CPU time of a cold refresh). Updates and deletes
-- stay with their triggers: they are rare, and they need the old content the trigger sees.
DROP TRIGGER items_search_insert;
