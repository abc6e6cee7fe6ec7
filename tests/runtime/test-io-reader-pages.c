/* The asyncio "async for" example, in C: a paginated stream of records read
 * through an iterator whose next() fetches the next page when the current
 * one is used up, until the server ends the stream. */
#include <stdlib.h>

#include "runner/runner.h"

#define NRECORDS 23
#define PAGE_SIZE 5

/* The server: for each "NEXT\n" it sends "PAGE <n> <count>\n" and count
 * records; when none are left it ends the stream. */
static int page_server(void *arg)
{
    eddy_stream_t *server = arg, *c;
    eddy_writer_t w;
    eddy_reader_t r;
    const char *line;
    char buf[64];
    int sent = 0, page = 0;

    ASSERT_OK(eddy_accept(server, &c));
    ASSERT_OK(eddy_reader_init(&r, c, 0));
    ASSERT_OK(eddy_writer_init(&w, c, 0, 0));
    while (eddy_reader_readline(&r, &line) > 0 && sent < NRECORDS) {
        int count = NRECORDS - sent < PAGE_SIZE ? NRECORDS - sent : PAGE_SIZE;
        int len = snprintf(buf, sizeof(buf), "PAGE %d %d\n", page++, count);
        ASSERT_OK(eddy_writer_write(&w, buf, (size_t)len));
        for (int i = 0; i < count; i++, sent++) {
            len = snprintf(buf, sizeof(buf), "record-%02d\n", sent);
            ASSERT_OK(eddy_writer_write(&w, buf, (size_t)len));
        }
        ASSERT_OK(eddy_writer_drain(&w));
    }
    ASSERT_OK(eddy_writer_close(&w));
    ASSERT_OK(eddy_shutdown(c));
    eddy_reader_free(&r);
    eddy_close(c);
    return 0;
}

/* ------------------------------------------------------------ the iterator */

typedef struct record_iter {
    eddy_stream_t *s;
    eddy_reader_t r;
    int left;  /* records left on the current page */
    int pages; /* pages fetched */
    bool ended;
} record_iter_t;

static int iter_open(record_iter_t *it, eddy_stream_t *s)
{
    it->s = s;
    it->left = 0;
    it->pages = 0;
    it->ended = false;
    return eddy_reader_init(&it->r, s, 0);
}

/* Asks for the next page and reads its header: 0, or UV_EOF at the end. */
static int fetch_page(record_iter_t *it)
{
    const char *line;
    char header[64];
    int page, count;
    ssize_t n;
    int rc = eddy_write_all(it->s, "NEXT\n", 5);

    if (rc != 0)
        return rc;
    n = eddy_reader_readline(&it->r, &line);
    if (n <= 0)
        return n == 0 ? UV_EOF : (int)n;
    /* The line is not NUL-terminated: copy it before parsing. */
    if ((size_t)n >= sizeof(header))
        return UV_EPROTO;
    memcpy(header, line, (size_t)n);
    header[n] = '\0';
    if (sscanf(header, "PAGE %d %d", &page, &count) != 2 || page != it->pages)
        return UV_EPROTO;
    it->pages++;
    it->left = count;
    return 0;
}

/* Stores the next record (without its newline) in *rec, valid until the
 * next call: 1, 0 after the last one, or an error. */
static int iter_next(record_iter_t *it, const char **rec, size_t *len)
{
    ssize_t n;
    while (it->left == 0) {
        int rc;
        if (it->ended)
            return 0;
        rc = fetch_page(it);
        if (rc == UV_EOF) {
            it->ended = true;
            return 0;
        }
        if (rc != 0)
            return rc;
    }
    n = eddy_reader_readline(&it->r, rec);
    if (n <= 0)
        return n == 0 ? EDDY_EINCOMPLETE : (int)n;
    it->left--;
    *len = (size_t)n - 1;
    return 1;
}

static void iter_close(record_iter_t *it)
{
    eddy_reader_free(&it->r);
}

static int pages_main(void *arg)
{
    eddy_stream_t *server, *s;
    record_iter_t it;
    eddy_task_t *t;
    const char *rec;
    char port[16], expect[32];
    size_t len;
    int rc, n = 0;

    ASSERT_OK(eddy_listen(&server, "127.0.0.1:0", 0));
    snprintf(port, sizeof(port), "%d", eddy_stream_port(server));
    ASSERT_OK(eddy_spawn(&t, page_server, server, NULL));
    ASSERT_OK(eddy_connect(&s, "127.0.0.1", port));

    /* for record in records: ... */
    ASSERT_OK(iter_open(&it, s));
    while ((rc = iter_next(&it, &rec, &len)) == 1) {
        snprintf(expect, sizeof(expect), "record-%02d", n++);
        ASSERT_EQ(len, strlen(expect));
        ASSERT_EQ(memcmp(rec, expect, len), 0);
    }
    ASSERT_OK(rc);
    ASSERT_EQ(n, NRECORDS);
    ASSERT_EQ(it.pages, (NRECORDS + PAGE_SIZE - 1) / PAGE_SIZE);
    ASSERT_EQ(iter_next(&it, &rec, &len), 0); /* stays ended */
    iter_close(&it);

    ASSERT_OK(eddy_join(t, NULL));
    eddy_detach(t);
    eddy_close(s);
    eddy_close(server);
    return 0;
}

TEST_IMPL(io_reader_paginated_iterator)
{
    ASSERT_OK(eddy_run(pages_main, NULL));
    return 0;
}
