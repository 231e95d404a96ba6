//! The emulated scrcpy server's start: `CLASSPATH=<jar> app_process / com.genymobile.scrcpy.Server
//! <version> key=value…` in the v1 shell (mirror-spec §2; scrcpy `Server.main`, `Options.parse`).
//!
//! Like the real one, after the device's [`super::FakeDevice::start_delay`] (the VM starting):
//! without the jar at `CLASSPATH` it prints app_process's `ClassNotFoundException` and exits; with
//! a version other than the device's it prints `[server] ERROR: The server version (…) does not
//! match the client (…)` and a stack trace and exits (the jar stays); a pair without `=` is an
//! error, an unknown key a warning. Then it logs `[server] INFO: Device: […] … (Android …)`,
//! deletes its jar (unless `cleanup=false`), listens on `scrcpy_<scid as %08x>` and runs
//! ([`super::stream`]) while the shell stream stays open; the shell closes when the server ends
//! (its video or control socket closed, `pkill -f`, the device cut).
//!
//! What the stand-in does not emulate makes the start fail with a `[server] ERROR:` line:
//! `tunnel_forward=false` (the server would connect back through `adb reverse`), `video=false`,
//! and a `video_codec` other than h264.

use std::collections::BTreeMap;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::device::DeviceConn;
use super::stream::{self, Accepted, Framing, ServerConfig};
use super::{FakeDevice, ScrcpyStart};

/// The class scrcpy's client starts.
const SERVER_CLASS: &str = "com.genymobile.scrcpy.Server";

/// Options scrcpy 3.3.4 and 4.1 know (`Options.parse`), apart from the renamed codec meta one.
const KNOWN_OPTIONS: [&str; 57] = [
    "scid",
    "log_level",
    "video",
    "audio",
    "video_codec",
    "audio_codec",
    "video_source",
    "audio_source",
    "audio_dup",
    "max_size",
    "min_size_alignment",
    "video_bit_rate",
    "audio_bit_rate",
    "max_fps",
    "angle",
    "tunnel_forward",
    "crop",
    "control",
    "display_id",
    "show_touches",
    "stay_awake",
    "screen_off_timeout",
    "video_codec_options",
    "audio_codec_options",
    "video_encoder",
    "audio_encoder",
    "power_off_on_close",
    "clipboard_autosync",
    "downsize_on_error",
    "cleanup",
    "power_on",
    "list_encoders",
    "list_displays",
    "list_cameras",
    "list_camera_sizes",
    "list_apps",
    "camera_id",
    "camera_size",
    "camera_facing",
    "camera_ar",
    "camera_zoom",
    "camera_fps",
    "camera_high_speed",
    "camera_torch",
    "new_display",
    "vd_destroy_content",
    "vd_system_decorations",
    "flex_display",
    "capture_orientation",
    "display_ime_policy",
    "keep_active",
    "ignore_video_encoder_constraints",
    "send_device_meta",
    "send_frame_meta",
    "send_dummy_byte",
    "raw_stream",
    "lock_video_orientation",
];

/// A running server, as the device lists it.
pub(super) struct ServerEntry {
    pub(super) id: u64,
    /// Its command line (without the environment), what `pkill -f` matches.
    pub(super) command: String,
    /// The abstract socket it listens on.
    pub(super) socket: String,
    /// Where `localabstract:` hands sockets while it listens.
    pub(super) accept: Option<mpsc::Sender<Accepted>>,
    /// Dropped with the entry: the server then ends.
    pub(super) _alive: watch::Sender<()>,
}

