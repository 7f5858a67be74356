//! The experiments log: `docs/experiments.jsonl` holds one JSON object per training run (adopted
//! or not) with its settings and validation figures; [`render`] turns it into
//! `docs/EXPERIMENTS.md`, one table per model. Test figures that were measured for a run are kept
//! apart (`test_seen`), and those of runs that were never adopted are flagged: the test split is
//! for adopted models only (docs/PROTOCOL.md), and the log shows where that rule was not kept.

use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Models in the order EXPERIMENTS.md shows them, with their section titles. Models not listed
/// follow, in the order they first appear in the log.
const SECTIONS: [(&str, &str); 9] = [
    ("ae", "ConvAE, 2-D code (`ae`)"),
    ("dae", "Denoising AE (`dae`)"),
    ("dae-wide", "Wide-code denoiser (`dae-wide`)"),
    ("vae", "VAE (`vae`)"),
    ("classifier", "Classifier, paper protocol (`classifier`)"),
    ("classifier-best", "Best classifier (`classifier-best`)"),
    (
        "search",
        "Hyperparameter search over the ConvAE grid (`search`)",
    ),
    ("tsne", "t-SNE settings (`tsne`)"),
    ("pca", "PCA-2 and the 5-NN tie rule (`pca`)"),
];

/// A JSON object whose keys keep the order they have in the log (how the author listed them).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fields(pub Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    fields.push((key, value));
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl Fields {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// One training run (or one setting tried, for t-SNE and the search).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Unique name of the run.
    pub id: String,
    /// The day its result was recorded.
    #[serde(default)]
    pub date: Option<String>,
    /// `ae`, `dae`, `dae-wide`, `vae`, `classifier`, `classifier-best`, `search`, `tsne`, `pca`, …
    pub model: String,
    /// Flags and hyperparameters.
    #[serde(default)]
    pub settings: Fields,
    /// Validation figures: what runs are chosen on.
    #[serde(default)]
    pub validation: Fields,
    /// Test figures that were measured for this run and quoted at the time.
    #[serde(default)]
    pub test_seen: Fields,
    /// Whether the run was adopted (committed into `weights/`, or made the committed setting).
    pub adopted: bool,
    /// The adopted run that later replaced this one.
    #[serde(default)]
    pub superseded_by: Option<String>,
    /// The run this one continued from (a warm start): an earlier line of the log.
    #[serde(default)]
    pub continues: Option<String>,
    /// Ended by hand (or by a machine restart) before its schedule did.
    #[serde(default)]
    pub stopped: bool,
    /// The trainer command given at the time to reproduce the run.
    #[serde(default)]
    pub command: Option<String>,
    /// Where the figures were recorded (commits).
    #[serde(default)]
    pub source: Option<String>,
    pub note: String,
}

impl Experiment {
    /// Adopted and not replaced since: what `weights/` holds (or the setting in use).
    pub fn is_current(&self) -> bool {
        self.adopted && self.superseded_by.is_none()
    }
}

/// A line of the log that is not a valid run, or a reference to a run that is not there.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ExperimentsError {
    /// 1-based line number in the log.
    pub line: usize,
    pub message: String,
}

