#ifndef ARBITER_LUA_REFERENCE_H
#define ARBITER_LUA_REFERENCE_H
#include <stddef.h>

/* Test support: runs a chunk in a plain, unsandboxed Lua 5.4 state with the standard
   libraries and returns the string it returns (malloc'd; the caller frees it), or NULL with
   the error message in `error` (malloc'd). Used to compare the sandbox with stock Lua. */
char *arb_reference_run(const char *source, size_t length, size_t *result_length, char **error);

#endif
