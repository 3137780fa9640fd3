//! Bytes to 8-bit RGB through the `image` crate, which picks the format by the magic bytes (a PNG under
//! any name works). On request, JPEG files are decoded scaled in the DCT domain (1/2, 1/4, 1/8 of each
//! side) when the scaled image still covers the crop at the output size, which skips most of the inverse
//! DCT and colour conversion; its decoder's slower entropy decoding cost more than that saved on the
//! benchmark's ImageNet-sized files, so it is not the default.

use super::transforms::{Crop, Rgb8};

thread_local! {
    /// A one-thread rayon pool per loader worker: `jpeg-decoder` splits an image's work over the current
    /// rayon pool, and would otherwise spawn threads for every image. The loader's workers are the
    /// parallelism. `None` if the thread could not be started (then every file is decoded full size).
    static SEQUENTIAL: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new().num_threads(1).build().ok();
}

/// How JPEG files are decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decoding {
    /// Full size (zune-jpeg, through the `image` crate): the faster on ImageNet-sized files in this
    /// repository's loader benchmark.
    #[default]
    Full,
    /// DCT-domain scaling (the `jpeg-decoder` crate) to the smallest of 1/8, 1/4 and 1/2 whose image
    /// still holds the crop at the output size or more in both directions; full size otherwise. It
    /// saves a little on photographs several times ImageNet's size. Its pixels differ slightly from a
    /// full decode resized afterwards (see the data module's docs).
    Scaled,
}

/// A decoded image, the crop to take from it (in its own pixels) and whether to mirror the result.
pub(crate) struct Prepared {
    pub image: Rgb8,
    pub crop: Crop,
    pub flip: bool,
}

/// Decodes `bytes`, choosing the crop from the full image size with `choose` (which sees the same
/// `width × height` whatever the decoding, so the crop does not depend on it), at output side `size`.
/// `choose` must be a pure function of the size: it may be called twice.
pub(crate) fn decode(
    bytes: &[u8],
    decoding: Decoding,
    size: u32,
    choose: &dyn Fn(u32, u32) -> (Crop, bool),
) -> Result<Prepared, String> {
    let jpeg = bytes.starts_with(&[0xFF, 0xD8]);
    if jpeg && !ends_its_last_scan(bytes) {
        return Err("truncated: no end-of-image marker after the last scan".into());
    }
    if decoding == Decoding::Scaled && jpeg {
        if let Some(prepared) = decode_scaled(bytes, size, choose) {
            return Ok(prepared);
        }
    }
    decode_full(bytes, choose)
}

/// Whether a JPEG file has its end-of-image marker after its last start-of-scan: both decoders fill a
/// truncated scan with grey without an error, while PIL (and so torchvision) refuses such a file.
/// Inside entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker, so neither
/// marker can appear there by chance.
fn ends_its_last_scan(bytes: &[u8]) -> bool {
    if bytes.ends_with(&[0xFF, 0xD9]) {
        return true;
    }
    let last = |marker: u8| bytes.windows(2).rposition(|w| w == [0xFF, marker]);
    matches!((last(0xDA), last(0xD9)), (Some(sos), Some(eoi)) if eoi > sos)
}

/// The whole image through the `image` crate.
fn decode_full(bytes: &[u8], choose: &dyn Fn(u32, u32) -> (Crop, bool)) -> Result<Prepared, String> {
    let image = image::load_from_memory(bytes).map_err(|e| e.to_string())?.into_rgb8();
    let (width, height) = image.dimensions();
    let (crop, flip) = choose(width, height);
    Ok(Prepared { image: Rgb8 { width, height, pixels: image.into_raw() }, crop, flip })
}

/// The smallest DCT scale (as a denominator: 8, 4 or 2) at which `crop` still spans `size` pixels or
/// more in both directions; 1 when none does.
pub(crate) fn scale_denominator(crop: Crop, size: u32) -> u32 {
    [8, 4, 2]
        .into_iter()
        .find(|&d| crop.width / d as f64 >= size as f64 && crop.height / d as f64 >= size as f64)
        .unwrap_or(1)
}

/// A scaled decode through `jpeg-decoder`, or `None` when the crop needs the full size or when
/// `jpeg-decoder` cannot decode the file (the full-size decoder then decides, and names any error).
/// `choose` is a pure function of the size, so calling it again for the full decode gives the same crop.
fn decode_scaled(bytes: &[u8], size: u32, choose: &dyn Fn(u32, u32) -> (Crop, bool)) -> Option<Prepared> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let (width, height) = (info.width as u32, info.height as u32);
    let (crop, flip) = choose(width, height);
    let d = scale_denominator(crop, size);
    if d == 1 {
        return None;
    }
    let (w, h) = decoder.scale(width.div_ceil(d) as u16, height.div_ceil(d) as u16).ok()?;
    let (w, h) = (w as u32, h as u32);
    let decoded = SEQUENTIAL.with(|pool| pool.as_ref().map(|pool| pool.install(|| decoder.decode())))?;
    let pixels = to_rgb(decoded.ok()?, info.pixel_format, (w * h) as usize)?;
    let crop = crop.scaled(w as f64 / width as f64, h as f64 / height as f64).within(w, h);
    Some(Prepared { image: Rgb8 { width: w, height: h, pixels }, crop, flip })
}

/// `jpeg-decoder`'s output as RGB: grey replicated, CMYK (already un-inverted by the decoder) converted
/// as PIL does (`R = (255 − C)(255 − K) / 255`); `None` for 16-bit samples or a size that does not
/// match.
fn to_rgb(pixels: Vec<u8>, format: jpeg_decoder::PixelFormat, n: usize) -> Option<Vec<u8>> {
    use jpeg_decoder::PixelFormat;
    if pixels.len() != n * format.pixel_bytes() {
        return None;
    }
    Some(match format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => pixels.iter().flat_map(|&v| [v, v, v]).collect(),
        PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let k = 255 - p[3] as u32;
                [0, 1, 2].map(|c| (((255 - p[c] as u32) * k + 127) / 255) as u8)
            })
            .collect(),
        PixelFormat::L16 => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_to_the_edge_stays_inside_the_scaled_image() {
        for width in 300..1200u32 {
            for d in [2, 4, 8] {
                let (w, h) = (width.div_ceil(d), (width + 7).div_ceil(d));
                let full = Crop { left: 3.0, top: 0.0, width: width as f64 - 3.0, height: (width + 7) as f64 };
                let c = full.scaled(w as f64 / width as f64, h as f64 / (width + 7) as f64).within(w, h);
                assert!(c.left + c.width <= w as f64 && c.top + c.height <= h as f64, "{width} / {d}: {c:?}");
                assert!(c.width > w as f64 - 4.0, "{width} / {d}: {c:?}");
            }
        }
    }

    #[test]
    fn the_scale_is_the_smallest_whose_crop_still_spans_the_output() {
        let crop = |width, height| Crop { left: 0.0, top: 0.0, width, height };
        assert_eq!(scale_denominator(crop(500.0, 375.0), 224), 1, "375 / 2 < 224");
        assert_eq!(scale_denominator(crop(500.0, 448.0), 224), 2);
        assert_eq!(scale_denominator(crop(1000.0, 900.0), 224), 4);
        assert_eq!(scale_denominator(crop(4000.0, 3000.0), 224), 8);
        assert_eq!(scale_denominator(crop(4000.0, 3000.0), 64), 8, "never below 1/8");
    }
}
