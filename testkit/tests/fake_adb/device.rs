//! Device services: the v1 shell, `sync:`, `localabstract:`.

use std::time::Duration;

use relay_testkit::adb::SCRCPY_JAR;
use relay_testkit::{FakeAdb, FakeDevice};
use tokio::io::AsyncWriteExt;

use crate::client::{
    push, read_n, read_to_end, send, service, shell, status, sync_header, transport,
};

const QUEST: &str = "192.168.1.50:5555";

#[tokio::test]
async fn the_shell_runs_echo_getprop_and_rm_and_knows_nothing_else() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST));
    assert_eq!(shell(&adb, QUEST, "echo hello").await?, "hello\n");
    assert_eq!(
        shell(&adb, QUEST, "echo  two   words").await?,
        "two words\n"
    );
    assert_eq!(
        shell(&adb, QUEST, "getprop ro.product.model").await?,
        "Quest 3\n"
    );
    assert_eq!(
        shell(&adb, QUEST, "getprop ro.build.version.release").await?,
        "14\n"
    );
    assert_eq!(
        shell(&adb, QUEST, "ls /sdcard").await?,
        "/system/bin/sh: ls: not found\n"
    );
    adb.put_file(QUEST, "/data/local/tmp/x", b"x");
    assert_eq!(shell(&adb, QUEST, "rm /data/local/tmp/x").await?, "");
    assert!(adb.file(QUEST, "/data/local/tmp/x").is_none());
    assert_eq!(
        shell(&adb, QUEST, "rm /data/local/tmp/x").await?,
        "rm: /data/local/tmp/x: No such file or directory\n"
    );
    assert_eq!(shell(&adb, QUEST, "rm -f /data/local/tmp/x").await?, "");
    assert!(adb.requests().contains(&"shell:echo hello".to_string()));
    Ok(())
}

/// `STAT <path>` on an open sync connection: (mode, size, mtime).
async fn stat(s: &mut tokio::net::TcpStream, path: &str) -> anyhow::Result<(u32, u32, u32)> {
    let mut req = sync_header(b"STAT", path.len() as u32);
    req.extend_from_slice(path.as_bytes());
    s.write_all(&req).await?;
    let reply = read_n(s, 16).await?;
    assert_eq!(&reply[..4], b"STAT");
    let word = |i: usize| u32::from_le_bytes([reply[i], reply[i + 1], reply[i + 2], reply[i + 3]]);
    Ok((word(4), word(8), word(12)))
}

#[tokio::test]
async fn sync_push_stores_the_file_and_stat_sees_it() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST));
    let jar: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    push(&adb, QUEST, SCRCPY_JAR, &jar).await?;
    let file = adb.file(QUEST, SCRCPY_JAR).expect("pushed");
    assert_eq!(file.data, jar);
    assert_eq!((file.mode, file.mtime), (33188, 1_700_000_000));

    let mut s = service(&adb, QUEST, "sync:").await?;
    assert_eq!(
        stat(&mut s, SCRCPY_JAR).await?,
        (0o100644, 150_000, 1_700_000_000)
    );
    assert_eq!(stat(&mut s, "/data/local/tmp").await?.0, 0o040771);
    assert_eq!(stat(&mut s, "/data/local/tmp/none").await?, (0, 0, 0));
    s.write_all(&sync_header(b"QUIT", 0)).await?;
    assert!(read_to_end(&mut s).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn sync_refuses_oversized_chunks_and_v2_requests() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST));
    let mut s = service(&adb, QUEST, "sync:").await?;
    let spec = "/data/local/tmp/big,420";
    let mut req = sync_header(b"SEND", spec.len() as u32);
    req.extend_from_slice(spec.as_bytes());
    req.extend(sync_header(b"DATA", 65537));
    s.write_all(&req).await?;
    let fail = read_to_end(&mut s).await?;
    assert_eq!(&fail[..8], b"FAIL\x0e\0\0\0");
    assert_eq!(&fail[8..], b"data too large");
    assert!(adb.file(QUEST, "/data/local/tmp/big").is_none());

    let mut s = service(&adb, QUEST, "sync:").await?;
    s.write_all(&sync_header(b"STA2", 0)).await?;
    assert_eq!(&read_to_end(&mut s).await?[..4], b"FAIL");
    Ok(())
}

#[tokio::test]
async fn localabstract_fails_closed_when_nothing_listens() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST));
    let mut s = transport(&adb, QUEST).await?;
    send(&mut s, "localabstract:scrcpy_1a2b3c4d").await?;
    assert_eq!(read_to_end(&mut s).await?, b"FAIL0006closed");
    // So do services the stand-in does not have.
    let mut s = transport(&adb, QUEST).await?;
    send(&mut s, "reverse:forward:localabstract:scrcpy_1;tcp:27183").await?;
    assert_eq!(status(&mut s).await?, Err("closed".to_string()));
    Ok(())
}

#[tokio::test]
async fn leaving_the_device_state_cuts_the_device_s_connections() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST));
    let mut sync = service(&adb, QUEST, "sync:").await?;
    assert_eq!(adb.open_connections(), 1);
    adb.set_state(QUEST, "unauthorized");
    assert!(read_to_end(&mut sync).await?.is_empty());
    let err = transport(&adb, QUEST).await.unwrap_err().to_string();
    assert!(err.contains("device unauthorized."), "{err}");
    adb.set_state(QUEST, "device");
    assert_eq!(shell(&adb, QUEST, "echo back").await?, "back\n");
    adb.wait_until(Duration::from_secs(5), |a| a.open_connections() == 0)
        .await?;
    Ok(())
}
