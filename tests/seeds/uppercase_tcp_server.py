# Seeds 001 slide 72 / 002 "TCP Upper-Case SocketServer" (tcps1.py,
# tcpSimpleServer2.py). Repairs (Python 2 -> 3): SocketServer ->
# socketserver; print statements -> print(); "\r\n" compared as bytes. The
# fixed port 2345 -> 0. An `if __name__ == "__main__":` guard is added so the
# test can also use UCHandler with ThreadingTCPServer and ForkingTCPServer,
# as the "Asynchronous Server Classes" slide does.
import socketserver
class UCHandler(socketserver.BaseRequestHandler):
    def handle(self):
        print("Connected:", self.client_address)
        while 1:
            data = self.request.recv(1024)
            if data == b"\r\n":
                break
            print(data[:-2])
            self.request.send(data.upper())
if __name__ == "__main__":
    myaddr = ('127.0.0.1', 0)
    myserver = socketserver.TCPServer(myaddr, UCHandler)
    myserver.serve_forever()
