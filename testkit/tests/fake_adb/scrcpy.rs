//! The emulated scrcpy server with the built-in picture: its start, its stream, and the failures
//! the relay's tests inject. No ffmpeg needed.

use std::time::Duration;

use relay_testkit::adb::{Garbage, SCRCPY_JAR};
use relay_testkit::h264::Sample;
use relay_testkit::{FakeAdb, FakeDevice};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{
    open_abstract, push, read_head, read_packet, read_to_end, read_u32, relay_options,
    scrcpy_command, send, service, shell, start_server, status, transport, within,
};

const QUEST: &str = "192.168.1.50:5555";
const CONFIG_V3: u64 = 1 << 63;
const KEY_V3: u64 = 1 << 62;
const CONFIG_V4: u64 = 1 << 62;
const KEY_V4: u64 = 1 << 61;

async fn quest(version: &str) -> anyhow::Result<FakeAdb> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST).with_scrcpy_version(version));
    Ok(adb)
}

#[tokio::test]
async fn without_the_jar_app_process_cannot_find_the_class() -> anyhow::Result<()> {
    let adb = quest("3.3.4").await?;
    let out = shell(
        &adb,
        QUEST,
        &scrcpy_command("3.3.4", &relay_options("1a2b3c4d", false)),
    )
    .await?;
    assert!(
        out.starts_with(
            "Exception in thread \"main\" java.lang.ClassNotFoundException: Didn't find class \
             \"com.genymobile.scrcpy.Server\""
        ),
        "{out}"
    );
    assert_eq!(adb.servers_started(QUEST), 0);
    Ok(())
}

#[tokio::test]
async fn a_wrong_version_prints_scrcpy_s_error_and_keeps_the_jar() -> anyhow::Result<()> {
    let adb = quest("3.3.4").await?;
    push(&adb, QUEST, SCRCPY_JAR, b"jar").await?;
    let out = shell(
        &adb,
        QUEST,
        &scrcpy_command("4.1", &relay_options("1a2b3c4d", false)),
    )
    .await?;
    assert!(
        out.starts_with(
            "[server] ERROR: The server version (3.3.4) does not match the client (4.1)\n"
        ),
        "{out}"
    );
    assert!(adb.file(QUEST, SCRCPY_JAR).is_some());
    assert_eq!(adb.servers_started(QUEST), 0);
    assert!(adb.last_start(QUEST).is_none());
    // A pair without '=' is fatal; an unknown key only a warning.
    let out = shell(
        &adb,
        QUEST,
        &scrcpy_command("3.3.4", "tunnel_forward=true oops"),
    )
    .await?;
    assert!(
        out.starts_with("[server] ERROR: Invalid key=value pair: \"oops\""),
        "{out}"
    );
    Ok(())
}

/// Starts a server with the relay's options and opens its video socket.
async fn start_video(
    adb: &FakeAdb,
    version: &str,
    scid: &str,
) -> anyhow::Result<(TcpStream, TcpStream)> {
    let (shell, line) = start_server(adb, QUEST, version, &relay_options(scid, false)).await?;
    assert_eq!(
        line,
        "[server] INFO: Device: [Meta] Meta Quest 3 (Android 14)\n"
    );
    let video = open_abstract(adb, QUEST, &format!("scrcpy_{scid}")).await?;
    Ok((shell, video))
}

