# Seeds 001 slide 73 / 002 "TCP Upper-Case Client" (tcpc1.py,
# tcpSimpleClient2.py). Repairs (Python 2 -> 3): raw_input -> input; print
# statement -> print(); str <-> bytes at send/recv. The fixed port 2345 ->
# SERVER_PORT, defined by the test, which also supplies input().
from socket import socket, AF_INET, SOCK_STREAM
srvaddr = ('127.0.0.1', SERVER_PORT)
s = socket(AF_INET, SOCK_STREAM)
s.connect(srvaddr)
while 1:
    data = input("Send: ")
    s.send((data + "\r\n").encode())
    if data == "":
        break
    data = s.recv(1024)
    print(data[:-2].decode()) # Avoids doubling-up the newline
s.close()