/// Reads the log: one JSON object per non-empty line. Ids must be unique, `continues` must name an
/// earlier run and `superseded_by` an adopted one, and only adopted runs can be superseded.
pub fn parse(jsonl: &str) -> Result<Vec<Experiment>, ExperimentsError> {
    let mut runs: Vec<(usize, Experiment)> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for (i, text) in jsonl.lines().enumerate() {
        let line = i + 1;
        if text.trim().is_empty() {
            continue;
        }
        let run: Experiment = serde_json::from_str(text).map_err(|e| ExperimentsError {
            line,
            message: e.to_string(),
        })?;
        let err = |message: String| ExperimentsError { line, message };
        if run.id.trim().is_empty() {
            return Err(err("empty id".into()));
        }
        if let Some(from) = &run.continues
            && !seen.contains(from)
        {
            return Err(err(format!(
                "`{}` continues `{from}`, which is not an earlier run of the log",
                run.id
            )));
        }
        if run.superseded_by.is_some() && !run.adopted {
            return Err(err(format!(
                "`{}` is superseded but was never adopted",
                run.id
            )));
        }
        if !seen.insert(run.id.clone()) {
            return Err(err(format!("duplicate id `{}`", run.id)));
        }
        runs.push((line, run));
    }
    let adopted: HashSet<&str> = runs
        .iter()
        .filter(|(_, r)| r.adopted)
        .map(|(_, r)| r.id.as_str())
        .collect();
    for (line, run) in &runs {
        if let Some(by) = &run.superseded_by
            && !adopted.contains(by.as_str())
        {
            return Err(ExperimentsError {
                line: *line,
                message: format!(
                    "`{}` is superseded by `{by}`, which is not an adopted run of the log",
                    run.id
                ),
            });
        }
    }
    Ok(runs.into_iter().map(|(_, r)| r).collect())
}

/// `docs/EXPERIMENTS.md` from the text of `docs/experiments.jsonl`.
pub fn render(jsonl: &str) -> Result<String, ExperimentsError> {
    Ok(markdown(&parse(jsonl)?))
}

/// A JSON value as table text: strings bare, lists comma-separated, objects as `key value` pairs.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Null => "–".to_string(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join(", "),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{} {}", k.replace('_', " "), value_text(v)))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Number(n) => n.to_string(),
    }
}

fn fields_text(fields: &Fields) -> String {
    fields
        .0
        .iter()
        .map(|(k, v)| format!("{} {}", k.replace('_', " "), value_text(v)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    let text = text.replace('|', "\\|").replace(['\n', '\r'], " ");
    if text.trim().is_empty() {
        "–".to_string()
    } else {
        text
    }
}

/// The adopted run that `run` is an earlier phase of (it was continued, directly or through other
/// phases, by an adopted run), if any.
fn adopted_descendant<'a>(
    run: &Experiment,
    children: &HashMap<&str, Vec<&'a Experiment>>,
) -> Option<&'a Experiment> {
    let mut frontier: Vec<&Experiment> = children.get(run.id.as_str())?.clone();
    while !frontier.is_empty() {
        if let Some(found) = frontier.iter().find(|r| r.adopted) {
            return Some(found);
        }
        frontier = frontier
            .iter()
            .flat_map(|r| children.get(r.id.as_str()).cloned().unwrap_or_default())
            .collect();
    }
    None
}

/// The log's runs with what links them: by id, and the runs that continue each run.
struct Log<'a> {
    runs: &'a [Experiment],
    by_id: HashMap<&'a str, &'a Experiment>,
    children: HashMap<&'a str, Vec<&'a Experiment>>,
}

impl<'a> Log<'a> {
    fn new(runs: &'a [Experiment]) -> Self {
        let mut children: HashMap<&str, Vec<&Experiment>> = HashMap::new();
        for r in runs {
            if let Some(from) = &r.continues {
                children.entry(from.as_str()).or_default().push(r);
            }
        }
        Log {
            runs,
            by_id: runs.iter().map(|r| (r.id.as_str(), r)).collect(),
            children,
        }
    }

    /// Models in the order of the page: [`SECTIONS`], then the others as they first appear.
    fn models(&self) -> Vec<&'a str> {
        let mut models: Vec<&str> = SECTIONS.iter().map(|(m, _)| *m).collect();
        for r in self.runs {
            if !models.contains(&r.model.as_str()) {
                models.push(&r.model);
            }
        }
        models
    }

    /// The status cell of a run: adopted (in use or replaced), an earlier phase of an adopted
    /// run, stopped or not adopted.
    fn status(&self, r: &Experiment) -> String {
        if r.is_current() {
            "**✔ adopted, in use**".to_string()
        } else if let Some(by) = &r.superseded_by {
            format!("✔ adopted, later replaced by `{by}`")
        } else if let Some(d) = adopted_descendant(r, &self.children) {
            format!("earlier phase of adopted `{}`", d.id)
        } else if r.stopped {
            "stopped early, not adopted".to_string()
        } else {
            "not adopted".to_string()
        }
    }

    /// The run `r` is the last phase of, oldest phase first.
    fn chain(&self, r: &'a Experiment) -> Vec<&'a Experiment> {
        let mut chain = vec![r];
        while let Some(prev) = chain
            .last()
            .and_then(|c| c.continues.as_deref())
            .and_then(|id| self.by_id.get(id))
        {
            chain.push(prev);
        }
        chain.reverse();
        chain
    }
}

