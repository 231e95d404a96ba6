//! What a browser's video decoder needs to know of an H.264 stream, read from its sequence
//! parameter set (SPS): the codec string (`avc1.PPCCLL`: profile, constraint flags, level) and
//! the picture's size once cropped. The size comes from the stream itself, so a rotated headset or a
//! Quest that reports a portrait picture is shown with the right aspect ratio.

/// The codec string and the picture's size of an SPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamInfo {
    /// `avc1.PPCCLL`, as WebCodecs wants it.
    pub codec: String,
    /// Width in pixels, after cropping.
    pub width: u32,
    /// Height in pixels, after cropping.
    pub height: u32,
}

/// The NAL units of an Annex B byte string (start codes removed).
pub(crate) fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // The next start code, with its leading zero of a four-byte code.
            let mut e = s - 3;
            while e > 0 && data[e - 1] == 0 {
                e -= 1;
            }
            e
        })
        .chain(std::iter::once(data.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .filter(|(s, e)| s < e)
        .map(move |(s, e)| &data[s..e])
}

/// The stream information of the first SPS in an Annex B configuration packet.
pub(crate) fn stream_info(config: &[u8]) -> Option<StreamInfo> {
    let sps = nal_units(config).find(|n| n.first().is_some_and(|b| b & 0x1f == 7))?;
    if sps.len() < 4 {
        return None;
    }
    let codec = format!("avc1.{:02x}{:02x}{:02x}", sps[1], sps[2], sps[3]);
    let (width, height) = picture_size(&unescape(&sps[1..]))?;
    Some(StreamInfo {
        codec,
        width,
        height,
    })
}

/// The RBSP of a NAL unit: `00 00 03` emulation-prevention bytes removed.
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Reads bits, most significant first, and Exp-Golomb codes.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.at / 8)?;
        let bit = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i32> {
        let k = self.ue()?;
        let magnitude = i32::try_from(k.div_ceil(2)).ok()?;
        Some(if k % 2 == 1 { magnitude } else { -magnitude })
    }
}

/// Width and height of an SPS's RBSP (profile byte first).
fn picture_size(rbsp: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits { data: rbsp, at: 0 };
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format = 1;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_format = r.ue()?;
        if chroma_format == 3 {
            r.bit()?; // separate_colour_plane_flag
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? == 1 {
            let lists = if chroma_format == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? == 1 {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()?.min(255) {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let width_mbs = r.ue()? + 1;
    let height_units = r.ue()? + 1;
    let frame_mbs_only = r.bit()?;
    if frame_mbs_only == 0 {
        r.bit()?; // mb_adaptive_frame_field_flag
    }
    r.bit()?; // direct_8x8_inference_flag
    let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
    if r.bit()? == 1 {
        (left, right, top, bottom) = (r.ue()?, r.ue()?, r.ue()?, r.ue()?);
    }
    let (unit_x, unit_y) = match chroma_format {
        0 | 3 => (1, 2 - frame_mbs_only),
        2 => (2, 2 - frame_mbs_only),
        _ => (2, 2 * (2 - frame_mbs_only)),
    };
    let width = (width_mbs * 16).checked_sub(unit_x * (left + right))?;
    let height = ((2 - frame_mbs_only) * height_units * 16).checked_sub(unit_y * (top + bottom))?;
    (width > 0 && height > 0).then_some((width, height))
}

fn skip_scaling_list(r: &mut Bits<'_>, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sps_gives_the_codec_and_the_cropped_size() {
        // From Debian's ffmpeg (x264): baseline 320×240, then high profile 1000×562 (cropped from
        // 1008×576 macroblocks).
        let baseline = [
            0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00,
            0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80, 0, 0, 0, 1,
            0x68, 0xcb, 0x83, 0xcb, 0x20,
        ];
        let info = stream_info(&baseline).expect("an SPS");
        assert_eq!(info.codec, "avc1.42c00d");
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(nal_units(&baseline).count(), 2);
        let high = [
            0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xb2, 0x01, 0xf8, 0x24, 0xf2, 0xc4, 0x60,
            0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x78, 0x1e, 0x30, 0x64,
            0x90,
        ];
        let info = stream_info(&high).expect("an SPS");
        assert_eq!(info.codec, "avc1.64001f");
        assert_eq!((info.width, info.height), (1000, 562));
        assert!(stream_info(&[0, 0, 1, 0x68, 1, 2]).is_none());
        assert!(stream_info(&[0, 0, 1, 0x67]).is_none());
    }

    #[test]
    fn exp_golomb_codes() {
        // 1 → 0; 010 → 1; 011 → 2; 00100 → 3.
        let mut r = Bits {
            data: &[0b1010_0110, 0b0100_0000],
            at: 0,
        };
        assert_eq!(r.ue(), Some(0));
        assert_eq!(r.ue(), Some(1));
        assert_eq!(r.ue(), Some(2));
        assert_eq!(r.ue(), Some(3));
        let mut s = Bits {
            data: &[0b0100_1100],
            at: 0,
        };
        assert_eq!(s.se(), Some(1));
        assert_eq!(s.se(), Some(-1));
        assert_eq!(unescape(&[0, 0, 3, 1, 0, 0, 3]), vec![0, 0, 1, 0, 0]);
    }
}
