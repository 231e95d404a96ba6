//! H.264 pictures for the stand-in headsets' screens.
//!
//! The emulated scrcpy server ([`crate::adb`]) streams what a headset's encoder gives scrcpy: one
//! configuration packet (SPS + PPS) and then one packet per access unit, key frames marked. Real
//! encoded video, not random bytes, lets the relay's tests check what it reads from the SPS (codec
//! string, size) and lets a browser decode what the relay forwards. So:
//!
//! * [`sample`] encodes a short test pattern with Debian's `ffmpeg` (libx264) at test time, once per
//!   process and set of parameters, cached on disk under `target/test-deps/h264/` (no video is
//!   committed, and tests that do not need it do not need ffmpeg);
//! * [`Sample::dummy`] is a tiny built-in picture (64×48, six frames, real and decodable) for
//!   tests that only move bytes around.
//!
//! The stream is split the way an Android encoder hands it over: parameter sets only in
//! [`Sample::config`], access units without them, and without SEI or access unit delimiters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, bail, ensure};

/// Where Debian's `ffmpeg` package installs the program.
const FFMPEG: &str = "/usr/bin/ffmpeg";

/// Bound on one ffmpeg run (a 2 s 1080p clip takes a few seconds on two cores).
const FFMPEG_TIMEOUT: Duration = Duration::from_secs(120);

/// The 4-byte Annex B start code every NAL unit of a [`Sample`] is written with.
pub const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// The H.264 profile of a [`sample`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// Constrained baseline (`avc1.42C0..`): what every software decoder takes.
    Baseline,
    /// High (`avc1.6400..`): what headset encoders usually produce.
    #[default]
    High,
}

impl Profile {
    fn ffmpeg_name(self) -> &'static str {
        match self {
            Profile::Baseline => "baseline",
            Profile::High => "high",
        }
    }
}

/// What [`sample_with`] encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SampleSpec {
    /// Width in pixels (even).
    pub width: u32,
    /// Height in pixels (even).
    pub height: u32,
    /// Frames per second: the rate the emulated server sends access units at.
    pub fps: u32,
    /// Frames from one key frame to the next (the first frame is one).
    pub gop: u32,
    /// The profile. Default [`Profile::High`].
    pub profile: Profile,
}

impl SampleSpec {
    /// A spec with the [`Profile::High`] profile.
    pub fn new(width: u32, height: u32, fps: u32, gop: u32) -> SampleSpec {
        SampleSpec {
            width,
            height,
            fps,
            gop,
            profile: Profile::High,
        }
    }

    /// Number of frames encoded: two seconds, and at least two key frames.
    fn frames(&self) -> u32 {
        (2 * self.fps).max(2 * self.gop)
    }
}

/// One access unit (one frame): its NAL units, each after a 4-byte start code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    /// Annex B bytes of the frame's slices.
    pub data: Vec<u8>,
    /// Whether it holds an IDR slice (NAL type 5): what scrcpy flags as a key frame.
    pub key: bool,
}

/// A short H.264 stream split for the emulated scrcpy server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Width in pixels (the emulated server's codec meta or session packet).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second the access units are sent at.
    pub fps: u32,
    /// The SPS and PPS NAL units, each after a 4-byte start code: the config packet's payload.
    pub config: Vec<u8>,
    /// The frames in order; the first is a key frame, so the list can be looped.
    pub units: Vec<AccessUnit>,
}

