//! Whole starts of the emulated scrcpy server streaming a picture made by Debian's ffmpeg: the
//! first bytes of each framing, parsed as the relay must.

use relay_testkit::h264::{self, Sample};
use relay_testkit::{FakeAdb, FakeDevice};

use crate::client::{open_abstract, read_head, read_packet, read_u32, relay_options, start_server};

const QUEST: &str = "192.168.1.50:5555";
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
const FPS: u32 = 30;
const GOP: u32 = 15;

/// The test's picture, after checking ffmpeg is there (see `relay_testkit::prereq`).
async fn picture(test: &str) -> anyhow::Result<Sample> {
    relay_testkit::prereq::require(test, h264::ffmpeg_or_missing().err());
    h264::sample(WIDTH, HEIGHT, FPS, GOP).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg: scripts/test.sh runs it"]
async fn ffmpeg_makes_a_sample_with_a_config_and_a_key_frame_every_gop() -> anyhow::Result<()> {
    let sample = picture("ffmpeg_makes_a_sample_with_a_config_and_a_key_frame_every_gop").await?;
    let types: Vec<u8> = h264::split_annex_b(&sample.config)
        .iter()
        .map(|n| h264::nal_type(n))
        .collect();
    assert_eq!(types, [7, 8]);
    assert!(sample.config.starts_with(&h264::START_CODE));
    assert_eq!(sample.units.len(), 60);
    let keys: Vec<usize> = (0..60).filter(|i| sample.units[*i].key).collect();
    assert_eq!(keys, [0, 15, 30, 45]);
    for unit in &sample.units {
        let nals = h264::split_annex_b(&unit.data);
        assert!(nals.iter().all(|n| matches!(h264::nal_type(n), 1 | 5)));
        assert_eq!(unit.key, nals.iter().any(|n| h264::nal_type(n) == 5));
    }
    assert!(sample.codec().is_some_and(|c| c.starts_with("avc1.64")));
    // Asked again: the same sample, from the cache.
    assert_eq!(h264::sample(WIDTH, HEIGHT, FPS, GOP).await?, sample);
    Ok(())
}

/// Starts `version` on a Quest streaming `sample`; its video socket.
async fn video(adb: &FakeAdb, version: &str, scid: &str) -> anyhow::Result<tokio::net::TcpStream> {
    let (_shell, line) = start_server(adb, QUEST, version, &relay_options(scid, false)).await?;
    assert!(line.starts_with("[server] INFO: Device:"), "{line}");
    let mut video = open_abstract(adb, QUEST, &format!("scrcpy_{scid}")).await?;
    let (dummy, name, codec) = read_head(&mut video).await?;
    assert_eq!((dummy, name.as_str(), codec), (0, "Quest 3", 0x6832_3634));
    // The shell stream may close here: the server keeps running while its video socket is open.
    Ok(video)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg: scripts/test.sh runs it"]
async fn a_3x_start_streams_the_ffmpeg_picture() -> anyhow::Result<()> {
    let sample = picture("a_3x_start_streams_the_ffmpeg_picture").await?;
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST).with_picture(sample.clone()));
    let mut v = video(&adb, "3.3.4", "7fffffff").await?;
    assert_eq!(
        (read_u32(&mut v).await?, read_u32(&mut v).await?),
        (WIDTH, HEIGHT)
    );
    let config = read_packet(&mut v, false).await?;
    assert_eq!(
        config.pts_flags,
        1 << 63,
        "a 3.x config has bit 63 and no PTS"
    );
    assert_eq!(config.data, sample.config);
    let first = read_packet(&mut v, false).await?;
    assert_eq!(
        first.pts_flags,
        1 << 62,
        "the first frame is a key frame at PTS 0"
    );
    assert_eq!(first.data, sample.units[0].data);
    for i in 1..=GOP as u64 {
        let p = read_packet(&mut v, false).await?;
        let pts = i * 1_000_000 / FPS as u64;
        assert_eq!(p.pts_flags & ((1 << 62) - 1), pts, "frame {i}");
        assert_eq!(
            p.pts_flags & (1 << 62) != 0,
            i == GOP as u64,
            "key flag of frame {i}"
        );
        assert_eq!(p.pts_flags >> 63, 0);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg: scripts/test.sh runs it"]
async fn a_4x_start_streams_the_ffmpeg_picture() -> anyhow::Result<()> {
    let sample = picture("a_4x_start_streams_the_ffmpeg_picture").await?;
    let adb = FakeAdb::start().await?;
    let quest = FakeDevice::quest3(QUEST)
        .with_scrcpy_version("4.1")
        .with_picture(sample.clone());
    adb.add_device(quest);
    let mut v = video(&adb, "4.1", "0badcafe").await?;
    let session = read_packet(&mut v, true).await?;
    assert_eq!(
        session.pts_flags >> 32,
        0x8000_0000,
        "a session packet first"
    );
    assert_eq!(
        (session.pts_flags as u32, session.size),
        (WIDTH, HEIGHT),
        "session packet: width, height"
    );
    let config = read_packet(&mut v, true).await?;
    assert_eq!(
        config.pts_flags,
        1 << 62,
        "a 4.x config has bit 62 and no PTS"
    );
    assert_eq!(config.data, sample.config);
    let first = read_packet(&mut v, true).await?;
    assert_eq!(
        first.pts_flags,
        1 << 61,
        "the first frame is a key frame at PTS 0"
    );
    for i in 1..=GOP as u64 {
        let p = read_packet(&mut v, true).await?;
        assert_eq!(p.pts_flags & ((1 << 61) - 1), i * 1_000_000 / FPS as u64);
        assert_eq!(
            p.pts_flags & (1 << 61) != 0,
            i == GOP as u64,
            "key flag of frame {i}"
        );
        assert_eq!(p.pts_flags >> 62, 0, "no config or session bit on a frame");
        assert_eq!(p.data, sample.units[i as usize].data);
    }
    Ok(())
}
