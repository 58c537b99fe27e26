#!/usr/bin/env python3
"""Flash and RAM of an ARM ELF image, and who takes the flash, from the ELF alone.

Reads the section headers and the symbol table with the standard library only (no binutils):

    elfsize.py IMAGE [--baseline BASELINE] [--top N] [--brief]

Flash is what the image loads at 0: `.vector_table`, `.text`, `.rodata` (text + rodata) and
the initial values of `.data`. Static RAM is `.data` + `.bss` + `.uninit`; the heap arena (the
symbol HEM_HEAP_ARENA) is shown apart. Flash by crate sums the sizes of the function and object
symbols in `.text` and `.rodata`, attributed to the crate that the (legacy-mangled) symbol path
starts with; for an `impl Trait for Type` block, the crate of the type. Monomorphised generic
code is attributed to the crate that defines the generic (serde_json's serialiser of a core
type counts as serde_json). What no symbol covers (anonymous string literals, tables,
alignment) is reported as such.
"""
import re
import struct
import sys
from collections import defaultdict

SHT_SYMTAB = 2
STT_OBJECT, STT_FUNC = 1, 2
FLASH_SECTIONS = (".vector_table", ".text", ".rodata")
RAM_SECTIONS = (".data", ".bss", ".uninit")


def read_elf(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        sys.exit(f"{path}: not a 32-bit little-endian ELF")
    (e_shoff,) = struct.unpack_from("<I", data, 0x20)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    sections = []
    for i in range(e_shnum):
        name, typ, flags, addr, off, size, link, info, align, entsize = struct.unpack_from(
            "<IIIIIIIIII", data, e_shoff + i * e_shentsize
        )
        sections.append(dict(name=name, type=typ, addr=addr, off=off, size=size, link=link, entsize=entsize))
    strtab = sections[e_shstrndx]

    def cstr(table, offset):
        start = table["off"] + offset
        end = data.index(b"\0", start)
        return data[start:end].decode("utf-8", "replace")

    for s in sections:
        s["name"] = cstr(strtab, s["name"])
    symbols = []
    for s in sections:
        if s["type"] != SHT_SYMTAB:
            continue
        names = sections[s["link"]]
        for i in range(s["size"] // s["entsize"]):
            st_name, value, size, info, other, shndx = struct.unpack_from(
                "<IIIBBH", data, s["off"] + i * s["entsize"]
            )
            symbols.append(dict(name=cstr(names, st_name), value=value, size=size, type=info & 0xF, shndx=shndx))
    return sections, symbols


def legacy_path(name):
    """The path components of a legacy-mangled Rust symbol (`_ZN…E`), or None."""
    if not name.startswith("_ZN"):
        return None
    i, parts = 3, []
    while i < len(name) and name[i] != "E":
        j = i
        while j < len(name) and name[j].isdigit():
            j += 1
        if j == i:
            return None
        n = int(name[i:j])
        parts.append(name[j : j + n])
        i = j + n
    return parts


V0_CRATE = re.compile(r"C(?:s[0-9A-Za-z]*_)?(\d+)")


def v0_crate(name):
    """The first crate root named in a v0-mangled symbol (`_R…`), which the standard library
    uses: `C` [`s` disambiguator `_`] length name."""
    for m in V0_CRATE.finditer(name):
        n, start = int(m.group(1)), m.end()
        ident = name[start : start + n]
        if len(ident) == n and re.match(r"[A-Za-z_][A-Za-z0-9_]*$", ident):
            return ident
    return None


def crate_of(name):
    if name.startswith(".Lanon."):
        return "(anonymous constants)"
    if name.startswith(".Lswitch.table."):
        name = name[len(".Lswitch.table.") :]
    if name.startswith("_R"):
        return v0_crate(name) or "(?)"
    parts = legacy_path(name)
    if not parts:
        if name == "__INTERRUPTS" or name in RUNTIME_SYMBOLS:
            return "cortex_m_rt"
        return "(libc-like: " + name + ")" if name in ("memcmp", "memset", "memcpy") else "(other)"
    first = parts[0]
    if first.startswith("_$LT$"):
        # <Type as Trait> or <impl Type>: the crate of the type; for a bare generic
        # parameter (`<&T as Debug>`), the crate of the trait.
        t = first[5:]
        for prefix in ("$RF$", "mut$u20$", "$BP$", "const$u20$", "$u5b$", "$LP$", "dyn$u20$"):
            while t.startswith(prefix):
                t = t[len(prefix) :]
        head = t.split("..")[0].split("$")[0]
        if "$u20$as$u20$" in t:
            trait = t.split("$u20$as$u20$")[1].split("..")[0]
            # a bare generic parameter (`<&T as Debug>`), or a core/alloc type implementing
            # another crate's trait (`<PhantomData<T> as serde::DeserializeSeed>`): the trait's
            if ".." not in t.split("$u20$as$u20$")[0] or head in ("core", "alloc") and trait not in ("core", "alloc"):
                head = trait
        first = head
    return first or "(?)"


RUNTIME_SYMBOLS = {"Reset", "HardFault", "_HardFault", "DefaultHandler_", "DefaultPreInit", "main", "HardFaultTrampoline"}


def main():
    args = sys.argv[1:]
    baseline, top, brief = None, 12, "--brief" in args
    args = [a for a in args if a != "--brief"]
    if "--baseline" in args:
        k = args.index("--baseline")
        baseline = args[k + 1]
        del args[k : k + 2]
    if "--top" in args:
        k = args.index("--top")
        top = int(args[k + 1])
        del args[k : k + 2]
    (path,) = args
    sections, symbols = read_elf(path)
    by_name = {s["name"]: s for s in sections}
    size = lambda n: by_name[n]["size"] if n in by_name else 0
    text_rodata = sum(size(n) for n in FLASH_SECTIONS)
    data = size(".data")
    arena = sum(s["size"] for s in symbols if s["name"] == "HEM_HEAP_ARENA")
    ram = sum(size(n) for n in RAM_SECTIONS)
    print(f"flash text+rodata {text_rodata} B ({text_rodata / 1024:.1f} KiB): "
          f"vector_table {size('.vector_table')}, text {size('.text')}, rodata {size('.rodata')}; "
          f"+ .data init {data} B")
    print(f"static RAM {ram - arena} B (.data {data}, .bss+.uninit {ram - data - arena} without the heap arena); "
          f"heap arena {arena} B")
    if baseline:
        bs, _ = read_elf(baseline)
        bn = {s["name"]: s for s in bs}
        base = sum(bn[n]["size"] for n in FLASH_SECTIONS if n in bn)
        print(f"flash over the baseline image (runtime, heap, semihosting; {base} B): "
              f"{text_rodata - base} B ({(text_rodata - base) / 1024:.1f} KiB)")
    if brief:
        return
    flash_idx = {i for i, s in enumerate(sections) if s["name"] in FLASH_SECTIONS}
    per_crate = defaultdict(int)
    seen = set()
    for s in symbols:
        if s["shndx"] in flash_idx and s["type"] in (STT_FUNC, STT_OBJECT) and s["size"]:
            key = (s["value"] & ~1, s["size"])
            if key in seen:
                continue
            seen.add(key)
            per_crate[crate_of(s["name"])] += s["size"]
    covered = sum(per_crate.values())
    rows = sorted(per_crate.items(), key=lambda kv: -kv[1])
    shown = rows[:top]
    rest = sum(v for _, v in rows[top:])
    parts = [f"{c} {v}" for c, v in shown]
    if rest:
        parts.append(f"{len(rows) - top} others {rest}")
    parts.append(f"no symbol (string literals, tables, padding) {text_rodata - covered}")
    print("flash by crate (B): " + ", ".join(parts))
    core = per_crate.get("hem_auth_core", 0)
    print(f"flash of hem_auth_core's own symbols {core} B ({core / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