impl Sample {
    /// Splits the Annex B `stream` (see the module doc): the first SPS and PPS make the config,
    /// every access unit keeps only its slices. Fails unless there is a config and the first
    /// frame is a key frame.
    pub fn from_annex_b(
        stream: &[u8],
        width: u32,
        height: u32,
        fps: u32,
    ) -> anyhow::Result<Sample> {
        ensure!(fps > 0, "fps must be positive");
        let mut config = Vec::new();
        let mut units: Vec<AccessUnit> = Vec::new();
        let mut current: Option<AccessUnit> = None;
        let mut have_sps = false;
        let mut have_pps = false;
        for nal in split_annex_b(stream) {
            match nal_type(nal) {
                7 | 8 => {
                    let have = if nal_type(nal) == 7 {
                        &mut have_sps
                    } else {
                        &mut have_pps
                    };
                    if !*have && units.is_empty() && current.is_none() {
                        *have = true;
                        config.extend_from_slice(&START_CODE);
                        config.extend_from_slice(nal);
                    }
                }
                t @ (1 | 5) => {
                    // first_mb_in_slice == 0 (ue(v) "1") starts a new picture.
                    let first_slice = nal.get(1).is_some_and(|b| b & 0x80 != 0);
                    if first_slice && let Some(done) = current.take() {
                        units.push(done);
                    }
                    let unit = current.get_or_insert_with(|| AccessUnit {
                        data: Vec::new(),
                        key: false,
                    });
                    unit.key |= t == 5;
                    unit.data.extend_from_slice(&START_CODE);
                    unit.data.extend_from_slice(nal);
                }
                // SEI, access unit delimiters, filler and the rest: not what an encoder hands over.
                _ => {}
            }
        }
        units.extend(current);
        ensure!(
            have_sps && have_pps,
            "no SPS and PPS before the first frame"
        );
        ensure!(
            units.first().is_some_and(|u| u.key),
            "the stream does not start with a key frame"
        );
        Ok(Sample {
            width,
            height,
            fps,
            config,
            units,
        })
    }

    /// A tiny real picture (64×48 flat colour, constrained baseline, 10 fps, a key frame every
    /// third frame, six frames), built in: for tests that need neither ffmpeg nor a given size.
    pub fn dummy() -> Sample {
        match Sample::from_annex_b(&dummy_stream(), 64, 48, 10) {
            Ok(sample) => sample,
            // The built-in bytes are fixed and the unit tests parse them.
            Err(e) => unreachable!("the built-in dummy picture does not parse: {e}"),
        }
    }

    /// The WebCodecs codec string from the SPS (`avc1.` + profile, constraint flags and level in
    /// lowercase hex, e.g. `avc1.640028`), or `None` without a well-formed SPS.
    pub fn codec(&self) -> Option<String> {
        let sps = split_annex_b(&self.config)
            .into_iter()
            .find(|nal| nal_type(nal) == 7)?;
        let [_, profile, flags, level, ..] = sps else {
            return None;
        };
        Some(format!("avc1.{profile:02x}{flags:02x}{level:02x}"))
    }

    /// Time between two access units.
    pub fn frame_interval(&self) -> Duration {
        Duration::from_micros(1_000_000 / u64::from(self.fps.max(1)))
    }
}

/// The NAL units of an Annex B byte string, without their start codes (3 or 4 bytes) or the zero
/// bytes that trail them. Bytes before the first start code are skipped.
pub fn split_annex_b(data: &[u8]) -> Vec<&[u8]> {
    let mut payload_starts = Vec::new();
    let mut code_starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            code_starts.push(i);
            payload_starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(payload_starts.len());
    for (k, &start) in payload_starts.iter().enumerate() {
        let mut end = code_starts.get(k + 1).copied().unwrap_or(data.len());
        while end > start && data[end - 1] == 0 {
            end -= 1;
        }
        if end > start {
            nals.push(&data[start..end]);
        }
    }
    nals
}

/// The type of a NAL unit (the low 5 bits of its header byte); 0 for an empty one.
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// The built-in picture's stream: one SPS, one PPS, then IDR P P IDR P P (x264, 64×48).
fn dummy_stream() -> Vec<u8> {
    const NALS: [&[u8]; 8] = [
        &[
            0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x04, 0x7b, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
            0x00, 0x00, 0x03, 0x01, 0x40, 0xf1, 0x22, 0x64, 0x80,
        ],
        &[0x68, 0xcb, 0x83, 0xcb, 0x20],
        &[
            0x65, 0x88, 0x84, 0x0f, 0xf1, 0x18, 0xa0, 0x00, 0x24, 0x0f, 0x1c, 0x00, 0x04, 0x9c,
            0xa3, 0x80, 0x00, 0x8a, 0xcc, 0x9c, 0x9c, 0x9d, 0x75, 0xd7, 0x5d, 0x75, 0xd7, 0x5e,
        ],
        &[0x41, 0x9a, 0x38, 0x1f, 0xe3, 0x60],
        &[0x41, 0x9a, 0x54, 0x07, 0xf8, 0xd8],
        &[
            0x65, 0x88, 0x82, 0x01, 0x1f, 0x11, 0x8a, 0x00, 0x02, 0x55, 0x71, 0xc0, 0x00, 0x4c,
            0x5a, 0x38, 0x00, 0x08, 0xdc, 0xc9, 0xc9, 0xc9, 0xd7, 0x5d, 0x75, 0xd7, 0x5d, 0x75,
            0xe0,
        ],
        &[0x41, 0x9a, 0x38, 0x1d, 0xe3, 0x60],
        &[0x41, 0x9a, 0x54, 0x06, 0xf8, 0xd8],
    ];
    NALS.iter()
        .flat_map(|nal| START_CODE.iter().chain(*nal))
        .copied()
        .collect()
}

