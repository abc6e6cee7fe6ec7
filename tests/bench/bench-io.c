/* Benchmarks of threads and streams (tests/bench/run-io.sh runs them beside
 * the same echo server in asyncio and asyncio+uvloop, and prints a table).
 *
 *   bench-io                   to_thread, then the echo benchmark: an eddy
 *                              server pinned to CPU 0 and the eddy client
 *                              pinned to CPU 1, in two processes
 *   bench-io thread            to_thread round trip only
 *   bench-io server            echo server on 127.0.0.1, port 0; prints
 *                              "port N" and serves until killed
 *   bench-io floor-server      the same with bare epoll, read and write, no
 *                              eddy: the kernel's share of the work
 *   bench-io client PORT PID [SECONDS [CONNS [SIZE]]]
 *                              CONNS (100) connections each sending a line
 *                              of SIZE (64) bytes and waiting for its echo,
 *                              for SECONDS (3) after a short warm-up; prints
 *                              round trips per second and per CPU-second of
 *                              process PID (the server: utime + stime from
 *                              /proc/PID/stat), and the server's user-mode
 *                              share of that CPU time
 *
 * The echo server is asyncio's streams example: readline, write, drain.
 * Output lines are `name<TAB>value<TAB>unit`; to_thread is the
 * `name<TAB>ns_per_op<TAB>ops` line of bench.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "eddy.h"

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        int rc_ = (int)(x);                                                                        \
        if (rc_ < 0) {                                                                             \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, eddy_strerror(rc_));        \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define WARMUP_MS 300

/* ---------------------------------------------------------------- to_thread */

static void *noop(void *arg)
{
    return arg;
}

static int thread_main(void *arg)
{
    const int n = 20000;
    uint64_t best = 0;
    void *res;

    for (int run = 0; run < 3; run++) {
        uint64_t t0 = bench_ns(), ns;
        for (int i = 0; i < n; i++)
            CHECK(eddy_to_thread(noop, &res, &res, NULL));
        ns = bench_ns() - t0;
        if (best == 0 || ns < best)
            best = ns;
    }
    bench_report("to_thread", best, (uint64_t)n);
    return 0;
}

/* -------------------------------------------------------------- echo server */

static int handle_echo(void *arg)
{
    eddy_stream_t *c = arg;
    eddy_reader_t r;
    eddy_writer_t w;
    const char *line;
    ssize_t n;

    eddy_reader_init(&r, c, 0);
    eddy_writer_init(&w, c, 0, 0);
    while ((n = eddy_reader_readline(&r, &line)) > 0) {
        if (eddy_writer_write(&w, line, (size_t)n) != 0 || eddy_writer_drain(&w) != 0)
            break;
    }
    eddy_writer_close(&w);
    eddy_reader_free(&r);
    eddy_close(c);
    return 0;
}

static int server_main(void *arg)
{
    eddy_spawn_opts_t opts = {.stack_size = 32 * 1024};
    eddy_stream_t *server, *c;

    CHECK(eddy_listen(&server, "127.0.0.1:0", 1024));
    printf("port %d\n", eddy_stream_port(server));
    fflush(stdout);
    while (eddy_accept(server, &c) == 0)
        CHECK(eddy_spawn(NULL, handle_echo, c, &opts));
    return 0;
}

/* ------------------------------------------------------ the kernel's floor */

/* A bare epoll echo server, without eddy or libuv: one read and one write
 * per message, which is the least any server can do.  Its CPU time is
 * almost all the kernel's, and shows how much of the others' is theirs. */
static int floor_server(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct epoll_event ev = {.events = EPOLLIN}, evs[256];
    socklen_t len = sizeof(sin);
    int ls, ep, one = 1;
    char buf[8192];

    ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(ls, 1024) != 0 ||
        getsockname(ls, (struct sockaddr *)&sin, &len) != 0 || (ep = epoll_create1(0)) < 0) {
        perror("floor-server");
        return 1;
    }
    printf("port %d\n", ntohs(sin.sin_port));
    fflush(stdout);
    ev.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            ssize_t r;
            if (fd == ls) {
                int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                if (c >= 0) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    ev.data.fd = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                }
                continue;
            }
            r = read(fd, buf, sizeof(buf));
            if (r <= 0 || write(fd, buf, (size_t)r) != r)
                close(fd);
        }
    }
}

/* -------------------------------------------------------------- echo client */

static struct {
    const char *port;
    pid_t server;
    unsigned seconds, conns;
    size_t size;
    uint64_t count; /* round trips so far */
    bool stop;
} cl = {.seconds = 3, .conns = 100, .size = 64};

