# cython: language_level=3
"""pyfast._bench: the C load generator and the C reference servers.

Thin wrappers over csrc/pf_loadgen.c and csrc/pf_refserver.c: arguments are
converted, the C call runs without the GIL, results come back as a dict.

Called from the main thread, each call also ends early on a signal: a pipe is
installed with ``signal.set_wakeup_fd`` and handed to C as its stop fd, so
Ctrl-C raises KeyboardInterrupt promptly and SIGTERM makes the servers
return normally.
"""
import os
import signal
import threading

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.exc cimport PyErr_CheckSignals
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memset

from pyfast.includes.system cimport *
from pyfast.includes.pf_loadgen cimport *
from pyfast.includes.pf_refserver cimport *

MODES = {
    "echo": PF_LG_ECHO,
    "line": PF_LG_LINE,
    "connect": PF_LG_CONNECT,
    "udp": PF_LG_UDP,
    "http": PF_LG_HTTP,
}

CLOSERS = {
    "client": PF_LG_CLIENT_CLOSES,
    "server": PF_LG_SERVER_CLOSES,
}

REF_MODES = {
    "echo": PF_REF_ECHO,
    "line": PF_REF_LINE,
    "once": PF_REF_ONCE,
}


cdef class _SignalStop:
    """Owns a wake-up pipe while a C call runs in the main thread."""
    cdef public int rfd
    cdef int wfd
    cdef object old_wakeup
    cdef object old_term
    cdef bint installed

    def __cinit__(self, int stop_fd, bint catch_term):
        self.rfd = stop_fd
        self.wfd = -1
        self.installed = False
        if stop_fd >= 0 or threading.current_thread() is not threading.main_thread():
            return
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old = signal.set_wakeup_fd(w)
        if old != -1:   # someone else (asyncio?) owns it: leave theirs alone
            signal.set_wakeup_fd(old)
            os.close(r)
            os.close(w)
            return
        self.rfd, self.wfd, self.old_wakeup = r, w, old
        self.old_term = None
        if catch_term:
            # A Python-level handler, so the C handler writes to the pipe;
            # the process then returns normally instead of dying.
            self.old_term = signal.signal(signal.SIGTERM, lambda signum, frame: None)
        self.installed = True

    def close(self):
        if not self.installed:
            return
        self.installed = False
        signal.set_wakeup_fd(self.old_wakeup)
        if self.old_term is not None:
            signal.signal(signal.SIGTERM, self.old_term)
        os.close(self.rfd)
        os.close(self.wfd)


def run_loadgen(address, str mode="echo", *, int conns=50, int depth=1,
                int active=0, int stalled=0, size_t size=1024, double warmup=1.0,
                double duration=5.0, double connect_timeout=2.0,
                double udp_timeout=0.2, double backoff=0.05, int connect_burst=256,
                str closer="client", str http_path="/", str http_host=None,
                int mark_fd=-1, int stop_fd=-1, bytes prefix=b""):
    """Drive a server at `address` and return the figures as a dict.

    address: (host, port) or a Unix socket path (str).
    mode: "echo", "line", "connect", "udp" or "http".
    conns: connections (UDP sockets); active: if 0 < active < conns, only
    that many have requests in flight at once. stalled: more connections
    that send requests as fast as the server reads them and never read a
    reply (counted in no figure; TCP modes but "connect"). depth: requests outstanding
    per busy connection. size: request size in bytes. warmup, duration,
    connect_timeout, udp_timeout, backoff: seconds. connect_burst: at most
    this many connects in progress while the conns are first opened (0: no
    limit). closer ("connect" mode): "client" closes right after the reply
    (the client closes first); "server" waits for the server's EOF after the
    reply and then closes (the server closes first; a server that does not
    close within connect_timeout costs an error). The latency of a "connect"
    request runs from connect() to that close. prefix ("connect" mode): bytes
    sent first on every connection, in one segment with the request (as
    HAProxy sends a PROXY protocol header when data waits behind it;
    not counted in bytes_sent). mark_fd: one byte is written
    to it when the measure window opens and one when it closes.

    Raises ValueError for an unknown mode or closer, OSError when the address
    does not resolve or the generator cannot start (no memory, too few file
    descriptors).

    The dict holds counts for the measure window (``requests``, ``errors``,
    ``bytes_sent``, ``bytes_recv``), ``warmup_errors``, whole-run ``lost``
    and ``connects``,
    ``elapsed_s`` (seconds), ``rps`` (requests per second), latencies in
    microseconds (``p50_us``, ``p90_us``, ``p99_us``, ``p999_us``, ``min_us``,
    ``max_us``, ``mean_us``), ``gen_cpu`` (the generator thread's CPU seconds
    per second of window: 1.0 means it was the bottleneck) and ``hist``
    ([microseconds, count] pairs).
    """
    cdef pf_lg_config cfg
    cdef pf_lg_result *res
    cdef int rc
    cdef bytes b_host, b_path, b_hpath, b_hhost
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, not {mode!r}")
    if closer not in CLOSERS:
        raise ValueError(f"closer must be one of {sorted(CLOSERS)}, not {closer!r}")
    if stalled and mode in ("connect", "udp"):
        raise ValueError(f"stalled connections need a stream mode, not {mode!r}")
    pf_lg_config_init(&cfg)
    cfg.mode = MODES[mode]
    if isinstance(address, str):
        b_path = os.fsencode(address)
        rc = pf_lg_set_unix(&cfg, b_path)
        if http_host is None:
            http_host = "localhost"
    else:
        host, port = address[0], address[1]
        b_host = host.encode()
        rc = pf_lg_set_inet(&cfg, b_host, port)
        if http_host is None:
            http_host = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if rc < 0:
        raise OSError(-rc, f"bad address {address!r}: {os.strerror(-rc)}")
    b_hpath = http_path.encode()
    b_hhost = http_host.encode()
    cfg.conns = conns
    cfg.active = active
    cfg.stalled = stalled
    cfg.depth = depth
    cfg.size = size
    cfg.warmup_s = warmup
    cfg.measure_s = duration
    cfg.connect_timeout_s = connect_timeout
    cfg.udp_timeout_s = udp_timeout
    cfg.backoff_s = backoff
    cfg.connect_burst = connect_burst
    cfg.closer = CLOSERS[closer]
    cfg.http_path = b_hpath
    cfg.http_host = b_hhost
    cfg.mark_fd = mark_fd
    if prefix:
        cfg.prefix = <const unsigned char *>PyBytes_AS_STRING(prefix)
        cfg.prefix_len = len(prefix)

    res = <pf_lg_result *>PyMem_Malloc(sizeof(pf_lg_result))
    if res == NULL:
        raise MemoryError()
    stop = _SignalStop(stop_fd, False)
    try:
        cfg.stop_fd = stop.rfd
        with nogil:
            rc = pf_loadgen_run(&cfg, res)
        stop.close()
        PyErr_CheckSignals()
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc))
        return _result_dict(res)
    finally:
        stop.close()
        PyMem_Free(res)


