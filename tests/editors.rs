//! The TextMate grammar is valid JSON and knows every built-in name nnc accepts.

#[test]
fn the_textmate_grammar_knows_every_builtin_name() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/editors/nn.tmLanguage.json")).unwrap();
    let grammar: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(grammar["scopeName"], "source.nn");
    let builtins = grammar["repository"]["builtin"]["match"].as_str().unwrap();
    let names: Vec<&str> = builtins.trim_start_matches("\\b(").trim_end_matches(")\\b").split('|').collect();
    let lists = [nnc::lower::choices::ACTIVATIONS, nnc::lower::choices::LOSSES, nnc::lower::choices::INITS];
    for name in lists.iter().flat_map(|l| l.iter()) {
        assert!(names.contains(name), "{name} is missing from editors/nn.tmLanguage.json");
    }
}
