# Seed 000 "Example: echo-server" (echo server.py), Henry Saptono 2019.
# Repairs: OCR "client address" -> client_address; the fixed port 9999 -> 0
# (the test reads the bound port from `server`).
# echo server.py
import socketserver
class MyTCPSocketHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.data = self.request.recv(1024).strip()
        print("{} wrote:".format(self.client_address[0]))
        print(self.data)
        self.request.sendall(self.data.upper())

if __name__ == "__main__":
    HOST, PORT = "localhost", 0
    server = socketserver.TCPServer((HOST, PORT),
MyTCPSocketHandler)
    server.serve_forever()
