//! Two bots play the rav1e/Opus media to each other through the server's
//! signaling, peer to peer, and measure it: every video frame arrives
//! whole, nothing is lost, latency, jitter and bitrate are plausible.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{consult, server};
use load_tests::media_source::{EncodedMedia, MediaSpec};
use load_tests::participant::{Outcome, Plan};

fn check(who: &str, o: &Outcome, media: &EncodedMedia) {
    assert_eq!(o.connected_peers, 1, "{who}: {o:?}");
    assert!(
        o.join_ms.is_some() && o.ice_connected_ms.is_some(),
        "{who}: {o:?}"
    );
    let first = o.first_frame_ms.expect("a first frame");
    assert!(first > o.ice_connected_ms.unwrap(), "{who}: {o:?}");
    let r = o.received.as_ref().unwrap().lock().unwrap();
    let video = r.streams.values().find(|s| s.video).expect("video stream");
    let audio = r.streams.values().find(|s| !s.video).expect("audio stream");
    let expected = video.frames_expected(3000);
    // 3 s at 30 fps, less what was in flight at the end.
    assert!(expected >= 80, "{who}: {expected} frames");
    assert_eq!(video.frames_incomplete, 0, "{who}");
    assert_eq!(video.frames_complete, expected, "{who}");
    assert_eq!(video.stats.seq.lost() + audio.stats.seq.lost(), 0, "{who}");
    assert!(audio.stats.seq.received() >= 140, "{who}");
    let lat = video.stats.latency_ms.clone().summary();
    assert!(lat.count > 0 && lat.p99 < 100.0, "{who}: {lat:?}");
    // About the clip's bitrate (± 40 %: the window is short).
    let ratio = video.stats.bitrate_bps() / media.video_bps();
    eprintln!(
        "{who}: received {:.0} kbit/s of video, clip {:.0} kbit/s (ratio {ratio:.2})",
        video.stats.bitrate_bps() / 1000.0,
        media.video_bps() / 1000.0
    );
    assert!((0.6..1.4).contains(&ratio), "{who}: bitrate ratio {ratio}");
    assert!(video.stats.jitter_ms() < 20.0, "{who}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_media_is_measured_both_ways() {
    // The smoke run's clip (scripts/test.sh): whichever runs first encodes
    // it into the clip cache, the other reads it.
    let media = Arc::new(
        EncodedMedia::load_or_encode(MediaSpec {
            clip_frames: 15,
            ..MediaSpec::default()
        })
        .unwrap(),
    );
    eprintln!(
        "clip: {:.0} kbit/s at quantizer {}, {:?}, encode {:.1} s",
        media.video_bps() / 1000.0,
        media.quantizer,
        media.origin,
        media.encode_time.as_secs_f64()
    );
    let s = server().await;
    let (_, pro, patient) = consult(&s, |p| Plan {
        media: Some(media.clone()),
        play_for: Duration::from_secs(3),
        expect_peers: 1,
        packets: 0,
        expect_packets: 0,
        ..p
    })
    .await;
    check("professional", &pro, &media);
    check("patient", &patient, &media);
}
