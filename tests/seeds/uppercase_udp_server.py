# Seeds 001 slide 70 / 002 "UDP Upper-Case SocketServer" (udps1.py,
# udpSimpleServer2.py). Repairs (Python 2 -> 3): SocketServer ->
# socketserver; print statement -> print(). The fixed port 2345 -> 0; an
# `if __name__ == "__main__":` guard is added.
import socketserver
class UCHandler(socketserver.BaseRequestHandler):
    def handle(self):
        remote = self.client_address
        data, skt = self.request
        print(data)
        skt.sendto(data.upper(), remote)
if __name__ == "__main__":
    myaddr = ('127.0.0.1', 0)
    myserver = socketserver.UDPServer(myaddr, UCHandler)
    myserver.serve_forever()
