# cython: language_level=3, boundscheck=False, wraparound=False
"""pyfast._core: the only place Python meets csrc/.

Thin by design: argument conversion, GIL handling and object lifetime.
Every wait (epoll_wait, poll, condition variables, blocking recv/send)
runs without the GIL.  A wait interrupted by a signal runs Python's signal
handlers and is retried (PEP 475), so Ctrl-C raises KeyboardInterrupt in
the thread blocked here.

One file per concept under pyfast/_core_pxi/ (not pyfast/_core/: in a
source checkout that directory would be imported as this module), each
named after the csrc/ file it wraps (as uvloop's loop.pyx includes its handles); this file holds the
imports, the C declarations and the tunables, and includes them:
- common.pxi: raise_errno, timeout_ms (errors and timeouts as _core converts them).
- loop.pxi: Waiter, a pf_loop used for its descriptors and its wake-up
  (serve_forever, shutdown).
- addr.pxi: decode_address, socket addresses as the socket module gives them.
- listen.pxi: Listener, accept4() on a listening socket, EMFILE handled.
- thread.pxi: block_signals(), the signal mask of every thread pyfast
  starts; how an exception that escapes a worker is reported.
- pool.pxi: Pool, the worker pool's queue (threads are started by Pool
  itself, as Python threads, when the C queue asks for one).
- stream.pxi: SocketReader / SocketWriter, StreamRequestHandler's rfile
  and wfile, buffered in C; wait_fd; sock_sendall, socket.sendall that
  keeps the GIL for sends that need no wait
  (pyfast.http.server.CoalescingSocket).
- httphdr.pxi: the header fields of SocketReader.read_header_block (an
  HTTP header block, for pyfast.http.headers), and header_block_fields()
  for a block read by another file.
- dgram.pxi: DatagramReceiver (recvmmsg batches, sendmmsg replies) and
  datagram_sendto.
"""

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.exc cimport PyErr_CheckSignals
from cpython.unicode cimport PyUnicode_DecodeLatin1
from cpython.object cimport PyObject
from cpython.pythread cimport (PyThread_get_thread_ident, PyThread_allocate_lock,
                               PyThread_free_lock, PyThread_acquire_lock,
                               PyThread_release_lock, NOWAIT_LOCK, PY_LOCK_ACQUIRED)
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.stdint cimport uint64_t, int64_t
from libc.errno cimport EAGAIN, EINTR, EMSGSIZE, ENOBUFS, ENOMEM, ESHUTDOWN
from libc.string cimport memchr, memcpy

from pyfast.includes.system cimport *
from pyfast.includes.pf_common cimport *
from pyfast.includes.pf_loop cimport *
from pyfast.includes.pf_addr cimport *
from pyfast.includes.pf_listen cimport *
from pyfast.includes.pf_pool cimport *
from pyfast.includes.pf_buf cimport *
from pyfast.includes.pf_stream cimport *
from pyfast.includes.pf_httphdr cimport *
from pyfast.includes.pf_dgram cimport *
from pyfast.includes.pf_board cimport *

import errno as _errno
import io as _io
import logging as _logging
import os as _os
import signal as _signal
import socket as _socket
import sys as _sys
import threading as _threading
import time as _time
import weakref as _weakref

cdef extern from "pythread.h":
    # Waits (microseconds, -1: no limit); with intr_flag, a signal ends
    # the wait with PY_LOCK_INTR so that Python's handlers can run.
    int PyThread_acquire_lock_timed(PyThread_type_lock lock, long long microseconds,
                                    int intr_flag) nogil

cdef extern from "Python.h":
    int PySys_Audit(const char *event, const char *fmt, ...) except -1
    const char *PyUnicode_AsUTF8(object s) except NULL
    bint PyUnicode_IS_ASCII(object s)


# ---- tunables ----
cdef enum:
    _TAGS = 16          # ready descriptors taken per Waiter.wait()
    # A write of at least this many bytes into an empty buffer goes straight
    # to the socket instead of being copied first.
    DIRECT_WRITE = 65536
    # DatagramReceiver's reply queue: slots, and bytes (room for several of
    # the largest UDP datagrams).
    _REPLY_SLOTS = 64
    _REPLY_BYTES = 262144
    # The largest UDP payload over IPv4; a larger one is not queued (sendto
    # raises EMSGSIZE at once, as socket.sendto).
    _MAX_UDP4 = 65507
    # A queued reply goes out at the latest once the handler running when it
    # has waited this long (nanoseconds) returns.
    _REPLY_DELAY_NS = 100000

# Read and write buffers' default size (bytes): io's.
cdef size_t DEFAULT_BUFFER_SIZE = _io.DEFAULT_BUFFER_SIZE
cdef int _AF_INET = _socket.AF_INET
cdef int _AF_INET6 = _socket.AF_INET6

_log = _logging.getLogger("pyfast.socketserver")
_std_sendto = _socket.socket.sendto


include "_core_pxi/common.pxi"
include "_core_pxi/loop.pxi"
include "_core_pxi/addr.pxi"
include "_core_pxi/listen.pxi"
include "_core_pxi/thread.pxi"
include "_core_pxi/pool.pxi"
include "_core_pxi/stream.pxi"
include "_core_pxi/httphdr.pxi"
include "_core_pxi/dgram.pxi"
include "_core_pxi/board.pxi"
