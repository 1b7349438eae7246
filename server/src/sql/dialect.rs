//! The statement rewrite from the shared dialect (SQLite's, as the server's statements are
//! written) to PostgreSQL's: `?N` placeholders become `$N`, `INSERT OR IGNORE` becomes
//! `INSERT ... ON CONFLICT DO NOTHING`, `IFNULL` becomes `COALESCE`, and the scalar
//! (two-or-more-argument) `MIN`/`MAX` become `LEAST`/`GREATEST`. Text inside quotes is never
//! touched. Everything else must already be spelled the same in both engines
//! (`docs/postgres.md`, "Statements").

/// `sql` as PostgreSQL spells it.
pub fn to_postgres(sql: &str) -> String {
    let tokens = tokenize(sql);
    let mut out = String::with_capacity(sql.len() + 32);
    let mut or_ignore = false;
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i];
        match tok {
            Token::Word(w) if w.eq_ignore_ascii_case("INSERT") => {
                out.push_str(w);
                // INSERT <ws> OR <ws> IGNORE
                if let (Some(Token::Space(_)), Some(Token::Word(or)), Some(Token::Space(_))) =
                    (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3))
                    && or.eq_ignore_ascii_case("OR")
                    && matches!(tokens.get(i + 4), Some(Token::Word(ig)) if ig.eq_ignore_ascii_case("IGNORE"))
                {
                    or_ignore = true;
                    i += 5;
                    continue;
                }
            }
            Token::Word(w) if w.eq_ignore_ascii_case("IFNULL") => out.push_str("COALESCE"),
            Token::Word(w)
                if (w.eq_ignore_ascii_case("MIN") || w.eq_ignore_ascii_case("MAX"))
                    && scalar_call(&tokens, i + 1) =>
            {
                out.push_str(if w.eq_ignore_ascii_case("MIN") {
                    "LEAST"
                } else {
                    "GREATEST"
                });
            }
            Token::Word(w) if or_ignore && w.eq_ignore_ascii_case("RETURNING") => {
                out.push_str("ON CONFLICT DO NOTHING ");
                out.push_str(w);
                or_ignore = false;
            }
            Token::Param(n) => {
                out.push('$');
                out.push_str(n);
            }
            other => out.push_str(other.text()),
        }
        i += 1;
    }
    if or_ignore {
        let trimmed = out.trim_end().trim_end_matches(';').trim_end().len();
        out.truncate(trimmed);
        out.push_str(" ON CONFLICT DO NOTHING");
    }
    out
}

#[derive(Debug)]
enum Token<'a> {
    Word(&'a str),
    Space(&'a str),
    /// `?N`: the digits.
    Param(&'a str),
    /// A quoted string or identifier, or any other character.
    Other(&'a str),
}

impl<'a> Token<'a> {
    fn text(&self) -> &'a str {
        match self {
            Token::Word(s) | Token::Space(s) | Token::Other(s) => s,
            Token::Param(_) => "",
        }
    }
}

fn tokenize(sql: &str) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        if c == b'\'' || c == b'"' {
            i += 1;
            while i < bytes.len() {
                if bytes[i] == c {
                    if bytes.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
            tokens.push(Token::Other(&sql[start..i]));
        } else if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            tokens.push(Token::Space(&sql[start..i]));
        } else if c.is_ascii_whitespace() {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            tokens.push(Token::Space(&sql[start..i]));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            tokens.push(Token::Word(&sql[start..i]));
        } else if c == b'?' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            tokens.push(Token::Param(&sql[start + 1..i]));
        } else {
            // One character (UTF-8 aware).
            let len = sql[i..].chars().next().map_or(1, char::len_utf8);
            i += len;
            tokens.push(Token::Other(&sql[start..i]));
        }
    }
    tokens
}

/// Whether the tokens from `at` open a call with more than one argument at its top level.
fn scalar_call(tokens: &[Token<'_>], at: usize) -> bool {
    let mut i = at;
    while matches!(tokens.get(i), Some(Token::Space(_))) {
        i += 1;
    }
    if !matches!(tokens.get(i), Some(Token::Other("("))) {
        return false;
    }
    let mut depth = 0usize;
    for tok in &tokens[i..] {
        match tok {
            Token::Other("(") => depth += 1,
            Token::Other(")") => {
                depth -= 1;
                if depth == 0 {
                    return false;
                }
            }
            Token::Other(",") if depth == 1 => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::to_postgres;

    #[test]
    fn placeholders_become_dollar_numbers_outside_quotes() {
        assert_eq!(
            to_postgres("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12"
        );
    }

    #[test]
    fn insert_or_ignore_becomes_on_conflict_do_nothing() {
        assert_eq!(
            to_postgres("INSERT OR IGNORE INTO t (a) VALUES (?1);"),
            "INSERT INTO t (a) VALUES ($1) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            to_postgres("insert or ignore into t (a) values (?1) returning a"),
            "insert into t (a) values ($1) ON CONFLICT DO NOTHING returning a"
        );
        assert_eq!(
            to_postgres("INSERT INTO t (a) SELECT b FROM u"),
            "INSERT INTO t (a) SELECT b FROM u"
        );
    }

    #[test]
    fn scalar_min_and_max_become_least_and_greatest_but_aggregates_stay() {
        assert_eq!(
            to_postgres("SELECT MIN(a, ?1), max(b), MAX((c), f(d, e)) FROM t"),
            "SELECT LEAST(a, $1), max(b), GREATEST((c), f(d, e)) FROM t"
        );
        assert_eq!(
            to_postgres("SELECT IFNULL(a, 0), 'IFNULL(' FROM t"),
            "SELECT COALESCE(a, 0), 'IFNULL(' FROM t"
        );
    }

    #[test]
    fn comments_and_quoted_identifiers_are_left_alone() {
        assert_eq!(
            to_postgres("SELECT \"?1\" -- MIN(a, b) ?2\nFROM t"),
            "SELECT \"?1\" -- MIN(a, b) ?2\nFROM t"
        );
    }
}
