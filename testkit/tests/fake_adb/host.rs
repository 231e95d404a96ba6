//! Host services: what the stand-in ADB server answers itself.

use std::time::Duration;

use relay_testkit::{FakeAdb, FakeDevice};

use crate::client::{
    connect, host, read_hex_string, read_n, read_to_end, send, shell, status, within,
};

const QUEST: &str = "192.168.1.50:5555";
const USB: &str = "2G0YC5ZF9F00Q1";

#[tokio::test]
async fn version_is_0029_and_the_server_closes_after_it() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    let mut s = connect(&adb).await?;
    send(&mut s, "host:version").await?;
    assert_eq!(read_to_end(&mut s).await?, b"OKAY00040029");
    // Upper-case hex lengths are accepted too.
    let mut s = connect(&adb).await?;
    tokio::io::AsyncWriteExt::write_all(&mut s, b"000Chost:version").await?;
    assert_eq!(read_to_end(&mut s).await?, b"OKAY00040029");
    assert_eq!(adb.requests(), ["host:version", "host:version"]);
    Ok(())
}

#[tokio::test]
async fn device_lists_have_adb_s_formats() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    assert_eq!(host(&adb, "host:devices-l").await?, Ok(String::new()));
    adb.add_device(FakeDevice::quest3(QUEST));
    adb.add_device(FakeDevice::quest3(USB).with_state("unauthorized"));
    let (q, u) = (
        adb.transport_id(QUEST).unwrap(),
        adb.transport_id(USB).unwrap(),
    );
    assert_ne!(q, u);
    assert_eq!(
        host(&adb, "host:devices-l").await?,
        Ok(format!(
            "{QUEST}      device product:eureka model:Quest_3 device:eureka transport_id:{q}\n\
             {USB}         unauthorized transport_id:{u}\n"
        ))
    );
    assert_eq!(
        host(&adb, "host:devices").await?,
        Ok(format!("{QUEST}\tdevice\n{USB}\tunauthorized\n"))
    );
    assert_eq!(
        host(&adb, &format!("host-serial:{QUEST}:get-state")).await?,
        Ok("device".to_string())
    );
    Ok(())
}

/// Reads one list update from a tracking connection.
async fn next_list(s: &mut tokio::net::TcpStream) -> anyhow::Result<String> {
    read_hex_string(s).await
}

#[tokio::test]
async fn tracking_sends_the_whole_list_at_once_and_on_every_change() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST));
    let mut track = connect(&adb).await?;
    send(&mut track, "host:track-devices-l").await?;
    assert_eq!(status(&mut track).await?, Ok(()));
    let first = next_list(&mut track).await?;
    assert!(
        first.starts_with(&format!("{QUEST}      device product:eureka")),
        "{first}"
    );

    adb.add_device(FakeDevice::quest3(USB).with_state("unauthorized"));
    let two = next_list(&mut track).await?;
    assert_eq!(two.lines().count(), 2, "{two}");
    assert!(two.contains(&format!("{USB}         unauthorized transport_id:")));

    adb.set_state(USB, "device");
    let authorized = next_list(&mut track).await?;
    assert!(authorized.contains(&format!(
        "{USB}         device product:eureka model:Quest_3"
    )));

    assert!(adb.remove_device(QUEST));
    let one = next_list(&mut track).await?;
    assert_eq!(one.lines().count(), 1, "{one}");
    assert!(one.starts_with(USB));

    assert!(adb.remove_device(USB));
    assert_eq!(next_list(&mut track).await?, "");
    assert!(!adb.remove_device(USB));

    // The short form, and the connection ends when the client closes it.
    let mut short = connect(&adb).await?;
    send(&mut short, "host:track-devices").await?;
    assert_eq!(read_n(&mut short, 8).await?, b"OKAY0000");
    adb.add_device(FakeDevice::quest3(QUEST).with_state("offline"));
    assert_eq!(next_list(&mut short).await?, format!("{QUEST}\toffline\n"));
    drop((short, track));
    adb.wait_until(Duration::from_secs(5), |a| a.open_connections() == 0)
        .await?;
    Ok(())
}

