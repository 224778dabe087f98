//! What a log uses to talk to a witness: submit a checkpoint with its
//! consistency proof (`add-checkpoint`) and read the checkpoint the witness
//! holds (`GET /<origin hash>/checkpoint`).

use std::time::Duration;

use tlog_tiles::Hash;

use crate::Error;
use crate::request::{AddCheckpoint, parse_decimal};
use crate::server::SIZE_CONTENT_TYPE;
use crate::store::origin_hash;

/// The largest answer read from a witness.
pub const MAX_ANSWER: usize = 64 * 1024;

/// A witness client for one witness URL (its submission and monitoring
/// prefix, e.g. `http://127.0.0.1:7380`).
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for the witness at `url`, with a 10 s timeout per request.
    pub fn new(url: &str) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| Error::Http {
                url: url.to_owned(),
                source,
            })?;
        Ok(Client {
            url: url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// The witness's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Submits `checkpoint` (a signed note) with the consistency proof from
    /// `old_size`; returns the witness's cosignature line(s) (`— name
    /// base64\n`, to append to the note). A 409 is [`Error::Conflict`] with
    /// the size the witness holds; the caller retries with a proof from it.
    pub async fn submit(
        &self,
        old_size: u64,
        proof: &[Hash],
        checkpoint: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let body = AddCheckpoint {
            old_size,
            proof: proof.to_vec(),
            note: checkpoint.to_vec(),
        }
        .to_bytes();
        let response = self
            .http
            .post(format!("{}/add-checkpoint", self.url))
            .body(body)
            .send()
            .await
            .map_err(|source| self.http_error(source))?;
        let status = response.status().as_u16();
        let conflict_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == SIZE_CONTENT_TYPE.as_bytes());
        let bytes = self.read(response).await?;
        match status {
            200 => {
                let lines = std::str::from_utf8(&bytes).map_err(|_| self.answer())?;
                let well_formed = !lines.is_empty()
                    && lines.ends_with('\n')
                    && lines
                        .lines()
                        .all(|l| signed_note::Signature::from_bytes(l.as_bytes()).is_ok());
                well_formed.then_some(bytes).ok_or_else(|| self.answer())
            }
            409 if conflict_type => {
                let held = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.strip_suffix('\n'))
                    .and_then(parse_decimal)
                    .ok_or_else(|| self.answer())?;
                Err(Error::Conflict {
                    url: self.url.clone(),
                    held,
                })
            }
            _ => Err(Error::Status {
                url: self.url.clone(),
                status,
            }),
        }
    }

    /// The cosigned checkpoint the witness holds for `origin`, or None if it
    /// never cosigned one (404).
    pub async fn checkpoint(&self, origin: &str) -> Result<Option<Vec<u8>>, Error> {
        let response = self
            .http
            .get(format!("{}/{}/checkpoint", self.url, origin_hash(origin)))
            .send()
            .await
            .map_err(|source| self.http_error(source))?;
        match response.status().as_u16() {
            200 => Ok(Some(self.read(response).await?)),
            404 => Ok(None),
            status => Err(Error::Status {
                url: self.url.clone(),
                status,
            }),
        }
    }

    /// Reads an answer's body, at most [`MAX_ANSWER`] bytes.
    async fn read(&self, mut response: reqwest::Response) -> Result<Vec<u8>, Error> {
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|source| self.http_error(source))?
        {
            if bytes.len() + chunk.len() > MAX_ANSWER {
                return Err(self.answer());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    fn http_error(&self, source: reqwest::Error) -> Error {
        Error::Http {
            url: self.url.clone(),
            source,
        }
    }

    fn answer(&self) -> Error {
        Error::Answer {
            url: self.url.clone(),
        }
    }
}

/// One-shot [`Client::submit`] to the witness at `url`.
pub async fn submit(
    url: &str,
    old_size: u64,
    proof: &[Hash],
    checkpoint: &[u8],
) -> Result<Vec<u8>, Error> {
    Client::new(url)?.submit(old_size, proof, checkpoint).await
}
