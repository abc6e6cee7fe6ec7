/* wsfan: the WebSocket client of bench-pubsub.sh, bench-ws-memory.sh and
 * bench-ws.sh.  It holds N connections cheaply (one epoll loop, raw sockets,
 * a couple of hundred bytes of state each), then either
 *   - publishes by HTTP POST and times each message from the POST to its
 *     arrival at the last of the N subscribers (the default), then keeps W
 *     messages in flight for some seconds (deliveries per server CPU-second),
 *   - reports the server's RSS growth per idle subscriber (idle mode),
 *   - or, as an echo load generator doing what uWS's uws-load does, keeps one
 *     message in flight per connection and reports messages per second and
 *     per server CPU-second (echo mode).
 * The server's CPU time and RSS come from /proc (the process and its
 * children: nginx's worker).  Not a server test: frames are counted, not
 * checked, beyond what counting needs.
 *
 *   cc -O2 -o wsfan wsfan.c
 *   wsfan [options] PORT SUBSCRIBE_PATH [PUBLISH_PATH]
 *     -n N      subscribers (10000)
 *     -c K      timed publishes, one at a time (50), after 3 untimed ones
 *     -s BYTES  payload size (20)
 *     -t SECS   then publish with W messages in flight for SECS seconds (0: no)
 *     -w W      messages in flight in that phase (8)
 *     -p PID    the server: its CPU time and RSS
 *     -i        idle mode: connect, wait, report RSS per subscriber, exit
 *     -e SECS   echo mode: each connection sends a binary message of -s
 *               bytes and the next when its echo is back; measures SECS
 *               seconds after one of warm-up
 *     -a ADDRS  client source addresses 127.0.0.1..ADDRS (default: one per
 *               20,000 subscribers; each has its own ephemeral port range)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { SUB_CONNECTING, SUB_HANDSHAKE, SUB_OPEN, SUB_CLOSED };

/* One subscriber: where it is in the handshake or in the current frame. */
struct sub {
    int fd;
    uint8_t state;
    uint8_t hdr_len;  /* frame header bytes collected so far */
    uint8_t hdr_need; /* frame header size, once known (2, 4 or 10) */
    uint8_t ctl_len;  /* control payload collected (a ping's, to echo) */
    uint8_t hdr[10];
    uint8_t eoh;        /* how much of "\r\n\r\n" ends the response so far */
    uint8_t status[12]; /* "HTTP/1.1 101" */
    uint8_t status_len;
    uint64_t remain; /* payload bytes left in the current frame */
    uint32_t got;    /* data messages received */
    uint32_t sent;   /* echo mode: bytes of the current message written */
    uint8_t ctl[125];
};

/* One publisher connection: one POST in flight at a time, keep-alive. */
struct pub {
    int fd;
    int busy;
    char in[8192];
    size_t in_len;
    long body_left; /* -1: reading the header */
    int chunked;
};

static struct {
    int epfd;
    int port;
    const char *sub_path, *pub_path;
    int n, timed, size, secs, window, idle, addrs, echo_secs;
    pid_t pid;
    struct sub *subs;
    struct pub pubs[8];
    int npubs;
    int connected, closed, pending;
    uint32_t *reached; /* reached[k]: subscribers that got k messages */
    double *done_at;   /* when message k reached all of them */
    int published, completed, max_msgs;
    uint64_t deliveries;
    int bad_status;
    char *payload;
    uint8_t *frame; /* echo mode: the masked message each connection sends */
    size_t frame_len;
} g;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "wsfan: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The server's pid and its children's, recursively (nginx's master and worker). */
static int server_pids(pid_t pid, pid_t *out, int max)
{
    char path[64], buf[4096];
    int n = 0;
    if (max <= 0)
        return 0;
    out[n++] = pid;
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return n;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(buf, sizeof(buf), "/proc/%d/task/%s/children", (int)pid, e->d_name);
        FILE *f = fopen(buf, "r");
        if (f == NULL)
            continue;
        for (int child; fscanf(f, "%d", &child) == 1;)
            n += server_pids(child, out + n, max - n);
        fclose(f);
    }
    closedir(d);
    return n;
}

