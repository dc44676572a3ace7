# Seeds 001 slide 71 / 002 "UDP Upper-Case Client" (udpc1.py,
# udpSimpleClient2.py). Repairs (Python 2 -> 3): raw_input -> input; print
# statement -> print(); the input encoded for sendto. Client bound to
# 'localhost' instead of '' (loopback only). The fixed port 2345 ->
# SERVER_PORT, defined by the test, which also supplies input().
from socket import socket, AF_INET, SOCK_DGRAM
srvaddr = ('127.0.0.1', SERVER_PORT)
data = input("Send: ")
s = socket(AF_INET, SOCK_DGRAM)
s.bind(('localhost', 0))
s.sendto(data.encode(), srvaddr)
data, addr = s.recvfrom(1024)
print("Recv:", data)
