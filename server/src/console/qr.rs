//! Enrolment codes as the app scans them: one link holding the server's address, its
//! certificate pin (the SPKI SHA-256 the app pins, as `casebook-server` prints it) and the
//! code, drawn as a QR code in SVG on the server.
//!
//! `casebook://enrol?server=<address>&pin=<hex>&code=<code>` (values percent-encoded; `pin`
//! absent when the server runs without TLS).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::error::{Error, Result};

fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The link a phone scans to enrol: server address, pin and code together.
pub fn enrol_link(server: &str, pin: Option<&str>, code: &str) -> String {
    let mut link = format!("casebook://enrol?server={}", encode(server));
    if let Some(pin) = pin {
        link.push_str("&pin=");
        link.push_str(&encode(pin));
    }
    link.push_str("&code=");
    link.push_str(&encode(code));
    link
}

/// `text` as a QR code in SVG (an `<svg>` element, to put inside a page).
pub fn qr_svg(text: &str) -> Result<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|e| Error::BadRequest(format!("cannot draw this QR code: {e}")))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Drop the XML declaration: the element goes inside an HTML page.
    let start = image.find("<svg").unwrap_or(0);
    Ok(image[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of the enrolment link\" ",
        1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_carries_server_pin_and_code() {
        let link = enrol_link("https://10.0.0.2:8443", Some("AB:CD"), "ABCDE-FGHJK");
        assert_eq!(
            link,
            "casebook://enrol?server=https%3A%2F%2F10.0.0.2%3A8443&pin=AB%3ACD&code=ABCDE-FGHJK"
        );
        let svg = qr_svg(&link).expect("svg");
        assert!(svg.starts_with("<svg role=\"img\""));
        assert!(svg.contains("<path"));
    }
}
