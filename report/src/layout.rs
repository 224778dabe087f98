//! Placing the blocks on A4 pages: text shaped with the embedded fonts
//! (rustybuzz, the shaper krilla itself uses), wrapped at spaces by the
//! glyphs' real advances, and cut into pages. The glyphs measured are the
//! glyphs drawn (`pdf` draws each [`Line`]'s own), so a line never
//! overruns its column.

use krilla::text::{GlyphId, KrillaGlyph};
use rustybuzz::{Direction, Face, UnicodeBuffer};

use crate::Error;
use crate::content::Block;

/// The regular face: DejaVu Sans (fonts/LICENSE-DejaVu.txt).
pub static REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
/// The bold face: DejaVu Sans Bold.
pub static BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// A4 in PDF points.
pub const PAGE_WIDTH: f32 = 595.28;
pub const PAGE_HEIGHT: f32 = 841.89;
/// 2 cm left and right.
pub const MARGIN_X: f32 = 56.7;
const TOP: f32 = 56.7;
/// Room kept at the foot of each page for its footer.
const BOTTOM: f32 = 64.0;
/// Where the footer's baseline is.
pub const FOOTER_BASELINE: f32 = PAGE_HEIGHT - 32.0;
pub const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN_X;
/// The label column of a [`Block::Field`].
const LABEL_WIDTH: f32 = 150.0;
const BULLET_INDENT: f32 = 14.0;

const BODY: f32 = 10.0;
const BODY_LEADING: f32 = 14.0;
const SMALL: f32 = 8.5;
const SMALL_LEADING: f32 = 12.0;
const DIGEST: f32 = 8.0;

/// Which face a line is set in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Regular,
    Bold,
}

/// The colour of a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ink {
    Black,
    /// Secondary text: notes, the subtitle, the footer.
    Grey,
    /// Headings.
    Accent,
}

/// One line of text, shaped and placed.
#[derive(Clone, Debug)]
pub struct Line {
    pub x: f32,
    /// The baseline, from the top of the page.
    pub y: f32,
    pub style: Style,
    pub ink: Ink,
    pub size: f32,
    pub run: Run,
}

/// Something drawn on a page.
#[derive(Clone, Debug)]
pub enum Item {
    Text(Line),
    /// A thin horizontal rule across the text width, at this height.
    Rule(f32),
}

/// A shaped piece of text: its glyphs (ranges into `text`) and width at
/// the size it was shaped for.
#[derive(Clone, Debug)]
pub struct Run {
    pub text: String,
    pub glyphs: Vec<KrillaGlyph>,
    pub width: f32,
}

/// The two faces, parsed for shaping.
pub struct Shaper {
    regular: Face<'static>,
    bold: Face<'static>,
}

impl std::fmt::Debug for Shaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shaper")
    }
}

/// One shaped glyph: id, the byte where its cluster starts and ends, and
/// its advance and offsets in ems.
#[derive(Clone, Copy, Debug)]
struct Shaped {
    id: u32,
    cluster: usize,
    end: usize,
    advance: f32,
    x_offset: f32,
    y_offset: f32,
}

impl Shaper {
    pub fn new() -> Result<Shaper, Error> {
        Ok(Shaper {
            regular: Face::from_slice(REGULAR, 0).ok_or(Error::Font("DejaVuSans.ttf"))?,
            bold: Face::from_slice(BOLD, 0).ok_or(Error::Font("DejaVuSans-Bold.ttf"))?,
        })
    }

