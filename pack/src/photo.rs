//! Checking the photograph before it goes into the PDF.
//!
//! Only JPEG and PNG are accepted (what phone cameras and the app produce), at most
//! [`MAX_PHOTO_BYTES`] and [`MAX_PHOTO_PIXELS`]: the pixel limit bounds the memory a PNG
//! takes to decode on a phone (a small file can declare a huge image).

use krilla::image::Image;

use crate::error::{PackError, Result};

/// The largest photo accepted, in bytes (8 MiB).
pub const MAX_PHOTO_BYTES: usize = 8 * 1024 * 1024;

/// The largest photo accepted, in pixels (40 megapixels).
pub const MAX_PHOTO_PIXELS: u64 = 40_000_000;

const FIELD: &str = "photo";

/// Validates the photo's bytes and prepares it for krilla.
pub(crate) fn load(bytes: &[u8]) -> Result<Image> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PackError::invalid(
            FIELD,
            format!(
                "{} bytes is over the limit of {MAX_PHOTO_BYTES} bytes",
                bytes.len()
            ),
        ));
    }
    let data = bytes.to_vec();
    let image = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Image::from_jpeg(data.into(), true)
    } else if bytes.starts_with(PNG_SIGNATURE) {
        // The PNG reader allocates for the declared size before anything else: check it first.
        let (w, h) = png_size(bytes)
            .ok_or_else(|| PackError::invalid(FIELD, "the PNG has no valid header"))?;
        check_pixels(w, h)?;
        Image::from_png(data.into(), true)
    } else {
        return Err(PackError::invalid(FIELD, "not a JPEG or PNG image"));
    }
    .map_err(|_| PackError::invalid(FIELD, "the image data could not be read"))?;
    let (w, h) = image.size();
    if w == 0 || h == 0 {
        return Err(PackError::invalid(FIELD, "the image has no pixels"));
    }
    check_pixels(w, h)?;
    Ok(image)
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn check_pixels(w: u32, h: u32) -> Result<()> {
    if u64::from(w) * u64::from(h) > MAX_PHOTO_PIXELS {
        return Err(PackError::invalid(
            FIELD,
            format!("{w}x{h} pixels is over the limit of {MAX_PHOTO_PIXELS} pixels"),
        ));
    }
    Ok(())
}

/// Width and height from a PNG's first chunk, which must be IHDR.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let ihdr = bytes.get(8..24)?;
    if &ihdr[4..8] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| b.try_into().ok().map(u32::from_be_bytes);
    Some((be(&ihdr[8..12])?, be(&ihdr[12..16])?))
}
