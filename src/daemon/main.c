/* eddy [-c FILE] [-t] [-l ADDR]... [-r DIR] [-V] [-h]
 * Exit codes: 0 clean exit, 1 configuration error, 2 start-up failure. */
#include "config.h"

#include <getopt.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/server.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: eddy [-c FILE] [-t] [-l ADDR]... [-r DIR] [-V] [-h]\n"
            "  -c FILE  configuration file (default: the embedded site on 127.0.0.1:8080)\n"
            "  -t       check the configuration and exit (0 valid, 1 errors)\n"
            "  -l ADDR  listen on ADDR instead (8080, :8080, 127.0.0.1:8080, [::1]:8080,\n"
            "           unix:/path); repeatable\n"
            "  -r DIR   serve DIR as static files at /\n"
            "  -V       print the version\n"
            "  -h       this help\n"
            "signals: HUP reload, USR1 reopen logs, TERM/INT graceful shutdown\n");
}

int main(int argc, char **argv)
{
    server_options_t opts = {0};
    char **listen = calloc((size_t)argc, sizeof(char *));
    bool test = false;
    int c;

    while ((c = getopt(argc, argv, "c:tl:r:Vh")) != -1) {
        switch (c) {
        case 'c':
            opts.config_file = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'l':
            listen[opts.nlisten++] = optarg;
            break;
        case 'r':
            opts.root = optarg;
            break;
        case 'V':
            printf("eddy %s (libuv %s)\n", PACKAGE_VERSION, uv_version_string());
            free(listen);
            return 0;
        case 'h':
            usage(stdout);
            free(listen);
            return 0;
        default:
            usage(stderr);
            free(listen);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "eddy: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        free(listen);
        return 1;
    }
    opts.listen = listen;

    config_errors_t errs = {0};
    config_t *cfg = server_load_config(&opts, &errs);
    if (cfg == NULL) {
        for (size_t i = 0; i < errs.n; i++)
            fprintf(stderr, "%s\n", errs.msg[i]);
        fprintf(stderr, "eddy: %zu error%s in the configuration\n", errs.n, errs.n == 1 ? "" : "s");
        config_errors_free(&errs);
        free(listen);
        return 1;
    }
    if (test) {
        fprintf(stderr, "eddy: configuration %s is valid\n",
                opts.config_file ? opts.config_file : "(embedded default)");
        config_unref(cfg);
        free(listen);
        return 0;
    }
    /* One descriptor per connection: take all the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int rc = server_run(&opts, cfg);
    free(listen);
    return rc;
}
