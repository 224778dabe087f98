//! Documents attached to an act (images, PDFs, DICOM files) and files
//! shared in a live session: which types are accepted, told by content
//! only, the limits on their size and names, and [`Upload`], a document's
//! bytes once checked.
//!
//! A leaf beside [`crate::ids`], whose [`Sha256`] it computes: it names no
//! other sibling. Its failures are its own [`DocumentError`], which
//! [`crate::Error`] wraps.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::Sha256;

/// The most one attached document may weigh: 50 MiB.
pub const MAX_DOCUMENT_BYTES: u64 = 50 * 1024 * 1024;
/// The most all of one act's attached documents may weigh together:
/// 500 MiB (a document attached twice counts once: it is refused).
pub const MAX_ACT_DOCUMENT_BYTES: u64 = 500 * 1024 * 1024;
/// The most documents one act may have attached.
pub const MAX_ATTACHMENTS: usize = 200;
/// The longest file name kept, in UTF-8 bytes, once its directories are
/// stripped.
pub const MAX_NAME_BYTES: usize = 255;

/// The types a document may have, told by its first bytes, never by its
/// name or the type a client claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DocumentType {
    #[serde(rename = "image/jpeg")]
    Jpeg,
    #[serde(rename = "image/png")]
    Png,
    #[serde(rename = "image/webp")]
    Webp,
    #[serde(rename = "application/pdf")]
    Pdf,
    /// A DICOM file (Part 10): offered as a download, never shown inline.
    #[serde(rename = "application/dicom")]
    Dicom,
}

impl DocumentType {
    pub const ALL: [DocumentType; 5] = [
        DocumentType::Jpeg,
        DocumentType::Png,
        DocumentType::Webp,
        DocumentType::Pdf,
        DocumentType::Dicom,
    ];

    /// The media type served with the document (and its serde form).
    pub fn media_type(self) -> &'static str {
        match self {
            DocumentType::Jpeg => "image/jpeg",
            DocumentType::Png => "image/png",
            DocumentType::Webp => "image/webp",
            DocumentType::Pdf => "application/pdf",
            DocumentType::Dicom => "application/dicom",
        }
    }

    /// The type whose [`DocumentType::media_type`] is `media_type`
    /// (case-insensitive, parameters such as `; charset=` ignored).
    pub fn from_media_type(media_type: &str) -> Option<DocumentType> {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        DocumentType::ALL
            .into_iter()
            .find(|t| t.media_type().eq_ignore_ascii_case(essence))
    }

    /// Whether a browser may show it in the page (images, PDF); a DICOM
    /// file is downloaded instead.
    pub fn inline(self) -> bool {
        self != DocumentType::Dicom
    }

    /// The type of `bytes`, by their signature alone: JPEG `FF D8 FF`, the
    /// 8-byte PNG signature, WebP `RIFF????WEBP`, PDF `%PDF-`, DICOM a
    /// 128-byte preamble then `DICM`. `None` for anything else (an
    /// executable renamed `.png`, a text file, nothing at all).
    pub fn sniff(bytes: &[u8]) -> Option<DocumentType> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(b"\xff\xd8\xff") {
            Some(DocumentType::Jpeg)
        } else if bytes.starts_with(PNG) {
            Some(DocumentType::Png)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(DocumentType::Webp)
        } else if bytes.starts_with(b"%PDF-") {
            Some(DocumentType::Pdf)
        } else if bytes.get(128..132) == Some(b"DICM") {
            Some(DocumentType::Dicom)
        } else {
            None
        }
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.media_type())
    }
}

/// Why a file is not accepted as a document, or a name as its name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("not a JPEG, PNG, WebP, PDF or DICOM file")]
    NotADocument,
    #[error("the file is {size} bytes; a document may have at most {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("the file name is empty")]
    NameEmpty,
    #[error("the file name is longer than {max} bytes")]
    NameTooLong { max: usize },
    #[error("the file name holds control characters")]
    NameControl,
}

/// The name kept for a file: `raw` without its directories (anything up
/// to the last `/` or `\`) and surrounding spaces; refused when that
/// leaves nothing, `.` or `..`, holds a control character, or is longer
/// than [`MAX_NAME_BYTES`].
pub fn clean_name(raw: &str) -> Result<String, DocumentError> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." {
        return Err(DocumentError::NameEmpty);
    }
    if base.chars().any(char::is_control) {
        return Err(DocumentError::NameControl);
    }
    if base.len() > MAX_NAME_BYTES {
        return Err(DocumentError::NameTooLong {
            max: MAX_NAME_BYTES,
        });
    }
    Ok(base.to_string())
}

/// A document's bytes, checked: at most [`MAX_DOCUMENT_BYTES`], of a type
/// [`DocumentType::sniff`] recognises, with their digest. The only way to
/// hand bytes to the store's attach, so that the digest, type and size
/// it stores are those of the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Upload {
    bytes: Vec<u8>,
    sha256: Sha256,
    media_type: DocumentType,
}

