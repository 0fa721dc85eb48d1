"""Memory of idle connections: opens N keep-alive connections to hookfence,
then sends one small request on each (answered 404, connection kept), and
prints how hookfence's resident memory (VmRSS) grew per connection.

    python3 benches/load/idle.py PORT PID [N=1000]
"""
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    baseline = rss_kib(pid)
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    time.sleep(1)
    idle = rss_kib(pid)
    for connection in connections:
        connection.sendall(b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    for connection in connections:
        answer = connection.recv(4096)
        if not answer.startswith(b"HTTP/1.1 404"):
            raise SystemExit(f"unexpected answer: {answer[:40]!r}")
    time.sleep(1)
    used = rss_kib(pid)
    print(
        f"{count} idle connections: RSS {baseline} KiB at start, "
        f"+{(idle - baseline) / count:.1f} KiB each when opened, "
        f"+{(used - baseline) / count:.1f} KiB each after one request each"
    )


main()
