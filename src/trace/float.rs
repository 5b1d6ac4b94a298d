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
    use std::io::Write;
    if x.is_nan() {
        return out.push_str("nan");
    }
    if x.is_infinite() {
        return out.push_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    if x == 0.0 {
        return out.push('0');
    }
    // `-d.dddddde-ddd` fits in 16 bytes.
    let mut sci = [0u8; 32];
    let len = {
        let mut cursor = std::io::Cursor::new(&mut sci[..]);
        let _ = write!(cursor, "{x:.6e}");
        cursor.position() as usize
    };
    let sci = std::str::from_utf8(&sci[..len]).unwrap_or("0e0");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-5..7).contains(&exp) {
        out.push_str(trim(mantissa));
        let _ = std::fmt::Write::write_fmt(out, format_args!("e{exp}"));
        return;
    }
    // The same 7 rounded digits, written in plain decimal.
    let (sign, digits) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let mut plain = [0u8; 24];
    let mut n = 0;
    let mut push = |b: u8| {
        plain[n] = b;
        n += 1;
    };
    let digits = digits.bytes().filter(u8::is_ascii_digit);
    if exp >= 0 {
        for (k, d) in digits.enumerate() {
            if k == exp as usize + 1 {
                push(b'.');
            }
            push(d);
        }
    } else {
        push(b'0');
        push(b'.');
        for _ in 0..(-exp - 1) {
            push(b'0');
        }
        digits.for_each(&mut push);
    }
    out.push_str(sign);
    out.push_str(trim(std::str::from_utf8(&plain[..n]).unwrap_or("0")));
}

fn trim(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
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
    use super::fmt_float;

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
            super::trim(&format!("{x:.decimals$}")).to_string()
        } else {
            format!("{}e{exp}", super::trim(mantissa))
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
