//! Which precompressed sibling suits the client: `Accept-Encoding` (RFC 9110 §12.5.3)
//! against the codings a static file may have beside it (`app.css.br`, `app.css.gz`).

/// A content coding of a precompressed sibling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
}

impl Coding {
    /// Every coding, in the order preferred when the client weighs them equally: Brotli
    /// first (smaller files for the same content).
    pub const ALL: [Coding; 2] = [Coding::Br, Coding::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }

    /// The sibling's file name suffix.
    pub fn suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Gzip => ".gz",
        }
    }
}

/// The codings the client accepts, most wanted first; at most `Coding::ALL.len()`.
/// `Accept-Encoding` absent: none (identity). RFC 9110 §12.5.3: a coding is acceptable
/// when listed with a qvalue above 0, or covered by `*` with one; `x-gzip` is `gzip`
/// (§8.4.1.3). Elements that break the grammar are skipped.
pub fn accepted<'h>(values: impl Iterator<Item = &'h [u8]>) -> Vec<Coding> {
    // Per coding: its qvalue in thousandths, if listed; and `*`'s.
    let mut listed: [Option<u16>; 2] = [None, None];
    let mut star: Option<u16> = None;
    for value in values {
        let Ok(text) = std::str::from_utf8(value) else {
            continue;
        };
        for element in text.split(',') {
            let mut parts = element.split(';');
            let name = parts.next().unwrap_or("").trim();
            let mut q = Some(1000);
            for param in parts {
                let Some((key, val)) = param.split_once('=') else {
                    q = None;
                    break;
                };
                if key.trim().eq_ignore_ascii_case("q") {
                    q = qvalue(val.trim());
                }
            }
            let Some(q) = q else { continue };
            let slot = if name == "*" {
                &mut star
            } else if name.eq_ignore_ascii_case("br") {
                &mut listed[0]
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut listed[1]
            } else {
                continue;
            };
            *slot = Some(q);
        }
    }
    let mut weighed: Vec<(u16, Coding)> = Coding::ALL
        .iter()
        .zip(listed)
        .filter_map(|(&coding, q)| q.or(star).map(|q| (q, coding)))
        .filter(|&(q, _)| q > 0)
        .collect();
    // Stable: equal weights keep `Coding::ALL`'s order.
    weighed.sort_by_key(|&(q, _)| std::cmp::Reverse(q));
    weighed.into_iter().map(|(_, coding)| coding).collect()
}

/// RFC 9110 §12.4.2: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
fn qvalue(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::{Br, Gzip};

    #[test]
    fn orders_the_accepted_codings_by_weight_then_size() {
        let rows: &[(&[&str], &[Coding])] = &[
            (&[], &[]),
            (&["identity"], &[]),
            (&["gzip"], &[Gzip]),
            (&["x-gzip"], &[Gzip]),
            (&["gzip, deflate, br"], &[Br, Gzip]),
            (&["GZIP, BR"], &[Br, Gzip]),
            (&["gzip;q=1.0, br;q=0.8"], &[Gzip, Br]),
            (&["br;q=0"], &[]),
            (&["br;q=0.000, gzip;q=0.001"], &[Gzip]),
            (&["*"], &[Br, Gzip]),
            (&["*;q=0.5, gzip"], &[Gzip, Br]),
            (&["*, br;q=0"], &[Gzip]),
            (&["gzip"], &[Gzip]),
            (&["gzip", "br"], &[Br, Gzip]),
            (&["br;q=2"], &[]),
            (&["br;q=0.5.1"], &[]),
            (&["br;q=1.001"], &[]),
            (&["br;level"], &[]),
            (&[" br ; q = 0.5 , gzip ; q=0.4"], &[Br, Gzip]),
        ];
        for (values, want) in rows {
            let got = accepted(values.iter().map(|v| v.as_bytes()));
            assert_eq!(got, *want, "{values:?}");
        }
    }
}
