//! The encoded clip kept on disk between runs, so that a run (or a test)
//! whose clip was encoded before skips the quantizer search: in a debug
//! build the search's two to four whole-clip encodes take minutes.
//!
//! One file per clip, `clip-<key>.json`, in [`default_dir`]: the key is a
//! SHA-256 over everything the encoded bytes depend on (see [`key`]), so a
//! different spec, encoder setting, test pattern or encoder version is a
//! different file, never a stale hit. A file is written whole to a
//! temporary name and renamed into place, so readers see either nothing or
//! a complete file; it also carries a SHA-256 of its content, so a file
//! damaged afterwards (truncated, edited, bit rot) is detected and the clip
//! encoded again rather than trusted.
//!
//! # File format (JSON, one object)
//!
//! | field | type | meaning |
//! | --- | --- | --- |
//! | `format` | integer | [`FORMAT_VERSION`]; another value is not read |
//! | `key` | string | hex [`key`] of the clip: must equal the file name's and the key the reader computes |
//! | `encoder` | object | what the key was computed from, for people reading the file: `rav1e` (crate version), `opus_crate` (crate version), `libopus` (the C library's version string) |
//! | `spec` | object | the [`MediaSpec`] encoded: `video_bps`, `audio_bps`, `fps`, `clip_frames`, `max_payload` (as in the struct); must equal the reader's |
//! | `content_sha256` | string | hex SHA-256 of the bytes of `clip` exactly as they stand in the file |
//! | `clip` | object | the encoded media, below |
//!
//! `clip`:
//!
//! | field | type | meaning |
//! | --- | --- | --- |
//! | `quantizer` | integer 0-255 | the AV1 base quantizer the search kept |
//! | `video_encodes` | integer | whole-clip encodes the search took |
//! | `encode_micros` | integer | how long the original encode took (video search and audio), µs |
//! | `video` | array | one object per frame in display order: `keyframe` (bool), `data` (hex string: the temporal unit rav1e wrote); `clip_frames` of them |
//! | `audio` | array of hex strings | the Opus packets, 20 ms each, one second |
//!
//! RTP payloads are not stored: they are cut again from `video[].data`
//! with the spec's `max_payload` (the Opus payload is the packet itself).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::error::{ClipCacheProblem, Error, Result};
use crate::media_source::{self, ClipOrigin, EncodedMedia, MediaSpec, VideoFrame};

/// Version of the file layout and of what the key covers. Bump it when
/// either changes, or when the clip would come out differently for a
/// reason the key does not see (the key already covers the spec, the
/// encoder configuration, the search's constants, the test pattern's
/// first pictures and the encoders' versions).
pub const FORMAT_VERSION: u32 = 1;

/// The `opus` crate's version (Cargo gives a crate only its own version;
/// a unit test checks this one against Cargo.lock).
pub const OPUS_CRATE_VERSION: &str = "0.4.0";

/// The environment variable naming the cache directory.
pub const DIR_ENV: &str = "TELECONSULT_CLIP_CACHE";

/// `$TELECONSULT_CLIP_CACHE` if set, else `teleconsult-load-clips` in the
/// system's temporary directory.
pub fn default_dir() -> PathBuf {
    match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => std::env::temp_dir().join("teleconsult-load-clips"),
    }
}

/// Versions of the encoders, recorded in the file and covered by the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct EncoderVersions {
    rav1e: String,
    opus_crate: String,
    libopus: String,
}

impl EncoderVersions {
    fn current() -> Self {
        EncoderVersions {
            rav1e: rav1e::version::short(),
            opus_crate: OPUS_CRATE_VERSION.to_owned(),
            libopus: opus::version().to_owned(),
        }
    }
}

/// Hex SHA-256 naming the clip of `spec`: over [`FORMAT_VERSION`], the
/// encoders' versions, the spec, and what [`media_source`] encodes it
/// with (see [`media_source::cache_fingerprint`]).
pub fn key(spec: &MediaSpec) -> String {
    let spec_json = serde_json::to_vec(spec).expect("a spec serializes");
    let versions = serde_json::to_vec(&EncoderVersions::current()).expect("serializes");
    let mut h = Sha256::new();
    for part in [
        b"teleconsult/load/clip".as_slice(),
        &FORMAT_VERSION.to_be_bytes(),
        &versions,
        &spec_json,
        &media_source::cache_fingerprint(spec),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

/// Where the clip of `spec` is kept under `dir`.
pub fn path(dir: &Path, spec: &MediaSpec) -> PathBuf {
    dir.join(format!("clip-{}.json", key(spec)))
}

/// The encoded clip as the cache keeps it (the `clip` object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedClip {
    /// The AV1 base quantizer the search kept.
    pub quantizer: u8,
    /// Whole-clip encodes the search took.
    pub video_encodes: usize,
    /// How long the original encode took, µs.
    pub encode_micros: u64,
    /// Video frames in display order.
    pub video: Vec<CachedFrame>,
    /// Opus packets, 20 ms each.
    #[serde(with = "hex_list")]
    pub audio: Vec<Vec<u8>>,
}

/// One video frame as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedFrame {
    /// Whether it is a keyframe.
    pub keyframe: bool,
    /// The temporal unit as rav1e wrote it.
    #[serde(with = "hex")]
    pub data: Vec<u8>,
}