    fn face(&self, style: Style) -> &Face<'static> {
        match style {
            Style::Regular => &self.regular,
            Style::Bold => &self.bold,
        }
    }

    /// `text` shaped left to right, one line.
    fn shape(&self, style: Style, text: &str) -> Vec<Shaped> {
        let face = self.face(style);
        let upem = face.units_per_em() as f32;
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(text);
        buffer.set_direction(Direction::LeftToRight);
        buffer.guess_segment_properties();
        let out = rustybuzz::shape(face, &[], buffer);
        let infos = out.glyph_infos();
        let positions = out.glyph_positions();
        let mut glyphs: Vec<Shaped> = infos
            .iter()
            .zip(positions)
            .map(|(info, pos)| Shaped {
                id: info.glyph_id,
                cluster: info.cluster as usize,
                end: text.len(),
                advance: pos.x_advance as f32 / upem,
                x_offset: pos.x_offset as f32 / upem,
                y_offset: pos.y_offset as f32 / upem,
            })
            .collect();
        // A glyph's cluster ends where the next cluster starts (left to
        // right, clusters never go down); glyphs of one cluster share it.
        let mut end = text.len();
        let mut next: Option<usize> = None;
        for g in glyphs.iter_mut().rev() {
            if let Some(c) = next
                && c > g.cluster
            {
                end = c;
            }
            g.end = end;
            next = Some(g.cluster);
        }
        glyphs
    }

    /// The width of `text` on one line at `size`.
    #[cfg(test)]
    pub fn width(&self, style: Style, size: f32, text: &str) -> f32 {
        self.shape(style, text)
            .iter()
            .map(|g| g.advance)
            .sum::<f32>()
            * size
    }

    /// `text` on one line at `size`, however long.
    pub fn run(&self, style: Style, size: f32, text: &str) -> Run {
        let text = clean(text);
        let shaped = self.shape(style, &text);
        make_run(&text, &shaped, size)
    }

    /// `text` wrapped into lines no wider than `max` at `size`: broken at
    /// spaces, and inside a word only when the word alone is wider than
    /// the line. An empty text gives one empty line.
    pub fn wrap(&self, style: Style, size: f32, text: &str, max: f32) -> Vec<Run> {
        let text = clean(text);
        let shaped = self.shape(style, &text);
        let is_space = |g: &Shaped| text[g.cluster..g.end].chars().all(char::is_whitespace);
        let n = shaped.len();
        let mut lines = Vec::new();
        let mut i = 0;
        while i < n {
            while i < n && is_space(&shaped[i]) {
                i += 1;
            }
            if i == n {
                break;
            }
            let start = i;
            let mut width = 0.0;
            let mut last_space = None;
            let mut end = n;
            let mut j = start;
            while j < n {
                let advance = shaped[j].advance * size;
                if is_space(&shaped[j]) {
                    last_space = Some(j);
                } else if width + advance > max && j > start {
                    end = match last_space {
                        Some(space) => space,
                        None => {
                            // A word wider than the line: cut it, never
                            // inside a cluster.
                            let mut cut = j;
                            while cut > start + 1 && shaped[cut].cluster == shaped[cut - 1].cluster
                            {
                                cut -= 1;
                            }
                            cut
                        }
                    };
                    break;
                }
                width += advance;
                j += 1;
            }
            let mut last = end;
            while last > start && is_space(&shaped[last - 1]) {
                last -= 1;
            }
            lines.push(make_run(&text, &shaped[start..last], size));
            i = end;
        }
        if lines.is_empty() {
            lines.push(Run {
                text: String::new(),
                glyphs: Vec::new(),
                width: 0.0,
            });
        }
        lines
    }
}

/// The run of `glyphs` (a slice of `text`'s shaping), its text and glyph
/// ranges rebased to the slice it covers.
fn make_run(text: &str, glyphs: &[Shaped], size: f32) -> Run {
    let (Some(first), Some(last)) = (glyphs.first(), glyphs.last()) else {
        return Run {
            text: String::new(),
            glyphs: Vec::new(),
            width: 0.0,
        };
    };
    let from = first.cluster;
    let to = last.end.max(from);
    Run {
        text: text[from..to].to_string(),
        glyphs: glyphs
            .iter()
            .map(|g| {
                KrillaGlyph::new(
                    GlyphId::new(g.id),
                    g.advance,
                    g.x_offset,
                    g.y_offset,
                    0.0,
                    (g.cluster - from)..(g.end.max(g.cluster) - from),
                    None,
                )
            })
            .collect(),
        width: glyphs.iter().map(|g| g.advance).sum::<f32>() * size,
    }
}

