//! Reading a job's text: the `steps.<id>…` and `needs.<job>…` references in
//! it, and the outputs a `run:` script writes.

use yaml_rust2::Yaml;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Context {
    Steps,
    Needs,
}

/// `steps.<id>.<property>[.<output>]` or `needs.<job>.<property>[.<output>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) context: Context,
    pub(crate) id: String,
    /// The output's name when the property is `outputs`.
    pub(crate) output: Option<String>,
}

impl Reference {
    pub(crate) fn text(&self) -> String {
        let context = match self.context {
            Context::Steps => "steps",
            Context::Needs => "needs",
        };
        match &self.output {
            Some(output) => format!("{context}.{}.outputs.{output}", self.id),
            None => format!("{context}.{}", self.id),
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The name starting at `text`, e.g. `build-args` of `build-args }}`.
fn name_at(text: &str) -> &str {
    let end = text.find(|c| !is_name_char(c)).unwrap_or(text.len());
    &text[..end]
}

/// Every dotted `steps.…` / `needs.…` reference in `text`. (The index form
/// `steps['id']` is not read.)
pub(crate) fn references(text: &str) -> Vec<Reference> {
    let mut found = Vec::new();
    for (context, prefix) in [(Context::Steps, "steps."), (Context::Needs, "needs.")] {
        for (at, _) in text.match_indices(prefix) {
            let before = text[..at].chars().next_back();
            if before.is_some_and(|c| is_name_char(c) || c == '.') {
                continue; // `github.steps.x`, `my-needs.x`
            }
            let rest = &text[at + prefix.len()..];
            let id = name_at(rest);
            if id.is_empty() {
                continue;
            }
            let output = rest[id.len()..]
                .strip_prefix(".outputs.")
                .map(name_at)
                .filter(|name| !name.is_empty())
                .map(str::to_owned);
            found.push(Reference {
                context: context.clone(),
                id: id.to_owned(),
                output,
            });
        }
    }
    found
}

/// True when `script` writes output `name`: `name=value` or the heredoc
/// form `name<<DELIMITER`, as a word of its own.
pub(crate) fn writes_output(script: &str, name: &str) -> bool {
    script.match_indices(name).any(|(at, _)| {
        let before = script[..at].chars().next_back();
        let after = &script[at + name.len()..];
        before.is_none_or(|c| !is_name_char(c))
            && (after.starts_with('=') && !after.starts_with("==") || after.starts_with("<<"))
    })
}

/// Every string in a YAML value (mapping values and list items, recursively).
pub(crate) fn strings(value: &Yaml) -> Vec<&str> {
    match value {
        Yaml::String(s) => vec![s.as_str()],
        Yaml::Array(items) => items.iter().flat_map(strings).collect(),
        Yaml::Hash(entries) => entries.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_in_expressions_and_conditions() {
        let found = references(
            "${{ steps.meta.outputs.build-args }} && steps.tools.outcome == 'success' \
             || needs.image.outputs.digest; github.steps.x.outputs.y",
        );
        let texts: Vec<String> = found.iter().map(Reference::text).collect();
        assert_eq!(
            texts,
            [
                "steps.meta.outputs.build-args",
                "steps.tools",
                "needs.image.outputs.digest"
            ]
        );
    }

    #[test]
    fn an_output_is_written_by_assignment_or_heredoc_only() {
        assert!(writes_output(
            r#"echo "tools=$t" >>"$GITHUB_OUTPUT""#,
            "tools"
        ));
        assert!(writes_output("echo \"build-args<<EOF\"", "build-args"));
        assert!(!writes_output("echo \"mytools=1\"", "tools"));
        assert!(!writes_output("[[ $tools == x ]]", "tools"));
        assert!(!writes_output("echo tools", "tools"));
    }
}
