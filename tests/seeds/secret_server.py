# Seed 004 assignment: "Implement a server which generates a secret number.
# Clients connect to the server sending their guess for the secret. In
# response, the server sends one of these three messages: (1) wrong,
# (2) right, or (3) secret found. If a client has sent the right answer, all
# future clients must get reply (3)."
# A solution in the course's style (the slides give no code): one guess per
# connection, a digit 0-9.
import random
import socketserver
import threading
class GuessHandler(socketserver.StreamRequestHandler):
    def handle(self):
        guess = self.rfile.readline().strip().decode()
        print("guess", guess, "from", self.client_address)
        self.wfile.write(self.server.check(guess).encode() + b"\n")
class SecretServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    def __init__(self, server_address, RequestHandlerClass):
        socketserver.ThreadingTCPServer.__init__(self, server_address,
RequestHandlerClass)
        self.secret = random.randint(0, 9)
        self.found = False
        self.lock = threading.Lock()
    def check(self, guess):
        with self.lock:
            if self.found:
                return "secret found"
            if guess == str(self.secret):
                self.found = True
                return "right"
            return "wrong"
if __name__ == "__main__":
    server = SecretServer(("localhost", 0), GuessHandler)
    print("secret server on", server.server_address)
    server.serve_forever()
