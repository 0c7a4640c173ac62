"""Makes the library log one warning of its own: a service with tracing on flushes its spans,
at stop, to an OTLP endpoint where nothing listens (``OTEL_EXPORTER_OTLP_ENDPOINT``, set by
the test). With ``handler`` as argv[1] the ``micro`` logger's records go to stdout as
``LOG <logger> <levelname> <target> <message>``; without, logging is left unconfigured (Python
prints warnings on stderr by itself). Prints ``done`` when the service has stopped."""
import asyncio
import logging
import sys

import micro

if sys.argv[1:] == ["handler"]:
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(logging.Formatter("LOG %(name)s %(levelname)s %(micro_target)s %(message)s",
                                       defaults={"micro_target": "-"}))
    logging.getLogger("micro").addHandler(out)
    logging.getLogger("micro").propagate = False


async def main():
    svc = micro.Service("py.logs", registry="memory", broker="memory", address="127.0.0.1:0")

    @svc.handle("Logs.Call")
    async def call(req, ctx):
        return {}

    await svc.start()
    c = micro.Client(registry="memory")
    await c.call("py.logs", "Logs.Call", {}, address=svc.address)
    c.close()
    await svc.stop()  # flushes the span to the endpoint nobody listens on


asyncio.run(main())
# One write: print() writes the text and the newline apart, and the logging thread's line
# could land between them.
sys.stdout.write("done\n")
sys.stdout.flush()
