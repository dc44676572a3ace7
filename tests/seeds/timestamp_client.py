# Seed 001 slide 65 "SOCKETSERVER TIMESTAMP TCP CLIENT" (tsTclntSS.py).
# Repairs (Python 2 -> 3): raw_input -> input; print statement -> print();
# str <-> bytes at send/recv. The fixed port 21567 -> SERVER_PORT, defined
# by the test, which also supplies input().
from socket import *
BUFSIZ = 1024
while True:
    tcpCliSock = socket(AF_INET, SOCK_STREAM)
    tcpCliSock.connect(('localhost', SERVER_PORT))
    data = input('> ')
    if not data:
        break
    tcpCliSock.send(('%s\r\n' % data).encode())
    data = tcpCliSock.recv(BUFSIZ)
    if not data:
        break
    print(data.decode().strip())
    tcpCliSock.close()
