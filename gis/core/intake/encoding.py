"""Telling UTF-8, UTF-8 with BOM and GB18030 apart, with the line of the first bad byte."""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from gis.errors import InputError

# UTF-8 is checked over the whole file (fast); GB18030 accepts nearly any
# byte pair, so a sample tells it, and the transcoding pass checks the rest.
_GB18030_SAMPLE_BYTES = 16 << 20


#: What :func:`detect_encoding` can answer.
ENCODINGS: tuple[str, ...] = ("utf-8", "utf-8-sig", "gb18030")
# Bytes decoded at a time when checking a file's encoding.
_DECODE_BYTES = 4 << 20


def detect_encoding(path: str | os.PathLike) -> str:
    """The text encoding of a file: UTF-8 (with or without BOM) or GB18030.

    The whole file is decoded as UTF-8 (a few hundred MB/s); if that fails it
    is decoded as GB18030, the encoding of Chinese Excel and WPS exports
    (a superset of GBK and GB2312).

    Parameters
    ----------
    path
        Any text file.

    Returns
    -------
    str
        ``'utf-8-sig'`` (UTF-8 starting with a byte order mark), ``'utf-8'``
        (also plain ASCII) or ``'gb18030'``.

    Raises
    ------
    InputError
        The file cannot be read, is UTF-16/UTF-32, or is neither UTF-8 nor
        GB18030.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise InputError(f"file {path} not found", fix="check the path") from None
    except OSError as exc:
        raise InputError(f"file {path} cannot be read: {exc.strerror}",
                         fix="check the path and its permissions") from None
    with handle:
        head = handle.read(4)
        if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE,
                            codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise InputError(f"{path.name} is UTF-16 or UTF-32 text",
                             fix="save it as 'CSV UTF-8' (Excel) or UTF-8 text")
        bom = head.startswith(codecs.BOM_UTF8)
        handle.seek(0)
        utf8_error = _decode_error(handle, "utf-8")
        if utf8_error is None:
            return "utf-8-sig" if bom else "utf-8"
        if bom:
            raise InputError(f"{path.name} starts as UTF-8 but has bytes that are not UTF-8 "
                             f"({utf8_error})", fix="save it again as 'CSV UTF-8'")
        handle.seek(0)
        if _decode_error(handle, "gb18030", limit=_GB18030_SAMPLE_BYTES) is None:
            return "gb18030"
    raise InputError(f"{path.name} is neither UTF-8 nor GB18030 ({utf8_error})",
                     fix="save it as 'CSV UTF-8' (Excel: 另存为 → CSV UTF-8)")


def _decode_error(handle, encoding: str, *, limit: int | None = None) -> str | None:
    """Decode a binary file (to the end, or its first ``limit`` bytes); None if it
    decodes, else where it fails."""
    if encoding == "utf-8":
        return _utf8_error(handle)
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    while True:
        block = handle.read(_DECODE_BYTES)
        if limit is not None and offset + len(block) >= limit:
            block = b""  # a sample: a character cut at its end is not an error
        try:
            decoder.decode(block, final=not block and limit is None)
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start:exc.start + 1].hex()
            return f"byte 0x{bad} at offset {offset + exc.start}"
        if not block:
            return None
        offset += len(block)


def _utf8_error(handle) -> str | None:
    """Like :func:`_decode_error` for UTF-8, with pyarrow's (SIMD) validator: twice as fast."""
    tail, offset = b"", 0
    while True:
        block = handle.read(_DECODE_BYTES)
        data = tail + block
        cut = len(data) if not block else _utf8_complete(data)
        if cut:
            # A zero-copy binary array over data[:cut]; casting to string validates it.
            array = pa.Array.from_buffers(
                pa.binary(), 1, [None, pa.py_buffer(np.array([0, cut], dtype=np.int32)),
                                 pa.py_buffer(data)])
            try:
                array.cast(pa.string())
            except pa.ArrowInvalid:
                try:
                    data[:cut].decode("utf-8")
                except UnicodeDecodeError as exc:
                    return (f"byte 0x{data[exc.start:exc.start + 1].hex()} "
                            f"at offset {offset + exc.start}")
        if not block:
            return None
        tail, offset = data[cut:], offset + cut


def _utf8_complete(data: bytes) -> int:
    """Length of ``data`` without a multi-byte character cut off at its end."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        lead = data[n - back]
        if lead & 0xC0 != 0x80:  # ASCII or a lead byte
            need = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            return n - back if need > back else n
    return n
