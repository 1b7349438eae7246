//! Turning the composed pages into PDF bytes with krilla.

use krilla::Document;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;

use crate::compose::{PAGE_H, PAGE_W, Pages};
use crate::error::{PackError, Result};
use crate::fonts::Fonts;
use crate::layout::{Op, Rgb};

pub(crate) fn render(fonts: &Fonts, pages: &Pages, photo: Option<&Image>) -> Result<Vec<u8>> {
    let mut document = Document::new();
    // The title is generic on purpose: file managers and print queues show it.
    document.set_metadata(
        Metadata::new()
            .title("Police pack".to_owned())
            .creator("Casebook".to_owned()),
    );
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
        .ok_or_else(|| PackError::Pdf("bad page size".into()))?;
    for ops in pages {
        let mut page = document.start_page_with(settings.clone());
        let mut surface = page.surface();
        for op in ops {
            draw(&mut surface, fonts, op, photo);
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| match e {
        krilla::error::KrillaError::Image(..) | krilla::error::KrillaError::SixteenBitImage(..) => {
            PackError::invalid("photo", "the image data could not be decoded")
        }
        other => PackError::Pdf(other.to_string()),
    })
}

fn fill(color: Rgb) -> Fill {
    Fill {
        paint: krilla::color::rgb::Color::new(color.0, color.1, color.2).into(),
        ..Fill::default()
    }
}

fn draw(surface: &mut Surface<'_>, fonts: &Fonts, op: &Op, photo: Option<&Image>) {
    match op {
        Op::Text {
            x,
            baseline,
            style,
            run,
        } => {
            surface.set_fill(Some(fill(style.color)));
            surface.draw_glyphs(
                Point::from_xy(*x, *baseline),
                &run.glyphs,
                fonts.get(run.font).pdf.clone(),
                &run.text,
                style.size,
                false,
            );
        }
        Op::Rect { x, y, w, h, color } => {
            let mut path = PathBuilder::new();
            if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                path.push_rect(rect);
            }
            if let Some(path) = path.finish() {
                surface.set_fill(Some(fill(*color)));
                surface.draw_path(&path);
            }
        }
        Op::Photo { x, y, w, h } => {
            if let (Some(image), Some(size)) = (photo, Size::from_wh(*w, *h)) {
                surface.push_transform(&Transform::from_translate(*x, *y));
                surface.draw_image(image.clone(), size);
                surface.pop();
            }
        }
    }
}
