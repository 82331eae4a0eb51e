#ifndef ARBITER_SANDBOX_INTERNAL_H
#define ARBITER_SANDBOX_INTERNAL_H

#include "arbiter_sandbox.h"
#include <lua.h>
#include <lauxlib.h>

/* Shared between sandbox.c and pattern.c. */

/// The sandbox that owns a Lua state (or one of its coroutines): stored in the extra space,
/// which Lua copies into every new thread.
static inline arb_sandbox *arb_sandbox_of(lua_State *L) {
    return *(arb_sandbox **)lua_getextraspace(L);
}

/// Charges `units` of work to the evaluation's instruction budget and checks the budget and
/// the wall-clock deadline; raises a Lua error (which pcall cannot swallow) when either is
/// exhausted. Every C function that does work proportional to its input calls this.
void arb_charge(lua_State *L, int64_t units);

/* Pattern functions replacing string.find, match, gmatch and gsub. */
int arb_str_find(lua_State *L);
int arb_str_match(lua_State *L);
int arb_str_gmatch(lua_State *L);
int arb_str_gsub(lua_State *L);

#endif