cdef dict _result_dict(pf_lg_result *res):
    cdef int i
    hist = []
    for i in range(PF_LG_NBUCKETS):
        if res.hist[i]:
            hist.append([pf_lg_bucket_value(<unsigned>i), res.hist[i]])
    el = res.elapsed_s
    return {
        "requests": res.requests,
        "errors": res.errors,
        "warmup_errors": res.warmup_errors,
        "lost": res.lost,
        "connects": res.connects,
        "bytes_sent": res.bytes_sent,
        "bytes_recv": res.bytes_recv,
        "elapsed_s": el,
        "rps": res.requests / el if el > 0 else 0.0,
        "min_us": res.lat_min_us,
        "p50_us": pf_lg_percentile(res, 0.50),
        "p90_us": pf_lg_percentile(res, 0.90),
        "p99_us": pf_lg_percentile(res, 0.99),
        "p999_us": pf_lg_percentile(res, 0.999),
        "max_us": res.lat_max_us,
        "mean_us": res.lat_sum_us / res.lat_count if res.lat_count else 0.0,
        "gen_cpu": res.cpu_s / el if el > 0 else 0.0,
        "nofile_limit": res.nofile_limit,
        "hist": hist,
    }


def _serve(fd, int stop_fd, bint udp, int mode=PF_REF_ECHO):
    cdef pf_ref_stats st
    cdef int rc
    cdef int cfd = fd if isinstance(fd, int) else fd.fileno()
    memset(&st, 0, sizeof(st))
    stop = _SignalStop(stop_fd, True)
    try:
        with nogil:
            if udp:
                rc = pf_ref_echo_udp(cfd, stop.rfd, &st)
            else:
                rc = pf_ref_echo_tcp(cfd, mode, stop.rfd, &st)
    finally:
        stop.close()
    PyErr_CheckSignals()
    if rc < 0:
        raise OSError(-rc, os.strerror(-rc))
    return {"accepted": st.accepted, "bytes": st.bytes, "datagrams": st.datagrams}


def serve_echo_tcp(fd, int stop_fd=-1, str mode="echo"):
    """Serve the C epoll echo on listening socket `fd` (a socket or an int).

    mode: "echo" echoes every byte until the client closes; "line" echoes
    whole lines only (a partial line waits for its end) until the client
    closes; "once" reads once, echoes that, then shuts down and closes (the
    server closes first, as a socketserver handler that returns).

    Runs without the GIL until `stop_fd` is readable or, when called from the
    main thread with stop_fd=-1, until SIGTERM (returns) or SIGINT (raises
    KeyboardInterrupt). Returns {"accepted", "bytes"} (bytes echoed).
    Raises ValueError for an unknown mode, OSError if epoll fails.
    """
    if mode not in REF_MODES:
        raise ValueError(f"mode must be one of {sorted(REF_MODES)}, not {mode!r}")
    return _serve(fd, stop_fd, False, REF_MODES[mode])


def serve_echo_udp(fd, int stop_fd=-1):
    """Serve the C recvfrom/sendto echo on bound datagram socket `fd`.

    Stops like serve_echo_tcp. Returns {"bytes", "datagrams"}.
    """
    return _serve(fd, stop_fd, True)