/// Runs `app_process` with `args` (after the program name), writing its output to `out`.
pub(super) async fn app_process(
    conn: &DeviceConn,
    classpath: &str,
    args: &[&str],
    command: &str,
    out: &mut TcpStream,
) -> anyhow::Result<()> {
    let Some(device) = conn
        .inner
        .lock()
        .slot(&conn.serial)
        .map(|s| s.device.clone())
    else {
        return Ok(());
    };
    tokio::time::sleep(device.start_delay).await;
    let (start, config, mut log) = match check(conn, &device, classpath, args, command) {
        Ok(checked) => checked,
        Err(text) => {
            out.write_all(text.as_bytes()).await?;
            return Ok(());
        }
    };
    let level = start
        .option("log_level")
        .unwrap_or("debug")
        .to_ascii_lowercase();
    if matches!(level.as_str(), "verbose" | "debug" | "info") {
        log.push_str(&format!(
            "[server] INFO: Device: [{m}] {m} {} (Android {})\n",
            device.name,
            device.android,
            m = device.manufacturer
        ));
    }
    let socket = socket_name(&start)?;
    let Some((id, sockets, mut alive)) = register(conn, start, socket, command) else {
        return Ok(());
    };
    // The client may have closed the shell stream: the server runs on regardless.
    let _ = out.write_all(log.as_bytes()).await;
    let result = tokio::select! {
        _ = alive.changed() => Ok(()),
        result = stream::run(conn, &config, sockets, id) => result,
    };
    let mut st = conn.inner.lock();
    if let Some(slot) = st.slot_mut(&conn.serial) {
        slot.servers.retain(|s| s.id != id);
    }
    drop(st);
    if let Err(e) = result {
        tracing::debug!("fake-adb: scrcpy server on {} ended: {e:#}", conn.serial);
    }
    Ok(())
}

/// Checks the jar, the class, the version and the options as the real server does: the start,
/// what it streams and the warnings it printed; or the whole output of a failed start.
fn check(
    conn: &DeviceConn,
    device: &FakeDevice,
    classpath: &str,
    args: &[&str],
    command: &str,
) -> Result<(ScrcpyStart, ServerConfig, String), String> {
    let jar = conn
        .inner
        .lock()
        .serial(&conn.serial)
        .files
        .contains_key(classpath);
    let class = args.get(1).copied().unwrap_or("");
    if args.len() < 2 {
        return Err(
            "Usage: app_process [java-options] cmd-dir start-class-name [options]\n".into(),
        );
    }
    if !jar || class != SERVER_CLASS {
        return Err(class_not_found(class, if jar { classpath } else { "" }));
    }
    let Some(version) = args.get(2) else {
        return Err(server_error("Missing client version"));
    };
    if *version != device.scrcpy_version {
        return Err(server_error(&format!(
            "The server version ({}) does not match the client ({version})",
            device.scrcpy_version
        )));
    }
    let framing = Framing::of_version(version);
    let codec_meta_key = match framing {
        Framing::V3 => "send_codec_meta",
        Framing::V4 => "send_stream_meta",
    };
    let mut options = BTreeMap::new();
    let mut log = String::new();
    for arg in &args[3..] {
        let Some((key, value)) = arg.split_once('=') else {
            return Err(server_error(&format!("Invalid key=value pair: \"{arg}\"")));
        };
        if !KNOWN_OPTIONS.contains(&key) && key != codec_meta_key {
            log.push_str(&format!("[server] WARN: Unknown server option: {key}\n"));
        }
        options.insert(key.to_string(), value.to_string());
    }
    let start = ScrcpyStart {
        version: version.to_string(),
        classpath: classpath.to_string(),
        options,
        command: command.to_string(),
    };
    let config = server_config(&start, device, framing, codec_meta_key)?;
    Ok((start, config, log))
}

/// What the server will do, from its options; an error for what the stand-in cannot do.
fn server_config(
    start: &ScrcpyStart,
    device: &FakeDevice,
    framing: Framing,
    codec_meta_key: &str,
) -> Result<ServerConfig, String> {
    // Boolean.parseBoolean: "true" in any case is true, anything else false.
    let flag = |key: &str, default: bool| {
        start
            .option(key)
            .map_or(default, |v| v.eq_ignore_ascii_case("true"))
    };
    if !flag("tunnel_forward", false) {
        return Err(format!(
            "{}java.io.IOException: Connection refused (this stand-in has no adb reverse: \
             pass tunnel_forward=true)\n",
            "[server] ERROR: Exception on thread Thread[main,5,main]\n"
        ));
    }
    if !flag("video", true) {
        return Err(server_error(
            "The stand-in always streams video (video=false)",
        ));
    }
    let codec = start.option("video_codec").unwrap_or("h264");
    if codec != "h264" {
        return Err(server_error(&format!(
            "The stand-in streams H.264 only (video_codec={codec})"
        )));
    }
    socket_name(start).map_err(|e| server_error(&e.to_string()))?;
    let raw = flag("raw_stream", false);
    // `crop=W:H:X:Y` of a Quest's display, whose panel is mounted turned: the stream says it is
    // H×W (W×H on a headset that reports its display turned); the picture stays the device's.
    let size = match start.option("crop") {
        None => (device.picture.width, device.picture.height),
        Some(crop) => {
            let parts: Vec<u32> = crop.split(':').filter_map(|p| p.parse().ok()).collect();
            match parts[..] {
                [w, h, _, _] if device.display_turned => (w, h),
                [w, h, _, _] => (h, w),
                _ => return Err(server_error(&format!("Invalid crop: {crop}"))),
            }
        }
    };
    Ok(ServerConfig {
        framing,
        audio: flag("audio", true),
        control: flag("control", true),
        dummy_byte: !raw && flag("send_dummy_byte", true),
        device_meta: !raw && flag("send_device_meta", true),
        codec_meta: !raw && flag(codec_meta_key, true),
        frame_meta: !raw && flag("send_frame_meta", true),
        name: device.name.clone(),
        picture: device.picture.clone(),
        size,
    })
}