/// The Markdown page of the log.
pub fn markdown(runs: &[Experiment]) -> String {
    let log = Log::new(runs);
    let models = log.models();
    let mut out = intro(runs);
    out += &runs_in_use(&log, &models);
    for model in &models {
        out += &model_table(&log, model);
    }
    out
}

/// The title, how to read the page, and the counts of runs.
fn intro(runs: &[Experiment]) -> String {
    let mut out = String::from("# Experiments\n\n");
    out += "Generated by `digit-lab report` from [`experiments.jsonl`](experiments.jsonl): one \
            line per training run (or setting tried), adopted or not. Edit the log, not this \
            page.\n\n";
    out += "How to read it:\n\n\
            - **validation**: the figures runs were chosen on (the selection rule is in \
            [PROTOCOL.md](PROTOCOL.md)); `at epoch` marks the figure of a run stopped before its \
            schedule ended, `best epoch` the epoch whose weights were kept.\n\
            - **status**: *adopted* runs were committed into `weights/` (for t-SNE and PCA: made \
            the committed setting); *in use* marks what is committed now; an *earlier phase* is a \
            run that an adopted run continued from.\n\
            - **test figures**: measured on the test split. For adopted runs they are the \
            figures measured when the run was adopted. ⚠ marks test figures of runs that were \
            **not** adopted: before the rule that the test split is measured only for an adopted \
            model, the trainer measured it after every run and those figures were quoted; they \
            are kept here so that the record is complete, and were not meant to choose between \
            runs.\n\
            - **date**: the day the result was recorded; **source**: the commits that \
            recorded it.\n\n";
    let adopted = runs.iter().filter(|r| r.adopted).count();
    let current = runs.iter().filter(|r| r.is_current()).count();
    let flagged = runs
        .iter()
        .filter(|r| !r.adopted && !r.test_seen.is_empty())
        .count();
    let _ = writeln!(
        out,
        "{} runs: {adopted} adopted ({current} in use), {} not adopted, of which {flagged} had \
         their test figures measured and quoted (⚠).\n",
        runs.len(),
        runs.len() - adopted,
    );
    out
}

/// How each model in use was made: its chain of phases, oldest first.
fn runs_in_use(log: &Log, models: &[&str]) -> String {
    let mut out = String::from("## The runs in use\n\n");
    for model in models {
        for r in log
            .runs
            .iter()
            .filter(|r| r.model == *model && r.is_current())
        {
            let chain = log.chain(r);
            let _ = write!(out, "- `{}` ({model})", r.id);
            if chain.len() > 1 {
                let _ = write!(out, ", {} phases", chain.len());
            }
            out += ":\n";
            for phase in chain {
                let how = match &phase.command {
                    Some(c) => format!("`{c}`"),
                    None => fields_text(&phase.settings),
                };
                let _ = writeln!(out, "  - `{}`: {}", phase.id, cell(&how));
            }
        }
    }
    out += "\nCommands are those recorded when the run was made, in the flags of the trainer of \
            that time (its `--out` and `--init-from` name weights directories); the settings are \
            in the tables below.\n";
    out
}

