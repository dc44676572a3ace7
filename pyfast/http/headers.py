"""Request headers for http.server's handlers on pyfast, parsed without
the email package when that gives the same result.

BaseHTTPRequestHandler.parse_request() reads a request's headers with
``http.client.parse_headers(self.rfile, _class=self.MessageClass)``: lines
read with rfile.readline(), then parsed by email.parser's feed parser
(about half of the handler's time for a small request on pyfast, by
cProfile).  parse_headers() here returns the same thing, faster, when the
file is one of pyfast's C-buffered readers:

- the header block is read in C (SocketReader.read_header_block, with
  http.client's limits _MAXLINE and _MAXHEADERS as they are at the call),
  consuming exactly the bytes http.client would;
- when every line is a plain "Name: value" line (csrc/pf_httphdr.h says
  which) and the message class is plain (below), the message is built
  directly: an instance of _class (policy email.policy.compat32) with the
  (name, value) pairs the compat32 policy would store, payload '' and no
  defects, made with the calls the feed parser makes (set_raw,
  set_payload);
- on a TLS connection, whose rfile is a buffered reader of an
  ssl.SSLSocket or a pyfast.tls.TLSSocket (decrypted in user space, so
  no C reader on the descriptor), the block is read by http.client's own
  reader (http.client._read_headers: the same readline calls, limits and
  errors) and, when plain, parsed in C (_core.header_block_fields) into
  the same message;
- anything else (continuation lines, lines without a colon, bare CR,
  non-token names, a "From " line, a message/* or multipart/*
  Content-Type, too long a line, too many lines, end of stream) goes to
  the stdlib's parse_headers on an io.BytesIO of exactly the bytes read,
  which gives its own result and raises its own exceptions
  (http.client.LineTooLong, http.client.HTTPException).

A message class is plain when it is email.message.Message or a subclass
(http.client.HTTPMessage, a handler's MessageClass) whose classes up to
Message define none of the methods and attributes the feed parser uses
on a message (see _PARSER_NAMES); a class that does gets the stdlib's
parser.

install() puts parse_headers in place of http.client.parse_headers
(pyfast.http.server does so when imported); any file that is neither a
pyfast reader nor a TLS socket's reader goes to the original function, untouched, so http.client's own
responses and every other caller see the stdlib's behaviour.  uninstall()
or PYFAST_HTTP_HEADERS=stdlib in the environment (read when
pyfast.http.server is imported) turn it off.
"""

import email.message
import email.policy
import http.client
import io
import os
import socket
import ssl
import threading
import weakref
from sys import modules as _sys_modules

from pyfast import _core

__all__ = ["parse_headers", "install", "uninstall", "installed"]

_Message = email.message.Message
_compat32 = email.policy.compat32
_SocketReader = _core.SocketReader
_LIMIT_MAX = 2 ** 31

# What email.feedparser.FeedParser calls or reads on the message it builds
# (from Python 3.10 to 3.13), directly or through Message's own methods.
_PARSER_NAMES = frozenset((
    "__new__", "__init__", "__getattribute__", "__getattr__", "__setattr__",
    "policy", "defects", "set_raw", "set_payload", "set_unixfrom",
    "get", "get_content_type", "get_content_maintype", "get_default_type",
    "set_default_type", "is_multipart", "get_boundary", "attach",
))

_plain = weakref.WeakKeyDictionary()
_original = http.client.parse_headers
_enabled = True
_lock = threading.Lock()


def _is_plain(cls):
    """True when cls builds messages as email.message.Message does, for
    everything the feed parser does with them (cached per class)."""
    try:
        return _plain[cls]
    except (KeyError, TypeError):
        pass
    ok = False
    if type(cls) is type and issubclass(cls, _Message):
        ok = True
        for klass in cls.__mro__:
            if klass is _Message:
                break
            if not _PARSER_NAMES.isdisjoint(vars(klass)):
                ok = False
                break
        try:
            _plain[cls] = ok
        except TypeError:
            pass
    return ok


