//! The report's sections on drawings that are not MNIST's: what the classifiers and the digit
//! check make of handwriting from other sources (the record `digit-lab handwriting --record`
//! writes, `docs/handwriting.json`), and what the check does with digits and non-digits (the
//! figures `digit-check --final` keeps beside it in `weights/digit_check.json`).

use std::fmt::Write;
use std::path::Path;

use serde::Deserialize;

use crate::analysis::digit_check::Report as CheckReport;
use crate::analysis::handwriting::SetFigures;

/// `docs/handwriting.json`: the command and its figures per set.
#[derive(Clone, Debug, Deserialize)]
pub struct HandwritingRecord {
    pub command: String,
    pub validation: Vec<SetFigures>,
}

/// Reads the record (None when the file does not exist); an error names the file.
pub fn load_record(path: &Path) -> Result<Option<HandwritingRecord>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Sources by other people than MNIST's writers (handwriting fonts included).
fn by_other_people(source: &str) -> bool {
    ["optdigits", "pendigits", "hand_font"]
        .iter()
        .any(|s| source.starts_with(s))
}

/// Labels a set reads under 90 %, with what they are read as instead.
fn weak_labels(set: &SetFigures) -> String {
    let weak: Vec<String> = set
        .by_label
        .iter()
        .filter(|l| l.read < 0.9)
        .map(|l| match l.misread_as {
            Some(c) => format!("{} {:.2} (as {c})", l.label, l.read),
            None => format!("{} {:.2}", l.label, l.read),
        })
        .collect();
    if weak.is_empty() {
        "–".into()
    } else {
        weak.join(", ")
    }
}

/// "## Handwriting that is not MNIST": one row per set and pen (fonts summed up).
pub fn handwriting_section(record: Option<&HandwritingRecord>) -> String {
    let mut out = String::from("\n## Handwriting that is not MNIST\n\n");
    let Some(record) = record else {
        out += "Not measured yet: `digit-lab handwriting --record docs/handwriting.json` (with \
                `--low-res --hand-fonts --optdigits --pendigits` for every set).\n";
        return out;
    };
    let _ = writeln!(
        out,
        "Validation digits traced and drawn again through the page's pad, the machine's fonts, \
         handwriting fonts (Google Fonts families made from people's hands: `hand_font` is \
         validation, `hand_font_held_out` is never chosen on), the same validation digits in \
         the coarse formats other people's sets come in, and two sets by other people: \
         optdigits (13 people, 8×8 scans) and pendigits (44 people, eight points of each pen \
         trajectory). Nothing is chosen on the two sets by other people. \
         “Shown as a digit” and “refused” are the digit check's answers. From `{}`:\n",
        record.command
    );
    out += "| Set | Pen | Digits | Best classifier | Paper classifier | Shown as a digit | \
            Refused | Labels read under 90 % |\n|---|---|---|---|---|---|---|---|\n";
    let (fonts, sets): (Vec<&SetFigures>, Vec<&SetFigures>) =
        record.validation.iter().partition(|s| s.source == "font");
    for s in &sets {
        let weak = if by_other_people(&s.source) {
            weak_labels(s)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.3} | {:.3} | {:.1} % | {:.1} % | {weak} |",
            s.source,
            s.variant,
            s.count,
            s.best_accuracy,
            s.paper_accuracy,
            100.0 * s.check_accepted,
            100.0 * s.check_refused
        );
    }
    if !fonts.is_empty() {
        let n: usize = fonts.iter().map(|f| f.count).sum();
        let mean = |f: fn(&SetFigures) -> f64| {
            fonts.iter().map(|s| f(s) * s.count as f64).sum::<f64>() / n.max(1) as f64
        };
        let _ = writeln!(
            out,
            "| font ({} fonts) | – | {n} | {:.3} | {:.3} | {:.1} % | {:.1} % | |",
            fonts.len(),
            mean(|s| s.best_accuracy),
            mean(|s| s.paper_accuracy),
            100.0 * mean(|s| s.check_accepted),
            100.0 * mean(|s| s.check_refused)
        );
    }
    out
}