/// Debian's ffmpeg, or what is missing (for [`crate::prereq::require`]).
pub fn ffmpeg_or_missing() -> Result<PathBuf, String> {
    let path = PathBuf::from(FFMPEG);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{FFMPEG} is missing (Debian package ffmpeg)"))
    }
}

/// Samples made in this process, by spec. The lock is held while ffmpeg runs, so concurrent
/// tests asking for the same spec encode it once.
static MADE: LazyLock<tokio::sync::Mutex<HashMap<SampleSpec, Sample>>> =
    LazyLock::new(|| tokio::sync::Mutex::new(HashMap::new()));

/// A 2 s `testsrc2` clip (at least two key frames) of `width`×`height` at `fps`, a key frame
/// every `gop` frames, [`Profile::High`]: see [`sample_with`].
pub async fn sample(width: u32, height: u32, fps: u32, gop: u32) -> anyhow::Result<Sample> {
    sample_with(SampleSpec::new(width, height, fps, gop)).await
}

/// The clip `spec` describes, encoded by Debian's ffmpeg the first time it is asked for (in this
/// process and on this machine: the file is kept under `target/test-deps/h264/`, or the system's
/// temporary directory when that cannot be written).
pub async fn sample_with(spec: SampleSpec) -> anyhow::Result<Sample> {
    ensure!(
        spec.width > 0 && spec.height > 0 && spec.width % 2 == 0 && spec.height % 2 == 0,
        "width and height must be even and positive, not {}x{}",
        spec.width,
        spec.height
    );
    ensure!(spec.fps > 0 && spec.gop > 0, "fps and gop must be positive");
    let mut made = MADE.lock().await;
    if let Some(sample) = made.get(&spec) {
        return Ok(sample.clone());
    }
    let file = cached_file(&spec).await?;
    let stream = tokio::fs::read(&file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let sample = Sample::from_annex_b(&stream, spec.width, spec.height, spec.fps)
        .with_context(|| format!("{} is not a usable H.264 stream", file.display()))?;
    made.insert(spec, sample.clone());
    Ok(sample)
}

/// The encoded file for `spec`, made now if no earlier run left it.
async fn cached_file(spec: &SampleSpec) -> anyhow::Result<PathBuf> {
    let name = format!(
        "testsrc2-{}x{}-{}fps-g{}-{}.h264",
        spec.width,
        spec.height,
        spec.fps,
        spec.gop,
        spec.profile.ffmpeg_name()
    );
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-deps/h264");
    let dir = if std::fs::create_dir_all(&workspace).is_ok() {
        workspace
    } else {
        let tmp = std::env::temp_dir().join("relay-testkit-h264");
        std::fs::create_dir_all(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        tmp
    };
    let file = dir.join(name);
    if file.is_file() {
        return Ok(file);
    }
    // Another test process may encode the same clip: each writes its own file, then renames.
    let partial = file.with_extension(format!("{}.partial", std::process::id()));
    encode(spec, &partial).await?;
    std::fs::rename(&partial, &file)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), file.display()))?;
    Ok(file)
}

