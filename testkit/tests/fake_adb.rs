//! The stand-in ADB server and headsets (`relay_testkit::adb`): their bytes on the wire, read by
//! a raw client written from the spec (`fake_adb/client.rs`), and Debian's real `adb` client
//! against them.
//!
//! * `host`: host services (version, device lists, tracking, transport failures, a hung server);
//! * `device`: the v1 shell, `sync:` push and stat, `localabstract:`;
//! * `scrcpy`: the emulated scrcpy server's start and stream with the built-in picture, and its
//!   failure injection (no ffmpeg needed);
//! * `picture`: whole starts in 3.x and 4.x framing with a picture made by Debian's ffmpeg
//!   (ignored without it: scripts/test.sh runs them);
//! * `real_adb`: Debian's `adb` 29.0.6 (ignored without it: scripts/test.sh runs them).

#[path = "fake_adb/client.rs"]
mod client;
#[path = "fake_adb/device.rs"]
mod device;
#[path = "fake_adb/host.rs"]
mod host;
#[path = "fake_adb/picture.rs"]
mod picture;
#[path = "fake_adb/real_adb.rs"]
mod real_adb;
#[path = "fake_adb/scrcpy.rs"]
mod scrcpy;
