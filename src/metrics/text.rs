//! The two text formats of `/metrics`.
//!
//! prometheus-client writes OpenMetrics 1.0: a counter family is declared without its
//! `_total` suffix (`# TYPE x counter`, sample `x_total`), units get a `# UNIT` line and
//! the exposition ends with `# EOF`. The classic Prometheus text format (0.0.4), which
//! `curl` users and `promtool check metrics` read, names the family as its samples
//! (`# TYPE x_total counter`) and knows neither `# UNIT` nor `# EOF`. Prometheus itself
//! asks for OpenMetrics in its `Accept` header and gets it unchanged.

use std::collections::HashSet;

/// `Content-Type` of the OpenMetrics exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `Content-Type` of the classic text exposition.
pub const CLASSIC_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// True when an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// The classic text form of an OpenMetrics exposition written by prometheus-client.
pub fn classic_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|tag| {
            let rest = line.strip_prefix(tag)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{tag}{name}_total {tail}"))
        });
        match renamed {
            Some(line) => out.push_str(&line),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_their_samples_name_and_openmetrics_lines_go() {
        let om = "# HELP a_polls Polls.\n# TYPE a_polls counter\na_polls_total{line=\"x\"} 3\n\
                  # HELP a_wait_seconds Wait.\n# TYPE a_wait_seconds histogram\n\
                  # UNIT a_wait_seconds seconds\na_wait_seconds_count 0\n\
                  # HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n# EOF\n";
        assert_eq!(
            classic_text(om),
            "# HELP a_polls_total Polls.\n# TYPE a_polls_total counter\na_polls_total{line=\"x\"} 3\n\
             # HELP a_wait_seconds Wait.\n# TYPE a_wait_seconds histogram\na_wait_seconds_count 0\n\
             # HELP a_up Up.\n# TYPE a_up gauge\na_up 1\n"
        );
    }

    #[test]
    fn prometheus_accept_header_gets_openmetrics() {
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(None));
    }
}
