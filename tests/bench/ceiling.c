/* The most one core does here: a bare epoll server that answers one fixed
 * 13-byte response per blank line it sees, without parsing HTTP.  A yardstick
 * for bench-daemon.sh's fixed-response rows, not a server.
 *
 *   cc -O2 -o ceiling ceiling.c && ./ceiling PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char reply[] = "HTTP/1.1 200 OK\r\nServer: ceiling\r\nContent-Type: text/plain\r\n"
                            "Content-Length: 13\r\n\r\nHello, World!";

/* Answers every request terminator in what arrived; closes on EOF/error.
 * (A terminator split across two reads is missed: wrk does not split.) */
static void serve(int fd)
{
    static char in[65536], out[sizeof(reply) * 512];
    ssize_t n = read(fd, in, sizeof(in));
    size_t len = 0;

    if (n <= 0) {
        close(fd);
        return;
    }
    for (char *p = in; (p = memmem(p, (size_t)(in + n - p), "\r\n\r\n", 4)) != NULL; p += 4) {
        if (len + sizeof(reply) - 1 > sizeof(out))
            break;
        memcpy(out + len, reply, sizeof(reply) - 1);
        len += sizeof(reply) - 1;
    }
    if (len > 0 && write(fd, out, len) < 0)
        close(fd);
}

int main(int argc, char **argv)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    struct epoll_event ev = {.events = EPOLLIN}, evs[256];
    int one = 1, lfd, ep;

    sin.sin_port = htons((uint16_t)(argc > 1 ? atoi(argv[1]) : 18090));
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(lfd, 4096) != 0)
        return 1;
    ep = epoll_create1(0);
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.fd != lfd) {
                serve(evs[i].data.fd);
                continue;
            }
            int c;
            while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                ev.data.fd = c;
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
            }
        }
    }
}
