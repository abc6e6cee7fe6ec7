#include "http/status.h"

const char *http_status_reason(int status)
{
    switch (status) {
#define XX(code, reason)                                                                           \
    case code:                                                                                     \
        return reason;
        EDDY_HTTP_STATUS_MAP(XX)
#undef XX
    default:
        return "Unknown";
    }
}

const char *http_status_line(int status, size_t *len)
{
    switch (status) {
#define XX(code, reason)                                                                           \
    case code:                                                                                     \
        *len = sizeof("HTTP/1.1 " #code " " reason "\r\n") - 1;                                    \
        return "HTTP/1.1 " #code " " reason "\r\n";
        EDDY_HTTP_STATUS_MAP(XX)
#undef XX
    default:
        return NULL;
    }
}
