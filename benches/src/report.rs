//! The result line of the shared benchmark README:
//! `{"lib": "nn", "workload": "W2_mlp", "threads": 1, "metric": "samples/s", "median": …, "best": …, "worst": …}`.

use crate::timing::Summary;

/// The library name every line carries.
pub const LIB: &str = "nn";

/// One JSON object on one line. Names are plain ASCII identifiers (checked),
/// so no string escaping is needed.
///
/// ```
/// use nn_bench::{report::json_line, timing::Summary};
/// let s = Summary { median: 2.0, best: 3.0, worst: 1.0, median_ms_per_call: 0.5 };
/// let line = json_line("W2_mlp", 1, "samples/s", &s);
/// assert!(line.starts_with(r#"{"lib": "nn", "workload": "W2_mlp", "threads": 1, "metric": "samples/s", "median": 2"#));
/// ```
pub fn json_line(workload: &str, threads: usize, metric: &str, s: &Summary) -> String {
    for text in [workload, metric] {
        assert!(
            text.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_/-() ".contains(c)),
            "json_line: {text:?} needs escaping"
        );
    }
    format!(
        "{{\"lib\": \"{LIB}\", \"workload\": \"{workload}\", \"threads\": {threads}, \"metric\": \"{metric}\", \
         \"median\": {}, \"best\": {}, \"worst\": {}, \"median_ms_per_call\": {}}}",
        number(s.median),
        number(s.best),
        number(s.worst),
        number(s.median_ms_per_call)
    )
}

/// A JSON number (JSON has no NaN or infinity: those become `null`).
fn number(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "null".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_become_null() {
        let s = Summary {
            median: f64::INFINITY,
            best: 1.5,
            worst: f64::NAN,
            median_ms_per_call: 0.0,
        };
        let l = json_line("W1_gemm_128", 2, "GFLOP/s", &s);
        assert!(l.contains("\"median\": null"));
        assert!(l.contains("\"best\": 1.5000"));
        assert!(l.contains("\"worst\": null"));
        assert!(l.ends_with('}'));
    }
}
