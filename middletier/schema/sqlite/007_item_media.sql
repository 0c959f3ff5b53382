-- Who wrote an item and the media attached to it (podcast episodes, videos, images): the
-- author as plain text, the enclosures as a JSON array of the API's `Enclosure`s. NULL: none,
-- which is also what every item stored before this version has until its feed is refreshed.
ALTER TABLE items ADD COLUMN author TEXT;
ALTER TABLE items ADD COLUMN enclosures TEXT;
