/* Date formatting and parsing (RFC 9110 §5.6.7), MIME types, statuses. */
#include "http/date.h"
#include "http/mime.h"
#include "http/status.h"
#include "runner/runner.h"

TEST_IMPL(http_date_format_and_parse)
{
    char buf[HTTP_DATE_LEN + 1];
    http_date_format(784111777, buf);
    ASSERT_STR_EQ(buf, "Sun, 06 Nov 1994 08:49:37 GMT");
    ASSERT_EQ(http_date_parse(buf, strlen(buf)), 784111777);
    /* The obsolete forms a recipient must accept. */
    const char *rfc850 = "Sunday, 06-Nov-94 08:49:37 GMT";
    const char *asc = "Sun Nov  6 08:49:37 1994";
    ASSERT_EQ(http_date_parse(rfc850, strlen(rfc850)), 784111777);
    ASSERT_EQ(http_date_parse(asc, strlen(asc)), 784111777);
    const char *bad[] = {"", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 32 Nov 1994 08:49:37 GMT",
                         "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT junk"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ASSERT_EQ(http_date_parse(bad[i], strlen(bad[i])), -1);
    /* The cached Date header is well formed. */
    const char *now = http_date_now();
    ASSERT_TRUE(http_date_parse(now, HTTP_DATE_LEN) > 1700000000);
    return 0;
}

TEST_IMPL(http_mime_types)
{
    ASSERT_STR_EQ(http_mime_type("a.html", 6), "text/html; charset=utf-8");
    ASSERT_STR_EQ(http_mime_type("dir/A.CSS", 9), "text/css; charset=utf-8");
    ASSERT_STR_EQ(http_mime_type("x.tar.gz", 8), "application/gzip");
    ASSERT_STR_EQ(http_mime_type("noext", 5), "application/octet-stream");
    ASSERT_STR_EQ(http_mime_type("dir.d/noext", 11), "application/octet-stream");
    ASSERT_STR_EQ(http_mime_type("x.unknownext", 12), "application/octet-stream");
    ASSERT_STR_EQ(http_mime_type("s.svg", 5), "image/svg+xml");
    return 0;
}

TEST_IMPL(http_status_reasons)
{
    ASSERT_STR_EQ(http_status_reason(200), "OK");
    ASSERT_STR_EQ(http_status_reason(431), "Request Header Fields Too Large");
    ASSERT_STR_EQ(http_status_reason(505), "HTTP Version Not Supported");
    ASSERT_STR_EQ(http_status_reason(299), "Unknown");
    return 0;
}
