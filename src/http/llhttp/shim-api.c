/* Compiles Debian's llhttp api.c (node-llhttp) into eddy: a shim, not a copy. */
#include <api.c>
