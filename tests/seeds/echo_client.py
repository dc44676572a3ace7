# Seed 000 "Example: echo-client" (echo client.py), Henry Saptono 2019.
# Repairs: OCR "AF INET"/"SOCK STREAM" -> AF_INET/SOCK_STREAM; the fixed
# port 9999 -> SERVER_PORT, which the test defines before running this.
# echo client.py
import socket, sys
HOST, PORT = "localhost", SERVER_PORT
data = " ".join(sys.argv[1:])
print('data = %s' %(data) )
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    # connect to server
    sock.connect((HOST, PORT))
    # send data
    sock.sendall(data.encode())
    # receive data back from the server
    received = str(sock.recv(1024))
finally:
    # shut down
    sock.close()

print("Sent:%s" %(data) )
print("Received: %s" %(received) )
