/* Error messages: eddy's own codes from EDDY_ERRNO_MAP, the rest libuv's. */
#include "runtime/internal.h"

#include <stdio.h>

const char *eddy_strerror(int err)
{
    static __thread char unknown[64];

    switch (err) {
#define XX(name, value, msg)                                                                       \
    case EDDY_##name:                                                                              \
        return msg;
        EDDY_ERRNO_MAP(XX)
#undef XX
    case 0:
        return "success";
    default:
        /* uv_strerror leaks a buffer for unknown codes; the _r form does not. */
        return uv_strerror_r(err, unknown, sizeof(unknown));
    }
}

const char *eddy_err_name(int err)
{
    static __thread char unknown[64];

    switch (err) {
#define XX(name, value, msg)                                                                       \
    case EDDY_##name:                                                                              \
        return "EDDY_" #name;
        EDDY_ERRNO_MAP(XX)
#undef XX
    case 0:
        return "OK";
    default:
        return uv_err_name_r(err, unknown, sizeof(unknown));
    }
}
