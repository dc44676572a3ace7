# Seed 004 assignment: "Use the SocketServer module to implement a server to
# swap one data string between two clients. Clients A and B send a string to
# the server, client B receives what A sent and A receives what B sent."
# A solution in the course's style (the slides give no code). One line per
# client; the first client of a pair waits for the second.
import socketserver
import threading
class SwapHandler(socketserver.StreamRequestHandler):
    def handle(self):
        mine = self.rfile.readline().strip()
        theirs = self.server.swap(mine)
        self.wfile.write(theirs + b"\n")
class SwapServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    def __init__(self, server_address, RequestHandlerClass):
        socketserver.ThreadingTCPServer.__init__(self, server_address,
RequestHandlerClass)
        self.cond = threading.Condition()
        self.waiting = None    # the slot of a client waiting for a partner
    def swap(self, mine):
        with self.cond:
            if self.waiting is None:
                slot = self.waiting = {"sent": mine, "got": None}
                while slot["got"] is None:
                    self.cond.wait()
                return slot["got"]
            slot, self.waiting = self.waiting, None
            slot["got"] = mine
            self.cond.notify_all()
            return slot["sent"]
if __name__ == "__main__":
    server = SwapServer(("localhost", 0), SwapHandler)
    print("swap server on", server.server_address)
    server.serve_forever()