/* User + system CPU seconds of the server and its children. */
static double server_cpu(void)
{
    pid_t pids[64];
    double ticks = 0;
    int n;
    if (g.pid <= 0)
        return 0;
    n = server_pids(g.pid, pids, 64);
    for (int i = 0; i < n; i++) {
        char path[64], buf[1024];
        unsigned long ut, st;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        /* After the command name: state is field 3, utime 14, stime 15. */
        if (p &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            ticks += (double)(ut + st);
    }
    return ticks / (double)sysconf(_SC_CLK_TCK);
}

/* Resident memory of the server and its children, KiB. */
static long server_rss_kib(void)
{
    pid_t pids[64];
    long kib = 0;
    int n = g.pid > 0 ? server_pids(g.pid, pids, 64) : 0;
    for (int i = 0; i < n; i++) {
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pids[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "VmRSS:", 6) == 0)
                kib += atol(line + 6);
        fclose(f);
    }
    return kib;
}

/* Seconds in which some task waited for a CPU (/proc/pressure/cpu): other jobs competing. */
static double cpu_wait(void)
{
    double us = 0;
    FILE *f = fopen("/proc/pressure/cpu", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "some avg10=%*s avg60=%*s avg300=%*s total=%lf", &us) != 1)
        us = 0;
    fclose(f);
    return us / 1e6;
}

static double own_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void watch(int fd, uint32_t events, uint64_t tag, int op)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    if (epoll_ctl(g.epfd, op, fd, &ev) < 0)
        die("epoll_ctl");
}

/* Tags: subscriber i is i, publisher j is (1 << 32) + j. */
#define PUB_TAG (UINT64_C(1) << 32)

static int tcp_socket(int i)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Small buffers: 50,000 idle sockets should cost the kernel little. */
    if (g.idle) {
        int sz = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
    /* The port is picked at connect(), unique per destination, not per source address. */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(i % g.addrs));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0)
        die("bind");
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port)};
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

static void sub_start(int i)
{
    struct sub *s = &g.subs[i];
    memset(s, 0, sizeof(*s));
    s->fd = tcp_socket(i);
    s->state = SUB_CONNECTING;
    watch(s->fd, EPOLLOUT, (uint64_t)i, EPOLL_CTL_ADD);
    g.pending++;
}

static void sub_close(struct sub *s, const char *why)
{
    if (s->state == SUB_CLOSED)
        return;
    if (s->state != SUB_OPEN)
        g.pending--;
    else
        g.connected--;
    if (g.closed++ < 5)
        fprintf(stderr, "wsfan: subscriber %d closed: %s\n", (int)(s - g.subs), why);
    close(s->fd);
    s->state = SUB_CLOSED;
}

static void sub_send_handshake(struct sub *s)
{
    char req[512];
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        errno = err;
        sub_close(s, strerror(err));
        return;
    }
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     g.sub_path, g.port);
    if (write(s->fd, req, (size_t)n) != n) {
        sub_close(s, "handshake write");
        return;
    }
    s->state = SUB_HANDSHAKE;
    watch(s->fd, EPOLLIN, (uint64_t)(s - g.subs), EPOLL_CTL_MOD);
}

/* Echo mode: writes (the rest of) the message; EPOLLOUT while it does not fit. */
static void sub_send_frame(struct sub *s)
{
    ssize_t w = write(s->fd, g.frame + s->sent, g.frame_len - s->sent);
    if (w < 0 && errno != EAGAIN) {
        sub_close(s, "write");
        return;
    }
    uint32_t before = s->sent;
    s->sent += w > 0 ? (uint32_t)w : 0;
    if (s->sent == g.frame_len) {
        s->sent = 0;
        if (before > 0 || w < 0)
            watch(s->fd, EPOLLIN, (uint64_t)(s - g.subs), EPOLL_CTL_MOD);
    } else if (before == 0) {
        watch(s->fd, EPOLLIN | EPOLLOUT, (uint64_t)(s - g.subs), EPOLL_CTL_MOD);
    }
}

/* A whole message arrived at a subscriber: the k-th of its life. */
static void sub_message(struct sub *s)
{
    uint32_t k = ++s->got;
    g.deliveries++;
    if (g.echo_secs > 0) {
        sub_send_frame(s);
        return;
    }
    if (k < (uint32_t)g.max_msgs && ++g.reached[k] == (uint32_t)g.connected) {
        g.done_at[k] = now();
        g.completed++;
    }
}

