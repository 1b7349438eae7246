//! zstd for the device's side of HTTP: request bodies compressed above a threshold, answers
//! decompressed through a reader bounded by a limit, so a few kilobytes that claim gigabytes
//! (a zstd bomb) are refused after the limit, not allocated.

use std::io::Read;

use crate::error::{Error, Result};

/// Request bodies at least this large are sent zstd-compressed (`Content-Encoding: zstd`):
/// below it the saving is a few hundred bytes at most and a no-op request stays as it is.
pub const COMPRESS_REQUEST_ABOVE: usize = 8 * 1024;

/// zstd level for request bodies: the library's default, fast on a phone.
const LEVEL: i32 = 3;

/// The largest back-reference window a decoder accepts (2^24 = 16 MiB): larger windows are
/// refused rather than allocated. zstd's own encoders stay far below it at every level a
/// server uses for bodies this size.
const WINDOW_LOG_MAX: u32 = 24;

/// `body` compressed if it is at least [`COMPRESS_REQUEST_ABOVE`] bytes and compressing
/// makes it smaller; whether it was.
pub(crate) fn compress_if_large(body: Vec<u8>) -> (Vec<u8>, bool) {
    if body.len() < COMPRESS_REQUEST_ABOVE {
        return (body, false);
    }
    match zstd::bulk::compress(&body, LEVEL) {
        Ok(compressed) if compressed.len() < body.len() => (compressed, true),
        _ => (body, false),
    }
}

/// Decompress a zstd body into at most `limit` bytes; more is an error (nothing beyond
/// `limit + 1` bytes is ever produced).
pub fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(body)
        .map_err(|e| Error::Protocol(format!("zstd decoder: {e}")))?;
    decoder
        .window_log_max(WINDOW_LOG_MAX)
        .map_err(|e| Error::Protocol(format!("zstd decoder: {e}")))?;
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    decoder
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|_| Error::Protocol("the body is not valid zstd".into()))?;
    if out.len() > limit {
        return Err(Error::Protocol(format!(
            "the body decompresses past {limit} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bodies_stay_as_they_are_and_large_ones_round_trip() {
        let small = b"{\"v\":1,\"cursor\":3}".to_vec();
        assert_eq!(compress_if_large(small.clone()), (small, false));
        let large = b"the child said she felt safe ".repeat(1000);
        let (compressed, zstd) = compress_if_large(large.clone());
        assert!(zstd && compressed.len() < large.len() / 10);
        assert_eq!(decompress(&compressed, large.len()).expect("fits"), large);
    }

    #[test]
    fn a_zstd_bomb_is_refused_at_the_limit() {
        // 64 MiB of zeros compress to a few kilobytes.
        let bomb = zstd::bulk::compress(&vec![0u8; 64 * 1024 * 1024], 1).expect("compress");
        assert!(bomb.len() < 16 * 1024, "{}", bomb.len());
        let limit = 1024 * 1024;
        let error = decompress(&bomb, limit).expect_err("refused");
        assert!(error.to_string().contains("past 1048576 bytes"), "{error}");
        assert!(decompress(b"not zstd at all", limit).is_err());
    }
}
