-- Version 2: indexes for the two listings run on every screen and every sync.

-- The case list is ordered by reference.
CREATE INDEX case_summaries_by_reference ON case_summaries (reference, case_id);

-- Only dirty documents are looked at before each upload; a partial index keeps that cheap
-- however many documents are stored.
CREATE INDEX docs_dirty ON docs (doc_id) WHERE last_local_chunk > synced_chunk;

-- Removing a document's sync states looks them up by document, not by peer.
CREATE INDEX sync_states_by_doc ON sync_states (doc_id);
