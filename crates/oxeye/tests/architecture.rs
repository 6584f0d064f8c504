//! Dependencies between oxeye crates point one way; this fails when an arrow is added
//! against the design (a store depending on the server, the server on a store...).

use std::collections::BTreeSet;

/// The oxeye crates `crate_dir`'s `[dependencies]` names.
fn oxeye_deps(crate_dir: &str) -> BTreeSet<String> {
    let path = format!("{}/../{crate_dir}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut in_deps = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if !in_deps {
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or("");
        if name.starts_with("oxeye") {
            out.insert(name.to_string());
        }
    }
    out
}

#[test]
fn crate_dependencies_point_one_way() {
    for (krate, allowed) in [
        ("oxeye-core", &[][..]),
        ("oxeye-proto", &["oxeye-core"][..]),
        ("oxeye-storage", &["oxeye-core"][..]),
        ("oxeye-tsdb", &["oxeye-core", "oxeye-storage"][..]),
        ("oxeye-scrape", &["oxeye-core", "oxeye-proto"][..]),
        // query engines see only core's traits, never a store
        ("oxeye-promql", &["oxeye-core"][..]),
        ("oxeye-traces", &["oxeye-core", "oxeye-storage"][..]),
        ("oxeye-traceql", &["oxeye-core"][..]),
        ("oxeye-logs", &["oxeye-core", "oxeye-storage"][..]),
        // LogQL metric results are PromQL values
        ("oxeye-logql", &["oxeye-core", "oxeye-promql"][..]),
        // rules see a query function, never a store
        (
            "oxeye-rules",
            &["oxeye-core", "oxeye-promql", "oxeye-logql"][..],
        ),
        (
            "oxeye-server",
            &[
                "oxeye-core",
                "oxeye-proto",
                "oxeye-scrape",
                "oxeye-promql",
                "oxeye-traceql",
                "oxeye-logql",
                "oxeye-rules",
            ][..],
        ),
    ] {
        let deps = oxeye_deps(krate);
        for d in &deps {
            assert!(
                allowed.contains(&d.as_str()),
                "{krate} must not depend on {d} (allowed: {allowed:?})"
            );
        }
    }
    // the server sees stores only through core's traits
    assert!(!oxeye_deps("oxeye-server").contains("oxeye-tsdb"));
    assert!(!oxeye_deps("oxeye-server").contains("oxeye-traces"));
    assert!(!oxeye_deps("oxeye-server").contains("oxeye-logs"));
}
