//! The ADB host protocol's framing (`OVERVIEW.TXT`, `SERVICES.TXT`; mirror-spec §1.1-§1.2): a
//! request is 4 hex digits of length then the text; a reply is `OKAY` or `FAIL` + a hex-length
//! message, some followed by one hex-length string; and the device list lines of
//! `host:devices(-l)` and `host:track-devices(-l)` (`append_transport`, `transport.cpp`).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::FakeDevice;

/// Reads one request. `None` when the peer closed before sending any byte of it.
pub(super) async fn read_request<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Option<String>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        got += n;
    }
    let len = std::str::from_utf8(&len)
        .ok()
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad request length"))?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(Some(String::from_utf8_lossy(&body).into_owned()))
}

/// `text` after its length in 4 lowercase hex digits (cut at 0xffff bytes).
pub(super) fn hex_string(text: &str) -> Vec<u8> {
    let body = &text.as_bytes()[..text.len().min(0xffff)];
    let mut out = format!("{:04x}", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// `OKAY` followed by the length-prefixed `text` (`SendOkay(fd, s)`).
pub(super) fn okay_string(text: &str) -> Vec<u8> {
    let mut out = b"OKAY".to_vec();
    out.extend(hex_string(text));
    out
}

/// `FAIL` followed by the length-prefixed `message`.
pub(super) fn fail(message: &str) -> Vec<u8> {
    let mut out = b"FAIL".to_vec();
    out.extend(hex_string(message));
    out
}

/// Writes `FAIL` + `message`.
pub(super) async fn write_fail<W: AsyncWrite + Unpin>(w: &mut W, message: &str) -> io::Result<()> {
    w.write_all(&fail(message)).await
}

/// One device line: `<serial>\t<state>\n`, or with `long`,
/// `<serial padded to 22> <state> product:… model:… device:… transport_id:<n>\n` (product, model
/// and device only once the device is authorized, as real adb learns them from its banner).
pub(super) fn device_line(device: &FakeDevice, transport_id: u64, long: bool) -> String {
    if !long {
        return format!("{}\t{}\n", device.serial, device.state);
    }
    let mut line = format!("{:<22} {}", device.serial, device.state);
    if device.state == "device" {
        for (key, value) in [
            ("product", device.product.clone()),
            ("model", sanitize(&device.model)),
            ("device", device.device.clone()),
        ] {
            if !value.is_empty() {
                line.push_str(&format!(" {key}:{value}"));
            }
        }
    }
    line.push_str(&format!(" transport_id:{transport_id}\n"));
    line
}

/// What adb does to the model it lists: every character but `[A-Za-z0-9_]` becomes `_`.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Parses an unsigned number as C's `strtoul(s, nullptr, 0)` does: `0x` hex, leading `0` octal,
/// else decimal (adbd reads the mode of `SEND` so).
pub(super) fn parse_c_number(text: &str) -> Option<u32> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if text.len() > 1 && text.starts_with('0') {
        u32::from_str_radix(&text[1..], 8).ok()
    } else {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_device_lines_like_adb() {
        let quest = FakeDevice::quest3("192.168.1.50:5555");
        assert_eq!(
            device_line(&quest, 3, true),
            "192.168.1.50:5555      device product:eureka model:Quest_3 device:eureka transport_id:3\n"
        );
        assert_eq!(device_line(&quest, 3, false), "192.168.1.50:5555\tdevice\n");
        let locked = quest.with_state("unauthorized");
        assert_eq!(
            device_line(&locked, 4, true),
            "192.168.1.50:5555      unauthorized transport_id:4\n"
        );
        assert_eq!(sanitize("Quest 3S"), "Quest_3S");
    }

    #[test]
    fn parses_numbers_like_strtoul() {
        assert_eq!(parse_c_number("33188"), Some(33188));
        assert_eq!(parse_c_number("0644"), Some(0o644));
        assert_eq!(parse_c_number("0x1a4"), Some(0x1a4));
        assert_eq!(parse_c_number("0"), Some(0));
        assert_eq!(parse_c_number("x"), None);
    }

    #[test]
    fn prefixes_strings_with_their_hex_length() {
        assert_eq!(okay_string("0029"), b"OKAY00040029");
        assert_eq!(fail("closed"), b"FAIL0006closed");
        assert_eq!(hex_string(""), b"0000");
    }
}
