"""Content-Encoding undone in bounded pieces: a compressed bomb never expands at once.

httpx's own decoder turns one 64 KB network chunk of gzipped zeros into tens of megabytes in a
single call; the fetcher must be able to stop at fetch.max_bytes, so it decodes itself.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

PIECE = 64 * 1024  # largest decompressed piece held at once


class _Inflater:
    """Streams one gzip or deflate layer, never producing more than PIECE bytes at a time."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._raw_deflate = False
        self._head: bytes | None = b"" if kind == "deflate" else None
        self._obj = self._new()

    def _new(self) -> zlib._Decompress:
        if self.kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decompress `data`, yielding bounded pieces."""
        if self._head is not None:
            # Servers disagree on what "deflate" means (zlib-wrapped or raw); the first two
            # bytes tell (RFC 1950 header check), so hold them until both have arrived.
            self._head += data
            if len(self._head) < 2 and data:
                return
            data, self._head = self._head, None
            zlib_header = (
                len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            )
            if not zlib_header:
                self._raw_deflate = True
                self._obj = self._new()
        while not self._obj.eof:  # like httpx, ignore anything after the end of the stream
            piece = self._obj.decompress(data, PIECE)
            if piece:
                yield piece
            data = self._obj.unconsumed_tail
            # A full piece may leave output pending inside zlib even with no input left.
            if not data and len(piece) < PIECE:
                return

    def finish(self) -> Iterator[bytes]:
        """Whatever is left once the input has ended."""
        return self.feed(b"")


class Decoder:
    """Undoes a Content-Encoding chain, layer by layer, in bounded pieces."""

    def __init__(self, header: str | None) -> None:
        layers = [p.strip().lower() for p in (header or "").split(",") if p.strip()]
        self.layers: list[_Inflater] = []
        for name in reversed(layers):  # the last coding applied is the first to undo
            if name in ("gzip", "x-gzip"):
                self.layers.append(_Inflater("gzip"))
            elif name == "deflate":
                self.layers.append(_Inflater("deflate"))
            elif name != "identity":
                raise ValueError(name)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decode a raw chunk."""
        return self._through(0, iter((data,)), final=False)

    def finish(self) -> Iterator[bytes]:
        """Flush every layer at the end of the body."""
        return self._through(0, iter(()), final=True)

    def _through(self, i: int, chunks: Iterator[bytes], *, final: bool) -> Iterator[bytes]:
        if i == len(self.layers):
            yield from chunks
            return
        layer = self.layers[i]

        def produced() -> Iterator[bytes]:
            for chunk in chunks:
                yield from layer.feed(chunk)
            if final:
                yield from layer.finish()

        yield from self._through(i + 1, produced(), final=final)
