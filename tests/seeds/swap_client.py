# Client for the swap assignment (seed 004): send one string, print what the
# partner sent. SERVER_PORT and MESSAGE are defined by the test.
from socket import socket, AF_INET, SOCK_STREAM
s = socket(AF_INET, SOCK_STREAM)
s.connect(('localhost', SERVER_PORT))
s.sendall((MESSAGE + "\n").encode())
reply = s.makefile("rb").readline()
s.close()
print(reply.decode().strip())
