# Seed 004 "code for the client in file clockclient.py".
# Repairs: OCR "SERVER ADDRESS" -> SERVER_ADDRESS, "AF INET" -> AF_INET,
# "OUESTION" -> QUESTION. The fixed port 12091 -> SERVER_PORT, defined by
# the test before running this.
from socket import socket as Socket
from socket import AF_INET, SOCK_STREAM
HOSTNAME = 'localhost' # on same host
PORTNUMBER = SERVER_PORT # same port number
BUFFER = 25
                        # size of the buffer
SERVER_ADDRESS = (HOSTNAME, PORTNUMBER)
CLIENT = Socket (AF_INET, SOCK_STREAM)
CLIENT.connect (SERVER_ADDRESS)
print('client is connected')
QUESTION = 'What is the time?'
DATA = QUESTION + (BUFFER-len(QUESTION)) *' '
CLIENT.send(DATA.encode())
DATA = CLIENT.recv(BUFFER)
print(DATA.decode())
