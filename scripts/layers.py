#!/usr/bin/env python3
"""The layers of src/ and gateway/src/, checked: a module imports only modules of layers
listed before its own (or its own folder's siblings, without a cycle between them).

    python3 scripts/layers.py        prints each violation and exits 1 if there is any
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

# The extension, bottom to top. A new module joins the lowest layer it can.
EXTENSION_LAYERS = [
    ["core"],          # SPI, errors, settings, roles, request, passwords, crypto
    ["workers"],       # reserved writers (durable), anonymous cleanup
    ["users"],         # the account row: find, create, addresses, metadata
    ["limits"],        # rate limits, checked before expensive work
    ["tokens"],        # keys, JWT, API keys, claims, hooks
    ["sessions"],      # open, current, refresh, verify
    ["verification"],  # one-time tokens, PKCE, outbox
    ["account"], ["mfa"],       # update, address change, identities, merge
    ["providers"],     # third-party sign-in providers: config, sealed secrets
    ["flows"],         # sign-in and sign-up flows, verifying codes and links
    ["admin", "gateway"],
]
# The HTTP gateway, bottom to top.
GATEWAY_LAYERS = [["config"], ["serve"], ["sql"], ["gotrue"], ["request"], ["outbound"], ["captcha"], ["mail_templates"], ["webhooks"], ["sender"], ["exchange"], ["social"], ["custom_providers"], ["mfa"], ["api"], ["proxy"]]


def modules(src):
    found = {}
    for folder, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                rel = os.path.relpath(os.path.join(folder, name), src)[:-3]
                mod = rel.removesuffix("/mod").replace("/", "::")
                text = open(os.path.join(folder, name)).read()
                # Tests may reach anywhere: they are not part of the architecture.
                text = re.split(r"#\[cfg\(any\(test, feature = \"pg_test\"\)\)\]", text)[0]
                found[mod] = text
    return found


def imports(mod, text, names):
    deps = set()
    refs = re.findall(r"crate::((?:[a-z_]+::)*[a-z_]+)", text)
    for group in re.findall(r"use crate::\{([^}]*)\}", text):
        refs += [x.strip() for x in group.split(",")]
    for ref in refs:
        parts = ref.split("::")
        for k in range(len(parts), 0, -1):
            candidate = "::".join(parts[:k])
            if candidate in names:
                deps.add(candidate)
                break
    deps.discard(mod)
    return deps


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def check(src, layers):
    rank = {top: i for i, layer in enumerate(layers) for top in layer}
    mods = modules(src)
    graph = {m: imports(m, t, mods) for m, t in mods.items()}
    problems = []
    for m, deps in sorted(graph.items()):
        top = m.split("::")[0]
        if top in ("lib", "main"):  # the crate roots declare the modules
            continue
        if top not in rank:
            problems.append(f"{src}: {m} belongs to no layer (add it to scripts/layers.py)")
            continue
        for d in sorted(deps):
            dtop = d.split("::")[0]
            if dtop == top or dtop in ("lib", "main"):
                continue
            if dtop not in rank or rank[dtop] >= rank[top]:
                problems.append(f"{src}: {m} imports {d}, which is not in a layer below it")
    for component in cycles(graph):
        problems.append(f"{src}: import cycle between {', '.join(component)}")
    return problems


def main():
    problems = check(os.path.join(ROOT, "src"), EXTENSION_LAYERS)
    problems += check(os.path.join(ROOT, "gateway", "src"), GATEWAY_LAYERS)
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print("layers: every import points down, no cycles")


if __name__ == "__main__":
    main()
