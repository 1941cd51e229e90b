"""Files written byte by byte for tests (headers that no encoder would produce)."""

import struct
import zlib


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(width: int, height: int, depth: int, colour_type: int, idat: bytes) -> bytes:
    """A PNG whose header claims any size; ``idat`` is the compressed data as given."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def decompression_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny file whose header claims ``width`` x ``height`` RGB pixels."""
    return png_file(width, height, 8, 2, zlib.compress(b"\0" * 64))
