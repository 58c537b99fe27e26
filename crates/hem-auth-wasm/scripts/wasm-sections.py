#!/usr/bin/env python3
"""Section-size breakdown of a .wasm file (raw and gzipped), and the largest functions by
body size when the module has a name section. Standard library only.

    python3 scripts/wasm-sections.py pkg/node/hem_auth_wasm_bg.wasm [TOP]
"""
import gzip
import sys

NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
         6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data",
         12: "datacount"}


def leb(buf, i):
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def sections(buf):
    i = 8
    while i < len(buf):
        sid = buf[i]
        size, j = leb(buf, i + 1)
        name = NAMES.get(sid, str(sid))
        if sid == 0:
            n, k = leb(buf, j)
            name = "custom:" + buf[k:k + n].decode("utf-8", "replace")
        yield sid, name, buf[j:j + size]
        i = j + size


def function_names(payload):
    """Function index -> name, from the `name` custom section's subsection 1."""
    n, i = leb(payload, 0)
    i += n
    out = {}
    while i < len(payload):
        kind = payload[i]
        size, i = leb(payload, i + 1)
        end = i + size
        if kind == 1:
            count, i = leb(payload, i)
            for _ in range(count):
                idx, i = leb(payload, i)
                ln, i = leb(payload, i)
                out[idx] = payload[i:i + ln].decode("utf-8", "replace")
                i += ln
        i = end
    return out


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    buf = open(path, "rb").read()
    secs = list(sections(buf))
    total_gz = len(gzip.compress(buf, 9))
    print(f"{path}: {len(buf)} bytes, {total_gz} gzipped")
    print(f"{'section':<28}{'bytes':>10}{'gzipped':>10}")
    for _, name, payload in secs:
        print(f"{name:<28}{len(payload):>10}{len(gzip.compress(payload, 9)):>10}")
    imports = sum(1 for _ in [])
    names = {}
    for sid, name, payload in secs:
        if name == "custom:name":
            names = function_names(payload)
        if sid == 2:
            count, i = leb(payload, 0)
            imported = 0
            for _ in range(count):
                for _s in range(2):
                    ln, i = leb(payload, i)
                    i += ln
                kind = payload[i]
                i += 1
                if kind == 0:
                    _, i = leb(payload, i)
                    imported += 1
                elif kind == 1:
                    i += 1
                    flags, i = leb(payload, i)
                    _, i = leb(payload, i)
                    if flags & 1:
                        _, i = leb(payload, i)
                elif kind == 2:
                    flags, i = leb(payload, i)
                    _, i = leb(payload, i)
                    if flags & 1:
                        _, i = leb(payload, i)
                elif kind == 3:
                    i += 2
            imports = imported
    for sid, _, payload in secs:
        if sid != 10:
            continue
        count, i = leb(payload, 0)
        bodies = []
        for k in range(count):
            size, j = leb(payload, i)
            bodies.append((size, names.get(imports + k, f"func[{imports + k}]")))
            i = j + size
        bodies.sort(reverse=True)
        print(f"\n{count} functions; the {top} largest bodies:")
        for size, name in bodies[:top]:
            print(f"{size:>8}  {name[:110]}")
        groups = {}
        for size, name in bodies:
            key = crate_of(name)
            groups[key] = groups.get(key, 0) + size
        print("\ncode bytes by crate (from the function names):")
        for key, size in sorted(groups.items(), key=lambda kv: -kv[1])[:15]:
            print(f"{size:>8}  {key}")


def crate_of(name):
    """The crate a (demangled) function name belongs to, roughly."""
    for prefix in ("<", "_<"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    head = name.split("::")[0]
    return head if head and "[" not in head else "(unnamed)"


if __name__ == "__main__":
    main()