/* Answers a ping with a masked pong carrying its payload (mask 0: XOR is a no-op). */
static void sub_pong(struct sub *s)
{
    uint8_t out[6 + 125] = {0x8a, (uint8_t)(0x80 | s->ctl_len), 0, 0, 0, 0};
    memcpy(out + 6, s->ctl, s->ctl_len);
    if (write(s->fd, out, 6u + s->ctl_len) < 0)
        sub_close(s, "pong write");
}

static void sub_frame_done(struct sub *s)
{
    int opcode = s->hdr[0] & 0x0f, fin = s->hdr[0] & 0x80;
    if (opcode == 0x9)
        sub_pong(s);
    else if (opcode == 0x8)
        sub_close(s, "close frame from server");
    else if (opcode <= 0x2 && fin)
        sub_message(s);
    s->hdr_len = s->hdr_need = 0;
    s->ctl_len = 0;
}

/* Feeds received bytes through the frame parser. */
static void sub_frames(struct sub *s, const uint8_t *p, size_t len)
{
    while (len > 0 && s->state == SUB_OPEN) {
        if (s->hdr_need == 0 || s->hdr_len < s->hdr_need) {
            s->hdr[s->hdr_len++] = *p++;
            len--;
            if (s->hdr_len == 2) {
                int l7 = s->hdr[1] & 0x7f;
                s->hdr_need = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
            }
            if (s->hdr_len < 2 || s->hdr_len < s->hdr_need)
                continue;
            int l7 = s->hdr[1] & 0x7f;
            if (l7 < 126) {
                s->remain = (uint64_t)l7;
            } else {
                s->remain = 0;
                for (int i = 2; i < s->hdr_need; i++)
                    s->remain = s->remain << 8 | s->hdr[i];
            }
            if (s->remain == 0)
                sub_frame_done(s);
            continue;
        }
        size_t take = len < s->remain ? len : (size_t)s->remain;
        if ((s->hdr[0] & 0x08) && s->ctl_len + take <= sizeof(s->ctl)) {
            memcpy(s->ctl + s->ctl_len, p, take);
            s->ctl_len = (uint8_t)(s->ctl_len + take);
        }
        p += take;
        len -= take;
        s->remain -= take;
        if (s->remain == 0)
            sub_frame_done(s);
    }
}

/* Scans the handshake response for its status and its end; what follows are frames. */
static void sub_handshake(struct sub *s, const uint8_t *p, size_t len)
{
    static const char eoh[] = "\r\n\r\n";
    size_t i = 0;
    for (; i < len && s->eoh < 4; i++) {
        if (s->status_len < sizeof(s->status))
            s->status[s->status_len++] = p[i];
        s->eoh = p[i] == (uint8_t)eoh[s->eoh] ? s->eoh + 1 : p[i] == '\r' ? 1 : 0;
    }
    if (s->eoh < 4)
        return;
    if (s->status_len < 12 || memcmp(s->status + 9, "101", 3) != 0) {
        char why[64];
        snprintf(why, sizeof(why), "no 101: %.12s", (const char *)s->status);
        sub_close(s, why);
        return;
    }
    s->state = SUB_OPEN;
    g.pending--;
    g.connected++;
    sub_frames(s, p + i, len - i);
}

static void sub_readable(struct sub *s)
{
    static uint8_t buf[65536];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            sub_close(s, n == 0 ? "EOF" : strerror(errno));
            return;
        }
        if (n < 0)
            return;
        if (s->state == SUB_HANDSHAKE)
            sub_handshake(s, buf, (size_t)n);
        else
            sub_frames(s, buf, (size_t)n);
        if (s->state == SUB_CLOSED || (size_t)n < sizeof(buf))
            return;
    }
}

static void pub_connect(struct pub *pb)
{
    pb->fd = tcp_socket(0);
    pb->busy = 0;
    pb->in_len = 0;
    watch(pb->fd, EPOLLIN, PUB_TAG + (uint64_t)(pb - g.pubs), EPOLL_CTL_ADD);
}

