"""Servers the execution tests run against: a real redis-server and a Kubernetes stand-in."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis
from aiohttp import web

from tests.execution.kube_standin import KubeStandIn


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start redis-server with persistence off on a free port; stop it after the module."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed; install the Debian redis-server package")
    workdir = tmp_path_factory.mktemp("redis")

    for _ in range(5):
        port = _free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        if process.poll() is None:
            break
    else:
        pytest.fail("redis-server did not start on any of 5 free ports")

    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def standin():
    """orders in namespace shop at revision 3 of 3 on nodes node-1 and node-2; node-3 is NotReady."""
    api = KubeStandIn()
    api.add_deployment("shop", "orders", replicas=3, revisions={1: "orders:1.1", 2: "orders:1.2", 3: "orders:1.3"},
                       current=3)
    api.add_node("node-1")
    api.add_node("node-2")
    api.add_node("node-3", ready=False)
    api.add_pod("shop", "orders-a", "node-1", labels={"app": "orders"})
    api.add_pod("shop", "orders-b", "node-2", labels={"app": "orders"})
    api.add_pod("payments", "fraud-a", "node-1")
    api.add_pod("kube-system", "fluentd-x", "node-1", owner_kind="DaemonSet")
    api.add_pod("kube-system", "kube-proxy-node-1", "node-1", owner_kind="Node", mirror=True)

    runner = web.AppRunner(api.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    api.host = f"http://127.0.0.1:{port}"
    yield api
    await runner.cleanup()
