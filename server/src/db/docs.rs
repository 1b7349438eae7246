//! Document bodies as the database stores them: sealed on PostgreSQL ([`Conn::seal`], bound
//! to the document's id), plain inside SQLCipher's encrypted file.

use crate::sql::{Conn, OptionalExtension, Result};

/// The row name a document body is sealed for.
pub fn row(doc_id: &str) -> String {
    format!("docs/{doc_id}")
}

/// The stored body of `doc_id`, opened.
pub fn read_bytes(conn: Conn<'_>, doc_id: &str) -> Result<Option<Vec<u8>>> {
    Ok(read_seq_bytes(conn, doc_id)?.map(|(_, bytes)| bytes))
}

/// The stored `seq` and body of `doc_id`, opened.
pub fn read_seq_bytes(conn: Conn<'_>, doc_id: &str) -> Result<Option<(i64, Vec<u8>)>> {
    let stored: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT seq, bytes FROM docs WHERE doc_id = ?1")?
        .query_row([doc_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    stored
        .map(|(seq, bytes)| Ok((seq, conn.unseal(&row(doc_id), bytes)?)))
        .transpose()
}

/// `plain` as it is written to `doc_id`'s `bytes` column.
pub fn sealed(conn: Conn<'_>, doc_id: &str, plain: &[u8]) -> Vec<u8> {
    conn.seal(&row(doc_id), plain.to_vec())
}
