"""Test helper: tiny image files whose headers declare a huge size (decompression bombs)."""
import struct
import zlib

import numpy as np


def png_header_bomb(path, w, h, colour_type=0):
    """A valid-looking PNG whose IHDR declares w × h (colour type 0 grey, 2 RGB), ~1 kB of data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour_type, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


def jpeg_header_bomb(path, w, h):
    """A small JPEG (the file at `path`, else a new 8×8 one) whose SOF0 header is patched to declare w × h."""
    if not path.exists():
        from PIL import Image

        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, quality=90)
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", h, w)  # marker(2) length(2) precision(1) height width
    path.write_bytes(bytes(data))
