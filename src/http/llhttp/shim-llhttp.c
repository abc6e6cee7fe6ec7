/* Compiles Debian's llhttp llhttp.c (node-llhttp) into eddy: a shim, not a copy. */
#include <llhttp.c>
