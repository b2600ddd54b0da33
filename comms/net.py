# Socket helpers shared by the uplinks' servers (httpd.py, modbus_tcp.py).


def peer(addr):
    """"ip:port" from a unix-port sockaddr (bytes) or an lwIP (ip, port) tuple."""
    try:
        if isinstance(addr, tuple):
            return "%s:%d" % (addr[0], addr[1])
        import socket
        a = socket.sockaddr(addr)
        ip, port = a[1], a[2]
        if len(ip) == 4:
            return "%d.%d.%d.%d:%d" % (ip[0], ip[1], ip[2], ip[3], port)
        return "[%s]:%d" % (":".join("%x" % (ip[i] << 8 | ip[i + 1]) for i in range(0, 16, 2)), port)
    except Exception:
        return "?"
