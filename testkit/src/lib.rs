//! Test doubles for gama-vr-relay.
//!
//! GAMA and Unity cannot run on the test machines, so the relay's tests talk to:
//!
//! * [`FakeGama`] (module [`fake_gama`]): a fake gama-server that behaves like the real one in
//!   both of its server modes (desktop application and headless), including the SIMPLE
//!   `unity_linker` output the relay forwards to headsets, plus failure injection (crash, clean
//!   quit, restart on the same port, hung or slow commands);
//! * [`Headset`] (module [`headset`]): a simulated Unity VR client that sends byte for byte what
//!   the real SIMPLE Unity package sends, answers the relay's application pings, and can stall,
//!   stop reading or vanish;
//! * [`gama_client`]: the real PyPI `gama-client`, to check that a gama-server (the fake, or the
//!   relay's endpoint for tools) is credible; [`gymnasium`]: the real PyPI gama-gymnasium, a
//!   training run's whole conversation, to compare a run through the relay with a direct one;
//! * [`monitor`]: a client of the webplatform's monitor socket that behaves like the SIMPLE Unity
//!   plugin's editor tool (its steps, waits, and its 2 s limit on a silent connection);
//! * [`FakeAdb`] (module [`adb`]): a stand-in ADB server with stand-in headsets for screen
//!   mirroring: the host protocol, a v1 shell, `sync:` push, and an emulated scrcpy server (3.x
//!   and 4.x framings) streaming real H.264 from [`h264`] (made by Debian's ffmpeg at test time,
//!   or a tiny built-in picture), plus failure injection (devices that vanish or change state,
//!   stalled or corrupt streams, a server that never answers);
//! * [`free_port`]: a free loopback port, for what must be given a port before it listens;
//! * [`prereq`]: tests that need a tool from outside Cargo skip under a plain `cargo test` when it
//!   is missing, and fail under `scripts/test.sh`.
//!
//! The wire formats follow the SIMPLE protocol as GAMA, its Unity client and the webplatform speak it;
//! each module says which part it implements.
//! The `fake-gama` binary runs a [`FakeGama`] standalone for manual testing.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adb;
pub mod fake_gama;
pub mod gama_client;
pub mod gymnasium;
pub mod h264;
pub mod headset;
pub mod monitor;
mod port;
pub mod prereq;

pub use adb::{FakeAdb, FakeDevice};
pub use fake_gama::{ContentShape, FakeGama, FakeGamaOptions, Scene, ServerMode};
pub use headset::{Headset, HeadsetConfig, unity_json};
pub use port::free_port;
