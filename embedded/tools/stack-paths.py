#!/usr/bin/env python3
"""Static worst-case stack paths of an ARM Thumb image, from its disassembly.

    llvm-objdump -d --no-show-raw-insn -C IMAGE > dis.txt
    stack-paths.py dis.txt PATTERN [PATTERN...]

For each function, the frame is what its prologue reserves: `push` (4 B a register), `vpush`
(8 B a d-register, 4 B an s-register) and `sub sp` immediates among its first instructions.
The worst path from a function is its frame plus the worst path among the functions it calls
directly (`bl`, and `b`/`b.w` to another function's start, a tail call); indirect calls
(`blx rN`: trait objects, formatting) are not followed, and recursion is cut. This is an
estimate to explain the painted measurement (which is the figure that counts), not a bound.
`llvm-objdump` comes with `rustup component add llvm-tools` (in the toolchain's
`lib/rustlib/<host>/bin`).
"""
import re
import sys
from functools import lru_cache

HEAD = re.compile(r"^([0-9a-f]+) <(.*)>:$")
INSN = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
CALL = re.compile(r"0x([0-9a-f]+) <([^>+]*)>")


def parse(path):
    funcs, order, cur = {}, [], None
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        m = HEAD.match(line)
        if m:
            cur = m.group(2)
            funcs[cur] = dict(addr=int(m.group(1), 16), insns=[], frame=0, calls=set())
            order.append(cur)
            continue
        m = INSN.match(line)
        if m and cur:
            funcs[cur]["insns"].append((m.group(2), m.group(3)))
    for f in funcs.values():
        for i, (op, args) in enumerate(f["insns"]):
            if i < 12:
                if op.startswith("push"):
                    f["frame"] += 4 * len(regs(args))
                elif op.startswith("vpush"):
                    rs = regs(args)
                    f["frame"] += sum(8 if r.startswith("d") else 4 for r in rs)
                else:
                    m = re.match(r"sp, (?:sp, )?#(0x[0-9a-f]+|\d+)", args)
                    if op.startswith("sub") and m:
                        f["frame"] += int(m.group(1), 0)
            if op in ("bl", "b", "b.w") or op.startswith("b.w") and False:
                m = CALL.search(args)
                if m and (op == "bl" or "+" not in args.split("<", 1)[1]):
                    f["calls"].add(m.group(2))
    return funcs


def regs(args):
    body = args[args.find("{") + 1 : args.find("}")]
    out = []
    for part in body.split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            out += [a[0] + str(n) for n in range(int(a[1:]), int(b[1:]) + 1)]
        elif part:
            out.append(part)
    return out


def main():
    funcs = parse(sys.argv[1])
    visiting = set()

    @lru_cache(maxsize=None)
    def worst(name):
        f = funcs.get(name)
        if not f or name in visiting:
            return (0, ())
        visiting.add(name)
        best = (0, ())
        for c in f["calls"]:
            if c != name:
                w = worst(c)
                if w[0] > best[0]:
                    best = w
        visiting.discard(name)
        return (f["frame"] + best[0], ((name, f["frame"]),) + best[1])

    for pat in sys.argv[2:]:
        names = [n for n in funcs if re.search(pat, n)]
        for n in names[:3]:
            total, path = worst(n)
            print(f"{n[:100]}: worst static path {total} B")
            for fn, fr in path:
                if fr:
                    print(f"  {fr:6d} B  {fn[:110]}")


if __name__ == "__main__":
    main()
