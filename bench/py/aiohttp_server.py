"""The same JSON greeter on aiohttp, for the Python-served rows (issue 18): what a Python team
serves with today. POST any path with {"name": ...}; replies {"message": "Hello NAME"}.

    python aiohttp_server.py [--addr 127.0.0.1:0]

Prints `{"event":"ready","address":...}` once listening, then runs until SIGTERM.
"""
import argparse
import asyncio
import json
import signal

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    req = await request.json()
    return web.json_response({"message": "Hello " + req["name"]})


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--addr", default="127.0.0.1:0")
    host, port = p.parse_args().addr.rsplit(":", 1)
    app = web.Application()
    app.router.add_post("/{tail:.*}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, int(port))
    await site.start()
    bound = site._server.sockets[0].getsockname()  # the port the kernel chose
    print(json.dumps({"event": "ready", "address": f"{bound[0]}:{bound[1]}"}, separators=(",", ":")), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
