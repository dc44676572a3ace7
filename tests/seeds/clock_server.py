# Seed 004 "a server to tell the time with SocketServer" (clockserver.py).
# Repairs: OCR damage in the docstrings (11 11 11, ** ** **, .. .. .. ->
# triple quotes), "serve forever" -> serve_forever, "handle (self)" spacing
# kept. Host '' -> 'localhost' (loopback only) and the fixed port 12091 -> 0.
from socketserver import StreamRequestHandler
from socketserver import TCPServer
from time import ctime
PORT = 0
class ServerClock (StreamRequestHandler):
    """
    The server tells the clients the time.
    """
    def handle (self):
        """
        Handler sends time to client.
        """
        print("connected at", self.client_address)
        message = self.rfile.read(25)
        data = message.decode()
        print('read \"' + data + '\" from client')
        now = ctime()
        print('writing \"' + now + '\" to client')
        self.wfile.write(now.encode())

def main():
    """
    Starts the server and serves requests.
    """
    ss = TCPServer(('localhost', PORT), ServerClock)
    print('server is listening to', PORT)
    try:
        print('press ctrl c to stop server')
        ss.serve_forever()
    except KeyboardInterrupt:
        print(' ctrl c pressed, closing server')
        ss.socket.close()
if __name__ == "__main__":
    main()
