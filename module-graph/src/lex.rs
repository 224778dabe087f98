//! Rust source as identifiers and punctuation: comments and literals
//! (strings, raw strings, chars, numbers) are dropped, lifetimes too.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Ident(String),
    /// `::`, kept as one token because paths are what the scan looks for.
    PathSep,
    Punct(char),
}

/// A token and the line it starts on (for the places a report names).
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) line: usize,
}

impl Token {
    pub(crate) fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }

    pub(crate) fn is_path_sep(&self) -> bool {
        self.tok == Tok::PathSep
    }
}

/// Splits `src` into tokens.
pub(crate) fn lex(src: &str) -> Vec<Token> {
    let b: Vec<char> = src.chars().collect();
    let n = b.len();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let newlines =
        |from: usize, to: usize| b[from..to.min(n)].iter().filter(|c| **c == '\n').count();
    let at = |k: usize| b.get(k).copied();
    while i < n {
        let c = b[i];
        let start = i;
        if c == '/' && at(i + 1) == Some('/') {
            while i < n && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            let mut depth = 0;
            while i < n {
                if b[i] == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some((hashes, body)) = raw_string_start(&b, i) {
            i = body;
            while i < n {
                if b[i] == '"' && (1..=hashes).all(|k| at(i + k) == Some('#')) {
                    i += 1 + hashes;
                    break;
                }
                i += 1;
            }
        } else if c == '"' || (c == 'b' && at(i + 1) == Some('"')) {
            i += if c == 'b' { 2 } else { 1 };
            while i < n && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && at(i + 1) == Some('\'')) {
            // A char literal ('x', '\n', '\'', '\u{..}') or a lifetime ('a).
            let q = if c == 'b' { i + 1 } else { i };
            if at(q + 1) == Some('\\') {
                i = q + 3;
                while i < n && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(q + 2) == Some('\'') {
                i = q + 3;
            } else {
                i = q + 1;
                while i < n && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() {
            while i < n
                && (b[i].is_alphanumeric()
                    || b[i] == '_'
                    || (b[i] == '.' && at(i + 1) != Some('.')))
            {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            while i < n && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            let mut word: String = b[start..i].iter().collect();
            // A raw identifier: r#type.
            if word == "r"
                && at(i) == Some('#')
                && at(i + 1).is_some_and(|c| c.is_alphabetic() || c == '_')
            {
                i += 1;
                let from = i;
                while i < n && (b[i].is_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                word = b[from..i].iter().collect();
            }
            out.push(Token {
                tok: Tok::Ident(word),
                line,
            });
        } else if c == ':' && at(i + 1) == Some(':') {
            out.push(Token {
                tok: Tok::PathSep,
                line,
            });
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(Token {
                    tok: Tok::Punct(c),
                    line,
                });
            }
            i += 1;
        }
        line += newlines(start, i);
    }
    out
}

/// If a raw string (`r"`, `r#"`, `br#"`) starts at `i`: its number of
/// hashes and the index just after its opening quote. Identifiers are
/// consumed whole, so `i` is never inside a word.
fn raw_string_start(b: &[char], i: usize) -> Option<(usize, usize)> {
    let mut k = i;
    if b.get(k) == Some(&'b') {
        k += 1;
    }
    if b.get(k) != Some(&'r') {
        return None;
    }
    k += 1;
    let mut hashes = 0;
    while b.get(k) == Some(&'#') {
        hashes += 1;
        k += 1;
    }
    (b.get(k) == Some(&'"')).then_some((hashes, k + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<String> {
        lex(src)
            .iter()
            .filter_map(|t| t.ident().map(str::to_owned))
            .collect()
    }

    #[test]
    fn literals_and_comments_hide_their_words() {
        let src = r####"a // crate::x
            /* crate::y /* nested */ crate::z */ b "crate::s \" q" c r#"crate::r "# d
            'x' '\'' '\n' e<'f> b'g' br##"h"## i 1.5e3 j"####;
        assert_eq!(idents(src), ["a", "b", "c", "d", "e", "i", "j"]);
    }

    #[test]
    fn lines_are_counted_across_multi_line_tokens() {
        let toks = lex("a\n\"x\ny\"\n/* \n */ b\nr#type");
        let b = toks.iter().find(|t| t.ident() == Some("b")).map(|t| t.line);
        assert_eq!(b, Some(5));
        assert_eq!(toks.last().and_then(Token::ident), Some("type"));
        assert_eq!(toks.last().map(|t| t.line), Some(6));
    }

    #[test]
    fn path_separators_are_one_token() {
        let toks = lex("crate::a::b");
        assert_eq!(toks.len(), 5);
        assert!(toks[1].is_path_sep() && toks[3].is_path_sep());
    }
}
