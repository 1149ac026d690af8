"""Log text shared by the backends: bytes to text, a piece at a time."""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator, Awaitable, Callable


async def decoded(read: Callable[[], Awaitable[bytes]]) -> AsyncGenerator[str, None]:
    """UTF-8 text (bad bytes replaced) of the byte pieces ``read`` returns until ``b""``;
    a character split between two pieces comes out whole."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while data := await read():
        if text := decoder.decode(data):
            yield text
    if rest := decoder.decode(b"", final=True):
        yield rest
