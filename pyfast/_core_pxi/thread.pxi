# The threads pyfast starts (pool workers, hubs, message loops): the
# signals they block and how an exception that escapes them is reported.

# Asynchronous signals a thread pyfast starts blocks, so that the kernel
# delivers them to a thread that runs Python's handlers (the main thread)
# and interrupts its wait: Ctrl-C then reaches serve_forever() at once.
BLOCKED_SIGNALS = frozenset(getattr(_signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGALRM", "SIGUSR1", "SIGUSR2",
    "SIGCHLD", "SIGWINCH", "SIGPIPE") if hasattr(_signal, name))

cdef sigset_t _blocked_set
sigemptyset(&_blocked_set)
for _signum in BLOCKED_SIGNALS:
    sigaddset(&_blocked_set, _signum)
del _signum


cdef class block_signals:
    """Context manager: the calling thread blocks BLOCKED_SIGNALS (SIGINT,
    SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGUSR1, SIGUSR2, SIGCHLD, SIGWINCH,
    SIGPIPE) inside the block, and gets its own signal mask back on exit.

    A thread inherits the signal mask of the thread that starts it
    (pthread_create(3)), so a thread started inside the block runs with
    these signals blocked from its first instruction::

        with block_signals():
            threading.Thread(target=run).start()

    and a signal sent to the process reaches the main thread, whose
    handlers run Python's (Ctrl-C raises KeyboardInterrupt in
    serve_forever()).  A signal that arrives inside the block is delivered
    on exit.  Every thread pyfast starts is started this way.  OSError if
    pthread_sigmask(3) fails (it does not on Linux).
    """
    cdef sigset_t old
    cdef bint entered

    def __enter__(self):
        if self.entered:
            raise RuntimeError("block_signals() is not reentrant")
        cdef int rc = pthread_sigmask(SIG_BLOCK, &_blocked_set, &self.old)
        if rc != 0:
            raise_errno(-rc)
        self.entered = True
        return self

    def __exit__(self, *exc_info):
        cdef int rc
        if self.entered:
            self.entered = False
            rc = pthread_sigmask(SIG_SETMASK, &self.old, NULL)
            if rc != 0:
                raise_errno(-rc)
        return False


cdef _thread_excepthook(thread):
    """Report the exception being handled, which escaped an item run on
    the worker thread, as threading.Thread reports one that escapes its
    run(): threading.excepthook(args) (its default prints the traceback
    and ignores SystemExit); if that hook is missing or raises,
    sys.excepthook gets what it could not report."""
    exc_type, exc, tb = _sys.exc_info()
    hook = getattr(_threading, "excepthook", None)
    try:
        if hook is None:
            _sys.excepthook(exc_type, exc, tb)
        else:
            hook(_threading.ExceptHookArgs([exc_type, exc, tb, thread]))
    except BaseException as failed:
        _sys.excepthook(type(failed), failed, failed.__traceback__)
    finally:
        exc = tb = failed = None
