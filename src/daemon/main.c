/* eddy [-c FILE] [-t] [-l ADDR]... [-r DIR] [-V] [-h]
 * Exit codes: 0 clean exit, 1 configuration error, 2 usage error or
 * start-up failure. */
#include "config.h"

#include <getopt.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon/master.h"
#include "daemon/sd.h"
#include "daemon/server.h"

#define USAGE "usage: eddy [-c FILE] [-t] [-l ADDR]... [-r DIR] [-V] [-h]\n"

static const struct option long_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"test", no_argument, NULL, 't'},
    {"listen", required_argument, NULL, 'l'},
    {"root", required_argument, NULL, 'r'},
    {"version", no_argument, NULL, 'V'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fputs(USAGE "  -c, --config FILE  configuration file (default: the embedded site on\n"
                "                     127.0.0.1:8080)\n"
                "  -t, --test         check the configuration (and the files it names) and exit\n"
                "  -l, --listen ADDR  listen on ADDR instead (8080, :8080, 127.0.0.1:8080,\n"
                "                     [::1]:8080, unix:/path); repeatable\n"
                "  -r, --root DIR     serve DIR as static files at /\n"
                "  -V, --version      print the version\n"
                "  -h, --help         this help\n"
                "exit codes: 0 ok (or -t: valid), 1 configuration error, 2 usage error or\n"
                "  start-up failure (an address in use...)\n"
                "signals: HUP reload, USR1 reopen logs, TERM/INT graceful shutdown\n",
          f);
}

/* A usage error: what is wrong (getopt has said it for options), the
 * synopsis, exit code 2 -- distinct from a configuration error's 1. */
static int usage_error(const char *what, const char *arg)
{
    if (what != NULL)
        fprintf(stderr, "eddy: %s '%s'\n", what, arg);
    fprintf(stderr, USAGE "Try 'eddy --help' for more information.\n");
    return 2;
}

int main(int argc, char **argv)
{
    server_options_t opts = {0};
    char **listen = calloc((size_t)argc, sizeof(char *));
    bool test = false;
    int c;

    while ((c = getopt_long(argc, argv, "c:tl:r:Vh", long_options, NULL)) != -1) {
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
            free(listen);
            return usage_error(NULL, NULL);
        }
    }
    if (optind < argc) {
        free(listen);
        return usage_error("unexpected argument", argv[optind]);
    }
    opts.listen = listen;
    /* Before sd_init and any thread: it edits the environment. */
    opts.worker = master_is_worker(&opts);

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
    /* Before any thread starts: it edits the environment. */
    sd_init();
    int rc = opts.worker || master_workers(cfg) == 1 ? server_run(&opts, cfg)
                                                     : master_run(&opts, cfg, argv);
    free(listen);
    return rc;
}
