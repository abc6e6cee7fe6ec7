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