#[tokio::test]
async fn transport_fails_as_real_adb_does() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    assert_eq!(
        host(&adb, "host:tport:any").await?,
        Err("no devices/emulators found".to_string())
    );
    adb.add_device(FakeDevice::quest3(QUEST).with_state("unauthorized"));
    adb.add_device(FakeDevice::quest3(USB).with_state("offline"));
    let unauthorized = host(&adb, &format!("host:transport:{QUEST}")).await?;
    assert_eq!(
        unauthorized,
        Err(
            "device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n\
             Try 'adb kill-server' if that seems wrong.\n\
             Otherwise check for a confirmation dialog on your device."
                .to_string()
        )
    );
    assert_eq!(
        host(&adb, &format!("host:tport:serial:{USB}")).await?,
        Err("device offline".to_string())
    );
    assert_eq!(
        host(&adb, "host:transport:nope").await?,
        Err("device 'nope' not found".to_string())
    );
    assert_eq!(
        host(&adb, "host:tport:any").await?,
        Err("more than one device/emulator".to_string())
    );
    adb.set_state(QUEST, "authorizing");
    assert_eq!(
        host(&adb, &format!("host-serial:{QUEST}:features")).await?,
        Err("device still authorizing".to_string())
    );
    Ok(())
}

#[tokio::test]
async fn tport_answers_the_transport_id_then_serves_the_device() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST));
    let id = adb.transport_id(QUEST).unwrap();
    for request in [
        format!("host:tport:serial:{QUEST}"),
        "host:tport:any".to_string(),
    ] {
        let mut s = connect(&adb).await?;
        send(&mut s, &request).await?;
        assert_eq!(status(&mut s).await?, Ok(()));
        assert_eq!(read_n(&mut s, 8).await?, id.to_le_bytes());
        send(&mut s, "shell:echo tport").await?;
        assert_eq!(status(&mut s).await?, Ok(()));
        assert_eq!(read_to_end(&mut s).await?, b"tport\n");
    }
    let mut s = connect(&adb).await?;
    send(&mut s, &format!("host:transport-id:{id}")).await?;
    assert_eq!(status(&mut s).await?, Ok(()));
    send(&mut s, "shell:echo by id").await?;
    assert_eq!(status(&mut s).await?, Ok(()));
    assert_eq!(read_to_end(&mut s).await?, b"by id\n");
    Ok(())
}

#[tokio::test]
async fn features_are_empty_and_unknown_services_fail() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.add_device(FakeDevice::quest3(QUEST));
    assert_eq!(host(&adb, "host:features").await?, Ok(String::new()));
    assert_eq!(
        host(&adb, &format!("host-serial:{QUEST}:features")).await?,
        Ok(String::new())
    );
    assert_eq!(
        host(&adb, "host:frobnicate").await?,
        Err("unknown host service".to_string())
    );
    // host:kill is answered; the stand-in keeps serving.
    let mut s = connect(&adb).await?;
    send(&mut s, "host:kill").await?;
    assert_eq!(read_to_end(&mut s).await?, b"OKAY");
    assert_eq!(shell(&adb, QUEST, "echo still here").await?, "still here\n");
    Ok(())
}

#[tokio::test]
async fn a_hung_server_accepts_and_never_answers() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    adb.hang();
    let mut s = connect(&adb).await?;
    send(&mut s, "host:version").await?;
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::io::AsyncReadExt::read(&mut s, &mut byte),
    )
    .await;
    assert!(read.is_err(), "the hung server answered: {read:?}");
    assert_eq!(adb.open_connections(), 1);
    adb.unhang();
    assert_eq!(host(&adb, "host:version").await?, Ok("0029".to_string()));
    // The hung connection is still open; it ends when the client closes it.
    drop(s);
    adb.wait_until(Duration::from_secs(5), |a| a.open_connections() == 0)
        .await?;
    Ok(())
}

#[tokio::test]
async fn dropping_the_server_closes_its_connections() -> anyhow::Result<()> {
    let adb = FakeAdb::start().await?;
    let mut track = connect(&adb).await?;
    send(&mut track, "host:track-devices").await?;
    assert_eq!(read_n(&mut track, 8).await?, b"OKAY0000");
    let addr = adb.addr();
    drop(adb);
    assert!(within(read_to_end(&mut track)).await??.is_empty());
    // The listener goes when the runtime drops the aborted accept task.
    within(async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await?;
    Ok(())
}
