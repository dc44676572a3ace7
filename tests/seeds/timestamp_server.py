# Seed 001 slide 64 "THE SOCKETSERVER MODULE" (tsTservSS.py).
# Repairs (Python 2 -> 3): SocketServer -> socketserver; print statements ->
# print(); `import time` then bare ctime() -> `from time import ctime`;
# readline() bytes decoded and the reply encoded. Host "" -> "localhost"
# (loopback only) and the fixed port 21567 -> 0. The slide has no
# `if __name__` guard; the test runs the module as __main__.
import socketserver
from time import ctime
# This class actually implements the server functionality
class MyRequestHandler(socketserver.StreamRequestHandler):
    def handle(self):
        print('...connected from:', self.client_address)
        self.wfile.write(('[%s] %s' % (ctime(), self.rfile.readline().decode())).encode())
# Create the server
server = socketserver.TCPServer(("localhost",0), MyRequestHandler)
print('waiting for connection...')
server.serve_forever()
