"""A small ICU data library for the frozen app.

PySide6's libicudata is 31 MiB, a fifth of the build. Qt links ICU, but a console that shows
English text never reads most of its data: with an empty data library and ICU_DATA pointing
at the unpacked items, a `--sandbox --screenshots` run through every tab opened none of
them (strace, 2026-11-30). This keeps the items Qt could reach from this app (the root
locale, root collation, normalisation and converter aliases: 1.3 MiB) and links them into
a library with the same soname and data symbol, so libicuuc finds it as before.

The common-data layout (ICU's "CmnD" format): a header of `headerSize` bytes, then a table of
contents (uint32 count, then count pairs of uint32 name offset and data offset, both from
the start of the table), the names, and the items, each 16-byte aligned, sorted by name.
Building needs readelf and gcc (binutils), as PyInstaller's own analysis needs binutils.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

# Item names under the "icudtNNl/" package prefix, kept in the small library.
KEEP_ITEMS = (
    "root.res",
    "res_index.res",
    "pool.res",
    "cnvalias.icu",
    "nfkc.nrm",
    "nfkc_cf.nrm",
    "uts46.nrm",
    "coll/root.res",
    "coll/res_index.res",
    "coll/ucadata.icu",
)
_SYMBOL = re.compile(
    r"^\s*\d+:\s+([0-9a-f]+)\s+(\S+)\s+OBJECT\s+GLOBAL\s+\S+\s+\d+\s+(icudt\d+_dat)$"
)


class IcuDataError(RuntimeError):
    """The library is not an ICU data library this module understands."""


def read_common_data(library: Path) -> tuple[str, bytes]:
    """The data symbol's name and bytes of an ICU data shared library."""
    symbols = subprocess.run(
        ["readelf", "-sW", str(library)], capture_output=True, text=True, check=True
    ).stdout
    for line in symbols.splitlines():
        match = _SYMBOL.match(line)
        if match:
            address, size_text, name = match.groups()
            size = int(size_text, 0)
            break
    else:
        raise IcuDataError(f"{library}: no icudtNN_dat symbol")
    offset = _file_offset(library, int(address, 16))
    with library.open("rb") as handle:
        handle.seek(offset)
        data = handle.read(size)
    if data[2:4] != b"\xda\x27" or data[12:16] != b"CmnD":
        raise IcuDataError(f"{library}: {name} is not ICU common data")
    return name, data


def _file_offset(library: Path, address: int) -> int:
    sections = subprocess.run(
        ["readelf", "-SW", str(library)], capture_output=True, text=True, check=True
    ).stdout
    for line in sections.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 5 and fields[1] == ".rodata":
            start, file_offset, size = (int(fields[i], 16) for i in (3, 4, 5))
            if start <= address < start + size:
                return address - start + file_offset
    raise IcuDataError(f"{library}: the data symbol is outside .rodata")


def items(data: bytes) -> list[tuple[str, bytes]]:
    """The (name, bytes) items of ICU common data, in their (sorted) order."""
    header_size = struct.unpack_from("<H", data, 0)[0]
    count = struct.unpack_from("<I", data, header_size)[0]
    entries = [struct.unpack_from("<II", data, header_size + 4 + 8 * i) for i in range(count)]
    result = []
    for index, (name_offset, data_offset) in enumerate(entries):
        start = header_size + name_offset
        name = data[start : data.index(b"\0", start)].decode("ascii")
        end = entries[index + 1][1] if index + 1 < count else len(data) - header_size
        result.append((name, data[header_size + data_offset : header_size + end]))
    return result


def common_data(header: bytes, kept: list[tuple[str, bytes]]) -> bytes:
    """ICU common data holding `kept` (already sorted by name) after `header`."""
    table_size = 4 + 8 * len(kept)
    names = b"".join(name.encode("ascii") + b"\0" for name, _ in kept)
    position = table_size + len(names)
    position += -position % 16
    table = struct.pack("<I", len(kept))
    body = b""
    name_offset = table_size
    for name, item in kept:
        table += struct.pack("<II", name_offset, position + len(body))
        name_offset += len(name) + 1
        body += item + b"\0" * (-len(item) % 16)
    padding = b"\0" * (-(table_size + len(names)) % 16)
    return header + table + names + padding + body


def small_library(library: Path, work: Path, keep: tuple[str, ...] = KEEP_ITEMS) -> Path:
    """Build the small data library in `work`; return its path (same file name)."""
    symbol, data = read_common_data(library)
    header_size = struct.unpack_from("<H", data, 0)[0]
    every = items(data)
    package = every[0][0].split("/", 1)[0]  # "icudt73l"
    wanted = {f"{package}/{name}" for name in keep}
    kept = [(name, item) for name, item in every if name in wanted]
    missing = wanted - {name for name, _ in kept}
    if missing:
        raise IcuDataError(f"{library}: items not found: {', '.join(sorted(missing))}")
    work.mkdir(parents=True, exist_ok=True)
    blob = work / f"{package}.dat"
    blob.write_bytes(common_data(data[:header_size], kept))
    source = work / "icudata.s"
    source.write_text(
        "\t.section .rodata\n"
        f"\t.globl {symbol}\n\t.type {symbol}, @object\n\t.balign 16\n"
        f'{symbol}:\n\t.incbin "{blob}"\n\t.size {symbol}, .-{symbol}\n'
        '\t.section .note.GNU-stack,"",@progbits\n',
        encoding="ascii",
    )
    target = work / library.name
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-nostdlib",
            f"-Wl,-soname,{library.name}",
            "-o",
            str(target),
            str(source),
        ],
        check=True,
    )
    return target
