#!/usr/bin/env python3
"""What open but quiet client connections cost the proxy: CPU while N keep-alive connections sit idle.

    bench/idle-connections.py PROGRAM... [--connections N] [--seconds S]
    e.g. bench/idle-connections.py src/ShadowProxy/bin/publish/linux-x64/ShadowProxy
         bench/idle-connections.py dotnet src/ShadowProxy/bin/Release/net10.0/ShadowProxy.dll --connections 1

Starts one loopback backend process (answers every request with 200 and closes) and the proxy in front of it (production and
shadow both that backend), opens N client connections, sends one keep-alive request on each and reads the answer,
then leaves them idle and prints the proxy's CPU time (utime + stime from /proc) over S seconds, and its resident
memory at the end. Each connection holds one descriptor in this script and one in the proxy: N must stay under
`ulimit -n`. Loopback only.
"""
import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def serve_backend(listener: socket.socket) -> None:
    while True:   # one at a time: each answer is immediate, and no thread per connection
        conn, _ = listener.accept()
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                head += chunk
            else:
                conn.sendall(ANSWER)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_ms(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("program", nargs="+", help="the proxy command (a published ShadowProxy, or dotnet ShadowProxy.dll)")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()

    # The backend in a process of its own: the clients' descriptors and its own then count against separate limits.
    backend = socket.create_server(("127.0.0.1", 0), backlog=4096)
    multiprocessing.get_context("fork").Process(target=serve_backend, args=(backend,), daemon=True).start()
    backend_address = f"127.0.0.1:{backend.getsockname()[1]}"
    port = free_port()
    diagnostics = tempfile.TemporaryFile()
    proxy = subprocess.Popen(
        [*args.program, "--listen", f"127.0.0.1:{port}", "--production", backend_address, "--shadow", backend_address,
         "--max-connections", str(max(args.connections + 100, 10000))],
        stdout=subprocess.DEVNULL, stderr=diagnostics)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proxy.poll() is not None or time.monotonic() > deadline:
                    print(f"idle-connections: the proxy did not start: {tail(diagnostics)}", file=sys.stderr)
                    return 1
                time.sleep(0.05)

        clients = []
        for _ in range(args.connections):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"GET /idle HTTP/1.1\r\nHost: bench\r\n\r\n")
            clients.append(client)
        for client in clients:
            answer = b""
            while not answer.endswith(b"ok"):
                chunk = client.recv(4096)
                if not chunk:
                    print(f"idle-connections: the proxy closed a connection before answering ({answer[:40]!r}); "
                          f"its stderr ends: {tail(diagnostics)}", file=sys.stderr)
                    return 1
                answer += chunk

        time.sleep(2)   # the shadow copies finish; what follows is idleness only
        before, started = cpu_ms(proxy.pid), time.monotonic()
        time.sleep(args.seconds)
        used, elapsed = cpu_ms(proxy.pid) - before, time.monotonic() - started
        still_open = sum(1 for client in clients if not closed(client))
        rss, anon = memory_mib(proxy.pid)
        print(f"{args.connections} idle keep-alive connections ({still_open} still open): proxy CPU {used:.0f} ms "
              f"in {elapsed:.1f} s = {used / elapsed / 10:.2f} % of a core; RSS {rss:.1f} MiB (anonymous {anon:.1f})")
        return 0
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


def memory_mib(pid: int) -> tuple[float, float]:
    """The proxy's resident memory now, and the anonymous part of it (heap and buffers, not the mapped program)."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.split()[0] if value.split() else "0"
    return int(fields.get("VmRSS", 0)) / 1024, int(fields.get("RssAnon", 0)) / 1024


def tail(diagnostics) -> str:
    diagnostics.seek(0)
    return diagnostics.read().decode(errors="replace")[-1500:]


def closed(client: socket.socket) -> bool:
    client.setblocking(False)
    try:
        return client.recv(1) == b""
    except BlockingIOError:
        return False


if __name__ == "__main__":
    sys.exit(main())