#[tokio::test]
async fn a_3x_server_streams_the_picture_in_3x_framing() -> anyhow::Result<()> {
    let adb = quest("3.3.4").await?;
    let (mut shell, mut video) = start_video(&adb, "3.3.4", "0000beef").await?;
    assert_eq!(
        read_head(&mut video).await?,
        (0, "Quest 3".to_string(), 0x6832_3634)
    );
    assert_eq!(
        (read_u32(&mut video).await?, read_u32(&mut video).await?),
        (64, 48)
    );
    let dummy = Sample::dummy();
    let config = read_packet(&mut video, false).await?;
    assert_eq!(
        (config.pts_flags, config.data),
        (CONFIG_V3, dummy.config.clone())
    );
    // Two loops of the six frames: PTS every 100 ms, key flag on frames 0 and 3.
    for i in 0..12u64 {
        let p = read_packet(&mut video, false).await?;
        let key = if i % 3 == 0 { KEY_V3 } else { 0 };
        assert_eq!(p.pts_flags, (i * 100_000) | key, "frame {i}");
        assert_eq!(p.data, dummy.units[(i % 6) as usize].data);
    }
    let start = adb.last_start(QUEST).expect("started");
    assert_eq!(start.version, "3.3.4");
    assert_eq!(start.option("scid"), Some("0000beef"));
    assert_eq!(start.option("max_size"), Some("1024"));
    assert_eq!(adb.servers_started(QUEST), 1);
    assert_eq!(adb.servers_running(QUEST), 1);
    assert!(
        adb.file(QUEST, SCRCPY_JAR).is_none(),
        "cleanup deletes the jar"
    );
    assert!(adb.bytes_written(QUEST) > 1 + 64 + 12);
    // Only one video socket: the server stopped listening.
    let mut again = transport(&adb, QUEST).await?;
    send(&mut again, "localabstract:scrcpy_0000beef").await?;
    assert_eq!(status(&mut again).await?, Err("closed".to_string()));
    // Closing the video socket ends the server and its shell.
    drop(video);
    assert!(read_to_end(&mut shell).await?.is_empty());
    assert_eq!(adb.servers_running(QUEST), 0);
    Ok(())
}

#[tokio::test]
async fn a_4x_server_streams_the_picture_in_4x_framing() -> anyhow::Result<()> {
    let adb = quest("4.1").await?;
    let (_shell, mut video) = start_video(&adb, "4.1", "1a2b3c4d").await?;
    assert_eq!(
        read_head(&mut video).await?,
        (0, "Quest 3".to_string(), 0x6832_3634)
    );
    let session = read_packet(&mut video, true).await?;
    assert_eq!(session.pts_flags, (0x8000_0000u64 << 32) | 64);
    assert_eq!(session.size, 48);
    let config = read_packet(&mut video, true).await?;
    assert_eq!(config.pts_flags, CONFIG_V4);
    for i in 0..4u64 {
        let p = read_packet(&mut video, true).await?;
        let key = if i % 3 == 0 { KEY_V4 } else { 0 };
        assert_eq!(p.pts_flags, (i * 100_000) | key, "frame {i}");
    }
    Ok(())
}