/// Tabs as spaces; other control characters dropped (a line is one line).
fn clean(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// The pages, each a list of what is drawn on it.
#[derive(Debug)]
pub struct Pages {
    pub pages: Vec<Vec<Item>>,
}

/// Lays `blocks` out on A4 pages.
pub fn lay_out(shaper: &Shaper, blocks: &[Block]) -> Pages {
    let mut c = Cursor {
        shaper,
        pages: vec![Vec::new()],
        y: TOP,
    };
    for block in blocks {
        c.block(block);
    }
    Pages { pages: c.pages }
}

struct Cursor<'a> {
    shaper: &'a Shaper,
    pages: Vec<Vec<Item>>,
    /// The top of the next line on the current page.
    y: f32,
}

impl Cursor<'_> {
    fn page(&mut self) -> &mut Vec<Item> {
        self.pages.last_mut().expect("there is always a page")
    }

    /// Starts a new page unless `height` more fits on this one.
    fn need(&mut self, height: f32) {
        if self.y + height > PAGE_HEIGHT - BOTTOM && self.y > TOP {
            self.pages.push(Vec::new());
            self.y = TOP;
        }
    }

    /// Places one line whose box is `leading` high, baseline at 78 % of it.
    fn line(&mut self, x: f32, run: Run, style: Style, ink: Ink, size: f32, leading: f32) {
        let y = self.y + leading * 0.78;
        self.page().push(Item::Text(Line {
            x,
            y,
            style,
            ink,
            size,
            run,
        }));
    }

    /// Wrapped text at `x`, `width` wide, line by line across pages.
    fn text(
        &mut self,
        x: f32,
        width: f32,
        text: &str,
        (style, ink, size, leading): (Style, Ink, f32, f32),
    ) {
        for run in self.shaper.wrap(style, size, text, width) {
            self.need(leading);
            self.line(x, run, style, ink, size, leading);
            self.y += leading;
        }
    }

    fn block(&mut self, block: &Block) {
        let body = (Style::Regular, Ink::Black, BODY, BODY_LEADING);
        let small = (Style::Regular, Ink::Grey, SMALL, SMALL_LEADING);
        match block {
            Block::Title(t) => {
                self.text(
                    MARGIN_X,
                    CONTENT_WIDTH,
                    t,
                    (Style::Bold, Ink::Accent, 17.0, 24.0),
                );
            }
            Block::Subtitle(t) => {
                self.text(
                    MARGIN_X,
                    CONTENT_WIDTH,
                    t,
                    (Style::Regular, Ink::Grey, 10.5, 15.0),
                );
                self.y += 4.0;
                let y = self.y;
                self.page().push(Item::Rule(y));
                self.y += 8.0;
            }
            Block::Heading(t) => {
                self.y += 10.0;
                // A heading is never left alone at the foot of a page.
                self.need(18.0 + 2.0 * BODY_LEADING);
                self.text(
                    MARGIN_X,
                    CONTENT_WIDTH,
                    t,
                    (Style::Bold, Ink::Accent, 12.5, 18.0),
                );
                self.y += 2.0;
            }
            Block::Field { label, value } => {
                let labels = self
                    .shaper
                    .wrap(Style::Bold, BODY, label, LABEL_WIDTH - 8.0);
                let values = if value.is_empty() {
                    Vec::new()
                } else {
                    self.shaper
                        .wrap(Style::Regular, BODY, value, CONTENT_WIDTH - LABEL_WIDTH)
                };
                let rows = labels.len().max(values.len());
                let mut labels = labels.into_iter();
                let mut values = values.into_iter();
                for _ in 0..rows {
                    self.need(BODY_LEADING);
                    if let Some(run) = labels.next() {
                        self.line(MARGIN_X, run, Style::Bold, Ink::Black, BODY, BODY_LEADING);
                    }
                    if let Some(run) = values.next() {
                        let x = MARGIN_X + LABEL_WIDTH;
                        self.line(x, run, Style::Regular, Ink::Black, BODY, BODY_LEADING);
                    }
                    self.y += BODY_LEADING;
                }
            }
            Block::Digest { label, hex } => {
                // Beside its label when both fit their columns, else on
                // the next line, across the page: a digest is never cut.
                let run = self.shaper.run(Style::Regular, DIGEST, hex);
                let label_run = self.shaper.run(Style::Bold, BODY, label);
                let beside = run.width <= CONTENT_WIDTH - LABEL_WIDTH
                    && label_run.width <= LABEL_WIDTH - 8.0;
                self.need(if beside { 1.0 } else { 2.0 } * BODY_LEADING);
                self.line(
                    MARGIN_X,
                    label_run,
                    Style::Bold,
                    Ink::Black,
                    BODY,
                    BODY_LEADING,
                );
                if !beside {
                    self.y += BODY_LEADING;
                }
                let x = if beside {
                    MARGIN_X + LABEL_WIDTH
                } else {
                    MARGIN_X
                };
                self.line(x, run, Style::Regular, Ink::Black, DIGEST, BODY_LEADING);
                self.y += BODY_LEADING;
            }
            Block::Paragraph(t) => {
                if t.trim().is_empty() {
                    self.y += BODY_LEADING / 2.0;
                } else {
                    self.text(MARGIN_X, CONTENT_WIDTH, t, body);
                    self.y += 3.0;
                }
            }
            Block::Item(t) => {
                let runs = self
                    .shaper
                    .wrap(Style::Regular, BODY, t, CONTENT_WIDTH - BULLET_INDENT);
                for (k, run) in runs.into_iter().enumerate() {
                    self.need(BODY_LEADING);
                    if k == 0 {
                        let bullet = self.shaper.run(Style::Regular, BODY, "•");
                        self.line(
                            MARGIN_X + 3.0,
                            bullet,
                            Style::Regular,
                            Ink::Black,
                            BODY,
                            BODY_LEADING,
                        );
                    }
                    let x = MARGIN_X + BULLET_INDENT;
                    self.line(x, run, Style::Regular, Ink::Black, BODY, BODY_LEADING);
                    self.y += BODY_LEADING;
                }
                self.y += 2.0;
            }
            Block::Note(t) => {
                self.text(MARGIN_X, CONTENT_WIDTH, t, small);
                self.y += 2.0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_their_width_and_keep_every_word() {
        let s = Shaper::new().unwrap();
        let text = "Éléments cliniques : œdème à la cheville, fièvre modérée ; « suivi » \
                    proposé à J+7 avec contrôle de la tension artérielle et du poids.";
        let lines = s.wrap(Style::Regular, 10.0, text, 150.0);
        assert!(lines.len() > 2, "{} lines", lines.len());
        for l in &lines {
            assert!(l.width <= 150.0 + 0.01, "{:?} is {} wide", l.text, l.width);
            // Measured with the font: the width is the line's own.
            let measured = s.width(Style::Regular, 10.0, &l.text);
            assert!(
                (measured - l.width).abs() < 0.5,
                "{measured} vs {}",
                l.width
            );
        }
        let joined: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(joined.join(" "), text);
    }

    #[test]
    fn a_word_wider_than_the_line_is_cut_without_loss() {
        let s = Shaper::new().unwrap();
        let word = "a".repeat(200);
        let lines = s.wrap(Style::Regular, 10.0, &word, 100.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.width <= 100.01));
        let joined: String = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(joined, word);
    }

    #[test]
    fn wide_letters_take_more_room_than_narrow_ones() {
        let s = Shaper::new().unwrap();
        let narrow = s.width(Style::Regular, 10.0, "iiiiiiiiii");
        let wide = s.width(Style::Regular, 10.0, "WWWWWWWWWW");
        assert!(wide > 2.5 * narrow, "{wide} vs {narrow}");
        assert!(s.width(Style::Bold, 10.0, "Compte") > s.width(Style::Regular, 10.0, "Compte"));
    }

    #[test]
    fn glyph_ranges_point_into_the_line() {
        let s = Shaper::new().unwrap();
        let run = s.run(Style::Regular, 10.0, "œuvre « é »");
        for g in &run.glyphs {
            assert!(g.text_range.end <= run.text.len());
            assert!(run.text.is_char_boundary(g.text_range.start));
        }
    }
}