/// The table of one model's runs (nothing when the log has none).
fn model_table(log: &Log, model: &str) -> String {
    let of_model: Vec<&Experiment> = log.runs.iter().filter(|r| r.model == model).collect();
    if of_model.is_empty() {
        return String::new();
    }
    let title = SECTIONS
        .iter()
        .find(|(m, _)| *m == model)
        .map_or_else(|| format!("`{model}`"), |(_, t)| t.to_string());
    let mut out = format!(
        "\n## {title}\n\n| run | date | validation | settings | status | test figures | note |\n|---|---|---|---|---|---|---|\n"
    );
    for r in of_model {
        let id = if r.is_current() {
            format!("**`{}`**", r.id)
        } else {
            format!("`{}`", r.id)
        };
        let _ = writeln!(
            out,
            "| {id} | {} | {} | {} | {} | {} | {} |",
            cell(r.date.as_deref().unwrap_or("")),
            cell(&fields_text(&r.validation)),
            cell(&fields_text(&r.settings)),
            log.status(r),
            cell(&test_text(r)),
            cell(&note_text(r)),
        );
    }
    out
}

/// The test figures of a run, flagged when the run was not adopted.
fn test_text(r: &Experiment) -> String {
    if r.test_seen.is_empty() {
        "–".to_string()
    } else if r.adopted {
        format!("test: {}", fields_text(&r.test_seen))
    } else {
        format!("⚠ **test, run not adopted**: {}", fields_text(&r.test_seen))
    }
}

