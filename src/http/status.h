/* HTTP status codes eddy sends, with their reason phrases (RFC 9110 §15). */
#ifndef EDDY_HTTP_STATUS_H
#define EDDY_HTTP_STATUS_H

#include <stddef.h>

#define EDDY_HTTP_STATUS_MAP(XX)                                                                        \
    XX(100, "Continue")                                                                            \
    XX(101, "Switching Protocols")                                                                 \
    XX(200, "OK")                                                                                  \
    XX(201, "Created")                                                                             \
    XX(202, "Accepted")                                                                            \
    XX(204, "No Content")                                                                          \
    XX(206, "Partial Content")                                                                     \
    XX(301, "Moved Permanently")                                                                   \
    XX(302, "Found")                                                                               \
    XX(303, "See Other")                                                                           \
    XX(304, "Not Modified")                                                                        \
    XX(307, "Temporary Redirect")                                                                  \
    XX(308, "Permanent Redirect")                                                                  \
    XX(400, "Bad Request")                                                                         \
    XX(401, "Unauthorized")                                                                        \
    XX(403, "Forbidden")                                                                           \
    XX(404, "Not Found")                                                                           \
    XX(405, "Method Not Allowed")                                                                  \
    XX(408, "Request Timeout")                                                                     \
    XX(409, "Conflict")                                                                            \
    XX(410, "Gone")                                                                                \
    XX(411, "Length Required")                                                                     \
    XX(412, "Precondition Failed")                                                                 \
    XX(413, "Content Too Large")                                                                   \
    XX(414, "URI Too Long")                                                                        \
    XX(415, "Unsupported Media Type")                                                              \
    XX(416, "Range Not Satisfiable")                                                               \
    XX(417, "Expectation Failed")                                                                  \
    XX(426, "Upgrade Required")                                                                    \
    XX(429, "Too Many Requests")                                                                   \
    XX(431, "Request Header Fields Too Large")                                                     \
    XX(500, "Internal Server Error")                                                               \
    XX(501, "Not Implemented")                                                                     \
    XX(502, "Bad Gateway")                                                                         \
    XX(503, "Service Unavailable")                                                                 \
    XX(504, "Gateway Timeout")                                                                     \
    XX(505, "HTTP Version Not Supported")

/** Reason phrase of a status code ("Unknown" for codes not in the map). */
const char *http_status_reason(int status);
/** The whole status line "HTTP/1.1 200 OK\r\n" and its length, or NULL for
 *  codes not in the map. */
const char *http_status_line(int status, size_t *len);

#endif
