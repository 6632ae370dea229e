"""A minimal HTTP/1.1 file server on the kernel's TCP with a chosen congestion control (TCP_CONGESTION
on the listening socket), for bench/loss-capture.ts: Linux's CUBIC or Reno beside nginx's default (BBR
on this machine), where the namespace's sysctl cannot be changed. GET only, one file per request."""
import os, socket, sys, threading
addr, root, cc = sys.argv[1], sys.argv[2], sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc.encode())
ls.bind((addr, 80)); ls.listen(64)
def serve(c):
    with c:
        f = c.makefile('rb')
        while True:
            line = f.readline()
            if not line: return
            path = line.split()[1].decode()
            while f.readline() not in (b'\r\n', b'\n', b''): pass
            p = os.path.join(root, path.lstrip('/'))
            try: n = os.path.getsize(p)
            except OSError:
                c.sendall(b'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'); continue
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % n)
            with open(p, 'rb') as fh: c.sendfile(fh)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
