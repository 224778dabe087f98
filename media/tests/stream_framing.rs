//! The TCP/TLS frame decoder, `next_frame`, on valid, cut, chunked and
//! arbitrary input (property tests).

use media::relay::stream::{MAX_FRAME_LEN, next_frame};
use media::{Frame, FrameError};
use proptest::prelude::*;

const COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// One valid frame as sent on a stream: its bytes, what `next_frame`
/// should say, and how many bytes it takes (with padding).
#[derive(Debug, Clone)]
struct Encoded {
    bytes: Vec<u8>,
    frame: Frame,
    consumed: usize,
}

fn stun() -> impl Strategy<Value = Encoded> {
    (
        0u8..0x40,
        any::<u8>(),
        any::<[u8; 12]>(),
        0..=(MAX_FRAME_LEN - 20) / 4,
    )
        .prop_flat_map(|(t0, t1, txid, words)| {
            proptest::collection::vec(any::<u8>(), words * 4).prop_map(move |body| {
                let mut bytes = vec![t0, t1];
                bytes.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
                bytes.extend_from_slice(&COOKIE);
                bytes.extend_from_slice(&txid);
                bytes.extend_from_slice(&body);
                let len = bytes.len();
                Encoded {
                    bytes,
                    frame: Frame::Stun { len },
                    consumed: len,
                }
            })
        })
}

fn channel_data() -> impl Strategy<Value = Encoded> {
    (0x4000u16..=0x7FFF, 0..=MAX_FRAME_LEN - 4, any::<[u8; 3]>()).prop_flat_map(
        |(channel, data_len, padding)| {
            proptest::collection::vec(any::<u8>(), data_len).prop_map(move |data| {
                let mut bytes = channel.to_be_bytes().to_vec();
                bytes.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
                bytes.extend_from_slice(&data);
                let len = bytes.len();
                // Padding content is arbitrary; the receiver ignores it.
                let pad = len.next_multiple_of(4) - len;
                bytes.extend_from_slice(&padding[..pad]);
                Encoded {
                    consumed: bytes.len(),
                    bytes,
                    frame: Frame::ChannelData { channel, len },
                }
            })
        },
    )
}

fn frame() -> impl Strategy<Value = Encoded> {
    prop_oneof![stun(), channel_data()]
}

/// What a stream reader does: append what arrives, cut every complete
/// frame.
fn decode_chunked(stream: &[u8], chunks: &[usize]) -> Result<Vec<Vec<u8>>, FrameError> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut rest = stream;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some((frame, consumed)) = next_frame(&buf)? {
            out.push(buf[..frame.frame_len()].to_vec());
            buf.drain(..consumed);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_valid_frame_is_found_whole(e in frame(), trailing in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut buf = e.bytes.clone();
        buf.extend_from_slice(&trailing);
        let (frame, consumed) = next_frame(&buf).unwrap().unwrap();
        prop_assert_eq!(frame, e.frame);
        prop_assert_eq!(consumed, e.consumed);
        prop_assert!(frame.frame_len() <= MAX_FRAME_LEN);
        prop_assert!(consumed - frame.frame_len() < 4);
    }

    #[test]
    fn every_strict_prefix_of_a_valid_frame_needs_more(e in frame(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(e.bytes.len());
        prop_assert_eq!(next_frame(&e.bytes[..cut]), Ok(None));
    }

    #[test]
    fn a_stream_of_frames_decodes_the_same_in_any_chunking(
        frames in proptest::collection::vec(frame(), 1..12),
        chunks in proptest::collection::vec(1usize..600, 1..8),
    ) {
        let stream: Vec<u8> = frames.iter().flat_map(|e| e.bytes.clone()).collect();
        let expected: Vec<Vec<u8>> = frames
            .iter()
            .map(|e| e.bytes[..e.frame.frame_len()].to_vec())
            .collect();
        prop_assert_eq!(decode_chunked(&stream, &chunks).unwrap(), expected.clone());
        prop_assert_eq!(decode_chunked(&stream, &[usize::MAX]).unwrap(), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_in_bounds(buf in proptest::collection::vec(any::<u8>(), 0..2048)) {
        match next_frame(&buf) {
            Ok(Some((frame, consumed))) => {
                prop_assert!(frame.frame_len() <= consumed);
                prop_assert!(consumed <= buf.len());
                prop_assert!(consumed - frame.frame_len() < 4);
                prop_assert!(frame.frame_len() <= MAX_FRAME_LEN);
                prop_assert!(frame.frame_len() >= 4);
            }
            Ok(None) => prop_assert!(buf.len() < MAX_FRAME_LEN + 4),
            Err(_) => {}
        }
    }

    #[test]
    fn an_error_stays_an_error_whatever_follows(
        buf in proptest::collection::vec(any::<u8>(), 1..64),
        more in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Err(err) = next_frame(&buf) {
            let mut longer = buf.clone();
            longer.extend_from_slice(&more);
            prop_assert_eq!(next_frame(&longer), Err(err));
        }
    }

    #[test]
    fn an_oversized_announcement_is_refused_from_its_header(
        stun_words in ((MAX_FRAME_LEN - 20) / 4 + 1)..=(u16::MAX as usize / 4),
        channel in 0x4000u16..=0x7FFF,
        data_len in (MAX_FRAME_LEN - 3)..=(u16::MAX as usize),
    ) {
        let stun_len = u16::try_from(stun_words * 4).unwrap().to_be_bytes();
        prop_assert_eq!(
            next_frame(&[0x00, 0x01, stun_len[0], stun_len[1]]),
            Err(FrameError::TooLarge { len: 20 + stun_words * 4, max: MAX_FRAME_LEN })
        );
        let [c0, c1] = channel.to_be_bytes();
        let [d0, d1] = u16::try_from(data_len).unwrap().to_be_bytes();
        prop_assert_eq!(
            next_frame(&[c0, c1, d0, d1]),
            Err(FrameError::TooLarge { len: 4 + data_len, max: MAX_FRAME_LEN })
        );
    }

    #[test]
    fn first_bits_10_and_11_are_not_turn(first in 0x80u8..=0xFF, rest in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut buf = vec![first];
        buf.extend_from_slice(&rest);
        prop_assert_eq!(next_frame(&buf), Err(FrameError::UnknownType(first)));
    }
}
