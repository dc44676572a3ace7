# Seed 000 "asynchronous echo-server" (async.py), Henry Saptono 2019.
# Repairs: OCR "daemon threads"/"allow reuse address"/"server address" ->
# daemon_threads/allow_reuse_address/server_address, "init" -> __init__;
# the fixed port 9999 -> 0 (as the slide's own comment suggests).
# async.py
import socketserver
class ThreadedTCPRequestHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data = str(self.request.recv(1024))
        response = "INI DATA BALASAN : %s"%(data)
        self.request.sendall(response.encode())
class ThreadedTCPServer(socketserver.ThreadingMixIn,
socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    def __init__(self, server_address, RequestHandlerClass):
        socketserver.TCPServer.__init__(self, server_address,
RequestHandlerClass)

if __name__ == "__main__":
    # port 0 means to select an arbitrary unused port
    HOST, PORT = "localhost", 0
    server = ThreadedTCPServer((HOST, PORT),
ThreadedTCPRequestHandler)
    server.serve_forever()
