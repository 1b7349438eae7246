-- Casebook server schema, version 5: attachments (the missing-person photo), kept outside the
-- automerge documents so a replaced photo is deleted, not kept in a document's history. The
-- database is SQLCipher with `secure_delete`; the WAL is checkpointed after a delete.

-- One row per image: the document that refers to it (access to the image is access to that
-- document), what it is, and who uploaded it when.
CREATE TABLE attachments (
    attachment_id TEXT PRIMARY KEY NOT NULL,
    doc_id        TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    bytes         BLOB NOT NULL,
    uploaded_by   TEXT NOT NULL,
    uploaded_at   INTEGER NOT NULL
);
CREATE INDEX attachments_doc ON attachments(doc_id);

-- The attachment each stored document refers to now (its `missing_person_photo`), written
-- with every stored change of a `safety` document; an upload is kept only if it is exactly
-- the image named here, and an image no longer named is deleted.
CREATE TABLE attachment_refs (
    doc_id        TEXT PRIMARY KEY NOT NULL,
    attachment_id TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    media_type    TEXT NOT NULL
) WITHOUT ROWID;
