//! API.md lists every public function of libevent's headers with its status, and this
//! test keeps it true against the headers the build used (`DEP_EVENT_INCLUDE`, passed on
//! by build.rs) and against the crate's source:
//!
//! - every function a header exports has exactly one row, under its header;
//! - a row is `wrapped` exactly when `src/` calls the function, and then it names the
//!   Rust items that reach it as intra-doc links, which `cargo doc -D warnings` resolves
//!   (API.md is the documentation of `libevent::c_api`), so a row cannot name an item that
//!   does not exist;
//! - every other row says why not (`replaced`, `deprecated`, `platform`, `not yet`);
//! - the counts at the top of API.md and the line in README.md equal the rows.
//!
//! `API_TABLE=update cargo test --test api_table` rewrites API.md: rows for functions new
//! in the headers (as `not yet`, or `wrapped` with a placeholder to fill in when the
//! source calls them) and the counts, in API.md and README.md. Then review the diff.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The headers the table covers: the public ones, less the compatibility and struct
/// headers (deprecated interfaces and layouts, not functions of their own).
fn covered(header: &str) -> bool {
    header.ends_with(".h")
        && !header.ends_with("_compat.h")
        && !header.ends_with("_struct.h")
        && !matches!(header, "event-config.h" | "visibility.h")
}

const STATUSES: [&str; 5] = ["wrapped", "replaced", "deprecated", "platform", "not yet"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Removes `/* */` and `//` comments from C.
fn strip_c_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
            out.push(' ');
        } else if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Removes `#if 0` ... `#endif` blocks (nested conditionals counted), declarations
