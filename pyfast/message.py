"""Message handlers: the event-driven fast path of pyfast.

A request handler in socketserver owns a whole TCP session on a thread.
A *message handler* is instead called once per message: a C loop
(csrc/pf_msgloop.c, epoll) accepts, reads, cuts the byte stream into
messages (framing, csrc/pf_frame.c) and hands them to
``handle_message(message)`` in batches; replies queued with
``self.send()`` are written by the loop, never by a blocked handler.  It
is served by the ordinary server classes::

    import pyfast

    class Echo(pyfast.MessageHandler):
        framing = "line"                 # b"...\\n" lines, at most max_line bytes
        def handle_message(self, line):  # bytes, without the delimiter
            self.send_message(line)      # queued; the delimiter is added back

    with pyfast.TCPServer(("127.0.0.1", 8007), Echo) as server:
        server.serve_forever()

Framing (class attributes of the handler)
-----------------------------------------
- ``framing = "line"``: messages end with ``delimiter`` (default b"\\n",
  1 to 8 bytes), delivered without it unless ``keep_delimiter``.  A line
  longer than ``max_line`` bytes (default 65536) closes the connection.
- ``framing = "len16"`` / ``"len32"``: a 2- or 4-byte big-endian unsigned
  length, then that many bytes (the message).  A header announcing more
  than ``max_size`` bytes (default 65536) closes the connection.
- ``framing = "fixed"``: every message is ``message_size`` bytes.
- ``framing = "raw"``: each chunk that arrives (at most ``max_size``
  bytes) is a message; chunk boundaries depend on the network.

``send(data)`` queues bytes as they are; ``send_message(data)`` frames
them as incoming messages are framed (adds the length header, or the
delimiter).

Semantics
---------
- One connection's messages are handled in order and never concurrently.
  Handlers run on the thread that called serve_forever() (the loop thread),
  which takes the GIL once per batch of ready messages, whichever
  connections they came from.  A handler that blocks stalls every
  connection: hand slow work to a thread (``send()`` and ``close()`` are
  thread-safe) or use a ThreadingTCPServer with a request handler.
- Exceptions from setup()/handle_message() go to
  ``server.handle_error(handler, client_address)``; that connection is
  closed (after the replies it queued before), the others carry on.
- Backpressure: above ``high_water`` bytes of queued output (default
  64 KiB) a connection is not read until its output drains to
  ``low_water`` (default 16 KiB), so a client that does not read its
  replies costs bounded memory.
- ``server.max_connections`` (class or instance attribute, default None:
  no limit): at the limit the server stops accepting; further clients wait
  in the listen backlog (``request_queue_size``) until one closes.
- ``idle_timeout`` (seconds, default None): a connection that sends
  nothing for that long is closed (``close_reason`` is a TimeoutError).
- shutdown() ends serve_forever() within milliseconds (an eventfd wakes
  the loop); on the way out each connection's queued output is written,
  waiting up to ``server.drain_timeout`` seconds in all (class or instance
  attribute, default 1.0; None: no limit) for clients that read slowly,
  then the connection is closed and finish() runs.  Ctrl-C in the serving
  thread raises KeyboardInterrupt.

Hooks and attributes of a MessageHandler
----------------------------------------
- ``__init__(client_address, server)``: may be extended; the connection
  is not usable yet (use setup()).
- ``setup()``: the connection is open (send() works).
- ``handle_message(message)``: one message, ``bytes``.
- ``finish()``: the connection is closed; ``self.close_reason`` is None
  (closed by the peer, by close() or by shutdown) or an exception:
  FramingError, TimeoutError (idle), OSError (socket error), or the
  exception a hook raised.
- ``send(data)``, ``send_message(data)``, ``close()``: never block, from
  any thread.  ``closed``, ``queued`` (bytes of output not yet written),
  ``client_address``, ``server``.

Where handlers run: on the loop thread, which takes the GIL once per
batch (as uvloop runs Python on its loop thread).  A hand-off of batches to
a worker pool (DESIGN.md: a context switch per batch on one core) is not
implemented.  Measured with ``python -m pyfast.bench --scenarios message
--rounds 5`` (50 conns, 64 B line echo, server pinned to one core, quiet
2-core machine, medians): Python handle_message 173k req/s at 5.7 us of
server CPU per request, the Cython EchoMessageHandler 182k at 5.4, uvloop
Protocol echo 163k at 6.1, the C reference 190k at 5.2 (the load
generator's core was 95-99% busy: req/s is partly its limit).  c10k
(10,000 conns, 1% active): 0.5 KiB RSS per connection beyond the idle
server, 1 thread.

A Cython subclass (``cimport pyfast._message``) may override
``handle_message`` as a ``cpdef`` method and call the C-level
``send_bytes(p, n)`` / ``send_message_bytes(p, n)``: no Python call per
message.  EchoMessageHandler is one (it echoes each message, framed).
"""

from pyfast._message import (EchoMessageHandler, FramingError,
                             MessageHandler, MessageLoop)

__all__ = ["MessageHandler", "EchoMessageHandler", "FramingError"]


def is_message_handler(cls):
    """True if cls (a RequestHandlerClass) is a MessageHandler subclass."""
    return isinstance(cls, type) and issubclass(cls, MessageHandler)


def serve_forever(server, poll_interval=0.5, should_stop=None):
    """Serve server's listening socket with its MessageHandler class on a
    MessageLoop until server.shutdown().  Called by
    BaseServer.serve_forever()."""
    loop = MessageLoop(server, server.RequestHandlerClass)
    server._message_loop = loop
    try:
        loop.run(poll_interval, should_stop)
    finally:
        server._message_loop = None
        loop.close()
