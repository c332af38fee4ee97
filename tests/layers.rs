//! The crate's floors import only downwards, and no module imports itself in a circle.
//!
//! Floors, lowest first (a module may use its own floor's base modules and anything below):
//! base ← nn | data | recipe ← lora ← models ← train | generate | eval ← pipeline | search |
//! quickstart ← cli (the binary). Modules on one floor (other than base) never import each
//! other's internals: train, generate and eval may use each other's top-level surface (what
//! their `mod.rs` offers, e.g. evaluation calls `generate::generate_all`), never a file inside. Every `crate::…` and `super::…` path in `src/` (comment lines aside) counts, so a
//! path written inline is caught as well as a `use`.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const FLOORS: &[&[&str]] = &[
    &[
        "error",
        "runtime",
        "progress",
        "device",
        "jsonl",
        "hub",
        "tokenizer",
        "output",
        "rng",
    ],
    &["nn", "data", "recipe"],
    &["lora"],
    &["models"],
    &["train", "generate", "eval"],
    &["pipeline", "search", "quickstart"],
];

/// The floor of train, generate and eval.
const TASKS_FLOOR: usize = 4;

fn floor_of(module: &str) -> Option<usize> {
    FLOORS.iter().position(|f| f.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/nn/cpu/gemm.rs` → ["nn", "cpu", "gemm"]; `src/nn/mod.rs` → ["nn"].
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every path after `crate::` or `super::` on a non-comment line, resolved to module names.
fn references(text: &str, own: &[String], is_mod_rs: bool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        for (anchor, base) in [("crate::", 0usize), ("super::", 1)] {
            let mut rest = line;
            while let Some(at) = rest.find(anchor) {
                let preceded_by_ident = rest[..at]
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
                let tail = &rest[at + anchor.len()..];
                rest = tail;
                if preceded_by_ident {
                    continue;
                }
                let mut path: Vec<String> = if base == 0 {
                    Vec::new()
                } else {
                    // `super` of `a/b.rs` is `a`; of `a/b/mod.rs` (module a::b) also `a`.
                    let keep = own.len().saturating_sub(1);
                    let _ = is_mod_rs;
                    own[..keep].to_vec()
                };
                let mut segs = tail;
                // `super::super::x`
                while let Some(more) = segs.strip_prefix("super::") {
                    path.pop();
                    segs = more;
                }
                // `crate::{a::X, b}`: each item of the group (on this line).
                if let Some(group) = segs.strip_prefix('{') {
                    let group = group.split('}').next().unwrap_or("");
                    for item in group.split(',') {
                        let name: String = item
                            .trim()
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                            let mut p = path.clone();
                            p.push(name);
                            out.push(p);
                        }
                    }
                    continue;
                }
                for seg in segs.split("::") {
                    let name: String = seg
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
                        break;
                    }
                    path.push(name);
                    if !seg.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        break;
                    }
                }
                if !path.is_empty() {
                    out.push(path);
                }
            }
        }
    }
    out
}

struct Crate {
    /// module path → file
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// module path → modules it references (the longest known prefix of each path)
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn read_crate() -> Crate {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| {
            let rel = f.strip_prefix(&src).unwrap();
            // The binary (main.rs, cli/) is the top floor and uses the library by name.
            !(rel.starts_with("cli") || rel == Path::new("main.rs") || rel == Path::new("lib.rs"))
        })
        .collect();
    assert!(files.len() > 20, "found only {} source files", files.len());
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_path(&src, f), f.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let is_mod_rs = file.file_name().is_some_and(|n| n == "mod.rs");
        let mut targets = BTreeSet::new();
        for path in references(&text, module, is_mod_rs) {
            let known = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains_key(p));
            if let Some(target) = known.filter(|t| t != module) {
                targets.insert(target);
            }
        }
        edges.insert(module.clone(), targets);
    }
    Crate { modules, edges }
}

#[test]
fn floors_import_only_downwards() {
    let krate = read_crate();
    let mut violations = Vec::new();
    for (module, targets) in &krate.edges {
        let Some(own) = floor_of(&module[0]) else {
            violations.push(format!(
                "{}: module `{}` has no floor (add it to FLOORS in tests/layers.rs)",
                krate.modules[module].display(),
                module[0]
            ));
            continue;
        };
        for target in targets {
            if target[0] == module[0] {
                continue;
            }
            let theirs = floor_of(&target[0]).unwrap_or(usize::MAX);
            let surface_beside = theirs == own && own == TASKS_FLOOR && target.len() == 1;
            let ok = theirs < own || (own == 0 && theirs == 0) || surface_beside;
            if !ok {
                let how = if theirs == own {
                    "beside it"
                } else {
                    "above it"
                };
                violations.push(format!(
                    "{}: `{}` imports `{}`, which is {how}",
                    krate.modules[module].display(),
                    module.join("::"),
                    target.join("::")
                ));
            }
        }
    }
    assert!(violations.is_empty(), "\n{}", violations.join("\n"));
}

#[test]
fn no_module_imports_itself_in_a_circle() {
    let krate = read_crate();
    // Cycles between files, and between the top-level modules of the base floor.
    let mut graphs: Vec<BTreeMap<Vec<String>, BTreeSet<Vec<String>>>> = vec![krate.edges.clone()];
    let mut top: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, targets) in &krate.edges {
        let entry = top.entry(vec![module[0].clone()]).or_default();
        for t in targets {
            if t[0] != module[0] {
                entry.insert(vec![t[0].clone()]);
            }
        }
    }
    graphs.push(top);
    let mut cycles = Vec::new();
    for graph in &graphs {
        // Depth-first search with colours: a grey node reached again closes a cycle.
        let mut colour: BTreeMap<&Vec<String>, u8> = BTreeMap::new();
        fn visit<'a>(
            node: &'a Vec<String>,
            graph: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
            colour: &mut BTreeMap<&'a Vec<String>, u8>,
            stack: &mut Vec<&'a Vec<String>>,
            cycles: &mut Vec<String>,
        ) {
            colour.insert(node, 1);
            stack.push(node);
            for next in graph.get(node).into_iter().flatten() {
                match colour.get(next).copied().unwrap_or(0) {
                    0 => visit(next, graph, colour, stack, cycles),
                    1 => {
                        let from = stack.iter().position(|n| *n == next).unwrap_or(0);
                        let names: Vec<String> =
                            stack[from..].iter().map(|n| n.join("::")).collect();
                        cycles.push(format!("{} → {}", names.join(" → "), next.join("::")));
                    }
                    _ => {}
                }
            }
            stack.pop();
            colour.insert(node, 2);
        }
        for node in graph.keys() {
            if colour.get(node).copied().unwrap_or(0) == 0 {
                visit(node, graph, &mut colour, &mut Vec::new(), &mut cycles);
            }
        }
    }
    assert!(cycles.is_empty(), "\n{}", cycles.join("\n"));
}

#[test]
fn the_reader_sees_paths_as_written() {
    let own = vec!["nn".to_string(), "linear".to_string()];
    let text = "use crate::models::weights::Weights;\nuse super::lora::{A, B};\n// crate::eval in a comment\n\
                let x = crate::hub::read_json(p);\nuse crate::{error::Error, jsonl};\nlet y = my_crate::eval::f();";
    let mut refs = references(text, &own, false);
    refs.sort();
    let want: Vec<Vec<String>> = [
        &["error"][..],
        &["hub", "read_json"],
        &["jsonl"],
        &["models", "weights", "Weights"][..2],
        &["nn", "lora"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(refs, want);
}

/// The models reach the CPU kernels only through nn's layers:
/// `src/models/{t5,bert,distilbert,encoder}.rs` never name `nn::cpu`, comments included.
#[test]
fn models_never_name_the_cpu_kernels() {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/models");
    let mut hits = Vec::new();
    for name in ["t5.rs", "bert.rs", "distilbert.rs", "encoder.rs"] {
        let path = models.join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let lines: Vec<&str> = text.lines().collect();
        for line in cpu_mentions(&text) {
            hits.push(format!(
                "{}:{line}: {}",
                path.display(),
                lines[line - 1].trim()
            ));
        }
    }
    assert!(
        hits.is_empty(),
        "the models name nn::cpu (use nn's layers instead):\n{}",
        hits.join("\n")
    );
}

/// The (1-based) lines naming `nn::cpu`: as a path, or as an entry of a `nn::{…}` group.
fn cpu_mentions(text: &str) -> BTreeSet<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let names_cpu = |s: &str| s.starts_with("cpu") && !s[3..].starts_with(is_ident);
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut lines = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("nn::") {
        let at = from + found;
        from = at + "nn::".len();
        if text[..at].ends_with(is_ident) {
            continue; // e.g. `candle_nn::`
        }
        let start = from + (text[from..].len() - text[from..].trim_start().len());
        if names_cpu(&text[start..]) {
            lines.insert(line_of(start));
        } else if text[start..].starts_with('{') {
            // the group's top-level entries
            let mut depth = 0;
            let mut entry = start + 1;
            for (i, c) in text[start..].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' | ',' if depth == 1 => {
                        let e = entry + (text[entry..].len() - text[entry..].trim_start().len());
                        if names_cpu(&text[e..]) {
                            lines.insert(line_of(e));
                        }
                        entry = start + i + 1;
                        if c == '}' {
                            break;
                        }
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
        }
    }
    lines
}

#[test]
fn the_cpu_reader_sees_groups_and_skips_lookalikes() {
    let text = "use crate::nn::cpu::gemm;\nuse super::super::nn::{self,\n    cpu::norm};\n\
                use candle_nn::cpu;\n// nn::{a::cpu, cpus}\nlet x = nn:: cpu ::f();";
    assert_eq!(cpu_mentions(text), BTreeSet::from([1, 3, 6]));
}
