"""`python client.py NAME [SERVICE]` calls SERVICE's Greeter.Hello (default: greeter) and
prints the reply's message."""
import asyncio
import sys

import micro


async def main(name: str, service: str) -> None:
    rsp = await micro.Client().call(service, "Greeter.Hello", {"name": name})
    print(rsp["message"])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "John", sys.argv[2] if len(sys.argv) > 2 else "greeter"))
