//! The one float format of traces: 7 significant digits, shortest form.
//!
//! A value is rounded to 7 significant digits (enough to tell f32 values apart in
//! practice, and to compare with the tutorial's 6-7 digit figures), then written in
//! plain decimal when its exponent is between -5 and 6, in scientific notation
//! (`1.234568e-31`) otherwise, with trailing zeros removed. Zero is `0` (also for -0),
//! and non-finite values are `nan`, `inf` and `-inf`.

/// Formats one value in the trace's float format.
pub fn fmt_float(x: f64) -> String {
    let mut out = String::new();
    write_float(&mut out, x);
    out
}

/// Appends one value in the trace's float format to `out`, without allocating beyond
/// `out`'s own growth (traces format one or more floats per step).
pub fn write_float(out: &mut String, x: f64) {
    if x.is_nan() {
        return out.push_str("nan");
    }
    if x.is_infinite() {
        return out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    if x == 0.0 {
        return out.push('0');
    }
    let (digits, exp) = seven_digits_fast(x.abs()).unwrap_or_else(|| seven_digits_exact(x.abs()));
    if x < 0.0 {
        out.push('-');
    }
    // Seven digits (10^6 ≤ digits < 10^7), then the significant ones without trailing
    // zeros (the first digit is never zero). All ASCII, so any index is a char boundary.
    let mut buffer = itoa::Buffer::new();
    let d = buffer.format(digits);
    let kept = d.trim_end_matches('0').len().max(1);
    if !(-5..7).contains(&exp) {
        out.push_str(&d[..1]);
        if kept > 1 {
            out.push('.');
            out.push_str(&d[1..kept]);
        }
        out.push('e');
        out.push_str(itoa::Buffer::new().format(exp));
    } else if exp >= 0 {
        let point = exp as usize + 1;
        out.push_str(&d[..point]);
        if kept > point {
            out.push('.');
            out.push_str(&d[point..kept]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0000"[..(-exp - 1) as usize]);
        out.push_str(&d[..kept]);
    }
}

/// `fmt_float` for a value that mostly repeats (a learning rate, once an epoch): the last
/// value's text is kept and given again while the value stays the same.
#[derive(Default)]
pub struct Repeated {
    /// The bits of the value `text` holds, if any.
    bits: Option<u64>,
    text: String,
}

impl Repeated {
    /// `x` in the trace's float format.
    pub fn text(&mut self, x: f64) -> &str {
        if self.bits != Some(x.to_bits()) {
            self.text.clear();
            write_float(&mut self.text, x);
            self.bits = Some(x.to_bits());
        }
        &self.text
    }
}

/// The value rounded to 7 significant digits as (digits, exponent): `a ≈ digits · 10^(exponent
/// - 6)` with 10^6 ≤ digits < 10^7, exactly as `format!("{a:.6e}")` rounds (for a > 0).
fn seven_digits_exact(a: f64) -> (u32, i32) {
    use std::io::Write;
    // `d.dddddde-ddd` fits in 16 bytes.
    let mut sci = [0u8; 32];
    let len = {
        let mut cursor = std::io::Cursor::new(&mut sci[..]);
        let _ = write!(cursor, "{a:.6e}");
        cursor.position() as usize
    };
    let sci = std::str::from_utf8(&sci[..len]).unwrap_or("0e0");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    (digits, exp.parse().unwrap_or(0))
}

/// `seven_digits_exact` without formatting, when the answer is certain: the value is
/// scaled by an exact power of ten (one or two roundings, relative error below 3e-16,
/// so below 3e-9 on the 7-digit integer), and rounded unless it lies within 1e-8 of a
/// rounding tie, where `None` leaves the decision to the exact path. Within 1e-8 of the
/// range's ends (10^6 and 10^7) the answer does not depend on which side the exact value
/// lies: both round to the power of ten.
fn seven_digits_fast(a: f64) -> Option<(u32, i32)> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    const MARGIN: f64 = 1e-8;
    let scale = |s: i32| -> Option<f64> {
        let k = s.unsigned_abs() as usize;
        let (big, small) = if k > 22 { (22, k - 22) } else { (k, 0) };
        if small > 22 {
            return None;
        }
        Some(if s >= 0 { a * POW10[big] * POW10[small] } else { a / POW10[big] / POW10[small] })
    };
    // floor(log10 a) from the binary exponent, within two of it: the loop corrects it.
    // Subnormals are estimated too high: their scaled value stays outside the range and
    // the exact path decides.
    let binary_exp = ((a.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    let mut exp = (binary_exp * 78_913) >> 18;
    for _ in 0..3 {
        let scaled = scale(6 - exp)?;
        if (scaled - 1e6).abs() <= MARGIN {
            return Some((1_000_000, exp));
        }
        if (scaled - 1e7).abs() <= MARGIN {
            return Some((1_000_000, exp + 1));
        }
        if scaled < 1e6 {
            exp -= 1;
            continue;
        }
        if scaled > 1e7 {
            exp += 1;
            continue;
        }
        // 10^6 < scaled < 10^7: the cast truncates, which is the floor.
        let floor = scaled as u32;
        let frac = scaled - f64::from(floor);
        if (frac - 0.5).abs() < MARGIN {
            return None;
        }
        let digits = if frac > 0.5 { floor + 1 } else { floor };
        return Some(if digits == 10_000_000 { (1_000_000, exp + 1) } else { (digits, exp) });
    }
    None
}

/// Formats row-major values of the given dimensions as a nested array.
pub fn fmt_tensor(values: &[f64], dims: &[usize]) -> String {
    match dims {
        [] => values.first().map_or_else(|| "[]".into(), |v| fmt_float(*v)),
        [_] => format!("[{}]", values.iter().map(|v| fmt_float(*v)).collect::<Vec<_>>().join(", ")),
        [_, rest @ ..] => {
            let stride: usize = rest.iter().product();
            if stride == 0 {
                return "[]".into();
            }
            format!("[{}]", values.chunks(stride).map(|c| fmt_tensor(c, rest)).collect::<Vec<_>>().join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Repeated, fmt_float};

    #[test]
    fn a_repeated_value_is_formatted_again_when_it_changes() {
        let mut lr = Repeated::default();
        for (x, text) in [(0.1, "0.1"), (0.1, "0.1"), (0.05, "0.05"), (f64::NAN, "nan"), (1e-9, "1e-9"), (0.1, "0.1")] {
            assert_eq!(lr.text(x), text);
        }
    }

    /// Trailing zeros (and a bare point) removed.
    fn trim(s: &str) -> &str {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
    }

    #[test]
    fn seven_significant_digits_shortest_form() {
        assert_eq!(fmt_float(1.0), "1");
        assert_eq!(fmt_float(1.3), "1.3");
        assert_eq!(fmt_float(0.8), "0.8");
        assert_eq!(fmt_float(1.233212_1), "1.233212");
        assert_eq!(fmt_float(0.731_058_578_630_004_9), "0.7310586");
        assert_eq!(fmt_float(-0.0), "0");
        assert_eq!(fmt_float(1.9e-31), "1.9e-31");
        assert_eq!(fmt_float(123_456_789.0), "1.234568e8");
        assert_eq!(fmt_float(9.999_999_9), "10");
        assert_eq!(fmt_float(0.000_012_345_678), "0.00001234568");
        assert_eq!(fmt_float(f64::NEG_INFINITY), "-inf");
    }

    /// The definition, written the slow way: round to 7 significant digits, then print
    /// with as many decimals as those digits need.
    fn by_definition(x: f64) -> String {
        let sci = format!("{x:.6e}");
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        if (-5..7).contains(&exp) {
            let decimals = (6 - exp).max(0) as usize;
            trim(&format!("{x:.decimals$}")).to_string()
        } else {
            format!("{}e{exp}", trim(mantissa))
        }
    }

    #[test]
    fn agrees_with_the_definition_near_rounding_ties_and_at_extreme_exponents() {
        let mut state = 99u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            state >> 11
        };
        for _ in 0..200_000 {
            let digits = 1_000_000 + next() % 9_000_000;
            let exp = (next() % 90) as i32 - 45;
            // Halfway between two 7-digit values (as near as f64 gets), and the f32 nearest.
            let tie = (digits as f64 + 0.5) * 10f64.powi(exp - 6);
            for x in [tie, -tie, f64::from(tie as f32), tie * (1.0 + f64::EPSILON), tie * (1.0 - f64::EPSILON)] {
                if x.is_finite() {
                    assert_eq!(fmt_float(x), by_definition(x), "{x:e}");
                }
            }
            // Just below and at a power of ten.
            let p = 10f64.powi(exp);
            for x in [p, p * (1.0 - f64::EPSILON), p * (1.0 - 5e-8), p * (1.0 - 4.9999e-8)] {
                assert_eq!(fmt_float(x), by_definition(x), "{x:e}");
            }
        }
        for x in [f64::MIN_POSITIVE, 5e-324, f64::MAX, 1e300, 1e-300] {
            assert_eq!(fmt_float(x), by_definition(x), "{x:e}");
        }
    }

    #[test]
    fn agrees_with_the_definition_at_every_binary_exponent() {
        for e in -1074..=1023 {
            let p = 2f64.powi(e);
            for x in [p, p * (2.0 - f64::EPSILON), p * 1.5, p * 1.25] {
                if x.is_finite() && x > 0.0 {
                    assert_eq!(fmt_float(x), by_definition(x), "{x:e}");
                }
            }
        }
    }

    #[test]
    fn agrees_with_the_definition_across_magnitudes() {
        let mut state = 12345u64;
        for _ in 0..200_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mantissa = (state >> 11) as f64 / (1u64 << 53) as f64 * 20.0 - 10.0;
            let exp = ((state >> 3) % 24) as i32 - 12;
            let x = mantissa * 10f64.powi(exp);
            assert_eq!(fmt_float(x), by_definition(x), "{x:e}");
            let near = (x * 1e6).round() / 1e6 + 5e-8;
            assert_eq!(fmt_float(near), by_definition(near), "{near:e}");
        }
    }
}