/// The note cell: what the run continues, the author's note and its source.
fn note_text(r: &Experiment) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(from) = &r.continues {
        parts.push(format!("Continues `{from}`."));
    }
    if !r.note.trim().is_empty() {
        parts.push(r.note.trim().to_string());
    }
    if let Some(source) = &r.source {
        parts.push(format!("(source: {source})"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = r#"{"id": "a1", "date": "2026-11-27", "model": "ae", "settings": {"seed": 42, "lr": 0.001}, "validation": {"mse": 0.0353, "best_epoch": 141}, "test_seen": {"mse": 0.0358}, "adopted": true, "superseded_by": "a2", "note": "first"}
{"id": "a3", "model": "ae", "settings": {"seed": 3}, "validation": {"mse": 0.0368, "at_epoch": 82}, "adopted": false, "stopped": true, "note": "trailed | stopped"}

{"id": "a2", "model": "ae", "settings": {"seed": 2}, "validation": {"mse": 0.0349}, "test_seen": {"mse": 0.0356}, "adopted": true, "command": "train ae --seed 2", "note": "kept"}
{"id": "v1", "model": "vae", "settings": {"l2": 0.01}, "validation": {"neg_elbo": 146.9}, "test_seen": {"neg_elbo": 148.3}, "adopted": false, "note": "phase 1"}
{"id": "v2", "model": "vae", "settings": {"lr": 0.0005}, "validation": {"neg_elbo": 146.7}, "adopted": true, "continues": "v1", "command": "train vae --init-from run1", "note": ""}
{"id": "v3", "model": "vae", "settings": {"l2": 0.03}, "validation": {"neg_elbo": 147.3}, "test_seen": {"neg_elbo": 148.9}, "adopted": false, "note": "worse"}
{"id": "x1", "model": "other", "adopted": false, "note": "a model without a section"}
"#;

    fn row<'a>(md: &'a str, id: &str) -> &'a str {
        md.lines()
            .find(|l| {
                l.starts_with(&format!("| `{id}`")) || l.starts_with(&format!("| **`{id}`**"))
            })
            .unwrap_or_else(|| panic!("no row for {id} in\n{md}"))
    }

    #[test]
    fn renders_one_table_per_model_with_validation_before_test() {
        let md = render(LOG).unwrap();
        let ae = md.find("## ConvAE").unwrap();
        let vae = md.find("## VAE").unwrap();
        let other = md.find("## `other`").unwrap();
        assert!(ae < vae && vae < other, "{md}");
        let header = "| run | date | validation | settings | status | test figures | note |";
        assert_eq!(md.matches(header).count(), 3);
        // Keys keep the log's order; underscores become spaces.
        let a1 = row(&md, "a1");
        assert!(
            a1.contains("| mse 0.0353 · best epoch 141 | seed 42 · lr 0.001 |"),
            "{a1}"
        );
        assert!(a1.contains("✔ adopted, later replaced by `a2`"), "{a1}");
        assert!(a1.contains("| test: mse 0.0358 |"), "{a1}");
        assert!(row(&md, "a2").contains("**✔ adopted, in use**"));
        assert!(row(&md, "a2").starts_with("| **`a2`** |"));
    }

    #[test]
    fn test_figures_of_runs_not_adopted_are_flagged() {
        let md = render(LOG).unwrap();
        let v3 = row(&md, "v3");
        assert!(
            v3.contains("⚠ **test, run not adopted**: neg elbo 148.9"),
            "{v3}"
        );
        assert!(v3.contains("| not adopted |"), "{v3}");
        // A phase that an adopted run continued is said to be one, still flagged.
        let v1 = row(&md, "v1");
        assert!(v1.contains("earlier phase of adopted `v2`"), "{v1}");
        assert!(v1.contains("⚠"), "{v1}");
        // No test figures: a dash, never a flag.
        let a3 = row(&md, "a3");
        assert!(a3.contains("stopped early, not adopted"), "{a3}");
        assert!(!a3.contains('⚠'), "{a3}");
        // A `|` inside a note does not break the table.
        assert!(a3.contains("trailed \\| stopped"), "{a3}");
        assert!(
            md.contains("7 runs: 3 adopted (2 in use), 4 not adopted, of which 2 had"),
            "{md}"
        );
    }

    #[test]
    fn lists_the_runs_in_use_with_their_phases() {
        let md = render(LOG).unwrap();
        let section = &md[md.find("## The runs in use").unwrap()..md.find("## ConvAE").unwrap()];
        assert!(
            section.contains("- `a2` (ae):\n  - `a2`: `train ae --seed 2`\n"),
            "{section}"
        );
        assert!(
            section.contains(
                "- `v2` (vae), 2 phases:\n  - `v1`: l2 0.01\n  - `v2`: `train vae --init-from run1`\n"
            ),
            "{section}"
        );
        assert!(!section.contains("`a1`"), "{section}");
    }

    #[test]
    fn a_malformed_line_is_an_error_naming_its_line() {
        let mut log = LOG.lines().take(3).collect::<Vec<_>>().join("\n");
        log += "\n{\"id\": \"broken\", \"model\": \"ae\", \"adopted\": tru, \"note\": \"\"}\n";
        let e = render(&log).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.to_string().starts_with("line 4: "), "{e}");
        // A missing field, and an unknown one (a typo must not vanish silently).
        let e = parse("{\"id\": \"a\", \"model\": \"ae\", \"note\": \"\"}").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("adopted"), "{e}");
        let e = parse("\n{\"id\": \"a\", \"model\": \"ae\", \"adopted\": false, \"note\": \"\", \"validaton\": {}}")
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("validaton"), "{e}");
    }

    #[test]
    fn references_must_name_runs_of_the_log() {
        let dup = "{\"id\": \"a\", \"model\": \"ae\", \"adopted\": false, \"note\": \"\"}\n\
                   {\"id\": \"a\", \"model\": \"ae\", \"adopted\": false, \"note\": \"\"}";
        assert_eq!(parse(dup).unwrap_err().line, 2);
        let later = "{\"id\": \"b\", \"model\": \"ae\", \"adopted\": false, \"continues\": \"a\", \"note\": \"\"}\n\
                     {\"id\": \"a\", \"model\": \"ae\", \"adopted\": false, \"note\": \"\"}";
        let e = parse(later).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("not an earlier run"), "{e}");
        let unknown = "{\"id\": \"a\", \"model\": \"ae\", \"adopted\": true, \"superseded_by\": \"z\", \"note\": \"\"}";
        assert!(parse(unknown).unwrap_err().message.contains("`z`"));
        let not_adopted = "{\"id\": \"a\", \"model\": \"ae\", \"adopted\": false, \"superseded_by\": \"a\", \"note\": \"\"}";
        assert!(
            parse(not_adopted)
                .unwrap_err()
                .message
                .contains("never adopted")
        );
    }
}
