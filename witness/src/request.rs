//! The `add-checkpoint` request body (c2sp.org/tlog-witness): `old <size>\n`,
//! zero to 63 base64 consistency-proof hashes one per line, an empty line,
//! then the signed checkpoint note.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use tlog_tiles::Hash;

use crate::refusal::{Malformation, Refusal};

/// The most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness holds.
    pub old_size: u64,
    /// The RFC 6962 consistency proof from `old_size` to the checkpoint.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note (text, empty line, signature lines).
    pub note: Vec<u8>,
}

impl AddCheckpoint {
    /// Parses a request body.
    pub fn parse(body: &[u8]) -> Result<Self, Refusal> {
        let malformed = |m| Refusal::Malformed(m);
        let (first, mut rest) = split_line(body).ok_or(malformed(Malformation::OldLine))?;
        let old_size = std::str::from_utf8(first)
            .ok()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or(malformed(Malformation::OldLine))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = split_line(rest).ok_or(malformed(Malformation::NoEmptyLine))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(malformed(Malformation::TooManyProofLines));
            }
            proof.push(parse_hash(line).ok_or(malformed(Malformation::ProofLine))?);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            note: rest.to_vec(),
        })
    }

    /// Encodes the request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = format!("old {}\n", self.old_size).into_bytes();
        for hash in &self.proof {
            body.extend_from_slice(BASE64.encode(hash.0).as_bytes());
            body.push(b'\n');
        }
        body.push(b'\n');
        body.extend_from_slice(&self.note);
        body
    }
}

/// The line before the first `\n` and what follows it; None without a `\n`.
fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

/// An ASCII decimal without leading zeroes (`0` itself allowed).
pub fn parse_decimal(s: &str) -> Option<u64> {
    let n: u64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// A canonical base64 hash of 32 bytes.
fn parse_hash(line: &[u8]) -> Option<Hash> {
    let bytes = BASE64.decode(line).ok()?;
    let hash = Hash(bytes.try_into().ok()?);
    (BASE64.encode(hash.0).as_bytes() == line).then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_line_is_canonical() {
        for bad in [
            "old 01\n\n",
            "old  1\n\n",
            "old -1\n\n",
            "old 1",
            "Old 1\n\n",
            "old +1\n\n",
        ] {
            assert_eq!(
                AddCheckpoint::parse(bad.as_bytes()),
                Err(Refusal::Malformed(Malformation::OldLine)),
                "{bad:?}"
            );
        }
        let ok = AddCheckpoint::parse(b"old 0\n\nnote").unwrap();
        assert_eq!(
            (ok.old_size, ok.proof.len(), &ok.note[..]),
            (0, 0, &b"note"[..])
        );
    }

    #[test]
    fn proof_lines_are_bounded_and_checked() {
        let line = format!("{}\n", BASE64.encode([9u8; 32]));
        let body = format!("old 5\n{}\nx", line.repeat(63));
        assert_eq!(
            AddCheckpoint::parse(body.as_bytes()).unwrap().proof.len(),
            63
        );
        let body = format!("old 5\n{}\nx", line.repeat(64));
        assert_eq!(
            AddCheckpoint::parse(body.as_bytes()),
            Err(Refusal::Malformed(Malformation::TooManyProofLines))
        );
        let short = format!("old 5\n{}\n\nx", BASE64.encode([9u8; 31]));
        assert_eq!(
            AddCheckpoint::parse(short.as_bytes()),
            Err(Refusal::Malformed(Malformation::ProofLine))
        );
        assert_eq!(
            AddCheckpoint::parse(format!("old 5\n{line}").as_bytes()),
            Err(Refusal::Malformed(Malformation::NoEmptyLine))
        );
    }

    #[test]
    fn encode_parse_round_trip() {
        let req = AddCheckpoint {
            old_size: 7,
            proof: vec![Hash([1; 32]), Hash([2; 32])],
            note: b"o\n8\nAAAA\n\n\xe2\x80\x94 o AAAA\n".to_vec(),
        };
        assert_eq!(AddCheckpoint::parse(&req.to_bytes()).unwrap(), req);
    }
}
