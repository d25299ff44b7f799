//! Pictures: a map with agents and goals as SVG or PNG, and a recorded episode as an animated
//! SVG (agents move cell to cell, as in POGEMA's animations).

use crate::grid::Xy;

/// Pixels per cell in PNG output.
const CELL_PX: usize = 16;

/// A distinct colour per agent (golden-angle hues).
fn agent_rgb(i: usize) -> [u8; 3] {
    let h = (i as f64 * 137.508) % 360.0;
    let (s, v) = (0.65, 0.85);
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [
        ((r + m) * 255.0) as u8,
        ((g + m) * 255.0) as u8,
        ((b + m) * 255.0) as u8,
    ]
}

fn hex(rgb: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

fn svg_grid(rows: &[String], out: &mut String) {
    let h = rows.len();
    let w = rows.first().map_or(0, |r| r.chars().count());
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-0.5 -0.5 {} {}\" width=\"{}\" height=\"{}\">\n",
        w + 1,
        h + 1,
        (w + 1) * CELL_PX,
        (h + 1) * CELL_PX
    ));
    out.push_str(&format!("<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\" stroke=\"#333\" stroke-width=\"0.05\"/>\n"));
    for (y, row) in rows.iter().enumerate() {
        for (x, ch) in row.chars().enumerate() {
            if ch == '#' {
                out.push_str(&format!(
                    "<rect x=\"{x}\" y=\"{y}\" width=\"1\" height=\"1\" fill=\"#4d5566\"/>\n"
                ));
            }
        }
    }
}

/// An SVG of the map (`rows` of `.`/`#`), agents as filled circles and their goals as rings.
pub fn map_svg(rows: &[String], agents: &[Xy], goals: &[Xy]) -> String {
    let mut out = String::new();
    svg_grid(rows, &mut out);
    for (i, g) in goals.iter().enumerate() {
        out.push_str(&format!(
            "<circle cx=\"{}.5\" cy=\"{}.5\" r=\"0.35\" fill=\"none\" stroke=\"{}\" stroke-width=\"0.12\"/>\n",
            g[1],
            g[0],
            hex(agent_rgb(i))
        ));
    }
    for (i, a) in agents.iter().enumerate() {
        out.push_str(&format!(
            "<circle cx=\"{}.5\" cy=\"{}.5\" r=\"0.4\" fill=\"{}\"/>\n",
            a[1],
            a[0],
            hex(agent_rgb(i))
        ));
    }
    out.push_str("</svg>\n");
    out
}

/// An animated SVG of a recorded episode: `positions[t][i]` and `goals[t][i]` for each step `t`,
/// `active[t][i]` hides agents that finished; `seconds_per_step` sets the pace.
pub fn episode_svg(
    rows: &[String],
    positions: &[Vec<Xy>],
    goals: &[Vec<Xy>],
    active: &[Vec<bool>],
    seconds_per_step: f64,
) -> String {
    let mut out = String::new();
    svg_grid(rows, &mut out);
    let steps = positions.len().max(1);
    let dur = steps as f64 * seconds_per_step;
    let n = positions.first().map_or(0, Vec::len);
    let series = |f: &dyn Fn(usize) -> String| (0..steps).map(f).collect::<Vec<_>>().join(";");
    for i in 0..n {
        let color = hex(agent_rgb(i));
        let gx = series(&|t| format!("{}.5", goals[t.min(goals.len() - 1)][i][1]));
        let gy = series(&|t| format!("{}.5", goals[t.min(goals.len() - 1)][i][0]));
        out.push_str(&format!(
            "<circle r=\"0.35\" fill=\"none\" stroke=\"{color}\" stroke-width=\"0.12\">\
             <animate attributeName=\"cx\" values=\"{gx}\" dur=\"{dur}s\" calcMode=\"discrete\" repeatCount=\"indefinite\"/>\
             <animate attributeName=\"cy\" values=\"{gy}\" dur=\"{dur}s\" calcMode=\"discrete\" repeatCount=\"indefinite\"/></circle>\n"
        ));
        let ax = series(&|t| format!("{}.5", positions[t][i][1]));
        let ay = series(&|t| format!("{}.5", positions[t][i][0]));
        let vis = series(&|t| {
            if active.get(t).is_none_or(|a| a[i]) {
                "1".into()
            } else {
                "0.25".into()
            }
        });
        out.push_str(&format!(
            "<circle r=\"0.4\" fill=\"{color}\">\
             <animate attributeName=\"cx\" values=\"{ax}\" dur=\"{dur}s\" calcMode=\"linear\" repeatCount=\"indefinite\"/>\
             <animate attributeName=\"cy\" values=\"{ay}\" dur=\"{dur}s\" calcMode=\"linear\" repeatCount=\"indefinite\"/>\
             <animate attributeName=\"opacity\" values=\"{vis}\" dur=\"{dur}s\" calcMode=\"discrete\" repeatCount=\"indefinite\"/></circle>\n"
        ));
    }
    out.push_str("</svg>\n");
    out
}

/// A PNG of the map with agents (filled squares) and goals (hollow squares).
pub fn map_png(
    rows: &[String],
    agents: &[Xy],
    goals: &[Xy],
) -> Result<Vec<u8>, png::EncodingError> {
    let h = rows.len();
    let w = rows.first().map_or(0, |r| r.chars().count());
    let (pw, ph) = (w * CELL_PX, h * CELL_PX);
    let mut pixels = vec![255u8; pw * ph * 3];
    let mut fill = |x: usize, y: usize, rgb: [u8; 3], hollow: bool| {
        for dy in 1..CELL_PX - 1 {
            for dx in 1..CELL_PX - 1 {
                let edge = dx < 4 || dy < 4 || dx >= CELL_PX - 4 || dy >= CELL_PX - 4;
                if hollow && !edge {
                    continue;
                }
                let p = ((y * CELL_PX + dy) * pw + x * CELL_PX + dx) * 3;
                pixels[p..p + 3].copy_from_slice(&rgb);
            }
        }
    };
    for (y, row) in rows.iter().enumerate() {
        for (x, ch) in row.chars().enumerate() {
            if ch == '#' {
                fill(x, y, [0x4d, 0x55, 0x66], false);
            }
        }
    }
    for (i, g) in goals.iter().enumerate() {
        fill(g[1] as usize, g[0] as usize, agent_rgb(i), true);
    }
    for (i, a) in agents.iter().enumerate() {
        fill(a[1] as usize, a[0] as usize, agent_rgb(i), false);
    }
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, pw as u32, ph as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()?.write_image_data(&pixels)?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_have_the_expected_headers() {
        let rows = vec!["..#".to_string(), "...".to_string()];
        let png = map_png(&rows, &[[0, 0]], &[[1, 2]]).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let svg = map_svg(&rows, &[[0, 0]], &[[1, 2]]);
        assert!(svg.starts_with("<svg") && svg.contains("<circle"));
        let anim = episode_svg(
            &rows,
            &[vec![[0, 0]], vec![[0, 1]]],
            &[vec![[1, 2]]],
            &[vec![true], vec![true]],
            0.3,
        );
        assert!(anim.contains("values=\"0.5;1.5\""));
    }
}
