//! Drawing the laid-out pages with krilla: each line's own glyphs in its
//! face (krilla subsets and embeds both), the rules, and on every page a
//! footer with « page N / M ». The document's metadata date is the
//! conclusion time, so the same act gives the same bytes.

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::Font;
use session::Timestamp;

use crate::Error;
use crate::clock::paris;
use crate::layout::{
    BOLD, CONTENT_WIDTH, FOOTER_BASELINE, Ink, Item, Line, MARGIN_X, PAGE_HEIGHT, PAGE_WIDTH,
    Pages, REGULAR, Shaper, Style,
};

/// What the document says of itself.
#[derive(Debug)]
pub struct Header<'a> {
    /// The document's title (its metadata, and the footer's left part).
    pub title: &'a str,
    /// Who made it: the platform's name.
    pub creator: &'a str,
    /// The document's date: the act's conclusion.
    pub date: Timestamp,
}

const FOOTER_SIZE: f32 = 8.0;

struct Faces {
    regular: Font,
    bold: Font,
}

impl Faces {
    fn of(&self, style: Style) -> Font {
        match style {
            Style::Regular => self.regular.clone(),
            Style::Bold => self.bold.clone(),
        }
    }
}

fn fill(ink: Ink) -> Fill {
    let color = match ink {
        Ink::Black => rgb::Color::new(0x1a, 0x1a, 0x1a),
        Ink::Grey => rgb::Color::new(0x55, 0x55, 0x55),
        Ink::Accent => rgb::Color::new(0x0b, 0x3d, 0x6e),
    };
    Fill {
        paint: color.into(),
        ..Fill::default()
    }
}

fn draw_line(surface: &mut Surface<'_>, faces: &Faces, line: &Line) {
    if line.run.glyphs.is_empty() {
        return;
    }
    surface.set_fill(Some(fill(line.ink)));
    surface.draw_glyphs(
        Point::from_xy(line.x, line.y),
        &line.run.glyphs,
        faces.of(line.style),
        &line.run.text,
        line.size,
        false,
    );
}

fn draw_rule(surface: &mut Surface<'_>, y: f32) {
    let mut pb = PathBuilder::new();
    pb.move_to(MARGIN_X, y);
    pb.line_to(MARGIN_X + CONTENT_WIDTH, y);
    if let Some(path) = pb.finish() {
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke {
            paint: rgb::Color::new(0x99, 0x99, 0x99).into(),
            width: 0.6,
            ..Stroke::default()
        }));
        surface.draw_path(&path);
        surface.set_stroke(None);
    }
}

/// The footer of page `n` of `total`: the title at the left (dropped if
/// it would meet the number), « page N / M » at the right.
fn footer(shaper: &Shaper, title: &str, n: usize, total: usize) -> Vec<Line> {
    let number = shaper.run(Style::Regular, FOOTER_SIZE, &format!("page {n} / {total}"));
    let mut lines = Vec::new();
    let left = shaper.run(Style::Regular, FOOTER_SIZE, title);
    if left.width + number.width + 12.0 <= CONTENT_WIDTH {
        lines.push(Line {
            x: MARGIN_X,
            y: FOOTER_BASELINE,
            style: Style::Regular,
            ink: Ink::Grey,
            size: FOOTER_SIZE,
            run: left,
        });
    }
    lines.push(Line {
        x: MARGIN_X + CONTENT_WIDTH - number.width,
        y: FOOTER_BASELINE,
        style: Style::Regular,
        ink: Ink::Grey,
        size: FOOTER_SIZE,
        run: number,
    });
    lines
}

/// The PDF metadata date of `at`, in Paris time with its offset.
fn pdf_date(at: Timestamp) -> Option<DateTime> {
    let p = paris(at)?;
    let t = p.local;
    Some(
        DateTime::new(u16::try_from(t.year()).ok()?)
            .month(u8::from(t.month()))
            .day(t.day())
            .hour(t.hour())
            .minute(t.minute())
            .second(t.second())
            .utc_offset_hour(p.offset_hours)
            .utc_offset_minute(0),
    )
}

/// The PDF of `pages`.
pub fn write(shaper: &Shaper, pages: &Pages, header: &Header<'_>) -> Result<Vec<u8>, Error> {
    let faces = Faces {
        regular: Font::new(REGULAR.into(), 0).ok_or(Error::Font("DejaVuSans.ttf"))?,
        bold: Font::new(BOLD.into(), 0).ok_or(Error::Font("DejaVuSans-Bold.ttf"))?,
    };
    let mut document = Document::new();
    let total = pages.pages.len();
    for (i, items) in pages.pages.iter().enumerate() {
        let settings =
            PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).expect("A4 is a valid page size");
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for item in items {
            match item {
                Item::Text(line) => draw_line(&mut surface, &faces, line),
                Item::Rule(y) => draw_rule(&mut surface, *y),
            }
        }
        for line in footer(shaper, header.title, i + 1, total) {
            draw_line(&mut surface, &faces, &line);
        }
        surface.finish();
        page.finish();
    }
    let mut metadata = Metadata::new()
        .title(header.title.to_string())
        .creator(header.creator.to_string())
        .language("fr-FR".into());
    if let Some(date) = pdf_date(header.date) {
        metadata = metadata.creation_date(date);
    }
    document.set_metadata(metadata);
    document.finish().map_err(Error::Pdf)
}