/* Sends one POST; the connect may still be in progress, so wait for it first. */
static void pub_send(struct pub *pb)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
                     g.pub_path, g.port, g.size);
    struct iovec iov[2] = {{head, (size_t)n}, {g.payload, (size_t)g.size}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    for (int tries = 0;; tries++) {
        ssize_t w = sendmsg(pb->fd, &msg, MSG_NOSIGNAL);
        if (w == n + g.size)
            break;
        if (w < 0 && (errno == EAGAIN || errno == ENOTCONN) && tries < 1000) {
            usleep(1000);
            continue;
        }
        die("publish write (partial or failed)");
    }
    pb->busy = 1;
    pb->body_left = -1;
    pb->chunked = 0;
    g.published++;
}

/* Reads a POST response (Content-Length or chunked); the publisher is free again after it. */
static void pub_readable(struct pub *pb)
{
    ssize_t n = read(pb->fd, pb->in + pb->in_len, sizeof(pb->in) - pb->in_len - 1);
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
        /* An idle keep-alive connection may time out (uWS: 10 s); one with a POST in flight
         * has lost a message that the window waits for. */
        if (pb->busy) {
            fprintf(stderr, "wsfan: publisher connection closed with a POST in flight\n");
            exit(1);
        }
        close(pb->fd);
        pub_connect(pb);
        return;
    }
    if (n < 0)
        return;
    pb->in_len += (size_t)n;
    pb->in[pb->in_len] = 0;
    if (pb->body_left < 0) {
        char *end = strstr(pb->in, "\r\n\r\n");
        if (end == NULL)
            return;
        if (strncmp(pb->in + 9, "20", 2) != 0 && g.bad_status++ < 3)
            fprintf(stderr, "wsfan: publish answered %.*s\n", (int)strcspn(pb->in, "\r\n"), pb->in);
        char *cl = strcasestr(pb->in, "\r\ncontent-length:");
        pb->chunked = cl == NULL && strcasestr(pb->in, "\r\ntransfer-encoding: chunked") != NULL;
        pb->body_left = cl && cl < end ? atol(cl + 17) : 0;
        size_t hlen = (size_t)(end + 4 - pb->in);
        memmove(pb->in, pb->in + hlen, pb->in_len - hlen + 1);
        pb->in_len -= hlen;
    }
    if (pb->chunked) {
        if (pb->in_len < 5 || memcmp(pb->in + pb->in_len - 5, "0\r\n\r\n", 5) != 0)
            return;
        pb->in_len = 0;
    } else {
        if ((long)pb->in_len < pb->body_left)
            return;
        pb->in_len = 0;
    }
    pb->busy = 0;
}

static void dispatch(int timeout_ms)
{
    struct epoll_event evs[512];
    int n = epoll_wait(g.epfd, evs, 512, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64;
        if (tag >= PUB_TAG) {
            pub_readable(&g.pubs[tag - PUB_TAG]);
            continue;
        }
        struct sub *s = &g.subs[tag];
        if (s->state == SUB_CONNECTING)
            sub_send_handshake(s);
        else if (s->state == SUB_OPEN && s->sent > 0 && (evs[i].events & EPOLLOUT))
            sub_send_frame(s);
        if (s->state != SUB_CONNECTING && s->state != SUB_CLOSED && (evs[i].events & EPOLLIN))
            sub_readable(s);
    }
}

/* Opens the subscribers, at most 256 handshakes at a time (the listen backlog). */
static void connect_all(void)
{
    double t0 = now(), last = t0;
    int next = 0, progress = 0;
    while (g.connected + g.closed < g.n) {
        while (next < g.n && g.pending < 256)
            sub_start(next++);
        dispatch(100);
        if (g.connected + g.closed != progress) {
            progress = g.connected + g.closed;
            last = now();
        } else if (now() - last > 30) {
            fprintf(stderr, "wsfan: connecting stalled at %d of %d\n", g.connected, g.n);
            exit(1);
        }
    }
    printf("connected=%d failed=%d connect_s=%.2f\n", g.connected, g.closed, now() - t0);
    fflush(stdout);
}

/* Runs the loop for a while, answering pings and counting what arrives. */
static void idle_for(double secs)
{
    double end = now() + secs;
    while (now() < end)
        dispatch(50);
}

/* Resets every connection: no TIME_WAIT left behind to hold ports for a minute when the next
 * server is measured with as many connections. */
