-- Version 7 (after 006_alerts): the interpreter link check across an organisation's cases
-- (statutory guidance, paragraph 26). `associate_keys` holds, per case, the folded names,
-- E.164 phone numbers and organisations of the persons of concern in its `associates`
-- document (JSON of `casebook_core::model::AssociateKeys`), rewritten whenever that document
-- is stored, so a visit note's interpreter is checked without parsing any other document.
-- An `interpreter_link` alert names the other case by its reference (`linked_reference`).
CREATE TABLE associate_keys (
    case_id TEXT PRIMARY KEY NOT NULL REFERENCES cases(id),
    keys    TEXT NOT NULL
) STRICT;

ALTER TABLE alerts ADD COLUMN linked_reference TEXT;