static int client_conn(void *arg)
{
    eddy_stream_t *s;
    eddy_reader_t r;
    char *msg = malloc(cl.size), *back = malloc(cl.size);

    memset(msg, 'x', cl.size - 1);
    msg[cl.size - 1] = '\n';
    CHECK(eddy_connect(&s, "127.0.0.1", cl.port));
    eddy_reader_init(&r, s, 0);
    while (!cl.stop) {
        CHECK(eddy_write_all(s, msg, cl.size));
        CHECK(eddy_reader_readexactly(&r, back, cl.size));
        cl.count++;
    }
    eddy_reader_free(&r);
    eddy_close(s);
    free(msg);
    free(back);
    return 0;
}

/* utime + stime of a process, in seconds; *user gets utime alone. */
static double cpu_seconds(pid_t pid, double *user)
{
    char path[64], buf[1024], *p;
    unsigned long utime, stime;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name (which may hold spaces): state is 3,
     * utime 14, stime 15. */
    p = strrchr(buf, ')');
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    *user = (double)utime / (double)sysconf(_SC_CLK_TCK);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int client_main(void *arg)
{
    eddy_task_t **ts = calloc(cl.conns, sizeof(*ts));
    uint64_t c0, c1, t0, t1;
    double s0, s1, u0, u1, m0, m1, secs;

    for (unsigned i = 0; i < cl.conns; i++)
        CHECK(eddy_spawn(&ts[i], client_conn, NULL, NULL));
    CHECK(eddy_sleep(WARMUP_MS));
    c0 = cl.count;
    t0 = bench_ns();
    s0 = cpu_seconds(cl.server, &u0);
    m0 = self_cpu_seconds();
    CHECK(eddy_sleep(cl.seconds * 1000u));
    c1 = cl.count;
    t1 = bench_ns();
    s1 = cpu_seconds(cl.server, &u1);
    m1 = self_cpu_seconds();
    cl.stop = true;
    CHECK(eddy_gather(ts, cl.conns, NULL, NULL, 0));
    for (unsigned i = 0; i < cl.conns; i++)
        eddy_detach(ts[i]);
    free(ts);

    secs = (double)(t1 - t0) / 1e9;
    printf("echo_msgs_per_s\t%.0f\tmsg/s\n", (double)(c1 - c0) / secs);
    printf("echo_server_cpu\t%.2f\tcpu-s/s\n", (s1 - s0) / secs);
    printf("echo_msgs_per_server_cpu_s\t%.0f\tmsg/cpu-s\n", (double)(c1 - c0) / (s1 - s0));
    printf("echo_server_user_cpu\t%.2f\tcpu-s/s\n", (u1 - u0) / secs);
    printf("echo_client_cpu\t%.2f\tcpu-s/s\n", (m1 - m0) / secs);
    fflush(stdout);
    return 0;
}

/* ---------------------------------------------------------------- driver */

static void pin(int cpu)
{
    cpu_set_t set;
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return; /* nothing to separate */
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

/* Forks an eddy echo server pinned to CPU 0 and runs the client on CPU 1. */
static void echo_both(void)
{
    int fds[2];
    char line[64], port[16];
    pid_t pid;
    FILE *f;

    CHECK(pipe(fds));
    pid = fork();
    CHECK(pid);
    if (pid == 0) {
        pin(0);
        dup2(fds[1], 1);
        close(fds[0]);
        execl("/proc/self/exe", "bench-io", "server", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    f = fdopen(fds[0], "r");
    if (f == NULL || fgets(line, sizeof(line), f) == NULL || sscanf(line, "port %15s", port) != 1) {
        fprintf(stderr, "the server did not start\n");
        exit(1);
    }
    pin(1);
    cl.port = port;
    cl.server = pid;
    CHECK(eddy_run(client_main, NULL));
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "thread") == 0)
        return eddy_run(thread_main, NULL) == 0 ? 0 : 1;
    if (argc >= 2 && strcmp(argv[1], "server") == 0)
        return eddy_run(server_main, NULL) == 0 ? 0 : 1;
    if (argc >= 2 && strcmp(argv[1], "floor-server") == 0)
        return floor_server();
    if (argc >= 4 && strcmp(argv[1], "client") == 0) {
        cl.port = argv[2];
        cl.server = (pid_t)atoi(argv[3]);
        if (argc > 4)
            cl.seconds = (unsigned)atoi(argv[4]);
        if (argc > 5)
            cl.conns = (unsigned)atoi(argv[5]);
        if (argc > 6)
            cl.size = (size_t)atoi(argv[6]);
        if (cl.seconds < 1 || cl.conns < 1 || cl.size < 2) {
            fprintf(stderr, "bad arguments\n");
            return 2;
        }
        return eddy_run(client_main, NULL) == 0 ? 0 : 1;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: bench-io [thread | server | floor-server | client PORT PID "
                        "[SECONDS [CONNS [SIZE]]]]\n");
        return 2;
    }
    CHECK(eddy_run(thread_main, NULL));
    echo_both();
    return 0;
}
