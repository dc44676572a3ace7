# C declarations of csrc/pf_hub.h (and the stream helpers) used by pyfast._coop.
from libc.stdint cimport uint32_t, uint64_t, int64_t


# MSG_DONTWAIT, POLLIN/POLLOUT, EPOLLIN/EPOLLOUT and the stream buffers
# (pf_stream.h) are declared once, in core.pxd.
from pyfast.includes.core cimport (MSG_DONTWAIT, MSG_PEEK, POLLIN, POLLOUT, EPOLLIN, EPOLLOUT,
                                   pf_buf, pf_buf_len, pf_buf_data, pf_buf_free,
                                   pf_buf_reserve, pf_buf_consume, pf_buf_append,
                                   pf_sock_recv, pf_sock_send, pf_wait_fd)


cdef extern from "<sys/epoll.h>" nogil:
    enum:
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLLET


cdef extern from "pf_hub.h" nogil:
    uint32_t PF_HUB_TIMER
    uint32_t PF_HUB_WAKE
    ctypedef struct pf_hub_event:
        uint64_t tag
        uint32_t events
    ctypedef struct pf_hub:
        int epfd
        int wakefd
    int64_t pf_hub_now_ns()
    int pf_hub_open(pf_hub *h)
    void pf_hub_close(pf_hub *h)
    int pf_hub_add(pf_hub *h, int fd, uint32_t events, uint64_t tag)
    int pf_hub_mod(pf_hub *h, int fd, uint32_t events, uint64_t tag)
    int pf_hub_del(pf_hub *h, int fd)
    int pf_hub_timer_add(pf_hub *h, int64_t deadline_ns, uint64_t tag)
    int pf_hub_timer_cancel(pf_hub *h, int id, uint64_t tag)
    int pf_hub_timer_count(const pf_hub *h)
    int pf_hub_wake(pf_hub *h)
    int pf_hub_wait(pf_hub *h, int timeout_ms, pf_hub_event *out, int max)
    void pf_hub_yield()


# greenlet's C API (greenlet.h, in the installed greenlet package; its
# directory is on pyfast._coop's include path only, see CMakeLists.txt, so
# only _coop may cimport this file).  The functions are macros
# over a table that PyGreenlet_Import() fills (NULL if it failed).  Their
# PyGreenlet * results are cast to PyObject * in the cnames, so that Cython
# handles them as new references.
from cpython.object cimport PyObject

cdef extern from "greenlet.h":
    ctypedef struct PyGreenlet:
        pass
    void **_PyGreenlet_API
    void PyGreenlet_Import()
    object PyGreenlet_GetCurrent_obj "(PyObject *)PyGreenlet_GetCurrent"()
    object PyGreenlet_New_obj "(PyObject *)PyGreenlet_New"(object run, PyGreenlet *parent)
    # g.switch(*args, **kwargs); args NULL: no arguments.
    object PyGreenlet_Switch(PyGreenlet *g, PyObject *args, PyObject *kwargs)