def parse_headers(fp, _class=http.client.HTTPMessage):
    """http.client.parse_headers(fp, _class): read an HTTP header block from
    fp (a binary file) and return it parsed, as an instance of _class.

    The result, the exceptions (http.client.LineTooLong for a line over
    http.client._MAXLINE bytes, http.client.HTTPException past
    http.client._MAXHEADERS lines, and what fp.readline raises) and the
    bytes consumed from fp are the stdlib's; when fp is a
    pyfast._core.SocketReader (or subclass) the block is read in C and,
    when plain, parsed without the email package (see the module
    docstring).  Any other fp goes to the original http.client.parse_headers.
    """
    if not _enabled:
        return _original(fp, _class)
    if not isinstance(fp, _SocketReader):
        if not _is_tls_reader(fp):
            return _original(fp, _class)
        plain = _class is http.client.HTTPMessage and _HTTPMESSAGE_PLAIN or _is_plain(_class)
        block = b"".join(_read_headers(fp))   # raises as the stdlib's
        got = _header_block_fields(block) if plain else None
        if got is None:
            return _original(io.BytesIO(block), _class)
        return _message(_class, got)
    maxline = http.client._MAXLINE
    maxlines = http.client._MAXHEADERS
    if (type(maxline) is not int or type(maxlines) is not int
            or not 0 <= maxline <= _LIMIT_MAX or not 0 <= maxlines <= _LIMIT_MAX):
        return _original(fp, _class)
    plain = _class is http.client.HTTPMessage and _HTTPMESSAGE_PLAIN or _is_plain(_class)
    got = fp.read_header_block(maxline, maxlines, plain)
    if type(got) is not list:
        return _original(io.BytesIO(got), _class)
    return _message(_class, got)


def _message(_class, fields):
    """An instance of the plain message class _class holding fields, as
    the email parser would build it (module docstring)."""
    msg = _class(policy=_compat32)
    set_raw = msg.set_raw
    for name, value in fields:
        set_raw(name, value)
    msg.set_payload("")
    return msg


_HTTPMESSAGE_PLAIN = _is_plain(http.client.HTTPMessage)
# http.client's header reader (Python 3.10-3.13); without it, TLS readers
# go to the stdlib's parse_headers.
_read_headers = getattr(http.client, "_read_headers", None)
_header_block_fields = _core.header_block_fields


def _is_tls_reader(fp):
    """True when fp is the buffered reader of a TLS socket's makefile()
    (ssl.SSLSocket, or pyfast.tls.TLSSocket, imported by then if in use)."""
    if type(fp) is not io.BufferedReader or _read_headers is None:
        return False
    raw = fp.raw
    if type(raw) is not socket.SocketIO:
        return False
    sock = raw._sock
    if isinstance(sock, ssl.SSLSocket):
        return True
    tls = _sys_modules.get("pyfast.tls")
    return tls is not None and type(sock) is tls.TLSSocket


def install():
    """Make http.client.parse_headers this module's parse_headers (the one
    in place now becomes the fallback).  Idempotent."""
    global _original, _enabled
    with _lock:
        _enabled = True
        current = http.client.parse_headers
        if current is not parse_headers:
            _original = current
            http.client.parse_headers = parse_headers


def uninstall():
    """Put back the http.client.parse_headers that install() replaced (if
    parse_headers is still the one in place; if another wrapper was put on
    top since, parse_headers stays there but only calls the original).
    Idempotent."""
    global _enabled
    with _lock:
        _enabled = False
        if http.client.parse_headers is parse_headers:
            http.client.parse_headers = _original


def installed():
    """True when http.client.parse_headers is this module's parse_headers
    and uninstall() has not been called since."""
    return _enabled and http.client.parse_headers is parse_headers


def _install_from_environment():
    """install() unless PYFAST_HTTP_HEADERS is 'stdlib' (pyfast.http.server
    calls this when imported)."""
    if os.environ.get("PYFAST_HTTP_HEADERS", "").strip().lower() != "stdlib":
        install()
