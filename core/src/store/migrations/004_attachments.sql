-- Version 4: attachments (the missing-person photo), kept outside the automerge documents so
-- a replaced photo is deleted rather than kept in a document's history. The store is
-- SQLCipher with `secure_delete`, so a deleted image's cells are zeroed; the WAL is
-- checkpointed and truncated after a delete.

-- One row per image held: the document that refers to it (access and purges follow that
-- document), its media type, SHA-256 (lowercase hex), bytes, and whether it still has to be
-- uploaded (set on the device that took it).
CREATE TABLE attachments (
    attachment_id  TEXT PRIMARY KEY NOT NULL,
    doc_id         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    sha256         TEXT NOT NULL,
    bytes          BLOB NOT NULL,
    pending_upload INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX attachments_doc ON attachments(doc_id);
CREATE INDEX attachments_pending ON attachments(pending_upload) WHERE pending_upload = 1;

-- The attachment each document refers to now (its `missing_person_photo`), kept in the same
-- transaction as the document, so a sync learns which images are missing without loading
-- any document.
CREATE TABLE attachment_refs (
    doc_id        TEXT PRIMARY KEY NOT NULL,
    attachment_id TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    media_type    TEXT NOT NULL
) STRICT, WITHOUT ROWID;