/// `scrcpy` without a scid, else `scrcpy_%08x` of the hexadecimal scid.
fn socket_name(start: &ScrcpyStart) -> anyhow::Result<String> {
    match start.option("scid") {
        None | Some("-1") => Ok("scrcpy".to_string()),
        Some(hex) => {
            let scid = u32::from_str_radix(hex, 16)
                .ok()
                .filter(|s| *s <= 0x7fff_ffff)
                .ok_or_else(|| anyhow::anyhow!("For input string: \"{hex}\" (scid)"))?;
            Ok(format!("scrcpy_{scid:08x}"))
        }
    }
}

/// Counts the start, deletes the jar (`cleanup`) and lists the server as listening on `socket`.
/// `None` if the device went away meanwhile.
fn register(
    conn: &DeviceConn,
    start: ScrcpyStart,
    socket: String,
    command: &str,
) -> Option<(u64, mpsc::Receiver<Accepted>, watch::Receiver<()>)> {
    let id = conn.inner.next_id();
    let (accept, sockets) = mpsc::channel(4);
    let (alive, alive_rx) = watch::channel(());
    let cleanup = start
        .option("cleanup")
        .is_none_or(|v| v.eq_ignore_ascii_case("true"));
    let mut st = conn.inner.lock();
    st.slot(&conn.serial)?;
    let per = st.serial(&conn.serial);
    per.servers_started += 1;
    if cleanup {
        per.files.remove(&start.classpath);
    }
    per.last_start = Some(start);
    let slot = st.slot_mut(&conn.serial)?;
    slot.servers.push(ServerEntry {
        id,
        command: command.to_string(),
        socket,
        accept: Some(accept),
        _alive: alive,
    });
    Some((id, sockets, alive_rx))
}

/// The server's fatal error: its `Ln.e` line and the exception's stack trace.
fn server_error(message: &str) -> String {
    format!(
        "[server] ERROR: {message}\n\
         java.lang.IllegalArgumentException: {message}\n\
         \tat com.genymobile.scrcpy.Options.parse(Options.java:300)\n\
         \tat com.genymobile.scrcpy.Server.internalMain(Server.java:238)\n\
         \tat com.genymobile.scrcpy.Server.main(Server.java:215)\n\
         \tat com.android.internal.os.RuntimeInit.nativeFinishInit(Native Method)\n\
         \tat com.android.internal.os.RuntimeInit.main(RuntimeInit.java:359)\n"
    )
}

/// What app_process prints when the class is not in the jar, or there is no jar (`jar` empty).
fn class_not_found(class: &str, jar: &str) -> String {
    let zip = if jar.is_empty() {
        String::new()
    } else {
        format!("zip file \"{jar}\"")
    };
    format!(
        "Exception in thread \"main\" java.lang.ClassNotFoundException: Didn't find class \
         \"{class}\" on path: DexPathList[[{zip}],nativeLibraryDirectories=[/system/lib64, \
         /system_ext/lib64, /system/lib64, /system_ext/lib64]]\n\
         \tat dalvik.system.BaseDexClassLoader.findClass(BaseDexClassLoader.java:259)\n\
         \tat java.lang.ClassLoader.loadClass(ClassLoader.java:637)\n\
         \tat java.lang.ClassLoader.loadClass(ClassLoader.java:573)\n"
    )
}