#[tokio::test]
async fn the_control_socket_comes_second_and_reset_video_restarts_the_capture() -> anyhow::Result<()>
{
    let adb = quest("4.1").await?;
    let (mut shell, _) = start_server(&adb, QUEST, "4.1", &relay_options("00c0ffee", true)).await?;
    let mut video = open_abstract(&adb, QUEST, "scrcpy_00c0ffee").await?;
    let mut dummy = [0u8; 1];
    within(video.read_exact(&mut dummy)).await??;
    // Nothing more until the control socket is connected.
    let mut more = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(200), video.read(&mut more)).await;
    assert!(early.is_err(), "the name came before the control socket");
    let mut control = open_abstract(&adb, QUEST, "scrcpy_00c0ffee").await?;
    let (name, codec) = (
        crate::client::read_n(&mut video, 64).await?,
        read_u32(&mut video).await?,
    );
    assert_eq!((&name[..8], codec), (&b"Quest 3\0"[..], 0x6832_3634));
    for _ in 0..4 {
        read_packet(&mut video, true).await?; // session, config, two frames
    }
    control.write_all(&[0x11]).await?;
    // The frames already written may come first; then a session, the config and a key frame.
    let mut p = read_packet(&mut video, true).await?;
    while p.pts_flags & (1 << 63) == 0 {
        p = read_packet(&mut video, true).await?;
    }
    assert_eq!(read_packet(&mut video, true).await?.pts_flags, CONFIG_V4);
    assert_ne!(read_packet(&mut video, true).await?.pts_flags & KEY_V4, 0);
    assert_eq!(adb.resets(QUEST), 1);
    // The control socket's EOF ends the server.
    drop(control);
    assert!(read_to_end(&mut shell).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn removing_the_device_cuts_its_streams() -> anyhow::Result<()> {
    let adb = quest("3.3.4").await?;
    let (mut shell, mut video) = start_video(&adb, "3.3.4", "00000001").await?;
    read_head(&mut video).await?;
    read_u32(&mut video).await?;
    read_u32(&mut video).await?;
    read_packet(&mut video, false).await?; // config
    assert!(adb.remove_device(QUEST));
    let mut rest = Vec::new();
    let _ = within(video.read_to_end(&mut rest)).await?; // EOF (or a reset): the socket ended
    assert!(read_to_end(&mut shell).await.map_or(true, |b| b.is_empty()));
    assert_eq!(adb.servers_running(QUEST), 0);
    adb.wait_until(Duration::from_secs(5), |a| a.open_connections() == 0)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_stalled_device_writes_nothing_until_resumed() -> anyhow::Result<()> {
    let adb = quest("3.3.4").await?;
    let (_shell, mut video) = start_video(&adb, "3.3.4", "00000002").await?;
    read_head(&mut video).await?;
    read_u32(&mut video).await?;
    read_u32(&mut video).await?;
    read_packet(&mut video, false).await?; // config
    adb.stall(QUEST);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let written = adb.bytes_written(QUEST);
    // Drain what was written before the stall; then nothing comes, and the socket stays open.
    let mut buf = vec![0u8; 4096];
    let mut drained = 0u64;
    while let Ok(n) = tokio::time::timeout(Duration::from_millis(300), video.read(&mut buf)).await {
        assert!(n? > 0, "the stalled stream ended");
        drained += 1;
    }
    assert_eq!(
        adb.bytes_written(QUEST),
        written,
        "bytes were written while stalled ({drained})"
    );
    adb.resume(QUEST);
    within(video.read_exact(&mut buf[..12])).await??;
    assert!(adb.bytes_written(QUEST) > written);
    Ok(())
}

#[tokio::test]
async fn a_malformed_header_has_a_garbage_size() -> anyhow::Result<()> {
    let adb = quest("3.3.4").await?;
    let (_shell, mut video) = start_video(&adb, "3.3.4", "00000003").await?;
    read_head(&mut video).await?;
    read_u32(&mut video).await?;
    read_u32(&mut video).await?;
    read_packet(&mut video, false).await?; // config
    read_packet(&mut video, false).await?; // first frame
    adb.malformed(QUEST);
    let mut header = [0u8; 12];
    within(video.read_exact(&mut header)).await??;
    assert_eq!(header, [0u8; 12]);
    // The payload follows; the next header is garbage again if asked.
    let payload_len = Sample::dummy().units[1].data.len();
    let mut payload = vec![0u8; payload_len];
    within(video.read_exact(&mut payload)).await??;
    adb.malformed_with(QUEST, Garbage::HugeSize);
    within(video.read_exact(&mut header)).await??;
    assert_eq!(header[..8], [0u8; 8]);
    assert_eq!(header[8..], [0xff; 4]);
    Ok(())
}

#[tokio::test]
async fn pkill_ends_a_server_that_no_longer_writes() -> anyhow::Result<()> {
    let adb = quest("3.3.4").await?;
    let (mut shell, video) = start_video(&adb, "3.3.4", "00000004").await?;
    adb.stall(QUEST);
    drop(video); // a stalled server does not notice
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(adb.servers_running(QUEST), 1);
    assert_eq!(shell_out(&adb, "pkill -f scid=00000005").await?, "");
    assert_eq!(adb.servers_running(QUEST), 1);
    assert_eq!(shell_out(&adb, "pkill -f scid=00000004").await?, "");
    assert!(read_to_end(&mut shell).await?.is_empty());
    assert_eq!(adb.servers_running(QUEST), 0);
    Ok(())
}

async fn shell_out(adb: &FakeAdb, command: &str) -> anyhow::Result<String> {
    shell(adb, QUEST, command).await
}

#[tokio::test]
async fn without_tunnel_forward_or_with_another_codec_the_start_fails() -> anyhow::Result<()> {
    let adb = quest("3.3.4").await?;
    for (options, expected) in [
        (
            "scid=00000001 audio=false",
            "java.io.IOException: Connection refused",
        ),
        (
            "scid=00000001 tunnel_forward=true video_codec=h265",
            "H.264 only",
        ),
    ] {
        push(&adb, QUEST, SCRCPY_JAR, b"jar").await?;
        let mut s = service(
            &adb,
            QUEST,
            &format!("shell:{}", scrcpy_command("3.3.4", options)),
        )
        .await?;
        let out = String::from_utf8(read_to_end(&mut s).await?)?;
        assert!(out.starts_with("[server] ERROR: "), "{out}");
        assert!(out.contains(expected), "{out}");
    }
    assert_eq!(adb.servers_started(QUEST), 0);
    Ok(())
}
