# System headers pyfast's extensions use (declared once, here).
cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    ctypedef unsigned short sa_family_t
    struct sockaddr:
        pass
    struct sockaddr_storage:
        sa_family_t ss_family
    enum:
        MSG_DONTWAIT
        MSG_PEEK
        SOCK_NONBLOCK


cdef extern from "<netinet/in.h>" nogil:
    struct sockaddr_in:
        pass


cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void *iov_base
        size_t iov_len


cdef extern from "<poll.h>" nogil:
    enum:
        POLLIN
        POLLOUT


cdef extern from "<sys/epoll.h>" nogil:
    enum:
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLRDHUP
        EPOLLET


cdef extern from "<signal.h>" nogil:
    ctypedef struct sigset_t:
        pass
    enum:
        SIG_BLOCK
        SIG_SETMASK
    int sigemptyset(sigset_t *s)
    int sigaddset(sigset_t *s, int signum)
    int pthread_sigmask(int how, const sigset_t *s, sigset_t *old)
