/* The embedded default site's welcome page (served at / without -c). */
#ifndef EDDY_DAEMON_WELCOME_H
#define EDDY_DAEMON_WELCOME_H

static const char welcome_html[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>eddy is running</title>\n"
    "<style>\n"
    "body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem;"
    "color:#1d2630;background:#f7f9fb}\n"
    "h1{font-size:2rem;margin-bottom:.2rem}h1 span{color:#2a7ab0}\n"
    "code{background:#e8eef3;padding:.1rem .3rem;border-radius:3px}\n"
    "ul{padding-left:1.2rem}footer{margin-top:2rem;color:#5b6b79;font-size:.9rem}\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1><span>eddy</span> is running</h1>\n"
    "<p>eddy is a small HTTP/1.1 server built on a coroutine runtime for C: every connection is "
    "a task on one libuv event loop, and handler code reads top to bottom like blocking "
    "code.</p>\n"
    "<p>You are seeing the embedded default site, served because eddy was started without "
    "<code>-c FILE</code>.</p>\n"
    "<h2>Endpoints</h2>\n"
    "<ul>\n"
    "<li><a href=\"/\">/</a> &mdash; this page</li>\n"
    "<li><a href=\"/health\">/health</a> &mdash; answers <code>200 ok</code> for load "
    "balancers and probes</li>\n"
    "</ul>\n"
    "<h2>Next steps</h2>\n"
    "<ul>\n"
    "<li>Serve a folder: <code>eddy -r /var/www -l 8080</code></li>\n"
    "<li>Write a configuration (see <code>conf/eddy.ini</code>), check it with "
    "<code>eddy -t -c FILE</code>, run it with <code>eddy -c FILE</code></li>\n"
    "<li>Reload it without dropping connections: <code>kill -HUP $(pidof eddy)</code></li>\n"
    "</ul>\n"
    "<footer>eddy &middot; HTTP/1.1 on stackful coroutines and libuv</footer>\n"
    "</body>\n"
    "</html>\n";

#endif