/// Runs ffmpeg to write `spec`'s clip to `out`.
async fn encode(spec: &SampleSpec, out: &Path) -> anyhow::Result<()> {
    let ffmpeg = ffmpeg_or_missing().map_err(anyhow::Error::msg)?;
    let source = format!(
        "testsrc2=size={}x{}:rate={}",
        spec.width, spec.height, spec.fps
    );
    let child = tokio::process::Command::new(&ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i", &source])
        .args(["-frames:v", &spec.frames().to_string()])
        .args(["-c:v", "libx264", "-profile:v", spec.profile.ffmpeg_name()])
        .args(["-pix_fmt", "yuv420p", "-bf", "0", "-sc_threshold", "0"])
        .args([
            "-g",
            &spec.gop.to_string(),
            "-keyint_min",
            &spec.gop.to_string(),
        ])
        .args(["-f", "h264"])
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", ffmpeg.display()))?;
    let output = tokio::time::timeout(FFMPEG_TIMEOUT, child.wait_with_output())
        .await
        .context("ffmpeg did not finish within 120 s")??;
    if !output.status.success() {
        let _ = std::fs::remove_file(out);
        bail!(
            "ffmpeg failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_three_and_four_byte_start_codes() {
        let data = [
            0xaa, 0xbb, // garbage before the first start code
            0, 0, 0, 1, 0x67, 1, 2, // SPS, 4-byte code
            0, 0, 1, 0x68, 3, // PPS, 3-byte code
            0, 0, 0, 0, 1, 0x65, 4, 0, 5, // IDR after extra zero bytes, with an inner zero
            0, 0, 1, // empty NAL at the end
        ];
        let nals = split_annex_b(&data);
        assert_eq!(
            nals,
            vec![&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 0, 5][..]]
        );
        assert_eq!(
            nals.iter().map(|n| nal_type(n)).collect::<Vec<_>>(),
            [7, 8, 5]
        );
        assert!(split_annex_b(&[0, 0, 0]).is_empty());
        assert!(split_annex_b(&[]).is_empty());
    }

    #[test]
    fn groups_slices_into_access_units() {
        let nals: [&[u8]; 9] = [
            &[0x09, 0xf0],          // AUD: dropped
            &[0x67, 0x64, 0, 0x28], // SPS
            &[0x68, 0xee],          // PPS
            &[0x06, 0x05, 1],       // SEI: dropped
            &[0x65, 0x88, 1],       // IDR, first_mb_in_slice 0
            &[0x65, 0x40, 2],       // IDR, second slice of the same picture
            &[0x41, 0x9a, 3],       // P
            &[0x67, 0x64, 0, 0x28], // repeated SPS: not kept
            &[0x41, 0x9b, 4],       // P
        ];
        let stream: Vec<u8> = nals
            .iter()
            .flat_map(|n| [0u8, 0, 1].iter().chain(*n))
            .copied()
            .collect();
        let sample = Sample::from_annex_b(&stream, 16, 16, 25).unwrap();
        assert_eq!(
            sample.config,
            [0, 0, 0, 1, 0x67, 0x64, 0, 0x28, 0, 0, 0, 1, 0x68, 0xee]
        );
        assert_eq!(sample.units.len(), 3);
        assert_eq!(
            sample.units[0].data,
            [0, 0, 0, 1, 0x65, 0x88, 1, 0, 0, 0, 1, 0x65, 0x40, 2]
        );
        assert_eq!(
            sample.units.iter().map(|u| u.key).collect::<Vec<_>>(),
            [true, false, false]
        );
        assert_eq!(sample.codec().as_deref(), Some("avc1.640028"));
        assert_eq!(sample.frame_interval(), Duration::from_millis(40));
    }

    #[test]
    fn refuses_a_stream_without_config_or_key_frame() {
        let no_config = [0, 0, 1, 0x65, 0x88];
        assert!(Sample::from_annex_b(&no_config, 16, 16, 25).is_err());
        let no_key = [0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x41, 0x9a];
        assert!(Sample::from_annex_b(&no_key, 16, 16, 25).is_err());
    }

    #[test]
    fn the_dummy_picture_parses() {
        let dummy = Sample::dummy();
        assert_eq!((dummy.width, dummy.height, dummy.fps), (64, 48, 10));
        assert_eq!(dummy.units.len(), 6);
        assert_eq!(
            dummy.units.iter().map(|u| u.key).collect::<Vec<_>>(),
            [true, false, false, true, false, false]
        );
        assert_eq!(dummy.codec().as_deref(), Some("avc1.42c00a"));
    }
}