/// upstream keeps in the header but compiles out, and `#define`s (with their continued
/// lines).
fn strip_if0(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize; // > 0: inside an `#if 0`, counting nested `#if`s
    let mut in_define = false; // a `#define` continued onto this line
    for line in s.lines() {
        let t = line.trim_start();
        let directive = t.strip_prefix('#').map(str::trim_start);
        if depth > 0 {
            match directive {
                Some(d) if d.starts_with("if") => depth += 1,
                Some(d) if d.starts_with("endif") => depth -= 1,
                _ => {}
            }
            continue;
        }
        if directive.is_some_and(|d| d.split_whitespace().collect::<Vec<_>>() == ["if", "0"]) {
            depth = 1;
            continue;
        }
        if in_define || directive.is_some_and(|d| d.starts_with("define")) {
            // A macro's body (rpc.h's EVRPC_HEADER declares functions inside one): the
            // functions it makes are named only when a program expands it.
            in_define = line.trim_end().ends_with('\\');
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The functions a header exports: each `EVENT2_EXPORT_SYMBOL` declaration outside
/// `#if 0`, named by the identifier before its first `(` (which skips return types and
/// attributes).
fn exported(text: &str) -> Vec<String> {
    let text = strip_if0(&strip_c_comments(text));
    let mut names = Vec::new();
    for (at, _) in text.match_indices("EVENT2_EXPORT_SYMBOL") {
        let decl = &text[at + "EVENT2_EXPORT_SYMBOL".len()..];
        let decl = &decl[..decl.find(';').expect("a declaration ends with ;")];
        let paren = decl.find('(').expect("a function declaration");
        let name: String = decl[..paren]
            .trim_end()
            .chars()
            .rev()
            .take_while(|&c| is_ident(c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        assert!(!name.is_empty(), "no name in {decl:?}");
        names.push(name);
    }
    names
}

/// Header name to its functions, in header order.
fn headers(include: &Path) -> BTreeMap<String, Vec<String>> {
    let dir = include.join("event2");
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if covered(&name) {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let fns = exported(&text);
            if !fns.is_empty() {
                out.insert(name, fns);
            }
        }
    }
    out
}

/// Every identifier in the crate's Rust source outside comments.
fn identifiers_in(dir: &Path, out: &mut BTreeSet<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            identifiers_in(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                let code = match line.find("//") {
                    // `//` after `:` is a URL in a string, not a comment.
                    Some(i) if !line[..i].ends_with(':') => &line[..i],
                    _ => line,
                };
                for word in code.split(|c: char| !is_ident(c)) {
                    if !word.is_empty() {
                        out.insert(word.to_owned());
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Row {
    function: String,
    status: String,
    detail: String,
}

/// API.md: its text before the first header section, and the rows of each section.
struct Table {
    preamble: String,
    sections: BTreeMap<String, Vec<Row>>,
}

fn parse(text: &str) -> Table {
    let mut preamble = String::new();
    let mut sections: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        if let Some(h) = line.strip_prefix("## ").filter(|h| h.ends_with(".h")) {
            let h = h.trim_matches('`').to_owned();
            assert!(
                sections.insert(h.clone(), Vec::new()).is_none(),
                "API.md:{}: section {h} twice",
                n + 1
            );
            current = Some(h);
            continue;
        }
        let Some(h) = &current else {
            preamble.push_str(line);
            preamble.push('\n');
            continue;
        };
        let Some(cells) = line.strip_prefix("| `") else {
            continue;
        };
        let cells: Vec<&str> = cells.splitn(3, " | ").collect();
        assert_eq!(cells.len(), 3, "API.md:{}: a row has three cells", n + 1);
        let function = cells[0].trim_end_matches('`').to_owned();
        let status = cells[1].trim().to_owned();
        let detail = cells[2].trim().trim_end_matches('|').trim().to_owned();
        assert!(
            STATUSES.contains(&status.as_str()),
            "API.md:{}: {function}: status {status:?} is none of {STATUSES:?}",
            n + 1
        );
        sections.get_mut(h).unwrap().push(Row {
            function,
            status,
            detail,
        });
    }
    Table { preamble, sections }
}

/// The counts block of API.md and the README line, from the rows.
fn counts(t: &Table) -> (String, String) {
    let mut block = String::from(
        "| header | functions | wrapped | replaced | deprecated | platform | not yet |\n\
         |---|---|---|---|---|---|---|\n",
    );
    let mut total = [0usize; 6];
    for (h, rows) in &t.sections {
        let mut c = [0usize; 6];
        c[0] = rows.len();
        for r in rows {
            c[1 + STATUSES.iter().position(|s| *s == r.status).unwrap()] += 1;
        }
        for (t, c) in total.iter_mut().zip(c) {
            *t += c;
        }
        writeln!(
            block,
            "| {h} | {} | {} | {} | {} | {} | {} |",
            c[0], c[1], c[2], c[3], c[4], c[5]
        )
        .unwrap();
    }
    writeln!(
        block,
        "| **all** | **{}** | **{}** | **{}** | **{}** | **{}** | **{}** |",
        total[0], total[1], total[2], total[3], total[4], total[5]
    )
    .unwrap();
    let percent = |n: usize| (n * 1000 / total[0]) as f64 / 10.0;
    let left = match total[5] {
        0 => "none is left unwrapped".to_owned(),
        1 => "1 is not wrapped yet".to_owned(),
        n => format!("{n} are not wrapped yet"),
    };
    let readme = format!(
        "Of libevent's {} public functions, the safe crate calls {} ({}%); {} are replaced \
         by Rust's standard library or the crate's own types, {} are deprecated upstream, \
         {} are for other platforms, and {left} ([API.md](API.md)).",
        total[0],
        total[1],
        percent(total[1]),
        total[2],
        total[3],
        total[4],
    );
    (block, readme)
}

const COUNTS_BEGIN: &str = "<!-- counts: written by tests/api_table.rs -->\n";
const COUNTS_END: &str = "<!-- end of counts -->\n";
const README_MARK: &str = "Of libevent's ";

fn render(t: &Table) -> String {
    let (block, _) = counts(t);
    let pre = &t.preamble;
    let (a, b) = (
        pre.find(COUNTS_BEGIN)
            .expect("API.md has its counts marker"),
        pre.find(COUNTS_END)
            .expect("API.md has its counts end marker"),
    );
    let mut out = format!(
        "{}{COUNTS_BEGIN}{block}{}",
        &pre[..a],
        &pre[b..].trim_end_matches('\n')
    );
    out.push('\n');
    for (h, rows) in &t.sections {
        write!(
            out,
            "\n## {h}\n\n| function | status | reached from Rust, or why not |\n|---|---|---|\n"
        )
        .unwrap();
        for r in rows {
            writeln!(out, "| `{}` | {} | {} |", r.function, r.status, r.detail).unwrap();
        }
    }
    out
}

fn readme_line(readme: &str) -> Option<&str> {
    readme.lines().find(|l| l.starts_with(README_MARK))
}

#[test]
fn api_md_lists_every_function_of_the_headers_the_build_used() {
    // libevent-sys exports DEP_EVENT_INCLUDE; build.rs passes it on.
    let include = env!("LIBEVENT_INCLUDE_DIR");
    let headers = headers(Path::new(include));
    let api_path = root().join("API.md");
    let readme_path = root().join("README.md");
    let text = std::fs::read_to_string(&api_path).unwrap();
    let mut table = parse(&text);
    let mut called = BTreeSet::new();
    identifiers_in(&root().join("src"), &mut called);
    let update = std::env::var("API_TABLE").is_ok_and(|v| v == "update");

    let mut problems = Vec::new();
    for (h, fns) in &headers {
        let rows = table.sections.entry(h.clone()).or_default();
        for f in fns {
            let n = rows.iter().filter(|r| &r.function == f).count();
            if n > 1 {
                problems.push(format!("{h}: {f} has {n} rows"));
            }
            if n == 0 {
                if update {
                    let wrapped = called.contains(f);
                    rows.push(Row {
                        function: f.clone(),
                        status: if wrapped { "wrapped" } else { "not yet" }.into(),
                        detail: if wrapped {
                            "(name the Rust item)".into()
                        } else {
                            String::new()
                        },
                    });
                } else {
                    problems.push(format!("{h}: {f} has no row"));
                }
            }
        }
        if update {
            // Functions gone from the header lose their rows.
            rows.retain(|r| fns.contains(&r.function));
        }
        // Keep the header's order, so the table reads like the header.
        rows.sort_by_key(|r| fns.iter().position(|f| *f == r.function));
    }
    let system = cfg!(libevent_system);
    for (h, rows) in &table.sections {
        for r in rows {
            let f = &r.function;
            let in_header = headers.get(h).is_some_and(|fns| fns.contains(f));
            // The system's libevent may be another 2.1 release, with fewer functions.
            if !in_header && !system {
                problems.push(format!("{h}: {f} has a row but no declaration there"));
            }
            let calls = called.contains(f);
            match (r.status == "wrapped", calls) {
                (true, false) => {
                    problems.push(format!("{h}: {f} is `wrapped` but src/ never calls it"))
                }
                (false, true) => problems.push(format!(
                    "{h}: {f} is `{}` but src/ calls it: mark it wrapped and name the item",
                    r.status
                )),
                _ => {}
            }
            if r.status == "wrapped" && !r.detail.contains("[`") {
                problems.push(format!(
                    "{h}: {f} is wrapped but names no Rust item as a [`link`]"
                ));
            }
            if r.status != "wrapped" && r.detail.is_empty() && r.status != "not yet" {
                problems.push(format!("{h}: {f} is `{}` and says not why", r.status));
            }
        }
    }
    let (_, line) = counts(&table);
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let rendered = render(&table);
    if update {
        std::fs::write(&api_path, &rendered).unwrap();
        let old = readme_line(&readme).expect("README.md has the API.md counts line");
        std::fs::write(&readme_path, readme.replace(old, &line)).unwrap();
    } else {
        if rendered != text {
            problems.push(
                "API.md's counts or layout differ from its rows (API_TABLE=update rewrites them)"
                    .into(),
            );
        }
        if readme_line(&readme) != Some(line.as_str()) {
            problems.push(format!("README.md should say:\n{line}"));
        }
    }
    assert!(problems.is_empty(), "API.md:\n{}", problems.join("\n"));
}

#[test]
fn the_header_parser_finds_names_past_return_types_attributes_and_comments() {
    let h = "/* EVENT2_EXPORT_SYMBOL not_this(void); */\n\
             EVENT2_EXPORT_SYMBOL\nstruct evbuffer *evbuffer_new(void);\n\
             EVENT2_EXPORT_SYMBOL\nint evbuffer_add_printf(struct evbuffer *buf, const char *fmt, ...)\n\
             #ifdef __GNUC__\n  __attribute__((format(printf, 2, 3)))\n#endif\n;\n\
             EVENT2_EXPORT_SYMBOL\nvoid evdns_set_random_bytes_fn(void (*fn)(char *, size_t));\n\
             #if 0\nEVENT2_EXPORT_SYMBOL\nvoid compiled_out(void);\n#ifdef X\n#endif\n\
             EVENT2_EXPORT_SYMBOL\nvoid still_out(void);\n#endif\n\
             #define MAKER(name) \\\n  EVENT2_EXPORT_SYMBOL int made_##name(void);\n";
    assert_eq!(
        exported(h),
        [
            "evbuffer_new",
            "evbuffer_add_printf",
            "evdns_set_random_bytes_fn"
        ]
    );
}
