#include "arbiter_lua_reference.h"
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

static char *copy(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (out == NULL) return NULL;
    memcpy(out, s, n);
    out[n] = 0;
    return out;
}

char *arb_reference_run(const char *source, size_t length, size_t *result_length, char **error) {
    *error = NULL;
    lua_State *L = luaL_newstate();
    if (L == NULL) return NULL;
    luaL_openlibs(L);
    char *result = NULL;
    if (luaL_loadbufferx(L, source, length, "=reference", "t") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        size_t n = 0;
        const char *msg = lua_tolstring(L, -1, &n);
        *error = msg ? copy(msg, n) : copy("error", 5);
    } else {
        size_t n = 0;
        const char *s = lua_tolstring(L, -1, &n);
        if (s != NULL) {
            result = copy(s, n);
            *result_length = n;
        } else {
            *error = copy("the chunk did not return a string", 33);
        }
    }
    lua_close(L);
    return result;
}
