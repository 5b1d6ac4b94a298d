//! Every `nn` example in docs/language.md compiles without warnings, and every one with data
//! trains an epoch (data files are read from `specs/`).

#[test]
fn every_language_reference_example_compiles() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md")).unwrap();
    let blocks: Vec<&str> = doc.split("```nn\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert!(blocks.len() >= 10, "found {} examples", blocks.len());
    for block in blocks {
        let (mut program, warnings) = nnc::compile(block, nnc::Syntax::Nn).unwrap_or_else(|d| panic!("{d:?}\n{block}"));
        assert!(warnings.is_empty(), "{warnings:?}\n{block}");
        if program.data.is_some() {
            program.train.epochs = 1;
            let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
            let data = nnc::data::prepare(&program, &mut |p: &str| {
                nnc::data::FileBytes::read(&specs.join(p)).map_err(|e| e.to_string())
            })
            .unwrap_or_else(|d| panic!("{d:?}\n{block}"));
            nnc::train::train(&program, &data, nnc::train::events::Level::Epoch, &mut |_| {}).unwrap();
        }
    }
}
