/*
 * The table library for policies: Lua 5.4's ltablib.c (MIT licence, Copyright (C) 1994-2022
 * Lua.org, PUC-Rio; the notice is in LICENSE-Lua.txt beside this file) with two changes.
 *
 * - Every element read, written or compared is charged to the evaluation's budget through
 *   arb_charge (which also checks the deadline). Lua's own functions loop in C over a range
 *   the caller controls — a length returned by __len, or `i, j` arguments — without ever
 *   returning to the VM, so `table.remove(t, 1)` on a table whose __len says 1e15 ran forever.
 *   Charging per element (not once up front) also holds when __len or __index answer
 *   differently on every call.
 * - table.sort never randomises its pivot: Lua seeds it from the clock, so with an
 *   inconsistent comparator the same policy could sort, or raise "invalid order function",
 *   depending on the time. A decision must not depend on the time it ran.
 */

#define _GNU_SOURCE
#include "sandbox_internal.h"

#include <limits.h>
#include <string.h>

#define TAB_R 1
#define TAB_W 2
#define TAB_L 4
#define TAB_RW (TAB_R | TAB_W)

/* t[i] (honouring __index) pushed, one unit charged. */
static void charged_geti(lua_State *L, int t, lua_Integer i) {
    arb_charge(L, 1);
    lua_geti(L, t, i);
}

/* t[i] = top (honouring __newindex), one unit charged. */
static void charged_seti(lua_State *L, int t, lua_Integer i) {
    arb_charge(L, 1);
    lua_seti(L, t, i);
}

static int checkfield(lua_State *L, const char *key, int n) {
    lua_pushstring(L, key);
    return lua_rawget(L, -n) != LUA_TNIL;
}

/* Accepts a table, or a value whose metatable has the metamethods `what` needs. */
static void checktab(lua_State *L, int arg, int what) {
    if (lua_type(L, arg) != LUA_TTABLE) {
        int n = 1;
        if (lua_getmetatable(L, arg) &&
            (!(what & TAB_R) || checkfield(L, "__index", ++n)) &&
            (!(what & TAB_W) || checkfield(L, "__newindex", ++n)) &&
            (!(what & TAB_L) || checkfield(L, "__len", ++n))) {
            lua_pop(L, n);
        } else {
            luaL_checktype(L, arg, LUA_TTABLE);
        }
    }
}

static lua_Integer aux_getn(lua_State *L, int n, int w) {
    checktab(L, n, w | TAB_L);
    return luaL_len(L, n);
}

static int tinsert(lua_State *L) {
    lua_Integer pos;
    lua_Integer e = aux_getn(L, 1, TAB_RW);
    e = (lua_Integer)((lua_Unsigned)e + 1u);   /* first empty element */
    switch (lua_gettop(L)) {
    case 2:
        pos = e;
        break;
    case 3: {
        pos = luaL_checkinteger(L, 2);
        luaL_argcheck(L, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        for (lua_Integer i = e; i > pos; i--) {   /* move up elements */
            charged_geti(L, 1, i - 1);
            charged_seti(L, 1, i);
        }
        break;
    }
    default:
        return luaL_error(L, "wrong number of arguments to 'insert'");
    }
    charged_seti(L, 1, pos);
    return 0;
}

static int tremove(lua_State *L) {
    lua_Integer size = aux_getn(L, 1, TAB_RW);
    lua_Integer pos = luaL_optinteger(L, 2, size);
    if (pos != size)
        luaL_argcheck(L, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
    charged_geti(L, 1, pos);
    for (; pos < size; pos++) {
        charged_geti(L, 1, pos + 1);
        charged_seti(L, 1, pos);
    }
    lua_pushnil(L);
    charged_seti(L, 1, pos);
    return 1;
}

static int tmove(lua_State *L) {
    lua_Integer f = luaL_checkinteger(L, 2);
    lua_Integer e = luaL_checkinteger(L, 3);
    lua_Integer t = luaL_checkinteger(L, 4);
    int tt = !lua_isnoneornil(L, 5) ? 5 : 1;
    checktab(L, 1, TAB_R);
    checktab(L, tt, TAB_W);
    if (e >= f) {
        luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
        lua_Integer n = e - f + 1;
        luaL_argcheck(L, t <= LUA_MAXINTEGER - n + 1, 4, "destination wrap around");
        if (t > e || t <= f || (tt != 1 && !lua_compare(L, 1, tt, LUA_OPEQ))) {
            for (lua_Integer i = 0; i < n; i++) {
                charged_geti(L, 1, f + i);
                charged_seti(L, tt, t + i);
            }
        } else {
            for (lua_Integer i = n - 1; i >= 0; i--) {
                charged_geti(L, 1, f + i);
                charged_seti(L, tt, t + i);
            }
        }
    }
    lua_pushvalue(L, tt);
    return 1;
}

static void addfield(lua_State *L, luaL_Buffer *b, lua_Integer i) {
    charged_geti(L, 1, i);
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(L, -1), (LUAI_UACINT)i);
    arb_charge(L, (int64_t)(lua_rawlen(L, -1) / 16));
    luaL_addvalue(b);
}

static int tconcat(lua_State *L) {
    luaL_Buffer b;
    lua_Integer last = aux_getn(L, 1, TAB_R);
    size_t lsep;
    const char *sep = luaL_optlstring(L, 2, "", &lsep);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    last = luaL_optinteger(L, 4, last);
    luaL_buffinit(L, &b);
    for (; i < last; i++) {
        addfield(L, &b, i);
        arb_charge(L, (int64_t)(lsep / 16));
        luaL_addlstring(&b, sep, lsep);
    }
    if (i == last) addfield(L, &b, i);
    luaL_pushresult(&b);
    return 1;
}

static int tpack(lua_State *L) {
    int n = lua_gettop(L);
    arb_charge(L, n);
    lua_createtable(L, n, 1);
    lua_insert(L, 1);
    for (int i = n; i >= 1; i--) lua_seti(L, 1, i);   /* a fresh table: no metamethods */
    lua_pushinteger(L, n);
    lua_setfield(L, 1, "n");
    return 1;
}

static int tunpack(lua_State *L) {
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer e = luaL_opt(L, luaL_checkinteger, 3, luaL_len(L, 1));
    if (i > e) return 0;
    lua_Unsigned n = (lua_Unsigned)e - i;
    if (n >= (unsigned int)INT_MAX || !lua_checkstack(L, (int)(++n)))
        return luaL_error(L, "too many results to unpack");
    for (; i < e; i++) charged_geti(L, 1, i);
    charged_geti(L, 1, e);
    return (int)n;
}

/* Quicksort (Sedgewick), as in Lua 5.4, with the pivot always in the middle. */

typedef unsigned int IdxT;

static void set2(lua_State *L, IdxT i, IdxT j) {
    charged_seti(L, 1, i);
    charged_seti(L, 1, j);
}

static int sort_comp(lua_State *L, int a, int b) {
    arb_charge(L, 1);
    if (lua_isnil(L, 2)) return lua_compare(L, a, b, LUA_OPLT);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, a - 1);
    lua_pushvalue(L, b - 2);
    lua_call(L, 2, 1);
    int res = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return res;
}

