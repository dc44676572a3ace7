# Pool: the worker pool, a C queue served by Python threads (csrc/pf_pool.h).

# Every Pool, so that a fork's child can make their locks anew
# (os.register_at_fork below).
_pools = _weakref.WeakSet()


def _pools_after_fork_in_child():
    for pool in list(_pools):
        try:
            (<Pool>pool)._after_fork()
        except OSError:
            pass


_os.register_at_fork(after_in_child=_pools_after_fork_in_child)


cdef class Pool:
    """The worker pool: a C queue (mutex + condition variable) served by
    reusable Python threads.

    Pool(max_workers, idle_timeout=10.0, name="pyfast-worker", daemon=True,
         sched_batch=True, overflow_after=None, start_delay=0.005)

    max_workers (int): threads start on demand up to this many; items
    beyond wait in the queue.  idle_timeout (seconds): a thread with nothing
    to do for this long exits.  A thread starts for an item only when no
    thread will take it (an idle thread, or one that has just finished an
    item, takes the next one); at once when no thread is busy, else once
    the item has waited start_delay seconds, since a busy thread may be
    about to finish: a burst of short items reuses the threads there are
    (see csrc/pf_pool.h).  overflow_after (seconds, or None): with
    max_workers threads busy, an item that has waited this long without a
    thread to take it gets a thread of its own, so threads held by slow
    items cannot keep the queue waiting forever; None: max_workers is a
    hard bound.  Threads for waiting items are started by an overseer
    thread.
    sched_batch: workers run under Linux's SCHED_BATCH policy, so a worker
    woken by I/O does not preempt the thread that holds the GIL (it could
    not run Python anyway); on one core this removes the GIL convoy of
    thread-per-session servers (see README, "Why SCHED_BATCH").
    Worker threads block asynchronous signals (SIGINT...) so that the
    kernel delivers them to the main thread, where Python handles them.
    """
    cdef pf_pool p
    cdef bint inited
    cdef int idle_ms
    cdef readonly str name
    cdef readonly bint daemon
    cdef readonly int max_workers
    cdef readonly bint sched_batch
    cdef readonly object overflow_after
    cdef readonly double start_delay
    cdef unsigned long started
    cdef set live      # the worker threads (threading.Thread) running _work
    cdef object __weakref__

    def __cinit__(self, int max_workers, idle_timeout=10.0, str name="pyfast-worker",
                  bint daemon=True, bint sched_batch=True, overflow_after=None,
                  double start_delay=0.005):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        if overflow_after is not None and overflow_after < 0:
            raise ValueError("overflow_after must be None or at least 0")
        if start_delay < 0:
            raise ValueError("start_delay must be at least 0")
        cdef int rc = pf_pool_init(&self.p, max_workers, timeout_ms(start_delay),
                                   -1 if overflow_after is None else timeout_ms(overflow_after))
        if rc < 0:
            raise_errno(rc)
        self.inited = True
        self.idle_ms = timeout_ms(idle_timeout)
        self.name = name
        self.daemon = daemon
        self.max_workers = max_workers
        self.sched_batch = sched_batch
        self.live = set()
        self.overflow_after = overflow_after
        self.start_delay = start_delay
        _pools.add(self)
        if not daemon:
            # Non-daemon workers are joined at interpreter exit (as the
            # stdlib's non-daemon handler threads are); close the pool first
            # so idle ones leave instead of keeping the process alive.
            ref = _weakref.ref(self)
            def _close_at_exit(ref=ref):
                pool = ref()
                if pool is not None:
                    pool.close()
            try:
                _threading._register_atexit(_close_at_exit)
            except (AttributeError, RuntimeError):
                pass

    def __dealloc__(self):
        cdef void *item
        if self.inited:
            while pf_pool_pop(&self.p, &item) == 0:
                Py_DECREF(<object>item)
            pf_pool_destroy(&self.p)

    def submit(self, fn, *args):
        """Queue fn(*args) to run on a worker thread.

        Raises RuntimeError after close(), RuntimeError from threading when
        a thread cannot be started (the item stays queued for the threads
        that exist).
        """
        item = (fn, args)
        Py_INCREF(item)
        cdef int rc = pf_pool_submit(&self.p, <void *>item)
        if rc < 0:
            Py_DECREF(item)
            if rc == -ESHUTDOWN:
                raise RuntimeError("cannot submit to a closed pool")
            raise_errno(rc)
        if rc == PF_POOL_START_WORKER:
            self._start_worker()
        elif rc == PF_POOL_START_OVERSEER:
            t = _threading.Thread(target=self._oversee, daemon=True,
                                  name=f"{self.name}-overseer")
            try:
                with block_signals():
                    t.start()
            except BaseException:
                pf_pool_overseer_failed(&self.p)
                raise

    cdef int _start_worker(self) except -1:
        """Start the worker thread pf_pool counted already."""
        self.started += 1
        t = _threading.Thread(target=self._work, daemon=self.daemon,
                              name=f"{self.name}-{self.started}")
        try:
            with block_signals():
                t.start()
        except BaseException:
            pf_pool_worker_failed(&self.p)
            raise
        return 0

    def _oversee(self):
        """The overseer thread: starts a worker for each item that waited
        start_delay (past max_workers: overflow_after) seconds without a
        taker (pf_pool_oversee); exits when idle for idle_timeout or when
        the pool closes."""
        cdef int rc
        while True:
            with nogil:
                rc = pf_pool_oversee(&self.p, self.idle_ms)
            if rc != PF_POOL_START_WORKER:
                return
            try:
                self._start_worker()
            except Exception as exc:
                # Out of threads: the item waits for one to finish; try
                # again a little later rather than spin.
                _log.error("pool %s: cannot start a worker: %r", self.name, exc)
                _time.sleep(max(self.start_delay, self.overflow_after or 0, 0.05))

    def _work(self):
        cdef void *item
        cdef int rc
        me = _threading.current_thread()
        self.live.add(me)
        try:
            self._serve(me)
        finally:
            self.live.discard(me)

    def _serve(self, me):
        cdef void *item
        cdef int rc
        if self.sched_batch:
            try:
                _os.sched_setscheduler(0, _os.SCHED_BATCH, _os.sched_param(0))
            except (AttributeError, OSError):
                pass
        while True:
            with nogil:
                rc = pf_pool_take(&self.p, self.idle_ms, &item)
            if rc < 0:
                return
            job = <object>item
            Py_DECREF(job)
            try:
                fn, args = job
                del job
                fn(*args)
            except BaseException:
                _thread_excepthook(me)
            finally:
                fn = args = None
                pf_pool_done(&self.p)

    def close(self):
        """Accept no more items; idle threads exit, queued items still run."""
        if self.inited:
            pf_pool_close(&self.p)

    cdef int _after_fork(self) except -1:
        """In a fork's child: no worker of the parent runs here, so the
        parent's queued items (its requests) are dropped and the pool's
        locks made anew; items submitted in the child start its own
        threads."""
        cdef void *item
        if not self.inited:
            return 0
        cdef int rc = pf_pool_after_fork(&self.p)
        if rc < 0:
            self.inited = False     # unusable: never touched again
            raise_errno(rc)
        while pf_pool_pop(&self.p, &item) == 0:
            Py_DECREF(<object>item)
        return 0

    def join(self, timeout=None):
        """Wait until nothing is queued or running; True if so, False when
        timeout (seconds) passed first.  Signals are handled meanwhile."""
        cdef int ms = timeout_ms(timeout)
        cdef int64_t deadline = pf_now_ms() + ms
        cdef int slice_ms, rc
        while True:
            slice_ms = 50
            if ms >= 0:
                slice_ms = <int>min(50, max(0, deadline - pf_now_ms()))
            with nogil:
                rc = pf_pool_join(&self.p, slice_ms)
            if rc == 0:
                return True
            PyErr_CheckSignals()
            if ms >= 0 and pf_now_ms() >= deadline:
                return False

    @property
    def threads(self):
        """The worker threads alive (a list of threading.Thread)."""
        return [t for t in self.live if t.is_alive()]

    @property
    def stats(self):
        """dict: workers (threads alive), waiting (idle), running, queued,
        overseer (1 while the overseer thread runs)."""
        cdef pf_pool_stats s
        pf_pool_get_stats(&self.p, &s)
        return {"workers": s.workers, "waiting": s.waiting,
                "running": s.running, "queued": s.queued,
                "overseer": s.overseer}