impl Upload {
    /// Checks `bytes` as a document.
    pub fn inspect(bytes: Vec<u8>) -> Result<Upload, DocumentError> {
        let size = bytes.len() as u64;
        if size > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge {
                size,
                max: MAX_DOCUMENT_BYTES,
            });
        }
        let media_type = DocumentType::sniff(&bytes).ok_or(DocumentError::NotADocument)?;
        Ok(Upload {
            sha256: Sha256::digest(&bytes),
            bytes,
            media_type,
        })
    }

    pub fn sha256(&self) -> Sha256 {
        self.sha256
    }

    pub fn media_type(&self) -> DocumentType {
        self.media_type
    }

    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The document's content: medical data, never to be logged.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upload")
            .field("sha256", &self.sha256)
            .field("media_type", &self.media_type)
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first bytes of a file of each type, as a real file starts.
    fn sample(t: DocumentType) -> Vec<u8> {
        match t {
            DocumentType::Jpeg => b"\xff\xd8\xff\xe0\x00\x10JFIF\x00".to_vec(),
            DocumentType::Png => b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec(),
            DocumentType::Webp => b"RIFF\x24\x00\x00\x00WEBPVP8 ".to_vec(),
            DocumentType::Pdf => b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec(),
            DocumentType::Dicom => {
                let mut b = vec![0u8; 128];
                b.extend_from_slice(b"DICM\x02\x00\x00\x00UL");
                b
            }
        }
    }

    #[test]
    fn each_type_is_told_by_its_content() {
        for t in DocumentType::ALL {
            assert_eq!(DocumentType::sniff(&sample(t)), Some(t), "{t}");
        }
    }

    #[test]
    fn executables_and_other_files_are_not_documents() {
        let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        let mz = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff".to_vec();
        let script = b"#!/bin/sh\nrm -rf /\n".to_vec();
        // A RIFF file that is not WebP (a WAV), and a 128-byte preamble
        // without the DICOM marker.
        let wav = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
        let mut not_dicom = vec![0u8; 128];
        not_dicom.extend_from_slice(b"DICX");
        for bytes in [
            elf,
            mz,
            script,
            wav,
            not_dicom,
            Vec::new(),
            b"\xff\xd8".to_vec(),
        ] {
            assert_eq!(DocumentType::sniff(&bytes), None, "{bytes:?}");
            assert_eq!(
                Upload::inspect(bytes).unwrap_err(),
                DocumentError::NotADocument
            );
        }
        // A PNG signature after an executable's header is still an executable.
        let mut renamed = b"MZ".to_vec();
        renamed.extend(sample(DocumentType::Png));
        assert_eq!(DocumentType::sniff(&renamed), None);
    }

    #[test]
    fn media_types_round_trip_and_dicom_is_not_inline() {
        for t in DocumentType::ALL {
            assert_eq!(DocumentType::from_media_type(t.media_type()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.media_type());
            assert_eq!(t.inline(), t != DocumentType::Dicom);
        }
        assert_eq!(
            DocumentType::from_media_type("Image/PNG; charset=binary"),
            Some(DocumentType::Png)
        );
        assert_eq!(DocumentType::from_media_type("image/gif"), None);
    }

    #[test]
    fn uploads_over_the_limit_are_refused_before_sniffing() {
        let mut big = sample(DocumentType::Pdf);
        big.resize(MAX_DOCUMENT_BYTES as usize + 1, b' ');
        assert_eq!(
            Upload::inspect(big).unwrap_err(),
            DocumentError::TooLarge {
                size: MAX_DOCUMENT_BYTES + 1,
                max: MAX_DOCUMENT_BYTES
            }
        );
        let mut max = sample(DocumentType::Pdf);
        max.resize(MAX_DOCUMENT_BYTES as usize, b' ');
        let u = Upload::inspect(max).unwrap();
        assert_eq!(u.size(), MAX_DOCUMENT_BYTES);
        assert_eq!(u.media_type(), DocumentType::Pdf);
        assert_eq!(u.sha256(), Sha256::digest(u.bytes()));
        let shown = format!("{u:?}");
        assert!(shown.contains("Pdf") && !shown.contains("PDF-"), "{shown}");
    }

    #[test]
    fn names_lose_their_directories_and_refuse_control_characters() {
        assert_eq!(clean_name("radio.png").unwrap(), "radio.png");
        assert_eq!(clean_name("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(
            clean_name("C:\\Users\\x\\IRM genou.dcm ").unwrap(),
            "IRM genou.dcm"
        );
        assert_eq!(
            clean_name("compte-rendu é.pdf").unwrap(),
            "compte-rendu é.pdf"
        );
        for empty in ["", "  ", "dir/", "..", "a/.", "\\"] {
            assert_eq!(
                clean_name(empty),
                Err(DocumentError::NameEmpty),
                "{empty:?}"
            );
        }
        assert_eq!(clean_name("a\u{7}b.png"), Err(DocumentError::NameControl));
        assert_eq!(clean_name("a\nb.png"), Err(DocumentError::NameControl));
        assert_eq!(clean_name(&"é".repeat(127)).unwrap().len(), 254);
        assert_eq!(
            clean_name(&"é".repeat(128)),
            Err(DocumentError::NameTooLong { max: 255 })
        );
    }
}
