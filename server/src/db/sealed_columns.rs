//! The columns PostgreSQL keeps sealed ([`crate::sql::Conn::seal`]), each with the key columns
//! naming its row and the row name its seal is bound to: one list for `migrate` (sealing a
//! SQLite deployment's rows on the way in) and `rotate-key` (opening every sealed value under
//! the old key and sealing it under the new). A new sealed column goes here, or neither
//! command knows it.

/// One sealed column.
#[derive(Debug)]
pub struct SealedColumn {
    /// Its table.
    pub table: &'static str,
    /// The sealed column.
    pub column: &'static str,
    /// The columns whose values name the row, in the order [`SealedColumn::row_name`] takes
    /// them.
    pub keys: &'static [&'static str],
    /// The row name the seal is bound to, from the key columns' values.
    pub row_name: fn(&[String]) -> String,
}

/// Every sealed column of the schema, except the audit chain's sealed head (one `meta` row,
/// `crate::audit::reseal_head`).
pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "docs",
        column: "bytes",
        keys: &["doc_id"],
        row_name: |k| super::docs::row(&k[0]),
    },
    SealedColumn {
        table: "attachments",
        column: "bytes",
        keys: &["doc_id", "attachment_id"],
        row_name: |k| crate::attachments::row_name(&k[0], &k[1]),
    },
    SealedColumn {
        table: "associate_keys",
        column: "keys",
        keys: &["case_id"],
        row_name: |k| format!("associate_keys/{}", k[0]),
    },
    SealedColumn {
        table: "case_references",
        column: "reference",
        keys: &["case_id"],
        row_name: |k| crate::review::reference_row(&k[0]),
    },
    SealedColumn {
        table: "alerts",
        column: "linked_reference",
        keys: &["id"],
        row_name: |k| crate::alerts::linked_reference_row(&k[0]),
    },
    SealedColumn {
        table: "audit",
        column: "detail",
        keys: &["id"],
        row_name: |k| format!("audit/{}", k[0]),
    },
];

/// The sealed column of `table`, if it has one.
pub fn of(table: &str) -> Option<&'static SealedColumn> {
    SEALED_COLUMNS.iter().find(|c| c.table == table)
}

/// One page of `select` (a query ending `LIMIT ?1 OFFSET ?2`): `limit` rows of `width`
/// columns from row `offset`, each value as stored. `migrate` and `rotate-key` walk whole
/// tables this way, a page at a time.
pub(crate) fn read_page(
    conn: crate::sql::Conn<'_>,
    select: &str,
    width: usize,
    limit: i64,
    offset: u64,
) -> crate::sql::Result<Vec<Vec<crate::sql::Value>>> {
    conn.prepare(select)?
        .query_map([limit, i64::try_from(offset).unwrap_or(i64::MAX)], |r| {
            (0..width)
                .map(|i| r.get::<_, crate::sql::Value>(i))
                .collect::<crate::sql::Result<Vec<_>>>()
        })?
        .collect()
}
