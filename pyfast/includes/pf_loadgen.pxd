# csrc/pf_loadgen.h: the C load generator.
from libc.stdint cimport uint64_t
from pyfast.includes.system cimport sockaddr_storage, socklen_t

cdef extern from "pf_loadgen.h" nogil:
    enum:
        PF_LG_ECHO
        PF_LG_LINE
        PF_LG_CONNECT
        PF_LG_UDP
        PF_LG_HTTP
        PF_LG_NBUCKETS

    cdef enum pf_lg_closer:
        PF_LG_CLIENT_CLOSES
        PF_LG_SERVER_CLOSES

    struct pf_lg_config:
        int mode
        sockaddr_storage addr
        socklen_t addrlen
        int conns
        int active
        int stalled
        int depth
        size_t size
        double warmup_s
        double measure_s
        double connect_timeout_s
        double udp_timeout_s
        double backoff_s
        int connect_burst
        int closer
        const char *http_path
        const char *http_host
        int mark_fd
        int stop_fd
        const unsigned char *prefix
        size_t prefix_len

    struct pf_lg_result:
        uint64_t requests
        uint64_t errors
        uint64_t warmup_errors
        uint64_t lost
        uint64_t connects
        uint64_t bytes_sent
        uint64_t bytes_recv
        double elapsed_s
        double cpu_s
        uint64_t lat_min_us
        uint64_t lat_max_us
        uint64_t lat_count
        double lat_sum_us
        uint64_t hist[PF_LG_NBUCKETS]
        int nofile_limit

    void pf_lg_config_init(pf_lg_config *cfg)
    int pf_lg_set_inet(pf_lg_config *cfg, const char *host, int port)
    int pf_lg_set_unix(pf_lg_config *cfg, const char *path)
    int pf_loadgen_run(const pf_lg_config *cfg, pf_lg_result *res)
    uint64_t pf_lg_percentile(const pf_lg_result *res, double q)
    unsigned pf_lg_bucket(uint64_t us)
    uint64_t pf_lg_bucket_value(unsigned idx)
