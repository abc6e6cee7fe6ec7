/* Compiles Debian's llhttp http.c (node-llhttp) into eddy: a shim, not a copy. */
#include <http.c>
