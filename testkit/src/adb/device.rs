//! Device services: the request after a transport switch, as adbd on the headset serves it
//! (mirror-spec §1.3).
//!
//! * `shell:<cmd>` (and `exec:<cmd>`): the v1 shell, raw output (stdout and stderr merged) then
//!   close, no exit code. It knows `echo`, `getprop`, `rm`, `pkill -f`, and scrcpy's
//!   `app_process` line (`scrcpy`); anything else prints `/system/bin/sh: <cmd>: not found`.
//! * `sync:`: file transfer (`sync`).
//! * `localabstract:<name>`: `OKAY` and the socket goes to the emulated server listening on that
//!   name, else `FAIL0006closed` as adb says when nothing listens.
//! * anything else (`reverse:…`, `shell,v2,…`, which no client uses with an empty feature list):
//!   `FAIL0006closed`.
//!
//! Every service runs until the device's link closes ([`super::FakeAdb::remove_device`], or the
//! device leaving the `device` state): then its socket is dropped at once.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::host::OpenGuard;
use super::{Inner, scrcpy, sync, wire};

/// A connection switched to a device.
pub(super) struct DeviceConn {
    pub(super) inner: Arc<Inner>,
    pub(super) serial: String,
    pub(super) transport_id: u64,
    /// Closes when the device's connections are cut.
    pub(super) link: watch::Receiver<()>,
}

impl DeviceConn {
    /// Resolves when the device's connections are cut.
    pub(super) async fn cut(&self) {
        let mut link = self.link.clone();
        while link.changed().await.is_ok() {}
    }
}

/// Serves the device request that follows the transport switch.
pub(super) async fn serve(conn: DeviceConn, mut stream: TcpStream) -> anyhow::Result<()> {
    let Some(request) = wire::read_request(&mut stream).await? else {
        return Ok(());
    };
    conn.inner.log_request(&request);
    tokio::select! {
        _ = conn.cut() => Ok(()),
        result = service(&conn, &request, stream) => result,
    }
}

async fn service(conn: &DeviceConn, request: &str, mut stream: TcpStream) -> anyhow::Result<()> {
    if let Some(command) = request
        .strip_prefix("shell:")
        .or_else(|| request.strip_prefix("exec:"))
    {
        stream.write_all(b"OKAY").await?;
        shell(conn, command, &mut stream).await?;
        stream.shutdown().await?;
        Ok(())
    } else if request == "sync:" {
        sync::serve(conn, stream).await
    } else if let Some(name) = request.strip_prefix("localabstract:") {
        local_abstract(conn, name, stream).await
    } else {
        wire::write_fail(&mut stream, "closed").await?;
        Ok(())
    }
}

/// Runs one shell command, writing its output to `out`.
async fn shell(conn: &DeviceConn, command: &str, out: &mut TcpStream) -> anyhow::Result<()> {
    let words: Vec<&str> = command.split_whitespace().collect();
    // Leading `NAME=value` words set the environment (scrcpy's `CLASSPATH=…`).
    let env_len = words.iter().take_while(|w| is_assignment(w)).count();
    let (env, argv) = words.split_at(env_len);
    let text = match argv {
        [] => String::new(),
        ["echo", args @ ..] => format!("{}\n", args.join(" ")),
        ["getprop", key] => getprop(conn, key),
        ["ip", "-f", "inet", "addr", "show", "wlan0"] => wlan0(conn),
        ["rm", args @ ..] => rm(conn, args),
        ["pkill", args @ ..] => {
            pkill(conn, args);
            String::new()
        }
        ["app_process", args @ ..] => {
            let classpath = env
                .iter()
                .find_map(|w| w.strip_prefix("CLASSPATH="))
                .unwrap_or("");
            return scrcpy::app_process(conn, classpath, args, &argv.join(" "), out).await;
        }
        [program, ..] => format!("/system/bin/sh: {program}: not found\n"),
    };
    out.write_all(text.as_bytes()).await?;
    Ok(())
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// `ip -f inet addr show wlan0`, as Android's `ip` prints it (nothing without Wi-Fi).
fn wlan0(conn: &DeviceConn) -> String {
    let st = conn.inner.lock();
    let address = st.slot(&conn.serial).and_then(|s| s.device.wlan_address);
    match address {
        Some(a) => format!(
            "23: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 3000\n    \
             inet {a}/24 brd {}.255 scope global wlan0\n       valid_lft forever preferred_lft forever\n",
            a.octets()[..3]
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(".")
        ),
        None => String::new(),
    }
}

fn getprop(conn: &DeviceConn, key: &str) -> String {
    let st = conn.inner.lock();
    let Some(slot) = st.slot(&conn.serial) else {
        return "\n".to_string();
    };
    let d = &slot.device;
    let value = match key {
        "ro.product.model" => d.name.as_str(),
        "ro.product.manufacturer" => d.manufacturer.as_str(),
        "ro.product.name" => d.product.as_str(),
        "ro.product.device" => d.device.as_str(),
        "ro.build.version.release" => d.android.as_str(),
        _ => "",
    };
    format!("{value}\n")
}

/// `rm [-f] [-r] path…`: forgets the files; complains about missing ones without `-f`.
fn rm(conn: &DeviceConn, args: &[&str]) -> String {
    let force = args.iter().any(|a| a.starts_with('-') && a.contains('f'));
    let mut st = conn.inner.lock();
    let files = &mut st.serial(&conn.serial).files;
    let mut out = String::new();
    for path in args.iter().filter(|a| !a.starts_with('-')) {
        if files.remove(*path).is_none() && !force {
            out.push_str(&format!("rm: {path}: No such file or directory\n"));
        }
    }
    out
}

/// `pkill -f <pattern>`: ends the emulated servers whose command line contains the pattern.
fn pkill(conn: &DeviceConn, args: &[&str]) {
    let Some(pattern) = args.iter().rev().find(|a| !a.starts_with('-')) else {
        return;
    };
    let mut st = conn.inner.lock();
    if let Some(slot) = st.slot_mut(&conn.serial) {
        slot.servers.retain(|s| !s.command.contains(pattern));
    }
}

/// `localabstract:<name>`: hands the socket to the server listening on `name`.
async fn local_abstract(
    conn: &DeviceConn,
    name: &str,
    mut stream: TcpStream,
) -> anyhow::Result<()> {
    let listener = {
        let st = conn.inner.lock();
        st.slot(&conn.serial).and_then(|slot| {
            slot.servers
                .iter()
                .find(|s| s.socket == name)
                .and_then(|s| s.accept.clone())
        })
    };
    let Some(listener) = listener else {
        wire::write_fail(&mut stream, "closed").await?;
        return Ok(());
    };
    stream.write_all(b"OKAY").await?;
    // The socket lives on in the server: count it there. If the server stopped meanwhile, the
    // socket is dropped and the client reads EOF.
    let _ = listener.send((stream, OpenGuard::new(&conn.inner))).await;
    Ok(())
}