impl CachedClip {
    /// How long the original encode took.
    pub fn encode_time(&self) -> Duration {
        Duration::from_micros(self.encode_micros)
    }

    /// The frames with their RTP payloads cut again for `spec`.
    pub fn video_frames(&self, spec: &MediaSpec) -> Result<Vec<VideoFrame>> {
        self.video
            .iter()
            .map(|f| VideoFrame::new(f.data.clone(), f.keyframe, spec.max_payload))
            .collect()
    }
}

/// The file as written (the `clip` object kept as raw text, so its
/// checksum is over exactly the bytes on disk).
#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    key: String,
    encoder: EncoderVersions,
    spec: MediaSpec,
    content_sha256: String,
    clip: Box<RawValue>,
}

/// Reads the clip of `spec` from `dir`: `Ok(None)` when there is no file,
/// an error when there is one that cannot be trusted (unreadable, not
/// this format, another key or spec, a checksum that does not match, a
/// clip that does not fit the spec); the caller encodes again then.
pub fn load(dir: &Path, spec: &MediaSpec) -> Result<Option<CachedClip>> {
    let path = path(dir, spec);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_at(format!("reading {}", path.display()), e)),
    };
    let file: CacheFile = serde_json::from_slice(&bytes).map_err(|source| Error::JsonAt {
        context: format!("parsing {}", path.display()),
        source,
    })?;
    let problem = |problem| Error::ClipCache {
        path: path.clone(),
        problem,
    };
    if file.format != FORMAT_VERSION {
        return Err(problem(ClipCacheProblem::Format {
            found: file.format,
            reads: FORMAT_VERSION,
        }));
    }
    let expected_key = key(spec);
    if file.key != expected_key || file.spec != *spec {
        return Err(problem(ClipCacheProblem::OtherClip));
    }
    let sha = hex::encode(Sha256::digest(file.clip.get().as_bytes()));
    if sha != file.content_sha256 {
        return Err(problem(ClipCacheProblem::Checksum));
    }
    let clip: CachedClip =
        serde_json::from_str(file.clip.get()).map_err(|source| Error::JsonAt {
            context: format!("parsing the clip in {}", path.display()),
            source,
        })?;
    if !(clip.video.len() == spec.clip_frames as usize
        && clip.video.first().is_some_and(|f| f.keyframe)
        && !clip.audio.is_empty())
    {
        return Err(problem(ClipCacheProblem::Misfit));
    }
    Ok(Some(clip))
}

/// Writes the clip of `spec` into `dir` (created if missing): to a
/// temporary file in `dir`, flushed, then renamed over the final name, so
/// a concurrent reader never sees half a file. Returns the final path.
pub fn store(dir: &Path, spec: &MediaSpec, clip: &CachedClip) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io_at(format!("creating {}", dir.display()), e))?;
    let clip_json = serde_json::to_string(clip)?;
    let file = CacheFile {
        format: FORMAT_VERSION,
        key: key(spec),
        encoder: EncoderVersions::current(),
        spec: spec.clone(),
        content_sha256: hex::encode(Sha256::digest(clip_json.as_bytes())),
        clip: RawValue::from_string(clip_json)?,
    };
    let path = path(dir, spec);
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| Error::io_at(format!("creating a temporary file in {}", dir.display()), e))?;
    serde_json::to_writer(&mut tmp, &file)?;
    tmp.flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path)
        .map_err(|e| Error::io_at(format!("renaming into {}", path.display()), e.error))?;
    Ok(path)
}

/// Reading the clip from the cache, or encoding and storing it: the cache
/// sits above [`media_source`], which encodes and knows nothing of it.
impl EncodedMedia {
    /// The clip of `spec` from the cache in [`default_dir`],
    /// or encoded and stored there; see [`EncodedMedia::load_or_encode_in`].
    pub fn load_or_encode(spec: MediaSpec) -> Result<Self> {
        Self::load_or_encode_in(&default_dir(), spec)
    }

    /// The clip of `spec` read from the cache in `dir` if a valid file is
    /// there; else encoded and written there. The cache only saves time: a
    /// file that cannot be trusted is reported on stderr and replaced, and
    /// a cache that cannot be written is reported and the run goes on.
    pub fn load_or_encode_in(dir: &Path, spec: MediaSpec) -> Result<Self> {
        let started = Instant::now();
        match load(dir, &spec) {
            Ok(Some(clip)) => {
                let video = clip.video_frames(&spec)?;
                return Ok(EncodedMedia {
                    video,
                    encode_time: clip.encode_time(),
                    audio: clip.audio,
                    quantizer: clip.quantizer,
                    video_encodes: clip.video_encodes,
                    origin: ClipOrigin::Cache {
                        path: path(dir, &spec),
                        load_time: started.elapsed(),
                    },
                    spec,
                });
            }
            Ok(None) => {}
            Err(e) => eprintln!("clip cache: {e:#}; encoding again"),
        }
        let mut media = Self::encode(spec)?;
        let stored = match store(dir, &media.spec, &media.to_cached()) {
            Ok(path) => Some(path),
            Err(e) => {
                eprintln!("clip cache: not written: {e:#}");
                None
            }
        };
        media.origin = ClipOrigin::Encoded { stored };
        Ok(media)
    }

