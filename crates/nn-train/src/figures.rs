//! Figures as PNG files: loss curves, image grids (filters, samples,
//! reconstructions) and heat maps (attention weights).
//!
//! The figures carry no text — titles and legends go in the program's
//! printed output — so the crate needs no font. Series colours follow a
//! fixed palette, in order: blue, orange, green, red, purple, brown.

use std::io;
use std::path::Path;

use nn_tensor::{Element, Tensor};

const PALETTE: [[u8; 3]; 6] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
];

/// An RGB canvas.
struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize, bg: u8) -> Self {
        Canvas {
            w,
            h,
            px: vec![bg; w * h * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            let i = (y as usize * self.w + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    /// A line from (x0, y0) to (x1, y1), two pixels thick (Bresenham).
    fn line(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: [u8; 3]) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(x, y, c);
            self.set(x, y + 1, c);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn save(&self, path: &Path) -> io::Result<()> {
        let mut bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut bytes, self.w as u32, self.h as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().map_err(io::Error::other)?;
            wr.write_image_data(&self.px).map_err(io::Error::other)?;
        }
        crate::atomic_write(path, &bytes)
    }
}

/// Draws curves (e.g. training and validation loss per epoch) on shared
/// axes and saves them as a PNG. Non-finite values are skipped.
///
/// ```
/// let dir = std::env::temp_dir();
/// nn_train::figures::save_line_chart(dir.join("loss.png"), &[&[1.0, 0.5, 0.3], &[1.1, 0.7, 0.6]]).unwrap();
/// ```
pub fn save_line_chart(path: impl AsRef<Path>, series: &[&[f64]]) -> io::Result<()> {
    let (w, h, m) = (640usize, 400usize, 30i64);
    let mut c = Canvas::new(w, h, 255);
    let finite = series
        .iter()
        .flat_map(|s| s.iter().copied())
        .filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (lo.min(0.0), lo.max(0.0) + 1.0)
    };
    let n = series.iter().map(|s| s.len()).max().unwrap_or(0).max(2);
    let (pw, ph) = (w as i64 - 2 * m, h as i64 - 2 * m);
    let gray = [120, 120, 120];
    c.line(m, m, m, m + ph, gray);
    c.line(m, m + ph, m + pw, m + ph, gray);
    for (k, s) in series.iter().enumerate() {
        let col = PALETTE[k % PALETTE.len()];
        let pt = |i: usize, v: f64| {
            (
                m + (i as f64 / (n - 1) as f64 * pw as f64) as i64,
                m + ((hi - v) / (hi - lo) * ph as f64) as i64,
            )
        };
        let mut prev: Option<(i64, i64)> = None;
        for (i, &v) in s.iter().enumerate() {
            if !v.is_finite() {
                prev = None;
                continue;
            }
            let p = pt(i, v);
            if let Some(q) = prev {
                c.line(q.0, q.1, p.0, p.1, col);
            } else {
                c.set(p.0, p.1, col);
            }
            prev = Some(p);
        }
    }
    c.save(path.as_ref())
}

/// Saves images as a grid: `images` is `[count, height, width]` (grey) or
/// `[count, 1, height, width]`; each image is scaled to its own min–max
/// range (so learned filters of any scale are visible), enlarged `scale`
/// times, and laid out `cols` per row with a 1-pixel gap.
pub fn save_image_grid<T: Element>(
    path: impl AsRef<Path>,
    images: &Tensor<T>,
    cols: usize,
    scale: usize,
) -> io::Result<()> {
    let s = images.shape();
    let (count, ih, iw) = match s.len() {
        3 => (s[0], s[1], s[2]),
        4 if s[1] == 1 => (s[0], s[2], s[3]),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("save_image_grid: images of shape {s:?} must be [n, h, w] or [n, 1, h, w]"),
            ))
        }
    };
    let (cols, scale) = (cols.max(1), scale.max(1));
    let rows = count.div_ceil(cols).max(1);
    let (cw, ch) = (iw * scale + 1, ih * scale + 1);
    let mut c = Canvas::new(cols * cw + 1, rows * ch + 1, 64);
    let data = images.to_f64_vec();
    for k in 0..count {
        let img = &data[k * ih * iw..(k + 1) * ih * iw];
        let (lo, hi) = img
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let span = if hi > lo { hi - lo } else { 1.0 };
        let (ox, oy) = ((k % cols) * cw + 1, (k / cols) * ch + 1);
        for y in 0..ih * scale {
            for x in 0..iw * scale {
                let v = ((img[(y / scale) * iw + x / scale] - lo) / span * 255.0).clamp(0.0, 255.0)
                    as u8;
                c.set((ox + x) as i64, (oy + y) as i64, [v, v, v]);
            }
        }
    }
    c.save(path.as_ref())
}

/// Saves a matrix (e.g. attention weights `[queries, keys]`) as a heat map,
/// white for the smallest value and dark blue for the largest, each cell
/// `scale` pixels wide.
pub fn save_heatmap<T: Element>(
    path: impl AsRef<Path>,
    matrix: &Tensor<T>,
    scale: usize,
) -> io::Result<()> {
    if matrix.ndim() != 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "save_heatmap: matrix of shape {:?} must be 2-d",
                matrix.shape()
            ),
        ));
    }
    let (r, k) = (matrix.shape()[0], matrix.shape()[1]);
    let scale = scale.max(1);
    let mut c = Canvas::new(k * scale, r * scale, 255);
    let v = matrix.to_f64_vec();
    let (lo, hi) = v
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    for i in 0..r {
        for j in 0..k {
            let t = ((v[i * k + j] - lo) / span).clamp(0.0, 1.0);
            let col = [
                (255.0 * (1.0 - t) + 8.0 * t) as u8,
                (255.0 * (1.0 - t) + 48.0 * t) as u8,
                (255.0 * (1.0 - t) + 107.0 * t) as u8,
            ];
            for y in 0..scale {
                for x in 0..scale {
                    c.set((j * scale + x) as i64, (i * scale + y) as i64, col);
                }
            }
        }
    }
    c.save(path.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_valid_pngs() {
        let dir = std::env::temp_dir().join(format!("nn-figures-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        save_line_chart(dir.join("a.png"), &[&[3.0, 2.0, f64::NAN, 1.0], &[2.5]]).unwrap();
        let imgs = Tensor::<f32>::from_vec((0..2 * 3 * 4).map(|i| i as f32).collect(), &[2, 3, 4]);
        save_image_grid(dir.join("b.png"), &imgs, 2, 3).unwrap();
        save_heatmap(dir.join("c.png"), &Tensor::<f64>::eye(4), 5).unwrap();
        for f in ["a.png", "b.png", "c.png"] {
            let bytes = std::fs::read(dir.join(f)).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{f}");
        }
        assert!(save_image_grid(dir.join("d.png"), &Tensor::<f32>::zeros(&[2, 2]), 1, 1).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
