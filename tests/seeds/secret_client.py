# Client for the secret-number assignment (seed 004): send one guess, print
# the server's answer. SERVER_PORT and GUESS are defined by the test.
from socket import socket, AF_INET, SOCK_STREAM
s = socket(AF_INET, SOCK_STREAM)
s.connect(('localhost', SERVER_PORT))
s.sendall((GUESS + "\n").encode())
answer = s.makefile("rb").readline()
s.close()
print(answer.decode().strip())