    /// What the cache keeps of this clip.
    fn to_cached(&self) -> CachedClip {
        CachedClip {
            quantizer: self.quantizer,
            video_encodes: self.video_encodes,
            encode_micros: u64::try_from(self.encode_time.as_micros()).unwrap_or(u64::MAX),
            video: self
                .video
                .iter()
                .map(|f| CachedFrame {
                    keyframe: f.keyframe,
                    data: f.data.clone(),
                })
                .collect(),
            audio: self.audio.clone(),
        }
    }
}

/// `Vec<Vec<u8>>` as a list of hex strings.
mod hex_list {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(hex::encode))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|h| hex::decode(h).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> MediaSpec {
        MediaSpec {
            clip_frames: 3,
            ..MediaSpec::default()
        }
    }

    /// A clip shaped like an encoder's (the cache does not look inside the
    /// AV1 bytes beyond cutting them into payloads).
    fn clip() -> CachedClip {
        CachedClip {
            quantizer: 61,
            video_encodes: 2,
            encode_micros: 1_234_567,
            video: (0..3u8)
                .map(|n| CachedFrame {
                    keyframe: n == 0,
                    // A temporal delimiter OBU then bytes, larger than one
                    // payload for the keyframe.
                    data: [vec![0x12, 0x00], vec![n; 3000 / (usize::from(n) + 1)]].concat(),
                })
                .collect(),
            audio: vec![vec![0xfc, 1, 2, 3]; 50],
        }
    }

    #[test]
    fn a_stored_clip_loads_back_equal() {
        let dir = tempfile::tempdir().unwrap();
        let (spec, clip) = (spec(), clip());
        assert!(load(dir.path(), &spec).unwrap().is_none());
        let written = store(dir.path(), &spec, &clip).unwrap();
        assert_eq!(written, path(dir.path(), &spec));
        assert_eq!(load(dir.path(), &spec).unwrap(), Some(clip.clone()));
        // Nothing but the clip is left in the directory (no temporary).
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let frames = clip.video_frames(&spec).unwrap();
        assert_eq!(frames.len(), 3);
        assert!(frames[0].keyframe && frames[0].payloads.len() > 1);
        assert_eq!(frames[2].data, clip.video[2].data);
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec();
        let path = store(dir.path(), &spec, &clip()).unwrap();
        let good = std::fs::read(&path).unwrap();

        // Truncated.
        std::fs::write(&path, &good[..good.len() / 2]).unwrap();
        assert!(load(dir.path(), &spec).is_err());

        // One hex digit of a frame changed: still valid JSON, wrong content.
        let text = String::from_utf8(good.clone()).unwrap();
        let at = text.find("\"data\":\"").unwrap() + 20;
        let mut bytes = good.clone();
        bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
        std::fs::write(&path, &bytes).unwrap();
        let err = load(dir.path(), &spec).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err:#}");

        // Another format.
        let other = text.replacen(
            &format!("\"format\":{FORMAT_VERSION}"),
            &format!("\"format\":{}", FORMAT_VERSION + 1),
            1,
        );
        std::fs::write(&path, other).unwrap();
        assert!(load(dir.path(), &spec).is_err());

        std::fs::write(&path, &good).unwrap();
        assert!(load(dir.path(), &spec).unwrap().is_some());
    }

    #[test]
    fn another_spec_is_another_file() {
        let dir = tempfile::tempdir().unwrap();
        let spec = spec();
        store(dir.path(), &spec, &clip()).unwrap();
        for other in [
            MediaSpec {
                video_bps: 999_000,
                ..spec.clone()
            },
            MediaSpec {
                audio_bps: 24_000,
                ..spec.clone()
            },
            MediaSpec {
                fps: 25,
                ..spec.clone()
            },
            MediaSpec {
                clip_frames: 4,
                ..spec.clone()
            },
            MediaSpec {
                max_payload: 1000,
                ..spec.clone()
            },
        ] {
            assert_ne!(key(&other), key(&spec), "{other:?}");
            assert!(load(dir.path(), &other).unwrap().is_none(), "{other:?}");
        }
        // A file copied under another spec's name is refused.
        let other = MediaSpec {
            video_bps: 999_000,
            ..spec.clone()
        };
        std::fs::copy(path(dir.path(), &spec), path(dir.path(), &other)).unwrap();
        let err = load(dir.path(), &other).unwrap_err();
        assert!(err.to_string().contains("another clip"), "{err:#}");
    }

    #[test]
    fn the_opus_version_in_the_key_is_the_locked_one() {
        let lock =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
                .unwrap();
        assert!(
            lock.contains(&format!(
                "name = \"opus\"\nversion = \"{OPUS_CRATE_VERSION}\"\n"
            )),
            "Cargo.lock locks another opus: update OPUS_CRATE_VERSION"
        );
    }
}
