//! `docs/onnx.md`'s operator table lists exactly the operators implemented,
//! each with the opset it is implemented from.

#[test]
fn the_operator_table_matches_the_implementation() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/onnx.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let rows: Vec<(String, i64)> = doc
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let since = cells.get(2)?.parse().ok()?;
            Some((cells[1].to_string(), since))
        })
        .collect();
    let ops: Vec<(String, i64)> = nn_onnx::supported_operators()
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    assert_eq!(rows, ops);
}
