"""A WebSocket echo server for the signalling tests: the ``websockets`` library, run as a child process.

    python tests/ws_echo_server.py --port 0 [--cert C --key K] [--origin O ...] [--subprotocol P]
        [--require-subprotocol] [--max-size N] [--silent]

Prints ``PORT <n>`` on stdout once it listens on 127.0.0.1. ``--origin``: only these Origins are accepted
(websockets answers 403 to others); ``--require-subprotocol``: a handshake without ``Sec-WebSocket-Protocol``
naming ``--subprotocol`` is answered 403 (what many signalling servers do); ``--max-size``: a longer message
closes the connection with 1009 (the library's own limit); ``--silent``: no echo, only the library's pongs (a
signalling server that does not echo). Server pings are off (``ping_interval=None``) so that an idle test
measures the proxies, not this server.
"""

from __future__ import annotations

import argparse
import asyncio
import http
import ssl
import sys

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--origin", action="append")
    parser.add_argument("--subprotocol")
    parser.add_argument("--require-subprotocol", action="store_true")
    parser.add_argument("--max-size", type=int, default=1 << 20)
    parser.add_argument("--silent", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)

    async def handler(connection: ServerConnection) -> None:
        async for message in connection:
            if not args.silent:
                await connection.send(message)

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if args.require_subprotocol:
            offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
            if args.subprotocol not in offered:
                return connection.respond(http.HTTPStatus.FORBIDDEN, "subprotocol required\n")
        return None

    subprotocols = [args.subprotocol] if args.subprotocol else None
    async with serve(handler, "127.0.0.1", args.port, ssl=context, origins=args.origin,
                     subprotocols=subprotocols, process_request=process_request,  # type: ignore[arg-type]
                     max_size=args.max_size, ping_interval=None, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        sys.stdout.write(f"PORT {port}\n")
        sys.stdout.flush()
        await asyncio.Future()


if __name__ == "__main__":
    main()
