# Seed 004 "ourwebserver.py" (The BaseHTTPServer Module).
# Repairs: OCR damage in the docstrings (11 11 11 -> triple quotes, missing
# opening quotes restored), "do GET" -> do_GET, "end headers" ->
# end_headers. Host '' -> 'localhost' (loopback only) and the fixed port
# 8000 -> 0.
from http.server import BaseHTTPRequestHandler
from http.server import HTTPServer

dynhtml = """
<HTML>
<HEAD><TITLE>My Home Page</TITLE></HEAD>
<BODY> <CENTER>
<H1> hello client </H1>
</CENTER> </BODY>
</HTML>"""

class WebServer (BaseHTTPRequestHandler):
    """
    Illustration to set up a web server.
    """
    def do_GET (self):
        """
        Defines what server must do when
        it receives a GET request.
        """
        if self.path == '/':
            self.send_response(200)
            self.send_header('Content-type','text/html')
            self.end_headers()
            self.wfile.write(dynhtml.encode())
        else:
            message = self.path + ' not found'
            self.wfile.write(message.encode())

def main():
    """
    a simple web server
    """
    try:
        ws = HTTPServer(('localhost', 0), WebServer)
        print('welcome to our web server')
        print('press ctrl c to stop server')
        ws.serve_forever()
    except KeyboardInterrupt:
        print(' ctrl c pressed, shutting down')
        ws.socket.close()

if __name__ == "__main__":
    main()
