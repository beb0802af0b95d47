"""A long-running Library in a process of its own, for tests: one JSON request a line on stdin, one JSON reply
a line on stdout, while it follows the store (as the bot does). SIGTERM (or end of input) saves the snapshot,
closes the library and exits 0.

    python tests/follower.py DB [CATCH_UP_SECONDS]

Requests: {"op": "ask", "q": …} → the article ids quoted; {"op": "state"} → what the index holds, without
catching up first (to see the timer work); {"op": "save"} → prints {"saving": …} then saves a snapshot.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from bot.core.library import SHARED_SCOPE, Library


def reply(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def serve(db: Path, every: float) -> None:
    library = await Library.open(db)
    follower = asyncio.create_task(library.follow(every=every, snapshot_every=3600))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    reply(ready=library.applied_seq)
    stopping = asyncio.create_task(stop.wait())
    try:
        while True:
            line = asyncio.create_task(reader.readline())
            await asyncio.wait({line, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not line.done() or not line.result():
                line.cancel()
                break
            request = json.loads(line.result())
            if request["op"] == "ask":
                answer = await library.ask(request["q"], [SHARED_SCOPE], quotes=5)
                quoted = sorted({c.article_id for q in answer.quotes for c in q.citations})
                reply(articles=quoted, abstained=answer.abstained, seq=library.applied_seq)
            elif request["op"] == "state":
                reply(
                    seq=library.applied_seq,
                    sentences=library.sentences.live_count,
                    articles=library.articles.live_count,
                    shared=library.scope_article_count([SHARED_SCOPE]),
                )
            elif request["op"] == "save":
                reply(saving=library.applied_seq)
                reply(saved=await library.save_snapshot())
    finally:
        follower.cancel()
        await library.save_snapshot()  # as the bot does on SIGTERM
        await library.close()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.2))
