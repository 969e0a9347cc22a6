#!/usr/bin/env python3
"""The safe crate's public API as text, one item per line, sorted: what
`scripts/public-api.sh` writes to api/libevent.txt and CI compares, so that any change to
the API shows in review. Reads rustdoc's JSON (target/api/doc/libevent.json)."""
import json
import sys

d = json.load(open(sys.argv[1]))
idx = d["index"]
out = set()


def args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        parts = []
        for x in a["angle_bracketed"]["args"]:
            if "type" in x:
                parts.append(ty(x["type"]))
            elif "lifetime" in x:
                parts.append(x["lifetime"])
            elif "const" in x:
                parts.append(str(x["const"].get("expr", "")))
        for c in a["angle_bracketed"].get("constraints", []):
            b = c.get("binding", {})
            if "equality" in b:
                parts.append(f'{c["name"]} = {ty(b["equality"]["type"])}')
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in a:
        p = a["parenthesized"]
        o = f' -> {ty(p["output"])}' if p.get("output") else ""
        return "(" + ", ".join(ty(t) for t in p["inputs"]) + ")" + o
    return ""


def bound(b):
    if "trait_bound" in b:
        t = b["trait_bound"]["trait"]
        return t["path"] + args(t.get("args"))
    if "outlives" in b:
        return b["outlives"]
    return "?"


def ty(t):
    if t is None:
        return "()"
    k, v = next(iter(t.items()))
    if k == "resolved_path":
        return v["path"] + args(v.get("args"))
    if k == "primitive":
        return v
    if k == "generic":
        return v
    if k == "borrowed_ref":
        lt = (v["lifetime"] + " ") if v.get("lifetime") else ""
        return "&" + lt + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if k == "raw_pointer":
        return "*" + ("mut " if v["is_mutable"] else "const ") + ty(v["type"])
    if k == "slice":
        return "[" + ty(v) + "]"
    if k == "array":
        return "[" + ty(v["type"]) + "; " + v["len"] + "]"
    if k == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if k == "impl_trait":
        return "impl " + " + ".join(bound(b) for b in v)
    if k == "dyn_trait":
        return "dyn " + " + ".join(x["trait"]["path"] + args(x["trait"].get("args")) for x in v["traits"])
    if k == "qualified_path":
        return ty(v["self_type"]) + "::" + v["name"]
    if k == "function_pointer":
        s = v["sig"]
        return "fn(" + ", ".join(ty(x[1]) for x in s["inputs"]) + ")" + (" -> " + ty(s["output"]) if s.get("output") else "")
    return k


def generics(g):
    ps = []
    for p in g.get("params", []):
        k = p["kind"]
        if "type" in k:
            bs = k["type"].get("bounds", [])
            if k["type"].get("is_synthetic"):
                continue
            ps.append(p["name"] + (": " + " + ".join(bound(b) for b in bs) if bs else ""))
        elif "lifetime" in k:
            ps.append(p["name"])
        elif "const" in k:
            ps.append("const " + p["name"] + ": " + ty(k["const"]["type"]))
    wh = []
    for w in g.get("where_predicates", []):
        if "bound_predicate" in w:
            b = w["bound_predicate"]
            wh.append(ty(b["type"]) + ": " + " + ".join(bound(x) for x in b["bounds"]))
    return ("<" + ", ".join(ps) + ">" if ps else ""), (" where " + ", ".join(wh) if wh else "")


def fn_sig(name, f):
    g, w = generics(f.get("generics", {}))
    ins = []
    for pname, pty in f["sig"]["inputs"]:
        if pname == "self":
            ins.append({"Self": "self", "&Self": "&self", "&mut Self": "&mut self"}.get(ty(pty), "self: " + ty(pty)))
        else:
            ins.append(f"{pname}: {ty(pty)}")
    o = f["sig"].get("output")
    h = f.get("header", {})
    pre = ("unsafe " if h.get("is_unsafe") else "") + ("async " if h.get("is_async") else "") + ("const " if h.get("is_const") else "")
    return f"{pre}fn {name}{g}({', '.join(ins)})" + (f" -> {ty(o)}" if o else "") + w


def item(path, it, seen):
    k, v = next(iter(it["inner"].items()))
    full = "::".join(path + [it["name"]]) if it.get("name") else "::".join(path)
    if k == "module":
        for c in v["items"]:
            visit(str(c), path + [it["name"]], seen)
    elif k == "struct":
        out.add(f"pub struct {full}")
        members(full, v["impls"])
    elif k == "enum":
        out.add(f"pub enum {full}")
        for var in v["variants"]:
            out.add(f"pub enum {full}::{idx[str(var)]['name']}")
        members(full, v["impls"])
    elif k == "function":
        out.add(f"pub {fn_sig(full, v)}")
    elif k == "type_alias":
        out.add(f"pub type {full} = {ty(v['type'])}")
    elif k == "constant":
        out.add(f"pub const {full}: {ty(v['type'])}")
    elif k == "trait":
        out.add(f"pub trait {full}")
    elif k == "macro":
        out.add(f"pub macro {full}!")


def members(owner, impls):
    for i in impls:
        im = idx.get(str(i))
        if not im:
            continue
        v = im["inner"]["impl"]
        if v.get("is_synthetic") or v.get("blanket_impl"):
            continue
        if v.get("trait"):
            t = v["trait"]
            out.add(f"impl {t['path']}{args(t.get('args'))} for {owner}")
            continue
        for m in v["items"]:
            mi = idx.get(str(m))
            if not mi or mi.get("visibility") != "public":
                continue
            mk, mv = next(iter(mi["inner"].items()))
            if mk == "function":
                out.add(f"pub {fn_sig(owner + '::' + mi['name'], mv)}")
            elif mk == "assoc_const":
                out.add(f"pub const {owner}::{mi['name']}: {ty(mv['type'])}")


def visit(i, path, seen):
    if i in seen:
        return
    it = idx.get(i)
    if not it or it.get("visibility") not in ("public", None) and it.get("visibility") != "public":
        return
    k = next(iter(it["inner"]))
    if k == "use":
        u = it["inner"]["use"]
        tgt = u.get("id")
        if tgt is None or str(tgt) not in idx:
            out.add(f"pub use {'::'.join(path)}::{u['name']} = {u['source']}")
            return
        t = idx[str(tgt)]
        if u.get("is_glob"):
            visit(str(tgt), path, seen)
            return
        renamed = dict(t)
        renamed["name"] = u["name"]
        item(path, renamed, seen | {i})
        return
    item(path, it, seen | {i})


root = idx[str(d["root"])]
for c in root["inner"]["module"]["items"]:
    visit(str(c), ["libevent"], set())
for line in sorted(out):
    print(line)
