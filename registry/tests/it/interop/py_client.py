"""A Python service using the real py-eureka-client against our registry.

Driven by registry/tests/it/interop/mod.rs: registers PYSERVICE (which renews every second),
discovers the middle tier through the registry (the client reads XML) and calls it, then
waits for a line on stdin and stops (py-eureka-client marks itself DOWN, then cancels).
Each step prints one line the test waits for.
"""

import asyncio
import sys

import py_eureka_client.eureka_client as eureka_client


async def main(server: str, port: int) -> None:
    client = eureka_client.EurekaClient(
        eureka_server=server,
        app_name="pyservice",
        instance_host="127.0.0.1",
        instance_ip="127.0.0.1",
        instance_port=port,
        renewal_interval_in_secs=1,
        duration_in_secs=30,
    )
    await client.start()
    print("started", flush=True)
    answer = await client.do_service("MIDDLETIER", "/hello", return_type="string")
    print(f"middletier answered: {answer}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await client.stop()
    print("stopped", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