/// "## The digit check": digits passed, non-digits refused per kind, kinds left out of the fit.
pub fn digit_check_section(weights_dir: &Path) -> String {
    let mut out = String::from("\n## The digit check\n\n");
    let path = weights_dir.join("digit_check.json");
    let report = std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<CheckReport>(&t).map_err(|e| e.to_string()));
    let m = match report {
        Ok(r) => r.measured,
        Err(e) => {
            let _ = writeln!(out, "No check figures ({}: {e}).", path.display());
            return out;
        }
    };
    let _ = write!(
        out,
        "What the committed check (`weights/digit_check.json`, from `{}`) does. Digits taken \
         for digits: validation {:.2} %, test {}. Non-digits of 18 kinds, generated by a seed \
         of their own (held out: nothing was chosen on them):\n\n",
        m.command,
        100.0 * m.validation_digits_accepted,
        m.test_digits_accepted
            .map_or("not measured".into(), |t| format!("{:.2} %", 100.0 * t)),
    );
    let Some(held) = m.non_digits.get("held_out") else {
        out += "No held-out non-digits were measured.\n";
        return out;
    };
    let _ = writeln!(
        out,
        "{} held-out non-digits: {:.1} % refused, {:.2} % read as a digit at 90 % or more.\n",
        held.count,
        100.0 * held.refused,
        100.0 * held.confident_digit
    );
    out += "| Kind | Refused | Not shown as a digit | Read as a digit at ≥ 90 % | Not shown as a \
            digit, the kind left out of the fit |\n|---|---|---|---|---|\n";
    for (kind, rejected) in &held.rejected_by_kind {
        let pct = |v: Option<&f64>| v.map_or("–".into(), |v| format!("{:.1} %", 100.0 * v));
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} |",
            pct(held.refused_by_kind.get(kind)),
            pct(Some(rejected)),
            pct(held.confident_digit_by_kind.get(kind)),
            pct(m.held_out_rejected_when_fitted_without_the_kind.get(kind)),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"command": "digit-lab handwriting --pendigits", "settings": {},
        "validation": [
          {"source": "mnist_strokes", "variant": "pen 20", "count": 10, "best_accuracy": 0.9,
           "paper_accuracy": 0.8, "check_accepted": 0.95, "check_refused": 0.01},
          {"source": "pendigits", "variant": "pen 20", "count": 4, "best_accuracy": 0.5,
           "paper_accuracy": 0.25, "check_accepted": 1.0, "check_refused": 0.0,
           "by_label": [{"label": 1, "count": 2, "read": 0.5, "misread_as": 7},
                        {"label": 0, "count": 2, "read": 1.0, "misread_as": null}]},
          {"source": "hand_font", "variant": "2 fonts, 1 each", "count": 2, "best_accuracy": 0.5,
           "paper_accuracy": 0.5, "check_accepted": 1.0, "check_refused": 0.0,
           "by_label": [{"label": 1, "count": 1, "read": 0.0, "misread_as": 7},
                        {"label": 4, "count": 1, "read": 1.0, "misread_as": null}]},
          {"source": "font", "variant": "A", "count": 10, "best_accuracy": 1.0,
           "paper_accuracy": 0.5, "check_accepted": 1.0, "check_refused": 0.0},
          {"source": "font", "variant": "B", "count": 30, "best_accuracy": 0.8,
           "paper_accuracy": 0.5, "check_accepted": 0.9, "check_refused": 0.1}]}"#;

    #[test]
    fn every_set_gets_a_row_and_other_peoples_weak_labels_are_named() {
        let record: HandwritingRecord = serde_json::from_str(RECORD).unwrap();
        let text = handwriting_section(Some(&record));
        assert!(
            text.contains("`digit-lab handwriting --pendigits`"),
            "{text}"
        );
        assert!(
            text.contains("| mnist_strokes | pen 20 | 10 | 0.900 | 0.800 | 95.0 % | 1.0 % |  |")
        );
        assert!(text.contains(
            "| pendigits | pen 20 | 4 | 0.500 | 0.250 | 100.0 % | 0.0 % | 1 0.50 (as 7) |"
        ));
        assert!(text.contains("| hand_font | 2 fonts, 1 each | 2 | 0.500 | 0.500 | 100.0 % | 0.0 % | 1 0.00 (as 7) |"), "{text}");
        // The fonts in one row, weighted by their digits: (10 + 24) / 40.
        assert!(
            text.contains("| font (2 fonts) | – | 40 | 0.850 |"),
            "{text}"
        );
        assert!(handwriting_section(None).contains("Not measured yet"));
    }

    #[test]
    fn a_missing_record_is_none_and_a_bad_one_is_named() {
        let dir = std::env::temp_dir().join(format!("digit-lab-hw-record-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(load_record(&dir.join("none.json")).unwrap().is_none());
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        assert!(load_record(&bad).unwrap_err().contains("bad.json"));
        let text = digit_check_section(&dir);
        assert!(
            text.contains("No check figures") && text.contains("digit_check.json"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_committed_check_gets_a_row_per_kind() {
        let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
        let text = digit_check_section(&weights);
        assert!(text.contains("held-out non-digits:"), "{text}");
        for kind in ["| smiley |", "| partial_digit |", "| walk |", "| heart |"] {
            assert!(text.contains(kind), "{kind}: {text}");
        }
    }
}