static void reset_all(void)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    for (int i = 0; i < g.n; i++) {
        if (g.subs[i].state == SUB_CLOSED)
            continue;
        setsockopt(g.subs[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(g.subs[i].fd);
        g.subs[i].state = SUB_CLOSED;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Waits until message k reached every subscriber and its POST was answered. */
static int wait_message(int k, struct pub *pb, double deadline)
{
    while ((g.completed < k || pb->busy) && now() < deadline)
        dispatch(10);
    return g.completed >= k && !pb->busy;
}

static void latency_phase(void)
{
    int warm = 3, total = warm + g.timed;
    double *lat = calloc((size_t)g.timed, sizeof(double));
    double cpu0 = 0;
    for (int i = 0; i < total; i++) {
        if (i == warm)
            cpu0 = server_cpu();
        double t0 = now();
        pub_send(&g.pubs[0]);
        if (!wait_message(g.published, &g.pubs[0], t0 + 10)) {
            printf("latency: message %d did not reach all %d subscribers in 10 s "
                   "(reached %u, POST %s)\n",
                   g.published, g.connected, g.reached[g.published],
                   g.pubs[0].busy ? "unanswered" : "answered");
            exit(1);
        }
        if (i >= warm)
            lat[i - warm] = (g.done_at[g.published] - t0) * 1e3;
        idle_for(0.005);
    }
    double cpu = server_cpu() - cpu0;
    qsort(lat, (size_t)g.timed, sizeof(double), cmp_double);
    int p99 = (int)((g.timed - 1) * 0.99 + 0.5);
    printf("latency subscribers=%d publishes=%d size=%dB p50_ms=%.2f p99_ms=%.2f max_ms=%.2f "
           "server_cpu_ms_per_publish=%.2f deliveries_per_server_cpu_s=%.0f\n",
           g.connected, g.timed, g.size, lat[g.timed / 2], lat[p99], lat[g.timed - 1],
           cpu * 1e3 / g.timed, cpu > 0 ? (double)g.timed * g.connected / cpu : 0.0);
    fflush(stdout);
    free(lat);
}

/* W messages in flight over 4 publisher connections, for g.secs seconds. */
static void throughput_phase(void)
{
    double t0 = now(), end = t0 + g.secs, cpu0 = server_cpu(), wait0 = cpu_wait();
    uint64_t d0 = g.deliveries;
    int p0 = g.published;
    while (now() < end) {
        for (int j = 0; j < g.npubs; j++)
            if (!g.pubs[j].busy && g.published - g.completed < g.window &&
                g.published + 1 < g.max_msgs)
                pub_send(&g.pubs[j]);
        dispatch(10);
        if (g.published + 1 >= g.max_msgs)
            break;
    }
    double wall = now() - t0, cpu = server_cpu() - cpu0, wait = cpu_wait() - wait0;
    uint64_t d = g.deliveries - d0;
    printf("throughput subscribers=%d window=%d publishes_per_s=%.0f deliveries_per_s=%.0f "
           "server_cpu_pct=%.0f deliveries_per_server_cpu_s=%.0f cpu_wait_pct=%.0f\n",
           g.connected, g.window, (g.published - p0) / wall, (double)d / wall, 100 * cpu / wall,
           cpu > 0 ? (double)d / cpu : 0.0, 100 * wait / wall);
    fflush(stdout);
}

/* Builds the client frame uws-load sends: binary, masked with 01 02 03 04, payload 'T's. */
static void echo_frame(void)
{
    size_t n = (size_t)g.size, h = n < 126 ? 2 : n < 65536 ? 4 : 10;
    static const uint8_t key[4] = {1, 2, 3, 4};
    g.frame_len = h + 4 + n;
    g.frame = malloc(g.frame_len);
    if (g.frame == NULL)
        die("malloc");
    g.frame[0] = 0x82;
    g.frame[1] = (uint8_t)(0x80 | (h == 2 ? n : h == 4 ? 126 : 127));
    for (size_t i = 2; i < h; i++)
        g.frame[i] = (uint8_t)(n >> (8 * (h - 1 - i)));
    memcpy(g.frame + h, key, 4);
    for (size_t i = 0; i < n; i++)
        g.frame[h + 4 + i] = (uint8_t)('T' ^ key[i % 4]);
}

/* Echo mode: one message in flight per connection; a second of warm-up, then the window. */
static void echo_phase(void)
{
    for (int i = 0; i < g.n; i++)
        if (g.subs[i].state == SUB_OPEN)
            sub_send_frame(&g.subs[i]);
    idle_for(1);
    double t0 = now(), cpu0 = server_cpu(), own0 = own_cpu(), wait0 = cpu_wait();
    uint64_t d0 = g.deliveries;
    idle_for(g.echo_secs);
    double wall = now() - t0, cpu = server_cpu() - cpu0, own = own_cpu() - own0;
    double msgs = (double)(g.deliveries - d0), wait = cpu_wait() - wait0;
    printf("msgs_per_s=%.0f server_cpu_pct=%.0f msgs_per_server_cpu_s=%.0f loadgen_cpu_pct=%.0f "
           "cpu_wait_pct=%.0f window_s=%.1f\n",
           msgs / wall, 100 * cpu / wall, cpu > 0 ? msgs / cpu : 0.0, 100 * own / wall,
           100 * wait / wall, wall);
}

static void usage(void)
{
    fprintf(stderr, "usage: wsfan [-n N] [-c K] [-s BYTES] [-t SECS] [-w W] [-p PID] [-i] "
                    "[-e SECS] [-a ADDRS] PORT SUBSCRIBE_PATH [PUBLISH_PATH]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    g.n = 10000;
    g.timed = 50;
    g.size = 20;
    g.window = 8;
    for (int c; (c = getopt(argc, argv, "n:c:s:t:w:p:ie:a:")) != -1;) {
        switch (c) {
        case 'n':
            g.n = atoi(optarg);
            break;
        case 'c':
            g.timed = atoi(optarg);
            break;
        case 's':
            g.size = atoi(optarg);
            break;
        case 't':
            g.secs = atoi(optarg);
            break;
        case 'w':
            g.window = atoi(optarg);
            break;
        case 'p':
            g.pid = atoi(optarg);
            break;
        case 'i':
            g.idle = 1;
            break;
        case 'e':
            g.echo_secs = atoi(optarg);
            break;
        case 'a':
            g.addrs = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    int need_pub = !g.idle && g.echo_secs <= 0;
    if (argc - optind < 2 + need_pub || g.n <= 0 || g.timed <= 0 || g.size < 0)
        usage();
    g.port = atoi(argv[optind]);
    g.sub_path = argv[optind + 1];
    g.pub_path = need_pub ? argv[optind + 2] : NULL;
    if (g.addrs <= 0)
        g.addrs = (g.n + 19999) / 20000;

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)g.n + 32) {
        fprintf(stderr, "wsfan: %d subscribers need %d descriptors; the limit is %lu\n", g.n,
                g.n + 32, (unsigned long)rl.rlim_cur);
        return 3;
    }
    g.epfd = epoll_create1(EPOLL_CLOEXEC);
    g.subs = calloc((size_t)g.n, sizeof(*g.subs));
    g.max_msgs = 1 << 22;
    g.reached = calloc((size_t)g.max_msgs, sizeof(*g.reached));
    g.done_at = calloc((size_t)g.max_msgs, sizeof(*g.done_at));
    g.payload = malloc((size_t)g.size + 1);
    if (g.epfd < 0 || !g.subs || !g.reached || !g.done_at || !g.payload)
        die("setup");
    memset(g.payload, 'x', (size_t)g.size);

    long rss0 = server_rss_kib();
    connect_all();
    if (g.connected == 0)
        return 1;
    if (g.echo_secs > 0) {
        echo_frame();
        echo_phase();
        reset_all();
        return g.closed ? 1 : 0;
    }
    if (g.idle) {
        /* Let the server finish what the handshakes left (buffers freed, arenas trimmed). */
        idle_for(2);
        long rss1 = server_rss_kib();
        printf("idle subscribers=%d rss_before_kib=%ld rss_after_kib=%ld per_subscriber_b=%.0f\n",
               g.connected, rss0, rss1, (double)(rss1 - rss0) * 1024 / g.connected);
        reset_all();
        return g.closed ? 1 : 0;
    }
    g.npubs = 1;
    pub_connect(&g.pubs[0]);
    latency_phase();
    if (g.secs > 0) {
        for (; g.npubs < 4; g.npubs++)
            pub_connect(&g.pubs[g.npubs]);
        throughput_phase();
    }
    if (g.closed)
        printf("subscribers lost during the run: %d\n", g.closed);
    reset_all();
    return g.closed || g.bad_status ? 1 : 0;
}
