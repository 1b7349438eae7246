-- Version 6 (after 005_alerts): an `interpreter_link` alert names the other case where the
-- interpreter was recorded, by its reference only.
ALTER TABLE alerts ADD COLUMN linked_reference TEXT;
