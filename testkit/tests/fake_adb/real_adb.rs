//! Debian's real `adb` client (29.0.6) against the stand-in: it lists the devices, runs a shell
//! command and pushes scrcpy's jar, and never decides to kill and restart the server. The port
//! goes to the child process only (`ANDROID_ADB_SERVER_PORT`), so a real ADB server on 5037 is
//! never touched.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::Context;
use relay_testkit::adb::{self, SCRCPY_JAR};
use relay_testkit::{FakeAdb, FakeDevice};

use crate::client::{open_abstract, read_head, relay_options, scrcpy_command, service};

const QUEST: &str = "192.168.1.50:5555";
const USB: &str = "2G0YC5ZF9F00Q1";

/// The `adb` program, after checking it is there (see `relay_testkit::prereq`).
fn adb_program(test: &str) -> PathBuf {
    let found = adb::adb_program_or_missing();
    relay_testkit::prereq::require(test, found.as_ref().err().cloned());
    found.unwrap_or_default()
}

/// A scratch directory for the client's HOME and the files it pushes.
fn scratch(test: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("fake-adb-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Runs `adb args…` against `fake`; fails unless it exits within 20 s.
async fn run(
    adb: &PathBuf,
    fake: &FakeAdb,
    home: &PathBuf,
    args: &[&str],
) -> anyhow::Result<Output> {
    let child = tokio::process::Command::new(adb)
        .args(args)
        .env("ANDROID_ADB_SERVER_PORT", fake.port().to_string())
        .env("HOME", home)
        .env_remove("ANDROID_SERIAL")
        .env_remove("ADB_SERVER_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run adb")?;
    tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .with_context(|| format!("adb {args:?} did not finish within 20 s"))?
        .context("adb failed to run")
}

/// Asserts the client never asked the server to go (it would when it disliked the version).
fn assert_no_kill(fake: &FakeAdb) {
    let requests = fake.requests();
    assert!(!requests.iter().any(|r| r == "host:kill"), "{requests:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's adb: scripts/test.sh runs it"]
async fn real_adb_lists_the_devices_with_their_models() -> anyhow::Result<()> {
    let test = "real_adb_lists_the_devices_with_their_models";
    let program = adb_program(test);
    let home = scratch(test)?;
    let fake = FakeAdb::start().await?;
    fake.add_device(FakeDevice::quest3(QUEST));
    fake.add_device(FakeDevice::quest3(USB).with_state("unauthorized"));
    let out = run(&program, &fake, &home, &["start-server"]).await?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fake.requests(), ["host:version"]);

    let out = run(&program, &fake, &home, &["devices", "-l"]).await?;
    let stdout = String::from_utf8(out.stdout.clone())?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fake.requests(),
        ["host:version", "host:version", "host:devices-l"]
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "List of devices attached", "{stdout}");
    let quest = lines.iter().find(|l| l.starts_with(QUEST)).expect(&stdout);
    assert!(
        quest.split_whitespace().any(|w| w == "model:Quest_3"),
        "{quest}"
    );
    assert!(quest.split_whitespace().nth(1) == Some("device"), "{quest}");
    let usb = lines.iter().find(|l| l.starts_with(USB)).expect(&stdout);
    assert_eq!(usb.split_whitespace().nth(1), Some("unauthorized"));
    assert_no_kill(&fake);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's adb: scripts/test.sh runs it"]
async fn real_adb_runs_a_shell_command() -> anyhow::Result<()> {
    let test = "real_adb_runs_a_shell_command";
    let program = adb_program(test);
    let home = scratch(test)?;
    let fake = FakeAdb::start().await?;
    fake.add_device(FakeDevice::quest3(QUEST));
    fake.add_device(FakeDevice::quest3(USB));
    let out = run(
        &program,
        &fake,
        &home,
        &["-s", QUEST, "shell", "echo", "hello"],
    )
    .await?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout)?, "hello\n");
    let requests = fake.requests();
    assert!(
        requests.contains(&format!("host:tport:serial:{QUEST}")),
        "{requests:?}"
    );
    assert!(
        requests.contains(&"shell:echo hello".to_string()),
        "{requests:?}"
    );

    // An unauthorized device: adb prints the server's reason and fails.
    fake.set_state(USB, "unauthorized");
    let out = run(&program, &fake, &home, &["-s", USB, "shell", "echo", "x"]).await?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("device unauthorized"));
    assert_no_kill(&fake);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's adb: scripts/test.sh runs it"]
async fn real_adb_pushes_the_jar_the_stand_in_then_runs() -> anyhow::Result<()> {
    let test = "real_adb_pushes_the_jar_the_stand_in_then_runs";
    let program = adb_program(test);
    let home = scratch(test)?;
    let fake = FakeAdb::start().await?;
    fake.add_device(FakeDevice::quest3(QUEST));
    // Larger than one DATA chunk (64 KiB), like a real scrcpy-server (90-200 KB).
    let jar: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let local = home.join("scrcpy-server");
    std::fs::write(&local, &jar)?;
    let local_str = local.to_string_lossy().into_owned();
    let out = run(
        &program,
        &fake,
        &home,
        &["-s", QUEST, "push", &local_str, SCRCPY_JAR],
    )
    .await?;
    assert!(out.status.success(), "{out:?}");
    let pushed = fake.file(QUEST, SCRCPY_JAR).expect("pushed");
    assert_eq!(pushed.data, jar);
    assert_eq!(pushed.mode & 0o170000, 0o100000, "a regular file's st_mode");
    assert_no_kill(&fake);

    // What adb pushed starts the emulated server.
    let command = scrcpy_command("3.3.4", &relay_options("00000abc", false));
    let _shell = service(&fake, QUEST, &format!("shell:{command}")).await?;
    let mut video = open_abstract(&fake, QUEST, "scrcpy_00000abc").await?;
    assert_eq!(read_head(&mut video).await?.1, "Quest 3");
    std::fs::remove_dir_all(&home).ok();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's adb: scripts/test.sh runs it"]
async fn real_adb_connects_to_a_headset_on_wifi() -> anyhow::Result<()> {
    let test = "real_adb_connects_to_a_headset_on_wifi";
    let program = adb_program(test);
    let home = scratch(test)?;
    let fake = FakeAdb::start().await?;
    fake.add_reachable(FakeDevice::quest3(QUEST));
    let out = run(&program, &fake, &home, &["connect", QUEST]).await?;
    let stdout = String::from_utf8(out.stdout.clone())?;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout.trim(), format!("connected to {QUEST}"));
    let out = run(&program, &fake, &home, &["connect", QUEST]).await?;
    assert_eq!(
        String::from_utf8(out.stdout)?.trim(),
        format!("already connected to {QUEST}")
    );
    let out = run(&program, &fake, &home, &["devices"]).await?;
    let stdout = String::from_utf8(out.stdout)?;
    assert!(stdout.contains(&format!("{QUEST}\tdevice")), "{stdout}");
    // Nobody there: real adb's words, and a failure exit.
    let out = run(&program, &fake, &home, &["connect", "192.0.2.99"]).await?;
    let said = String::from_utf8(out.stdout)? + &String::from_utf8(out.stderr)?;
    assert!(
        said.contains("failed to connect to '192.0.2.99:5555'"),
        "{said}"
    );
    assert!(
        fake.requests()
            .iter()
            .any(|r| r == &format!("host:connect:{QUEST}"))
    );
    assert_no_kill(&fake);
    Ok(())
}