static IdxT partition(lua_State *L, IdxT lo, IdxT up) {
    IdxT i = lo;
    IdxT j = up - 1;
    for (;;) {
        while ((void)charged_geti(L, 1, ++i), sort_comp(L, -1, -2)) {
            if (i == up - 1) luaL_error(L, "invalid order function for sorting");
            lua_pop(L, 1);
        }
        while ((void)charged_geti(L, 1, --j), sort_comp(L, -3, -1)) {
            if (j < i) luaL_error(L, "invalid order function for sorting");
            lua_pop(L, 1);
        }
        if (j < i) {
            lua_pop(L, 1);
            set2(L, up - 1, i);
            return i;
        }
        set2(L, i, j);
    }
}

static void auxsort(lua_State *L, IdxT lo, IdxT up) {
    while (lo < up) {
        IdxT p;
        charged_geti(L, 1, lo);
        charged_geti(L, 1, up);
        if (sort_comp(L, -1, -2)) set2(L, lo, up);
        else lua_pop(L, 2);
        if (up - lo == 1) return;
        p = lo + (up - lo) / 2;
        charged_geti(L, 1, p);
        charged_geti(L, 1, lo);
        if (sort_comp(L, -2, -1)) {
            set2(L, p, lo);
        } else {
            lua_pop(L, 1);
            charged_geti(L, 1, up);
            if (sort_comp(L, -1, -2)) set2(L, p, up);
            else lua_pop(L, 2);
        }
        if (up - lo == 2) return;
        charged_geti(L, 1, p);
        lua_pushvalue(L, -1);
        charged_geti(L, 1, up - 1);
        set2(L, p, up - 1);
        p = partition(L, lo, up);
        if (p - lo < up - p) {
            auxsort(L, lo, p - 1);
            lo = p + 1;
        } else {
            auxsort(L, p + 1, up);
            up = p - 1;
        }
    }
}

static int tsort(lua_State *L) {
    lua_Integer n = aux_getn(L, 1, TAB_RW);
    if (n > 1) {
        luaL_argcheck(L, n < INT_MAX, 1, "array too big");
        if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
        lua_settop(L, 2);
        auxsort(L, 1, (IdxT)n);
    }
    return 0;
}

static const luaL_Reg table_functions[] = {
    { "concat", tconcat }, { "insert", tinsert }, { "pack", tpack }, { "unpack", tunpack },
    { "remove", tremove }, { "move", tmove }, { "sort", tsort }, { NULL, NULL }
};

void arb_open_table(lua_State *L) {
    luaL_newlib(L, table_functions);
}
