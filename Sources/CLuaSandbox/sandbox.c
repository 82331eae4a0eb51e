/*
 * Arbiter's Lua sandbox. See include/arbiter_sandbox.h for the contract.
 *
 * Rules this file keeps:
 * - Every entry point runs its Lua work inside one lua_pcall of a C function (run_protected),
 *   so a Lua error never unwinds through a Swift frame.
 * - Limits: an instruction budget (count hook every HOOK_INTERVAL instructions plus charges
 *   from C functions), a memory cap (the allocator), and a wall-clock deadline checked by the
 *   hook, by charged C functions and by large allocations. Once a limit is hit the
 *   evaluation is "fatal": pcall, xpcall and coroutine.resume re-raise instead of catching.
 * - Nothing is carried between evaluations: the policy chunk runs afresh in a fresh global
 *   table for each evaluation; shared tables (libraries, helpers, ctx.config) are read-only
 *   proxies, the string metatable is hidden, and __gc finalizers are refused.
 */
#define _GNU_SOURCE
#include "sandbox_internal.h"

#include <lualib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOOK_INTERVAL 256
#define CLOCK_CHECK_UNITS 4096       /* charged units between two clock reads in C functions */
#define MAX_REASONS 32
#define MAX_REASON_BYTES 1000
#define MAX_ACTIONS 32
#define MAX_LOG_LINES 64
#define MAX_LOG_BYTES 1000
#define MAX_ENCODE_DEPTH 16
#define MAX_OUTPUT_BYTES (1 << 20)
/* The longest string a policy may build or be given (requests are at most 1 MiB). It bounds
   what one VM instruction can cost — comparing, hashing or copying a string — and so how far
   an evaluation can run past its deadline between two checks of the clock. */
#define MAX_STRING_BYTES (1 << 20)

typedef struct arb_buf {
    uint8_t *data;
    size_t length;
    size_t capacity;
} arb_buf;

/* An object or list of the current evaluation's input (event, ctx and everything in them).
   Policies see it through a read-only view: an empty table whose metatable (pooled per entry
   number, see view_metatable) reads through to `data`. A lazy object's fields are copied into
   `data` on first read. */
typedef struct input_entry {
    const void *data;         /* the table holding the fields copied in so far */
    const uint8_t *object;    /* its encoding: 'o' u32 count, then (key, u32 length, value)... */
    uint64_t copied;          /* bit i: field i has been copied in (at most once) */
    int complete;             /* every field is in `data` */
    int parent;               /* the entry it is a field or item of; -1 for event and ctx */
    const char *key;          /* its field name in the parent (in the input buffer), or NULL */
    uint32_t key_length;
    uint32_t index;           /* its position when it is a list item */
} input_entry;

/* A loaded policy. The chunk ran once at load; what it built is frozen, and the upvalues of
   its functions are recorded so they can be reset before every evaluation. */
typedef struct loaded_policy {
    int chunk_ref;            /* the main chunk: its upvalue 1 is the shared _ENV */
    int decide_ref;
    int env_metatable_ref;    /* {__index = the chunk's load-time globals} */
    int env_ref;              /* the globals of its evaluations: replaced when one wrote to them */
    int snapshot_ref;         /* {closure1, value1, closure2, value2, ...} */
    int *upvalue_index;       /* the upvalue number of each recorded pair */
    int upvalue_count;
} loaded_policy;

struct arb_sandbox {
    lua_State *L;
    arb_limits limits;
    /* "JPY0KWD3…": the currencies whose exponent is not 2 (see arb_sandbox_new). */
    char *currency_exponents;
    uint64_t memory_used;
    int64_t instructions;
    int64_t next_clock_check;
    int64_t deadline_ns;        /* 0 when no evaluation is running */
    int fatal;                  /* ARB_ERR_BUDGET / ARB_ERR_TIME / ARB_ERR_MEMORY once hit */
    int timed_out;              /* an allocation was refused because the deadline passed */
    int string_too_long;        /* an allocation was refused: a string over MAX_STRING_BYTES */
    int malformed;              /* the error being raised is a shape error */
    arb_buf output;
    arb_buf log;
    uint32_t log_lines;
    int env_metatable_ref;
    int config_ref;
    int base_ref;               /* the helpers and libraries every policy reads */
    const char *decision_names[6];   /* interned: compared by address (see write_decision) */
    const char *outcome_names[3];
    input_entry *inputs;        /* this evaluation's input objects and lists */
    int input_count;
    int input_capacity;
    int *view_refs;             /* per entry number: its view metatable, its lazy metatable */
    int view_count;
    loaded_policy *policies;
    void *free_list[256 / 16];   /* small-block allocator (see sandbox_alloc) */
    struct small_chunk *chunks;
    char *chunk_cursor;
    size_t chunk_left;
    int32_t policy_count;
    int32_t policy_capacity;
};

/* Addresses used as unique keys and values. */
static const char NULL_SENTINEL = 0;   /* the `null` value policies see for JSON null */
static const char FROZEN_KEY = 0;      /* marks the metatable of a read-only view */
static const char NAME_KEY = 0;        /* in a view's metatable: what the view shows, for errors */
static const char ENTRY_KEY = 0;       /* in an input view's metatables: its entry number */
static const char ENV_KEY = 0;         /* marks the metatable of a policy's globals */

/* ---------------------------------------------------------------- buffers */

static int buf_reserve(arb_buf *b, size_t extra) {
    if (b->length + extra <= b->capacity) return 1;
    size_t capacity = b->capacity ? b->capacity : 256;
    while (capacity < b->length + extra) capacity *= 2;
    uint8_t *data = realloc(b->data, capacity);
    if (data == NULL) return 0;
    b->data = data;
    b->capacity = capacity;
    return 1;
}

static void buf_bytes(lua_State *L, arb_buf *b, const void *bytes, size_t n) {
    if (b->length + n > MAX_OUTPUT_BYTES || !buf_reserve(b, n)) {
        arb_sandbox_of(L)->malformed = 1;
        luaL_error(L, "decision too large (over %d bytes)", MAX_OUTPUT_BYTES);
    }
    memcpy(b->data + b->length, bytes, n);
    b->length += n;
}

static void buf_u8(lua_State *L, arb_buf *b, uint8_t v) { buf_bytes(L, b, &v, 1); }
static void buf_u32(lua_State *L, arb_buf *b, uint32_t v) { buf_bytes(L, b, &v, 4); }
static void buf_i64(lua_State *L, arb_buf *b, int64_t v) { buf_bytes(L, b, &v, 8); }
static void buf_string(lua_State *L, arb_buf *b, const char *s, size_t n) {
    buf_u32(L, b, (uint32_t)n);
    buf_bytes(L, b, s, n);
}

/* Writes without a Lua state (outside protected calls); failures truncate silently. */
static void buf_raw_string(arb_buf *b, const char *s, size_t n) {
    if (!buf_reserve(b, n + 4)) return;
    uint32_t len = (uint32_t)n;
    memcpy(b->data + b->length, &len, 4);
    memcpy(b->data + b->length + 4, s, n);
    b->length += n + 4;
}

/* ---------------------------------------------------------------- limits */

static int64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Raises the fatal error `kind` with the position at stack `level`. */
static int raise_fatal(lua_State *L, arb_sandbox *S, int kind, int level) {
    S->fatal = kind;
    luaL_where(L, level);
    switch (kind) {
    case ARB_ERR_BUDGET:
        lua_pushfstring(L, "instruction budget exceeded (%I instructions)",
                        (lua_Integer)S->limits.instruction_budget);
        break;
    case ARB_ERR_TIME:
        lua_pushfstring(L, "time limit exceeded (%I ms)",
                        (lua_Integer)(S->limits.time_limit_ns / 1000000));
        break;
    default:
        if (S->string_too_long)
            lua_pushfstring(L, "string length limit exceeded (%I bytes)", (lua_Integer)MAX_STRING_BYTES);
        else
            lua_pushfstring(L, "memory limit exceeded (%I bytes)", (lua_Integer)S->limits.memory_limit);
        break;
    }
    lua_concat(L, 2);
    return lua_error(L);
}

static void check_limits(lua_State *L, arb_sandbox *S, int level, int read_clock) {
    if (S->deadline_ns == 0) return;   /* not evaluating */
    if (S->fatal) raise_fatal(L, S, S->fatal, level);
    if (S->instructions > S->limits.instruction_budget) raise_fatal(L, S, ARB_ERR_BUDGET, level);
    if (read_clock && monotonic_ns() > S->deadline_ns) raise_fatal(L, S, ARB_ERR_TIME, level);
}

void arb_charge(lua_State *L, int64_t units) {
    arb_sandbox *S = arb_sandbox_of(L);
    S->instructions += units;
    int read_clock = S->instructions >= S->next_clock_check;
    if (read_clock) S->next_clock_check = S->instructions + CLOCK_CHECK_UNITS;
    check_limits(L, S, 1, read_clock);
}

static void count_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    arb_sandbox *S = arb_sandbox_of(L);
    S->instructions += HOOK_INTERVAL;
    check_limits(L, S, 0, 1);
}

/*
 * Small blocks (up to SMALL_LIMIT bytes) come from per-size-class free lists carved out of
 * 64 KiB chunks: an evaluation allocates and frees a few dozen small objects, and this is
 * several times cheaper than malloc/free. Lua passes the block's size on every free and
 * realloc, so blocks need no header. Chunks are returned when the state is closed; what the
 * free lists hold stays within the memory cap's accounting high-water mark.
 */
#define SMALL_LIMIT 256
#define SMALL_CLASSES (SMALL_LIMIT / 16)
#define CHUNK_BYTES (64 * 1024)

typedef struct small_chunk {
    struct small_chunk *next;
} small_chunk;

static inline int size_class(size_t n) { return (int)((n + 15) / 16) - 1; }

static void *small_alloc(arb_sandbox *S, int cls) {
    void *block = S->free_list[cls];
    if (block != NULL) {
        S->free_list[cls] = *(void **)block;
        return block;
    }
    size_t size = (size_t)(cls + 1) * 16;
    if (S->chunk_left < size) {
        small_chunk *chunk = malloc(CHUNK_BYTES);
        if (chunk == NULL) return NULL;
        chunk->next = S->chunks;
        S->chunks = chunk;
        S->chunk_cursor = (char *)chunk + 16;
        S->chunk_left = CHUNK_BYTES - 16;
    }
    block = S->chunk_cursor;
    S->chunk_cursor += size;
    S->chunk_left -= size;
    return block;
}

static inline void small_free(arb_sandbox *S, void *block, int cls) {
    *(void **)block = S->free_list[cls];
    S->free_list[cls] = block;
}

static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    arb_sandbox *S = (arb_sandbox *)ud;
    size_t old = ptr ? osize : 0;   /* without ptr, osize is a type tag, not a size */
    if (nsize == 0) {
        if (ptr != NULL) {
            if (old <= SMALL_LIMIT) small_free(S, ptr, size_class(old));
            else free(ptr);
        }
        S->memory_used -= old;
        return NULL;
    }
    if (ptr == NULL && osize == LUA_TSTRING && nsize > MAX_STRING_BYTES + 64 && S->deadline_ns != 0) {
        S->string_too_long = 1;
        return NULL;
    }
    if (nsize > old) {
        size_t growth = nsize - old;
        if (S->memory_used + growth > S->limits.memory_limit) return NULL;
        /* Large allocations are where C functions spend time: check the deadline there too. */
        if (growth >= 65536 && S->deadline_ns != 0 && monotonic_ns() > S->deadline_ns) {
            S->timed_out = 1;
            return NULL;
        }
    }
    void *block;
    if (nsize <= SMALL_LIMIT) {
        int cls = size_class(nsize);
        if (ptr != NULL && old <= SMALL_LIMIT && size_class(old) == cls) return ptr;   /* same class */
        block = small_alloc(S, cls);
        if (block == NULL) return NULL;
        if (ptr != NULL) {
            memcpy(block, ptr, old < nsize ? old : nsize);
            if (old <= SMALL_LIMIT) small_free(S, ptr, size_class(old));
            else free(ptr);
        }
    } else if (ptr != NULL && old <= SMALL_LIMIT) {
        block = malloc(nsize);
        if (block == NULL) return NULL;
        memcpy(block, ptr, old);
        small_free(S, ptr, size_class(old));
    } else {
        block = realloc(ptr, nsize);
        if (block == NULL) return NULL;
    }
    S->memory_used = S->memory_used - old + nsize;
    return block;
}

/* ---------------------------------------------------------------- read-only views */

/*
 * A policy never holds a table that it could change and that another evaluation, or the
 * service, also sees. Such tables are shown through *views*: an empty table whose metatable
 * (marked FROZEN_KEY) reads through to the hidden data — __index is the data table (or
 * frozen_index, for data that had handlers of its own), __newindex refuses the write naming
 * what was written, __len and __pairs see the data, and __metatable hides the metatable.
 * Views stand for the libraries, ctx.config, every table a policy's chunk built when it
 * loaded, and this evaluation's input (event and ctx, see "input views" below). The raw
 * functions (next, rawget, rawlen, rawset) and the decision's encoder see through views.
 */

static void add_input_path(arb_sandbox *S, int entry, char *buf, size_t size, size_t *used);

/* Pushes the data behind the view whose metatable is at `mt`. */
static void push_view_data(lua_State *L, int mt) {
    if (lua_getfield(L, mt, "__index") != LUA_TTABLE) {   /* frozen_index: upvalue 1 */
        lua_getupvalue(L, -1, 1);
        lua_remove(L, -2);
    }
}

static void append(char *buf, size_t size, size_t *used, const char *text, size_t n) {
    if (*used >= size - 1) return;
    if (n > size - 1 - *used) n = size - 1 - *used;
    memcpy(buf + *used, text, n);
    *used += n;
    buf[*used] = 0;
}

/* Appends how `key` (at idx) is written after a table's name: .name, [3] or [table]. */
static void append_key(lua_State *L, int key, char *buf, size_t size, size_t *used) {
    char piece[48];
    if (lua_type(L, key) == LUA_TSTRING) {
        size_t n;
        const char *k = lua_tolstring(L, key, &n);
        append(buf, size, used, ".", 1);
        append(buf, size, used, k, n > 64 ? 64 : n);
    } else if (lua_isinteger(L, key)) {
        snprintf(piece, sizeof piece, "[%lld]", (long long)lua_tointeger(L, key));
        append(buf, size, used, piece, strlen(piece));
    } else {
        snprintf(piece, sizeof piece, "[%s]", luaL_typename(L, key));
        append(buf, size, used, piece, strlen(piece));
    }
}

/* Raises the error for writing `key` of the view at `view`: it names what was written. */
static int refuse_write(lua_State *L, int view, int key) {
    arb_sandbox *S = arb_sandbox_of(L);
    char what[320];
    size_t used = 0;
    what[0] = 0;
    const char *rule = "the helpers and libraries are read-only";
    int loaded = 0;
    view = lua_absindex(L, view);
    key = lua_absindex(L, key);
    int top = lua_gettop(L);
    if (!lua_getmetatable(L, view)) lua_newtable(L);
    if (lua_rawgetp(L, -1, &ENTRY_KEY) == LUA_TNUMBER) {
        add_input_path(S, (int)lua_tointeger(L, -1), what, sizeof what, &used);
        rule = "event and ctx are read-only";
    } else if (lua_rawgetp(L, -2, &NAME_KEY) == LUA_TSTRING) {
        size_t n;
        const char *name = lua_tolstring(L, -1, &n);
        append(what, sizeof what, &used, name, n);
        if (strncmp(name, "ctx.", 4) == 0) rule = "event and ctx are read-only";
    } else {
        append(what, sizeof what, &used, "a table built when the policy loaded", 36);
        loaded = 1;
        rule = "such tables are read-only, so that no state is kept between evaluations";
    }
    lua_settop(L, top);
    if (loaded) {   /* name the field apart: "a table built when the policy loaded (field x)" */
        append(what, sizeof what, &used, " (field ", 8);
        if (lua_type(L, key) == LUA_TSTRING) {
            size_t n;
            const char *k = lua_tolstring(L, key, &n);
            append(what, sizeof what, &used, k, n > 64 ? 64 : n);
        } else {
            append_key(L, key, what, sizeof what, &used);
        }
        append(what, sizeof what, &used, ")", 1);
    } else {
        append_key(L, key, what, sizeof what, &used);
    }
    luaL_where(L, 1);
    lua_pushfstring(L, "attempt to change %s: %s", what, rule);
    lua_concat(L, 2);
    return lua_error(L);
}

static int view_newindex(lua_State *L) {
    return refuse_write(L, 1, 2);
}

static int proxy_len(lua_State *L) {
    lua_getmetatable(L, 1);
    push_view_data(L, lua_gettop(L));
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    return 1;
}

static int proxy_next(lua_State *L) {
    lua_settop(L, 2);
    if (lua_next(L, lua_upvalueindex(1))) return 2;
    lua_pushnil(L);
    return 1;
}

static void push_raw_target(lua_State *L, int idx);

/* pairs(view) iterates the data without ever handing the data table to the policy. */
static int proxy_pairs(lua_State *L) {
    push_raw_target(L, 1);
    lua_pushcclosure(L, proxy_next, 1);
    lua_pushnil(L);
    lua_pushnil(L);
    return 3;
}

/* __index of a view whose data had a metatable of its own (a "class" built at load): the
   data's own fields first, then the original __index handler — called with the view, never
   with the data, so a handler cannot write to the hidden table. Upvalues: data, handler. */
static int frozen_index(lua_State *L) {
    lua_settop(L, 2);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) return 1;
    lua_pop(L, 1);
    if (lua_type(L, lua_upvalueindex(2)) == LUA_TFUNCTION) {
        lua_pushvalue(L, lua_upvalueindex(2));
        lua_insert(L, 1);
        lua_call(L, 2, 1);
        return 1;
    }
    lua_gettable(L, lua_upvalueindex(2));
    return 1;
}

/* Replaces the value on top of the stack (the data) with a view's metatable reading it. */
static void push_view_metatable(lua_State *L) {
    lua_createtable(L, 0, 8);
    lua_insert(L, -2);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, view_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, proxy_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, proxy_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_rawsetp(L, -2, &FROZEN_KEY);
}

/* Replaces the table at the top of the stack with a read-only view of it; `name` (or NULL
   for a table built at load) is what errors call it. */
static void freeze_top(lua_State *L, const char *name) {
    int data = lua_gettop(L);
    lua_createtable(L, 0, 0);                 /* the view */
    lua_pushvalue(L, data);
    push_view_metatable(L);
    if (name != NULL) {
        lua_pushstring(L, name);
        lua_rawsetp(L, -2, &NAME_KEY);
    }
    lua_setmetatable(L, -2);
    lua_replace(L, data);
}

/* The data table at `data` had the metatable at `mt` (its values already frozen): the view at
   `view` takes over its handlers, and the data loses it, so handlers only ever see the view. */
static void adopt_metatable(lua_State *L, int view, int data, int mt) {
    static const char *const kept_by_view[] = { "__index", "__newindex", "__metatable", "__gc", "__mode", "__name", NULL };
    lua_getmetatable(L, view);
    int vmt = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, mt)) {
        int skip = lua_type(L, -2) != LUA_TSTRING;
        for (int i = 0; !skip && kept_by_view[i]; i++) skip = strcmp(lua_tostring(L, -2), kept_by_view[i]) == 0;
        if (skip) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, vmt);
    }
    if (lua_getfield(L, mt, "__index") != LUA_TNIL) {
        lua_pushvalue(L, data);
        lua_insert(L, -2);
        lua_pushcclosure(L, frozen_index, 2);
        lua_setfield(L, vmt, "__index");
    } else {
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_pushnil(L);
    lua_setmetatable(L, data);
}

/* Freezes the (plain, decoded) table at the top of the stack and every table in it, each view
   named by its path (`path`, e.g. "ctx.config.limits"). */
static void deep_freeze_top(lua_State *L, int depth, char *path, size_t size, size_t used) {
    if (depth > MAX_ENCODE_DEPTH) luaL_error(L, "configuration nested too deeply");
    luaL_checkstack(L, 6, "configuration nested too deeply");
    int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -1) == LUA_TTABLE) {
            size_t child = used;
            append_key(L, -2, path, size, &child);
            deep_freeze_top(L, depth + 1, path, size, child);
            path[used] = 0;
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, t);   /* replacing an existing key's value is safe during next */
        } else {
            lua_pop(L, 1);
        }
    }
    freeze_top(L, path);
}

static int is_frozen(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return 0;
    int frozen = lua_rawgetp(L, -1, &FROZEN_KEY) != LUA_TNIL;
    lua_pop(L, 2);
    return frozen;
}

/* ---------------------------------------------------------------- replaced base functions */

static int finish_pcall(lua_State *L, int status, lua_KContext extra) {
    if (status != LUA_OK && status != LUA_YIELD) {
        arb_sandbox *S = arb_sandbox_of(L);
        /* Budget, time and memory errors are not the policy's to catch. */
        if (S->fatal || status == LUA_ERRMEM) return lua_error(L);
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

static int sb_pcall(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(L, status, 0);
}

/* xpcall's message handler runs before the stack unwinds. When the error came from the
   count hook, Lua still has hooks switched off at that point, so the policy's handler must not
   run: it could loop forever unchecked. Upvalue 1: the policy's handler. */
static int xpcall_handler(lua_State *L) {
    if (arb_sandbox_of(L)->fatal) return 1;   /* pass the error through untouched */
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int sb_xpcall(lua_State *L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(L, status, 2);
}

/* Whether `key` (at idx) names a helper or library every policy reads (approve, string, ...). */
static int is_shared_global(lua_State *L, int key) {
    if (lua_type(L, key) != LUA_TSTRING) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, arb_sandbox_of(L)->base_ref);
    lua_pushvalue(L, key);
    int shared = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return shared;
}

static int refuse_global(lua_State *L, int key) {
    luaL_where(L, 1);
    lua_pushfstring(L, "attempt to change global '%s': the helpers and libraries are read-only", lua_tostring(L, key));
    lua_concat(L, 2);
    return lua_error(L);
}

/* __newindex of a policy's globals (at load and in each evaluation): a new global is fine
   (each evaluation starts with fresh globals), rebinding a helper or a library is not. */
static int env_newindex(lua_State *L) {
    lua_settop(L, 3);
    if (is_shared_global(L, 2)) return refuse_global(L, 2);
    lua_rawset(L, 1);
    return 0;
}

static int is_env(lua_State *L, int idx) {
    if (!lua_getmetatable(L, idx)) return 0;
    int env = lua_rawgetp(L, -1, &ENV_KEY) != LUA_TNIL;
    lua_pop(L, 2);
    return env;
}

static int sb_rawset(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (is_frozen(L, 1)) return refuse_write(L, 1, 2);
    if (is_env(L, 1) && is_shared_global(L, 2)) return refuse_global(L, 2);
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

/*
 * tostring, and the text of every value log() and string.format("%s") show: Lua's own, except
 * that tables, functions and coroutines without __tostring show as their type name. Lua
 * appends the object's address, which depends on what earlier evaluations allocated on the
 * state: a policy could tell from it how much ran before, and a decision must not.
 */
static const char *safe_tolstring(lua_State *L, int idx, size_t *len) {
    idx = lua_absindex(L, idx);
    if (luaL_callmeta(L, idx, "__tostring")) {
        if (!lua_isstring(L, -1)) luaL_error(L, "'__tostring' must return a string");
        return lua_tolstring(L, -1, len);
    }
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: case LUA_TSTRING: case LUA_TBOOLEAN: case LUA_TNIL:
        return luaL_tolstring(L, idx, len);
    default:
        lua_pushstring(L, luaL_typename(L, idx));
        return lua_tolstring(L, -1, len);
    }
}

static int sb_tostring(lua_State *L) {
    luaL_checkany(L, 1);
    size_t len;
    safe_tolstring(L, 1, &len);
    arb_charge(L, (int64_t)(len / 16) + 1);
    return 1;
}

static int sb_setmetatable(lua_State *L) {
    int kind = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, kind == LUA_TNIL || kind == LUA_TTABLE, 2, "nil or table");
    if (kind == LUA_TTABLE && is_frozen(L, 2)) {
        /* A class built at load is a view, and Lua reads metamethods raw: the new table gets
           a copy of the class's fields (their values are views themselves) for its own. */
        push_raw_target(L, 2);
        int data = lua_gettop(L);
        lua_createtable(L, 0, 8);
        lua_pushnil(L);
        while (lua_next(L, data)) {
            arb_charge(L, 1);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);
        }
        lua_replace(L, 2);
        lua_settop(L, 2);
    }
    if (kind == LUA_TTABLE) {
        /* Lua runs finalizers with hooks off: a looping __gc would hang the worker. */
        if (lua_getfield(L, 2, "__gc") != LUA_TNIL)
            return luaL_error(L, "__gc finalizers are not allowed in policies");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

static int sb_resume(lua_State *L) {
    lua_CFunction original = lua_tocfunction(L, lua_upvalueindex(1));
    int n = original(L);
    arb_sandbox *S = arb_sandbox_of(L);
    if (n >= 2 && !lua_toboolean(L, -n)) {
        if (S->fatal) return lua_error(L);
        const char *msg = lua_tostring(L, -1);
        if (msg != NULL && strcmp(msg, "not enough memory") == 0)
            return raise_fatal(L, S, ARB_ERR_MEMORY, 1);
    }
    return n;
}

/* coroutine.close runs the coroutine's pending __close handlers; one that died from a limit
   error still has hooks off, so closing it is refused once the evaluation is fatal. */
static int sb_close(lua_State *L) {
    arb_sandbox *S = arb_sandbox_of(L);
    if (S->fatal) return raise_fatal(L, S, S->fatal, 1);
    lua_CFunction original = lua_tocfunction(L, lua_upvalueindex(1));
    return original(L);
}

/* Digits after the decimal point in the currency's major unit: 2 unless the table Swift gave
   (four bytes per currency: code, exponent digit) says otherwise. */
static int currency_exponent(const arb_sandbox *S, const char *code, size_t length) {
    if (length != 3 || S->currency_exponents == NULL) return 2;
    for (const char *entry = S->currency_exponents; entry[0] && entry[1] && entry[2] && entry[3]; entry += 4) {
        if (memcmp(code, entry, 3) == 0) return entry[3] - '0';
    }
    return 2;
}

/* money(2500, "USD") == "25.00 USD": minor units shown in the currency's major unit. */
static int sb_money(lua_State *L) {
    int is_int = 0;
    lua_Integer amount = lua_tointegerx(L, 1, &is_int);
    if (!is_int) return luaL_error(L, "money(amount, currency) expects integer minor units");
    size_t clen;
    const char *currency = luaL_checklstring(L, 2, &clen);
    if (clen > 8) return luaL_error(L, "money(amount, currency): bad currency code");
    int exponent = currency_exponent(arb_sandbox_of(L), currency, clen);
    char digits[32];
    int n = 0;
    unsigned long long magnitude = amount < 0 ? 0ULL - (unsigned long long)amount : (unsigned long long)amount;
    do {   /* least significant digit first */
        digits[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0 || n <= exponent);
    char text[48];
    int t = 0;
    if (amount < 0) text[t++] = '-';
    for (int i = n - 1; i >= 0; i--) {
        text[t++] = digits[i];
        if (i == exponent && exponent > 0) text[t++] = '.';
    }
    text[t++] = ' ';
    memcpy(text + t, currency, clen);
    lua_pushlstring(L, text, (size_t)t + clen);
    return 1;
}

static int null_tostring(lua_State *L) {
    lua_pushliteral(L, "null");
    return 1;
}

/* log(...) records a line in the decision's trace (print is absent). */
static int sb_log(lua_State *L) {
    arb_sandbox *S = arb_sandbox_of(L);
    if (S->log_lines >= MAX_LOG_LINES) return 0;
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, '\t');
        size_t len;
        safe_tolstring(L, i, &len);
        arb_charge(L, (int64_t)(len / 16));
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len;
    const char *line = lua_tolstring(L, -1, &len);
    arb_charge(L, (int64_t)(len / 16) + 1);
    if (len > MAX_LOG_BYTES) len = MAX_LOG_BYTES;
    buf_string(L, &S->log, line, len);
    S->log_lines++;
    return 0;
}

/* ---------------------------------------------------------------- charged library functions */

/*
 * A library function wrapped so that its work is charged: before it runs, one unit plus the
 * bytes of its string arguments (in 16-byte units); after it returns, one unit per result
 * plus the bytes of its string results. What one call can do before it returns is bounded
 * by the string length limit, the memory cap (and the deadline checked on large
 * allocations) and Lua's stack limit, so charging the rest afterwards is enough. Functions
 * whose work is not bounded by their arguments and results (the table library, string.rep,
 * the pattern functions, utf8.codes) are written here and charge as they go.
 * Upvalue 1: the original function.
 */
static int charged_call(lua_State *L) {
    lua_CFunction original = lua_tocfunction(L, lua_upvalueindex(1));
    int n = lua_gettop(L);
    int64_t units = 1;
    for (int i = 1; i <= n; i++)
        if (lua_type(L, i) == LUA_TSTRING) units += (int64_t)(lua_rawlen(L, i) / 16);
    arb_charge(L, units);
    int results = original(L);
    units = results;
    for (int i = lua_gettop(L) - results + 1; i <= lua_gettop(L); i++)
        if (lua_type(L, i) == LUA_TSTRING) units += (int64_t)(lua_rawlen(L, i) / 16);
    arb_charge(L, units);
    return results;
}

/* string.rep: Lua's loops n times even when the result is empty ("" repeated 2^62 times
   never returned). Here an empty result returns at once, a result over the string length
   limit is refused before any work, and the copy doubles what is already written, so the
   work is the bytes produced (charged per 16 bytes before it starts). */
static int sb_rep(lua_State *L) {
    size_t l, lsep;
    const char *s = luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    const char *sep = luaL_optlstring(L, 3, "", &lsep);
    arb_charge(L, 1);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    if (l + lsep < l || (l + lsep) > (size_t)MAX_STRING_BYTES / (size_t)n) {
        arb_sandbox *S = arb_sandbox_of(L);
        S->string_too_long = 1;
        return raise_fatal(L, S, ARB_ERR_MEMORY, 1);
    }
    size_t total = (size_t)n * l + (size_t)(n - 1) * lsep;
    arb_charge(L, (int64_t)(total / 16));
    luaL_Buffer b;
    char *p = luaL_buffinitsize(L, &b, total);
    size_t unit = l + lsep;           /* one copy and the separator after it */
    memcpy(p, s, l);
    memcpy(p + l, sep, lsep < total - l ? lsep : total - l);
    size_t done = unit < total ? unit : total;
    while (done < total) {            /* the written prefix is whole units: copy it onward */
        size_t chunk = done < total - done ? done : total - done;
        memcpy(p + done, p, chunk);
        done += chunk;
    }
    luaL_pushresultsize(&b, total);
    return 1;
}

/* string.format: '%p' (an address) is refused, and '%s' shows tables and functions as
   tostring does (without their address). Charged as charged_call. Upvalue 1: the original. */
static int sb_format(lua_State *L) {
    size_t flen;
    const char *f = luaL_checklstring(L, 1, &flen);
    const char *end = f + flen;
    int arg = 1;
    for (const char *p = f; p < end; p++) {
        if (*p != '%') continue;
        if (++p < end && *p == '%') continue;
        while (p < end && strchr("-+ #0123456789.", *p) != NULL) p++;
        if (p >= end) break;
        arg++;
        if (*p == 'p') return luaL_error(L, "string.format: '%%p' is not available to policies");
        if (*p == 's' && arg <= lua_gettop(L)) {
            int t = lua_type(L, arg);
            if (t != LUA_TSTRING && t != LUA_TNUMBER) {
                size_t len;
                safe_tolstring(L, arg, &len);
                lua_replace(L, arg);
            }
        }
    }
    return charged_call(L);
}

/* ---------------------------------------------------------------- utf8.codes */

#define MAXUNICODE 0x10FFFFu
#define MAXUTF 0x7FFFFFFFu

/* Lua 5.4's utf8_decode (lutf8lib.c; MIT licence, see LICENSE-Lua.txt). */
static const char *utf8_decode(const char *s, unsigned int *val, int strict) {
    static const unsigned int limits[] = { ~(unsigned int)0, 0x80, 0x800, 0x10000u, 0x200000u, 0x4000000u };
    unsigned int c = (unsigned char)s[0];
    unsigned int res = 0;
    if (c < 0x80) {
        res = c;
    } else {
        int count = 0;
        for (; c & 0x40; c <<= 1) {
            unsigned int cc = (unsigned char)s[++count];
            if ((cc & 0xC0) != 0x80) return NULL;
            res = (res << 6) | (cc & 0x3F);
        }
        res |= ((unsigned int)(c & 0x7F) << (count * 5));
        if (count > 5 || res > MAXUTF || res < limits[count]) return NULL;
        s += count;
    }
    if (strict && (res > MAXUNICODE || (0xD800u <= res && res <= 0xDFFFu))) return NULL;
    if (val) *val = res;
    return s + 1;
}

/* The iterator utf8.codes returns: Lua's skips continuation bytes from any position a caller
   gives, in C and uncharged, so calling it directly over a string of continuation bytes costs
   the square of its length. Charged per byte it reads. Upvalue 1: strict (boolean). */
static int codes_next(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Unsigned n = (lua_Unsigned)lua_tointeger(L, 2);
    lua_Unsigned start = n;
    if (n < len)
        while (n < len && ((unsigned char)s[n] & 0xC0) == 0x80) n++;
    arb_charge(L, (int64_t)((n - (start < n ? start : n)) / 16) + 1);
    if (n >= len) return 0;
    unsigned int code;
    if (utf8_decode(s + n, &code, lua_toboolean(L, lua_upvalueindex(1))) == NULL)
        return luaL_error(L, "invalid UTF-8 code");
    lua_pushinteger(L, (lua_Integer)n + 1);
    lua_pushinteger(L, code);
    return 2;
}

static int sb_codes(lua_State *L) {
    int lax = lua_toboolean(L, 2);
    luaL_checkstring(L, 1);
    lua_pushboolean(L, !lax);
    lua_pushcclosure(L, codes_next, 1);
    lua_pushvalue(L, 1);
    lua_pushinteger(L, 0);
    return 3;
}

/* Copies `names` from the table at `from` into the table at `to`, each wrapped in
   charged_call when `charged`. */
static void copy_functions(lua_State *L, int from, int to, const char *const *names, int charged) {
    for (; *names; names++) {
        lua_getfield(L, from, *names);
        if (charged && lua_tocfunction(L, -1) != NULL) lua_pushcclosure(L, charged_call, 1);
        lua_setfield(L, to, *names);
    }
}

/* ---------------------------------------------------------------- decoding input into Lua */

/*
 * Objects in the input carry each value's length: 'o' u32 count, then per field u32 key
 * length, key bytes, u32 value length, value bytes.
 *
 * Input views. During an evaluation every object and list of the input becomes a read-only
 * view (see "read-only views") of a data table. An object's data table is *lazy*: empty, with
 * a metatable whose __index copies a field in from the buffer on first read; later reads
 * find it in the data table at the VM's table-lookup speed. A policy reads a handful of the
 * fields it is given, and copying a field costs about as much as reading it twice, so this is
 * the cheaper way (setting every field up front measured ~25% slower on credit_thresholds).
 * Each field is copied in at most once (a per-entry bit mask); pairs, next, rawget and the
 * encoder copy the rest first. Objects with more than MAX_LAZY_FIELDS fields, and lists, are
 * filled when created.
 *
 * The two metatables of entry i (view and lazy) are built once per state and reused by
 * every evaluation (only the view's __index is pointed at the new data table), which keeps
 * a read-only input about as cheap as the writable one it replaced. Entries are numbered
 * afresh by each evaluation and nothing keeps a view from one evaluation to the next; the
 * buffer is valid only during the evaluation.
 */

#define MAX_LAZY_FIELDS 64

static uint32_t read_u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void need(lua_State *L, const uint8_t *p, const uint8_t *end, size_t n) {
    if ((size_t)(end - p) < n) luaL_error(L, "internal error: truncated input");
}

/* Appends entry's path: event.payload.items[2]. */
static void add_input_path(arb_sandbox *S, int entry, char *buf, size_t size, size_t *used) {
    const input_entry *e = &S->inputs[entry];
    if (e->parent < 0) {
        const char *root = e->parent == -1 ? "event" : e->parent == -2 ? "ctx" : "request";
        append(buf, size, used, root, strlen(root));
        return;
    }
    add_input_path(S, e->parent, buf, size, used);
    if (e->key != NULL) {
        append(buf, size, used, ".", 1);
        append(buf, size, used, e->key, e->key_length > 64 ? 64 : e->key_length);
    } else {
        char piece[24];
        snprintf(piece, sizeof piece, "[%u]", e->index);
        append(buf, size, used, piece, strlen(piece));
    }
}

static int lazy_index(lua_State *L);

/* Makes sure entry number i has its view (an empty table), the view's metatable and the lazy
   data table's metatable, built once per state and reused by every evaluation: entry i is
   one object of one evaluation at a time, and nothing a policy holds outlives its
   evaluation (that is what "pure" means here), so an evaluation can never meet a view it
   had before. Only the view's __index is set anew: to the data table. */
static void ensure_view(lua_State *L, arb_sandbox *S, int i) {
    while (S->view_count <= i) {
        int n = S->view_count;
        int *grown = realloc(S->view_refs, sizeof(int) * 3 * (size_t)(n + 16));
        if (grown == NULL) luaL_error(L, "not enough memory");
        S->view_refs = grown;
        for (int j = n; j < n + 16; j++) {
            lua_createtable(L, 0, 0);                 /* __index: present from the start, set per evaluation */
            push_view_metatable(L);
            lua_pushinteger(L, j);
            lua_rawsetp(L, -2, &ENTRY_KEY);
            lua_createtable(L, 0, 0);                 /* the view */
            lua_pushvalue(L, -2);
            lua_setmetatable(L, -2);
            S->view_refs[3 * j] = luaL_ref(L, LUA_REGISTRYINDEX);
            S->view_refs[3 * j + 1] = luaL_ref(L, LUA_REGISTRYINDEX);
            lua_createtable(L, 0, 1);                 /* the lazy data table's metatable */
            lua_pushinteger(L, j);
            lua_pushcclosure(L, lazy_index, 1);
            lua_setfield(L, -2, "__index");
            S->view_refs[3 * j + 2] = luaL_ref(L, LUA_REGISTRYINDEX);
        }
        S->view_count = n + 16;
    }
}

/* A new entry for an object or list; its path is given by parent and key (or index). */
static int new_entry(lua_State *L, arb_sandbox *S, int parent, const char *key, uint32_t key_length, uint32_t index) {
    if (S->input_count == S->input_capacity) {
        int capacity = S->input_capacity ? S->input_capacity * 2 : 16;
        input_entry *grown = realloc(S->inputs, sizeof(input_entry) * (size_t)capacity);
        if (grown == NULL) luaL_error(L, "not enough memory");
        S->inputs = grown;
        S->input_capacity = capacity;
    }
    int i = S->input_count++;
    ensure_view(L, S, i);
    input_entry *e = &S->inputs[i];
    e->data = NULL;
    e->object = NULL;
    e->copied = 0;
    e->complete = 1;
    e->parent = parent;
    e->key = key;
    e->key_length = key_length;
    e->index = index;
    return i;
}

/* Replaces the data table on top of the stack with entry i's view of it. */
static void make_view(lua_State *L, arb_sandbox *S, int i) {
    S->inputs[i].data = lua_topointer(L, -1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, S->view_refs[3 * i + 1]);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "__index");
    lua_rawgeti(L, LUA_REGISTRYINDEX, S->view_refs[3 * i]);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* Skips the fields of an object whose count has been read; returns the end of the object. */
static const uint8_t *skip_fields(lua_State *L, const uint8_t *p, const uint8_t *end, uint32_t count) {
    for (uint32_t i = 0; i < count; i++) {
        need(L, p, end, 4);
        p += 4 + read_u32_at(p);
        need(L, p, end, 4);
        p += 4 + read_u32_at(p);
    }
    if (p > end) luaL_error(L, "internal error: truncated input");
    return p;
}

/* Pushes the value encoded at p: scalars as themselves, objects and lists as views (entry
   `parent`'s field `key`, or item `index` when key is NULL). */
static const uint8_t *push_input(lua_State *L, arb_sandbox *S, const uint8_t *p, const uint8_t *end, int depth,
                                 int parent, const char *key, uint32_t key_length, uint32_t index) {
    if (depth > MAX_ENCODE_DEPTH + 4) luaL_error(L, "internal error: input nested too deeply");
    luaL_checkstack(L, 6, "input nested too deeply");
    need(L, p, end, 1);
    const uint8_t *start = p;
    uint8_t tag = *p++;
    switch (tag) {
    case 'n': lua_pushlightuserdata(L, (void *)&NULL_SENTINEL); return p;
    case 'f': lua_pushboolean(L, 0); return p;
    case 't': lua_pushboolean(L, 1); return p;
    case 'i': {
        int64_t v;
        need(L, p, end, 8);
        memcpy(&v, p, 8);
        lua_pushinteger(L, (lua_Integer)v);
        return p + 8;
    }
    case 'd': {
        double v;
        need(L, p, end, 8);
        memcpy(&v, p, 8);
        lua_pushnumber(L, (lua_Number)v);
        return p + 8;
    }
    case 's': {
        need(L, p, end, 4);
        uint32_t len = read_u32_at(p);
        p += 4;
        need(L, p, end, len);
        lua_pushlstring(L, (const char *)p, len);
        return p + len;
    }
    case 'a': {
        need(L, p, end, 4);
        uint32_t count = read_u32_at(p);
        p += 4;
        int i = new_entry(L, S, parent, key, key_length, index);
        lua_createtable(L, (int)count, 0);
        for (uint32_t n = 1; n <= count; n++) {
            p = push_input(L, S, p, end, depth + 1, i, NULL, 0, n);
            lua_rawseti(L, -2, (lua_Integer)n);
        }
        make_view(L, S, i);
        return p;
    }
    case 'o': {
        need(L, p, end, 4);
        uint32_t count = read_u32_at(p);
        p += 4;
        int i = new_entry(L, S, parent, key, key_length, index);
        lua_createtable(L, 0, (int)count);
        if (count > 0 && count <= MAX_LAZY_FIELDS) {
            input_entry *e = &S->inputs[i];
            e->object = start;
            e->complete = 0;
            lua_rawgeti(L, LUA_REGISTRYINDEX, S->view_refs[3 * i + 2]);
            lua_setmetatable(L, -2);
            p = skip_fields(L, p, end, count);
        } else {
            for (uint32_t n = 0; n < count; n++) {
                need(L, p, end, 4);
                uint32_t klen = read_u32_at(p);
                p += 4;
                need(L, p, end, (size_t)klen + 4);
                const char *k = (const char *)p;
                lua_pushlstring(L, k, klen);
                p += klen;
                uint32_t vlen = read_u32_at(p);
                p += 4;
                need(L, p, end, vlen);
                push_input(L, S, p, p + vlen, depth + 1, i, k, klen, 0);
                lua_rawset(L, -3);
                p += vlen;
            }
        }
        make_view(L, S, i);
        return p;
    }
    default:
        return (const uint8_t *)(uintptr_t)luaL_error(L, "internal error: bad input tag %d", (int)tag);
    }
}

/* Copies every field of entry e's object not copied yet into its data table at `idx`. */
static void materialize(lua_State *L, arb_sandbox *S, int idx, int entry) {
    idx = lua_absindex(L, idx);
    const uint8_t *p = S->inputs[entry].object + 1;
    uint32_t count = read_u32_at(p);
    p += 4;
    S->inputs[entry].complete = 1;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t klen = read_u32_at(p);
        const char *key = (const char *)p + 4;
        p += 4 + klen;
        uint32_t vlen = read_u32_at(p);
        p += 4;
        if (!(S->inputs[entry].copied & ((uint64_t)1 << i))) {   /* inputs may move: index anew */
            S->inputs[entry].copied |= (uint64_t)1 << i;
            lua_pushlstring(L, key, klen);
            push_input(L, S, p, p + vlen, 1, entry, key, klen, 0);
            lua_rawset(L, idx);
        }
        p += vlen;
    }
    if (S->inputs[entry].parent == -2) {   /* ctx: and its config */
        lua_pushliteral(L, "config");
        lua_rawgeti(L, LUA_REGISTRYINDEX, S->config_ref);
        lua_rawset(L, idx);
    }
}

/* Finds field `key` of an entry's object: its number, value and value length. */
static int find_field(const input_entry *e, const char *key, size_t klen, uint32_t *index,
                      const char **stored_key, const uint8_t **value, uint32_t *vlen) {
    const uint8_t *p = e->object + 1;
    uint32_t count = read_u32_at(p);
    p += 4;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t len = read_u32_at(p);
        const uint8_t *k = p + 4;
        p += 4 + len;
        uint32_t n = read_u32_at(p);
        p += 4;
        if (len == klen && memcmp(k, key, klen) == 0) {
            *index = i;
            *stored_key = (const char *)k;
            *value = p;
            *vlen = n;
            return 1;
        }
        p += n;
    }
    return 0;
}

/* __index of lazy data tables: copy a field in from the input on first read, or nil.
   Upvalue 1: the entry number. */
static int lazy_index(lua_State *L) {
    if (lua_type(L, 2) != LUA_TSTRING) return 0;
    arb_sandbox *S = arb_sandbox_of(L);
    int entry = (int)lua_tointeger(L, lua_upvalueindex(1));
    if (entry >= S->input_count || S->inputs[entry].data != lua_topointer(L, 1) || S->inputs[entry].complete) return 0;
    size_t klen;
    const char *key = lua_tolstring(L, 2, &klen);
    uint32_t i, vlen;
    const char *stored_key;
    const uint8_t *value;
    if (S->inputs[entry].parent == -2 && klen == 6 && memcmp(key, "config", 6) == 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, S->config_ref);   /* ctx.config: shared, frozen */
        lua_pushvalue(L, 2);
        lua_pushvalue(L, -2);
        lua_rawset(L, 1);
        return 1;
    }
    if (!find_field(&S->inputs[entry], key, klen, &i, &stored_key, &value, &vlen)) return 0;
    if (S->inputs[entry].copied & ((uint64_t)1 << i)) return 0;
    S->inputs[entry].copied |= (uint64_t)1 << i;
    push_input(L, S, value, value + vlen, 1, entry, stored_key, (uint32_t)klen, 0);
    lua_pushvalue(L, 2);          /* the key Lua passed in: already interned */
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* Pushes the table raw functions should see for the table at idx: the data behind a view
   (an input's filled in first), or the table itself. */
static void push_raw_target(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    if (lua_getmetatable(L, idx)) {
        int mt = lua_gettop(L);
        if (lua_rawgetp(L, mt, &FROZEN_KEY) != LUA_TNIL) {
            lua_pop(L, 1);
            push_view_data(L, mt);
            if (lua_rawgetp(L, mt, &ENTRY_KEY) == LUA_TNUMBER) {
                arb_sandbox *S = arb_sandbox_of(L);
                int entry = (int)lua_tointeger(L, -1);
                if (entry < S->input_count && S->inputs[entry].data == lua_topointer(L, -2) && !S->inputs[entry].complete)
                    materialize(L, S, -2, entry);
            }
            lua_pop(L, 1);
            lua_remove(L, mt);
            return;
        }
        lua_pop(L, 2);
    }
    lua_pushvalue(L, idx);
}

/* Decodes a value into plain Lua values (ctx.config, before it is frozen). */
static const uint8_t *push_plain(lua_State *L, const uint8_t *p, const uint8_t *end, int depth) {
    if (depth > MAX_ENCODE_DEPTH + 4) luaL_error(L, "configuration nested too deeply");
    luaL_checkstack(L, 4, "configuration nested too deeply");
    need(L, p, end, 1);
    uint8_t tag = *p;
    if (tag != 'a' && tag != 'o') {
        arb_sandbox *S = arb_sandbox_of(L);
        return push_input(L, S, p, end, depth, -1, NULL, 0, 0);   /* scalars only: no entry */
    }
    p++;
    need(L, p, end, 4);
    uint32_t count = read_u32_at(p);
    p += 4;
    if (tag == 'a') {
        lua_createtable(L, (int)count, 0);
        for (uint32_t i = 1; i <= count; i++) {
            p = push_plain(L, p, end, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i);
        }
        return p;
    }
    lua_createtable(L, 0, (int)count);
    for (uint32_t i = 0; i < count; i++) {
        need(L, p, end, 4);
        uint32_t klen = read_u32_at(p);
        p += 4;
        need(L, p, end, (size_t)klen + 4);
        lua_pushlstring(L, (const char *)p, klen);
        p += klen;
        uint32_t vlen = read_u32_at(p);
        p += 4;
        need(L, p, end, vlen);
        push_plain(L, p, p + vlen, depth + 1);
        lua_rawset(L, -3);
        p += vlen;
    }
    return p;
}

static int sb_next(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    push_raw_target(L, 1);
    lua_insert(L, 2);   /* target, key */
    if (lua_next(L, 2)) return 2;
    lua_pushnil(L);
    return 1;
}

static int sb_rawget(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    push_raw_target(L, 1);
    lua_insert(L, 2);
    lua_rawget(L, 2);
    return 1;
}

static int sb_rawlen(lua_State *L) {
    int t = lua_type(L, 1);
    luaL_argexpected(L, t == LUA_TTABLE || t == LUA_TSTRING, 1, "table or string");
    if (t == LUA_TTABLE) {
        push_raw_target(L, 1);
        lua_replace(L, 1);
    }
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, 1));
    return 1;
}

/* ---------------------------------------------------------------- encoding Lua values out */

static int malformed(lua_State *L, const char *fmt, const char *path, const char *detail) {
    arb_sandbox_of(L)->malformed = 1;
    return luaL_error(L, fmt, path, detail);
}

/* Where a value sits in a decision ("actions[1].memo"), formatted only when reporting. */
typedef struct value_path {
    const struct value_path *parent;
    const char *key;         /* a field name, or NULL for a list index */
    lua_Integer index;
} value_path;

static size_t format_path(char *buf, size_t size, const value_path *p) {
    size_t used = p->parent ? format_path(buf, size, p->parent) : 0;
    if (used >= size) return used;
    int n = p->key ? snprintf(buf + used, size - used, "%s%s", p->parent ? "." : "", p->key)
                   : snprintf(buf + used, size - used, "[%lld]", (long long)p->index);
    return used + (n > 0 ? (size_t)n : 0);
}

static int malformed_at(lua_State *L, const value_path *p, const char *problem, const char *detail) {
    char path[200];
    format_path(path, sizeof path, p);
    arb_sandbox_of(L)->malformed = 1;
    return luaL_error(L, "%s: %s%s", path, problem, detail);
}

static void encode_value(lua_State *L, arb_buf *out, int idx, int depth, const value_path *path);

static void encode_plain_table(lua_State *L, arb_buf *out, int idx, int depth, const value_path *path);

/* A lazy input table is filled in and a read-only proxy is seen through before encoding, so a
   policy can pass `event.payload` or a table built at load into an action whole. */
static void encode_table(lua_State *L, arb_buf *out, int idx, int depth, const value_path *path) {
    if (depth > MAX_ENCODE_DEPTH) malformed_at(L, path, "nested too deeply", "");
    luaL_checkstack(L, 8, "nested too deeply");
    push_raw_target(L, idx);
    encode_plain_table(L, out, lua_gettop(L), depth, path);
    lua_pop(L, 1);
}

static void encode_plain_table(lua_State *L, arb_buf *out, int idx, int depth, const value_path *path) {
    /* A table is a list when its keys are exactly 1..n, else an object with string keys.
       Objects (the usual case) are written in one pass; a list is rewritten when detected. */
    size_t start = out->length;
    buf_u8(L, out, 'o');
    size_t count_at = out->length;
    buf_u32(L, out, 0);
    uint32_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            lua_pop(L, 2);
            out->length = start;
            lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
            lua_Integer total = 0;
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                lua_pop(L, 1);
                total++;
                if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n)
                    malformed_at(L, path, total > 0 && lua_type(L, -1) == LUA_TSTRING ? "mixes list items and named fields" : "keys must be strings, or 1..n for a list", "");
            }
            if (total != n) malformed_at(L, path, "keys must be strings, or 1..n for a list", "");
            if (n > 64) arb_charge(L, n);
            buf_u8(L, out, 'a');
            buf_u32(L, out, (uint32_t)n);
            for (lua_Integer i = 1; i <= n; i++) {
                value_path item = { path, NULL, i };
                lua_rawgeti(L, idx, i);
                encode_value(L, out, -1, depth + 1, &item);
                lua_pop(L, 1);
            }
            return;
        }
        size_t klen;
        const char *key = lua_tolstring(L, -2, &klen);   /* a string: safe during next */
        value_path field = { path, key, 0 };
        buf_string(L, out, key, klen);
        encode_value(L, out, -1, depth + 1, &field);
        lua_pop(L, 1);
        if (++count > 64 && (count & 63) == 0) arb_charge(L, 64);
    }
    memcpy(out->data + count_at, &count, 4);
}

static void encode_value(lua_State *L, arb_buf *out, int idx, int depth, const value_path *path) {
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        buf_u8(L, out, 'n');
        break;
    case LUA_TBOOLEAN:
        buf_u8(L, out, lua_toboolean(L, idx) ? 't' : 'f');
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            buf_u8(L, out, 'i');
            buf_i64(L, out, (int64_t)lua_tointeger(L, idx));
        } else {
            double v = (double)lua_tonumber(L, idx);
            if (!isfinite(v)) malformed_at(L, path, "numbers must be finite", "");
            buf_u8(L, out, 'd');
            buf_bytes(L, out, &v, 8);
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        buf_u8(L, out, 's');
        buf_string(L, out, s, len);
        break;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == (void *)&NULL_SENTINEL) {
            buf_u8(L, out, 'n');
            break;
        }
        malformed_at(L, path, luaL_typename(L, idx), " values cannot leave a policy");
        break;
    case LUA_TTABLE:
        encode_table(L, out, idx, depth, path);
        break;
    default:
        malformed_at(L, path, luaL_typename(L, idx), " values cannot leave a policy");
    }
}

/* ---------------------------------------------------------------- the decision */

/* Pushes t[name] without metamethods: validating a result never runs policy code. */
static int raw_field(lua_State *L, int idx, const char *name) {
    idx = lua_absindex(L, idx);
    lua_pushstring(L, name);
    return lua_rawget(L, idx);
}

static const char *const DECISION_FIELDS[] = {
    "outcome", "queue", "reasons", "actions", "sla_hours", "approvals_required", NULL
};

static int valid_queue_name(const char *s, size_t n) {
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* Validates the table `decide` returned (at idx) and writes it to the output buffer. */
static void write_decision(lua_State *L, arb_sandbox *S, int idx) {
    arb_buf *out = &S->output;
    if (!lua_istable(L, idx))
        malformed(L, "decide must return approve{...}, review{...} or reject{...}, got %s%s",
                  luaL_typename(L, idx), "");
    push_raw_target(L, idx);   /* a decision built at load is a view */
    idx = lua_gettop(L);

    /* One pass over the table: each known field lands in its stack slot (nil when absent);
       any other key is an error. */
    int slots = lua_gettop(L) + 1;
    for (int i = 0; DECISION_FIELDS[i]; i++) lua_pushnil(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int slot = -1;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *key = lua_tostring(L, -2);
            for (int i = 0; DECISION_FIELDS[i]; i++)
                if (key == S->decision_names[i]) slot = i;   /* short strings are interned */
            if (slot < 0)
                malformed(L, "decision has an unknown field '%s' (expected outcome, queue, reasons, actions, sla_hours, approvals_required)%s", key, "");
        } else {
            malformed(L, "decision keys must be field names%s%s", "", "");
        }
        lua_replace(L, slots + slot);
    }
    lua_pushvalue(L, slots + 0);   /* outcome */
    uint8_t outcome = 0;
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *o = lua_tostring(L, -1);
        if (o == S->outcome_names[0]) outcome = ARB_OUTCOME_APPROVE;
        else if (o == S->outcome_names[1]) outcome = ARB_OUTCOME_REVIEW;
        else if (o == S->outcome_names[2]) outcome = ARB_OUTCOME_REJECT;
    }
    if (outcome == 0)
        malformed(L, "decision outcome must be \"approve\", \"review\" or \"reject\"%s%s", "", "");
    lua_pop(L, 1);
    buf_u8(L, out, outcome);

    lua_pushvalue(L, slots + 1);   /* queue */
    if (lua_isnil(L, -1)) {
        buf_u32(L, out, 0);
    } else {
        size_t n = 0;
        const char *q = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
        if (q == NULL || !valid_queue_name(q, n))
            malformed(L, "queue must be 1-64 characters of a-z, 0-9, '-', '_' or '.'%s%s", "", "");
        buf_string(L, out, q, n);
    }
    lua_pop(L, 1);

    lua_pushvalue(L, slots + 4);   /* sla_hours */
    if (lua_isnil(L, -1)) {
        buf_i64(L, out, -1);
    } else {
        double hours = lua_type(L, -1) == LUA_TNUMBER ? (double)lua_tonumber(L, -1) : -1;
        if (!(hours > 0 && hours <= 24 * 366))
            malformed(L, "sla_hours must be a number of hours between 0 and 8784%s%s", "", "");
        buf_i64(L, out, (int64_t)llround(hours * 3600));   /* seconds */
    }
    lua_pop(L, 1);

    lua_pushvalue(L, slots + 5);   /* approvals_required */
    if (lua_isnil(L, -1)) {
        buf_i64(L, out, 0);
    } else {
        lua_Integer n = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : 0;
        if (n < 1 || n > 5) malformed(L, "approvals_required must be an integer from 1 to 5%s%s", "", "");
        buf_i64(L, out, (int64_t)n);
    }
    lua_pop(L, 1);

    lua_pushvalue(L, slots + 2);   /* reasons (a view, e.g. from ctx.config, is seen through) */
    if (lua_istable(L, -1)) {
        push_raw_target(L, -1);
        lua_replace(L, -2);
    }
    if (lua_isnil(L, -1)) {
        buf_u32(L, out, 0);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        if (n > MAX_REASON_BYTES) malformed(L, "reasons[1] is longer than %s%s", "1000 bytes", "");
        buf_u32(L, out, 1);
        buf_string(L, out, s, n);
    } else if (lua_istable(L, -1)) {
        lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
        if (count > MAX_REASONS) malformed(L, "at most %s reasons%s", "32", "");
        buf_u32(L, out, (uint32_t)count);
        for (lua_Integer i = 1; i <= count; i++) {
            lua_rawgeti(L, -1, i);
            size_t n;
            if (lua_type(L, -1) != LUA_TSTRING) {
                char path[48];
                snprintf(path, sizeof path, "reasons[%lld]", (long long)i);
                malformed(L, "%s must be a string, got %s", path, luaL_typename(L, -1));
            }
            const char *s = lua_tolstring(L, -1, &n);
            if (n > MAX_REASON_BYTES) malformed(L, "a reason is longer than %s%s", "1000 bytes", "");
            buf_string(L, out, s, n);
            lua_pop(L, 1);
        }
    } else {
        malformed(L, "reasons must be a string or a list of strings, got %s%s", luaL_typename(L, -1), "");
    }
    lua_pop(L, 1);

    lua_pushvalue(L, slots + 3);   /* actions */
    if (lua_istable(L, -1)) {
        push_raw_target(L, -1);
        lua_replace(L, -2);
    }
    if (lua_isnil(L, -1)) {
        buf_u32(L, out, 0);
    } else if (lua_istable(L, -1)) {
        lua_Integer count = (lua_Integer)lua_rawlen(L, -1);
        if (count > MAX_ACTIONS) malformed(L, "at most %s actions%s", "32", "");
        buf_u32(L, out, (uint32_t)count);
        value_path actions = { NULL, "actions", 0 };
        for (lua_Integer i = 1; i <= count; i++) {
            value_path item = { &actions, NULL, i };
            lua_rawgeti(L, -1, i);
            if (!lua_istable(L, -1)) malformed_at(L, &item, "must be a table, got ", luaL_typename(L, -1));
            encode_value(L, out, -1, 1, &item);
            lua_pop(L, 1);
        }
    } else {
        malformed(L, "actions must be a list of action tables, got %s%s", luaL_typename(L, -1), "");
    }
    lua_pop(L, 1);
}

/* ---------------------------------------------------------------- protected entry points */

typedef struct call_args {
    arb_sandbox *S;
    const char *chunkname;
    const uint8_t *a;
    size_t a_length;
    const uint8_t *b;
    size_t b_length;
    int32_t slot;
    int mapping;   /* a source's mapping script (returns {name, map}), not a policy */
} call_args;

static const char PRELUDE[] =
    "local function outcome(kind)\n"
    "  return function(t)\n"
    "    if t == nil then t = {} end\n"
    "    if type(t) == 'string' then t = { reasons = { t } } end\n"
    "    if type(t) ~= 'table' then error(kind .. '{...} expects a table', 2) end\n"
    "    t.outcome = kind\n"
    "    return t\n"
    "  end\n"
    "end\n"
    "approve, review, reject = outcome('approve'), outcome('review'), outcome('reject')\n"
    "local function action(kind)\n"
    "  return function(t)\n"
    "    if type(t) ~= 'table' then error(kind .. '{...} expects a table', 2) end\n"
    "    t.type = kind\n"
    "    return t\n"
    "  end\n"
    "end\n"
    "do\n"
    "  local co = __coroutine\n"
    "  local create, resume = co.create, co.resume\n"
    "  local function pass(ok, ...)\n"
    "    if ok then return ... end\n"
    "    error((...), 0)\n"
    "  end\n"
    "  function co.wrap(f)\n"
    "    local thread = create(f)\n"
    "    return function(...) return pass(resume(thread, ...)) end\n"
    "  end\n"
    "end\n"
    "function ignore(reason)\n"
    "  if type(reason) ~= 'string' then error('ignore(reason) expects a string', 2) end\n"
    "  return { outcome = 'ignore', reason = reason }\n"
    "end\n"
    "function event(t)\n"
    "  if type(t) ~= 'table' then error('event{...} expects a table', 2) end\n"
    "  return t\n"
    "end\n"
    "function account(t)\n"
    "  if type(t) ~= 'table' then error('account{...} expects a table', 2) end\n"
    "  return { account = t }\n"
    "end\n"
    "credit_memo = action('credit_memo')\n"
    "refund = action('refund')\n"
    "account_suspension = action('account_suspension')\n"
    "account_reinstatement = action('account_reinstatement')\n"
    "entitlement_grant = action('entitlement_grant')\n"
    "entitlement_revoke = action('entitlement_revoke')\n"
    ;


/* A metatable for a policy's globals reading through to the table at `index`: new globals are
   fine, rebinding a helper or a library is refused (env_newindex). Returns its registry ref. */
static int new_env_metatable(lua_State *L, int index) {
    index = lua_absindex(L, index);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, env_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushboolean(L, 1);
    lua_rawsetp(L, -2, &ENV_KEY);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

void arb_open_table(lua_State *L);

static int setup_body(lua_State *L) {
    call_args *args = (call_args *)lua_touserdata(L, 1);
    arb_sandbox *S = args->S;

    luaL_requiref(L, LUA_GNAME, luaopen_base, 0);
    int G = lua_gettop(L);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    int STR = lua_gettop(L);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    int MATH = lua_gettop(L);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
    int UTF8 = lua_gettop(L);
    luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 0);
    int CO = lua_gettop(L);

    /* The policies' base environment: only what is listed here exists. */
    lua_createtable(L, 0, 48);
    int base = lua_gettop(L);
    static const char *const plain_base[] = {
        "assert", "error", "ipairs", "pairs", "rawequal", "select", "type", "getmetatable", "_VERSION", NULL
    };
    copy_functions(L, G, base, plain_base, 0);
    static const char *const charged_base[] = { "tonumber", NULL };
    copy_functions(L, G, base, charged_base, 1);
    /* Replacements: next, rawget and rawlen see through read-only views (an input's filled in
       first); pcall and xpcall cannot catch limit errors; rawset refuses read-only tables and
       helpers; setmetatable refuses __gc; tostring shows no addresses. And the helpers log and
       money. */
    static const luaL_Reg replacements[] = {
        { "next", sb_next }, { "rawget", sb_rawget }, { "rawlen", sb_rawlen }, { "pcall", sb_pcall },
        { "xpcall", sb_xpcall }, { "rawset", sb_rawset }, { "setmetatable", sb_setmetatable },
        { "tostring", sb_tostring }, { "log", sb_log }, { "money", sb_money }, { NULL, NULL }
    };
    luaL_setfuncs(L, replacements, 0);
    lua_pushlightuserdata(L, (void *)&NULL_SENTINEL);
    lua_setfield(L, base, "null");
    /* tostring(null) == "null" (light userdata share one metatable; null is the only one a
       policy can reach). */
    lua_pushlightuserdata(L, (void *)&NULL_SENTINEL);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);

    /* string: no dump, and no pack, packsize or unpack (binary formats: nothing a decision
       needs, and more C loops to bound); rep, format and the pattern functions are ours; the
       rest is charged. */
    lua_createtable(L, 0, 20);
    int str = lua_gettop(L);
    static const char *const str_plain[] = { "len", NULL };
    copy_functions(L, STR, str, str_plain, 0);
    static const char *const str_charged[] = { "byte", "char", "lower", "upper", "reverse", "sub", NULL };
    copy_functions(L, STR, str, str_charged, 1);
    lua_getfield(L, STR, "format");
    lua_pushcclosure(L, sb_format, 1);
    lua_setfield(L, str, "format");
    static const luaL_Reg patterns[] = {
        { "find", arb_str_find }, { "match", arb_str_match }, { "gmatch", arb_str_gmatch }, { "gsub", arb_str_gsub },
        { "rep", sb_rep }, { NULL, NULL }
    };
    luaL_setfuncs(L, patterns, 0);
    /* Methods on string values (s:find(...)) reach the same functions; the metatable itself
       is hidden: getmetatable("") returns false. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushvalue(L, str);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    lua_pushvalue(L, str);
    freeze_top(L, "string");
    lua_setfield(L, base, "string");

    arb_open_table(L);   /* ours: charged per element (tablib.c) */
    freeze_top(L, "table");
    lua_setfield(L, base, "table");

    lua_createtable(L, 0, 28);
    static const char *const math_fns[] = {
        "abs", "ceil", "cos", "deg", "exp", "floor", "fmod", "huge", "log", "max", "maxinteger",
        "min", "mininteger", "modf", "pi", "rad", "sin", "sqrt", "tan", "tointeger", "type",
        "ult", "atan", "asin", "acos", NULL
    };
    copy_functions(L, MATH, lua_gettop(L), math_fns, 0);
    freeze_top(L, "math");
    lua_setfield(L, base, "math");

    lua_createtable(L, 0, 8);
    static const char *const utf8_plain[] = { "charpattern", NULL };
    copy_functions(L, UTF8, lua_gettop(L), utf8_plain, 0);
    static const char *const utf8_charged[] = { "char", "codepoint", "len", "offset", NULL };
    copy_functions(L, UTF8, lua_gettop(L), utf8_charged, 1);
    lua_pushcfunction(L, sb_codes);
    lua_setfield(L, -2, "codes");
    freeze_top(L, "utf8");
    lua_setfield(L, base, "utf8");

    lua_createtable(L, 0, 8);
    int co = lua_gettop(L);
    static const char *const co_fns[] = {
        "create", "isyieldable", "running", "status", "yield", NULL
    };
    copy_functions(L, CO, co, co_fns, 0);
    lua_getfield(L, CO, "resume");
    lua_pushcclosure(L, sb_resume, 1);
    lua_setfield(L, co, "resume");
    lua_getfield(L, CO, "close");
    lua_pushcclosure(L, sb_close, 1);
    lua_setfield(L, co, "close");
    /* coroutine.wrap is rebuilt on the guarded resume (the prelude finishes it): Lua's own
       wrap closes a failed coroutine itself, running __close handlers with hooks off. */
    lua_pushvalue(L, co);
    lua_setfield(L, base, "__coroutine");

    /* Helpers, defined in Lua with the base table as their environment. */
    if (luaL_loadbufferx(L, PRELUDE, sizeof PRELUDE - 1, "=prelude", "t") != LUA_OK) lua_error(L);
    lua_pushvalue(L, base);
    lua_setupvalue(L, -2, 1);
    lua_call(L, 0, 0);
    lua_getfield(L, base, "__coroutine");
    freeze_top(L, "coroutine");
    lua_setfield(L, base, "coroutine");
    lua_pushnil(L);
    lua_setfield(L, base, "__coroutine");

    lua_pushvalue(L, base);
    freeze_top(L, "_G");
    lua_setfield(L, base, "_G");
    lua_pushvalue(L, base);
    S->base_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* The decision's field names and outcomes, interned once and kept alive (in the
       registry), so that write_decision compares them by address. */
    lua_createtable(L, 9, 0);
    static const char *const outcomes[] = { "approve", "review", "reject" };
    for (int i = 0; i < 9; i++) {
        const char *name = i < 6 ? DECISION_FIELDS[i] : outcomes[i - 6];
        lua_pushstring(L, name);
        if (i < 6) S->decision_names[i] = lua_tostring(L, -1);
        else S->outcome_names[i - 6] = lua_tostring(L, -1);
        lua_rawseti(L, -2, i + 1);
    }
    luaL_ref(L, LUA_REGISTRYINDEX);

    /* A policy chunk's globals at load: a table reading through to `base`, where helpers and
       libraries cannot be rebound. */
    S->env_metatable_ref = new_env_metatable(L, base);

    lua_createtable(L, 0, 0);
    freeze_top(L, "ctx.config");
    S->config_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    /* The default globals table loses everything a policy could reach through it. */
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        lua_pushnil(L);
        lua_rawset(L, -4);
    }
    return 0;
}

static int set_config_body(lua_State *L) {
    call_args *args = (call_args *)lua_touserdata(L, 1);
    push_plain(L, args->a, args->a + args->a_length, 0);
    if (!lua_istable(L, -1)) luaL_error(L, "configuration must be an object");
    char path[200] = "ctx.config";
    deep_freeze_top(L, 0, path, sizeof path, strlen(path));
    lua_rawseti(L, LUA_REGISTRYINDEX, args->S->config_ref);
    return 0;
}

static int valid_policy_name(const char *s, size_t n) { return valid_queue_name(s, n); }

/*
 * Freezing what a policy's chunk built, so that evaluations cannot carry state:
 * every table reachable from the policy table, from its load-time globals and from the
 * upvalues of its functions becomes a read-only proxy (cycles and sharing preserved through
 * `memo`), and every upvalue of its Lua functions is recorded in `snapshot` to be reset before
 * each evaluation (so `counter = counter + 1` on a chunk local starts from the same value
 * every time). The chunk's _ENV is not recorded: each evaluation gets fresh globals.
 */
typedef struct freezer {
    int memo;            /* stack index: table or function -> its frozen form / true */
    int seen;            /* stack index: upvalue id -> true */
    int snapshot;        /* stack index: {closure, value, ...} */
    void *env_id;        /* lua_upvalueid of the chunk's _ENV */
    loaded_policy *slot; /* receives the recorded upvalue numbers */
    int upvalue_capacity;
    const char *file;    /* for messages */
} freezer;

static void freeze_value(lua_State *L, freezer *fz, int depth);

/* Freezes the table-valued fields of the table at idx in place and walks its functions
   (values and keys: a function used as a key is callable through pairs). */
static void freeze_fields(lua_State *L, freezer *fz, int idx, int depth) {
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int key_kind = lua_type(L, -2);
        if (key_kind == LUA_TTABLE || key_kind == LUA_TTHREAD) {
            arb_sandbox_of(L)->malformed = 1;
            luaL_error(L, "%s: a table built at load time cannot use a %s as a key", fz->file, lua_typename(L, key_kind));
        }
        if (key_kind == LUA_TFUNCTION) {
            lua_pushvalue(L, -2);
            freeze_value(L, fz, depth + 1);   /* records its upvalues; the function stays the key */
            lua_pop(L, 1);
        }
        int kind = lua_type(L, -1);
        if (kind == LUA_TTABLE || kind == LUA_TFUNCTION || kind == LUA_TTHREAD) {
            freeze_value(L, fz, depth + 1);
            if (kind == LUA_TTABLE) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, idx);   /* replacing an existing key's value is safe during next */
                continue;
            }
        }
        lua_pop(L, 1);
    }
}

/* Replaces the value on top of the stack with its frozen form. */
static void freeze_value(lua_State *L, freezer *fz, int depth) {
    if (depth > 64) luaL_error(L, "the policy's data is nested too deeply");
    luaL_checkstack(L, 10, "the policy's data is nested too deeply");
    int v = lua_gettop(L);
    int kind = lua_type(L, v);
    if (kind == LUA_TTHREAD) {
        arb_sandbox_of(L)->malformed = 1;
        luaL_error(L, "%s: a policy cannot keep a coroutine between evaluations (create it inside decide)", fz->file);
    }
    if (kind != LUA_TTABLE && kind != LUA_TFUNCTION) return;
    if (kind == LUA_TTABLE && is_frozen(L, v)) return;   /* library tables, config */
    if (kind == LUA_TFUNCTION && lua_iscfunction(L, v)) {
        /* Library functions carry no state; an iterator does (string.gmatch's position). */
        for (int i = 1; lua_getupvalue(L, v, i) != NULL; i++) {
            int t = lua_type(L, -1);
            lua_pop(L, 1);
            if (t == LUA_TUSERDATA) {
                arb_sandbox_of(L)->malformed = 1;
                luaL_error(L, "%s: a policy cannot keep an iterator (such as string.gmatch's) between evaluations (create it inside decide)", fz->file);
            }
        }
        return;
    }
    lua_pushvalue(L, v);
    if (lua_rawget(L, fz->memo) != LUA_TNIL) {
        if (kind == LUA_TTABLE) lua_replace(L, v); else lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);

    if (kind == LUA_TTABLE) {
        lua_pushvalue(L, v);
        freeze_top(L, NULL);                 /* v+1: the view */
        lua_pushvalue(L, v);
        lua_pushvalue(L, v + 1);
        lua_rawset(L, fz->memo);
        freeze_fields(L, fz, v, depth);
        if (lua_getmetatable(L, v)) {       /* e.g. a class: its handlers move to the view */
            int mt = lua_gettop(L);
            freeze_fields(L, fz, mt, depth);
            adopt_metatable(L, v + 1, v, mt);
            lua_pop(L, 1);
        }
        lua_replace(L, v);
        return;
    }

    lua_pushvalue(L, v);
    lua_pushboolean(L, 1);
    lua_rawset(L, fz->memo);
    for (int i = 1; lua_getupvalue(L, v, i) != NULL; i++) {
        void *id = lua_upvalueid(L, v, i);
        if (id == fz->env_id) {          /* each evaluation gets fresh globals instead */
            lua_pop(L, 1);
            continue;
        }
        int seen = lua_rawgetp(L, fz->seen, id) != LUA_TNIL;
        lua_pop(L, 1);
        if (seen) {                      /* shared with a function already walked */
            lua_pop(L, 1);
            continue;
        }
        lua_pushboolean(L, 1);
        lua_rawsetp(L, fz->seen, id);
        freeze_value(L, fz, depth + 1);      /* the upvalue's value, frozen */
        lua_pushvalue(L, -1);
        lua_setupvalue(L, v, i);
        loaded_policy *slot = fz->slot;
        if (slot->upvalue_count == fz->upvalue_capacity) {
            int capacity = fz->upvalue_capacity ? fz->upvalue_capacity * 2 : 16;
            int *grown = realloc(slot->upvalue_index, sizeof(int) * (size_t)capacity);
            if (grown == NULL) luaL_error(L, "not enough memory");
            slot->upvalue_index = grown;
            fz->upvalue_capacity = capacity;
        }
        slot->upvalue_index[slot->upvalue_count++] = i;
        lua_pushvalue(L, v);
        lua_rawseti(L, fz->snapshot, 2 * slot->upvalue_count - 1);
        lua_rawseti(L, fz->snapshot, 2 * slot->upvalue_count);
    }
}

static void finish_load(lua_State *L, arb_sandbox *S, const char *file, int chunk, int globals, int function, int table);

/* A source's mapping script returns {name = ..., map = function(request)}: the same freezing
   and fresh globals as a policy, its `map` called in place of `decide`. */
static int load_mapping(lua_State *L, arb_sandbox *S, call_args *args, int chunk, int globals, int script) {
    const char *file = args->chunkname + 1;
    arb_buf *out = &S->output;
    size_t n;
    raw_field(L, script, "name");
    const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (name == NULL || !valid_policy_name(name, n)) {
        S->malformed = 1;
        return luaL_error(L, "%s: name must be 1-64 characters of a-z, 0-9, '-', '_' or '.'", file);
    }
    buf_u8(L, out, 'o');
    buf_u32(L, out, 1);
    buf_string(L, out, "name", 4);
    buf_u8(L, out, 's');
    buf_string(L, out, name, n);
    lua_pop(L, 1);
    raw_field(L, script, "map");
    if (!lua_isfunction(L, -1)) {
        S->malformed = 1;
        return luaL_error(L, "%s: map must be a function(request)", file);
    }
    finish_load(L, S, file, chunk, globals, lua_gettop(L), script);
    return 0;
}

static int load_body(lua_State *L) {
    call_args *args = (call_args *)lua_touserdata(L, 1);
    arb_sandbox *S = args->S;
    const char *file = args->chunkname + 1;
    /* Text only: precompiled bytecode can break the VM's invariants. */
    if (luaL_loadbufferx(L, (const char *)args->a, args->a_length, args->chunkname, "t") != LUA_OK) {
        S->malformed = 2;   /* compile error */
        return lua_error(L);
    }
    int chunk = lua_gettop(L);
    /* The chunk's globals at load time; evaluations read them through their own fresh table. */
    lua_createtable(L, 0, 4);
    int globals = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, S->env_metatable_ref);
    lua_setmetatable(L, globals);
    lua_pushvalue(L, globals);
    lua_setupvalue(L, chunk, 1);
    lua_pushvalue(L, chunk);
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1)) {
        S->malformed = 1;
        return luaL_error(L, "%s: the policy file must return a table {name=..., on=..., decide=...}", file);
    }
    int policy = lua_gettop(L);
    arb_buf *out = &S->output;
    if (args->mapping) return load_mapping(L, S, args, chunk, globals, policy);
    buf_u8(L, out, 'o');
    buf_u32(L, out, 3);

    size_t n;
    raw_field(L, policy, "name");
    const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (name == NULL || !valid_policy_name(name, n)) {
        S->malformed = 1;
        return luaL_error(L, "%s: name must be 1-64 characters of a-z, 0-9, '-', '_' or '.'", file);
    }
    buf_string(L, out, "name", 4);
    buf_u8(L, out, 's');
    buf_string(L, out, name, n);
    lua_pop(L, 1);

    raw_field(L, policy, "on");
    if (lua_type(L, -1) == LUA_TSTRING) {   /* on = "credit.requested" is a list of one */
        lua_createtable(L, 1, 0);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    }
    lua_Integer count = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;
    if (count == 0) {
        S->malformed = 1;
        return luaL_error(L, "%s: on must list the event types the policy decides", file);
    }
    buf_string(L, out, "on", 2);
    buf_u8(L, out, 'a');
    buf_u32(L, out, (uint32_t)count);
    for (lua_Integer i = 1; i <= count; i++) {
        lua_rawgeti(L, -1, i);
        if (lua_type(L, -1) != LUA_TSTRING) {
            S->malformed = 1;
            return luaL_error(L, "%s: on[%d] must be an event type string", file, (int)i);
        }
        const char *type = lua_tolstring(L, -1, &n);
        buf_u8(L, out, 's');
        buf_string(L, out, type, n);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    raw_field(L, policy, "priority");
    if (!lua_isnil(L, -1) && !lua_isinteger(L, -1)) {
        S->malformed = 1;
        return luaL_error(L, "%s: priority must be an integer", file);
    }
    buf_string(L, out, "priority", 8);
    buf_u8(L, out, 'i');
    buf_i64(L, out, lua_isnil(L, -1) ? 0 : (int64_t)lua_tointeger(L, -1));
    lua_pop(L, 1);

    raw_field(L, policy, "decide");
    if (!lua_isfunction(L, -1)) {
        S->malformed = 1;
        return luaL_error(L, "%s: decide must be a function(event, ctx)", file);
    }
    finish_load(L, S, file, chunk, globals, lua_gettop(L), policy);
    return 0;
}

/* Freezes what the chunk built, records the upvalues of its functions and keeps `function`
   (decide, or a mapping's map) and the chunk for evaluations. */
static void finish_load(lua_State *L, arb_sandbox *S, const char *file, int chunk, int globals, int decide, int policy) {
    /* Freeze what the chunk built and record the upvalues of its functions. */
    freezer fz = { 0 };
    lua_createtable(L, 0, 16);
    fz.memo = lua_gettop(L);
    lua_createtable(L, 0, 16);
    fz.seen = lua_gettop(L);
    lua_createtable(L, 16, 0);
    fz.snapshot = lua_gettop(L);
    fz.env_id = lua_upvalueid(L, chunk, 1);
    loaded_policy *slot = &S->policies[S->policy_count];
    fz.slot = slot;
    fz.file = file;
    lua_pushvalue(L, decide);
    freeze_value(L, &fz, 0);
    lua_pop(L, 1);
    lua_pushvalue(L, policy);
    freeze_value(L, &fz, 0);
    lua_pop(L, 1);
    freeze_fields(L, &fz, globals, 0);

    slot->env_metatable_ref = new_env_metatable(L, globals);   /* each evaluation's globals read these */
    lua_createtable(L, 0, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, slot->env_metatable_ref);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setupvalue(L, chunk, 1);
    slot->env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, fz.snapshot);
    slot->snapshot_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, decide);
    slot->decide_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, chunk);
    slot->chunk_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static int evaluate_body(lua_State *L) {
    call_args *args = (call_args *)lua_touserdata(L, 1);
    arb_sandbox *S = args->S;
    loaded_policy *policy = &S->policies[args->slot];

    /* Reset what an earlier evaluation may have changed, and give this one fresh globals. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, policy->snapshot_ref);          /* 2 */
    for (int i = 0; i < policy->upvalue_count; i++) {
        lua_rawgeti(L, 2, 2 * i + 1);
        lua_rawgeti(L, 2, 2 * i + 2);
        lua_setupvalue(L, -2, policy->upvalue_index[i]);
        lua_pop(L, 1);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, policy->chunk_ref);             /* 3 */
    /* Fresh globals: the last evaluation's table again when it is still empty (nothing can
       hide in an empty table: its metatable is protected), a new one otherwise. */
    lua_rawgeti(L, LUA_REGISTRYINDEX, policy->env_ref);
    lua_pushnil(L);
    if (lua_next(L, -2)) {
        lua_pop(L, 3);
        lua_createtable(L, 0, 4);
        lua_rawgeti(L, LUA_REGISTRYINDEX, policy->env_metatable_ref);
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_rawseti(L, LUA_REGISTRYINDEX, policy->env_ref);
        lua_setupvalue(L, 3, 1);
    } else {
        lua_pop(L, 1);
    }

    lua_rawgeti(L, LUA_REGISTRYINDEX, policy->decide_ref);            /* 4 */
    if (args->mapping) {
        push_input(L, S, args->a, args->a + args->a_length, 0, -3, NULL, 0, 0);   /* 5: request */
        if (!lua_istable(L, 5)) luaL_error(L, "internal error: the request must be an object");
        lua_call(L, 1, 1);                                            /* 4: what map returned */
        if (!lua_istable(L, 4)) {
            S->malformed = 1;
            return luaL_error(L, "map must return a table (a list of event{...}, account{...}, ignore(reason) or reject(reason)), got %s",
                              luaL_typename(L, 4));
        }
        value_path root = { NULL, "result", 0 };
        encode_value(L, &S->output, 4, 0, &root);
        if (S->output.length > MAX_OUTPUT_BYTES) luaL_error(L, "map returned more than %d bytes", MAX_OUTPUT_BYTES);
        return 0;
    }
    push_input(L, S, args->a, args->a + args->a_length, 0, -1, NULL, 0, 0);   /* 5: event */
    push_input(L, S, args->b, args->b + args->b_length, 0, -2, NULL, 0, 0);   /* 6: ctx */
    if (!lua_istable(L, 5) || !lua_istable(L, 6) || *args->b != 'o') luaL_error(L, "internal error: event and ctx must be objects");
    /* ctx.config is added to ctx's data on first read (see lazy_index). */
    lua_call(L, 2, 1);                                                /* 4: the decision */
    write_decision(L, S, 4);
    return 0;
}

/* Runs `body` in protected mode with limits on. Returns a status; on error the output holds
   the message. */
static int run_protected(arb_sandbox *S, lua_CFunction body, call_args *args) {
    lua_State *L = S->L;
    S->output.length = 0;
    S->log.length = 0;
    S->log_lines = 0;
    S->instructions = 0;
    S->next_clock_check = CLOCK_CHECK_UNITS;
    S->fatal = 0;
    S->timed_out = 0;
    S->malformed = 0;
    S->input_count = 0;
    S->string_too_long = 0;
    int64_t now = monotonic_ns();
    S->deadline_ns = now + (S->limits.time_limit_ns > 0 ? S->limits.time_limit_ns : 1);
    lua_sethook(L, count_hook, LUA_MASKCOUNT, HOOK_INTERVAL);   /* also restarts the count */

    lua_settop(L, 0);
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, args);
    int status = lua_pcall(L, 1, 0, 0);
    S->deadline_ns = 0;

    if (status == LUA_OK) {
        lua_settop(L, 0);
        return ARB_OK;
    }
    int result;
    if (S->fatal) result = S->fatal;
    else if (status == LUA_ERRMEM) result = S->timed_out ? ARB_ERR_TIME : ARB_ERR_MEMORY;
    else if (S->malformed == 2) result = ARB_ERR_COMPILE;
    else if (S->malformed) result = ARB_ERR_MALFORMED;
    else result = ARB_ERR_RUNTIME;

    S->output.length = 0;
    size_t len = 0;
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    char fallback[96];
    if (result == ARB_ERR_MEMORY && status == LUA_ERRMEM) {
        if (S->string_too_long)
            snprintf(fallback, sizeof fallback, "string length limit exceeded (%d bytes)", MAX_STRING_BYTES);
        else
            snprintf(fallback, sizeof fallback, "memory limit exceeded (%llu bytes)",
                     (unsigned long long)S->limits.memory_limit);
        msg = fallback;
        len = strlen(msg);
    } else if (result == ARB_ERR_TIME && status == LUA_ERRMEM) {
        snprintf(fallback, sizeof fallback, "time limit exceeded (%lld ms)",
                 (long long)(S->limits.time_limit_ns / 1000000));
        msg = fallback;
        len = strlen(msg);
    } else if (msg == NULL) {
        /* Never call __tostring here: that would run policy code outside the limits. */
        snprintf(fallback, sizeof fallback, "error object is a %s value", luaL_typename(L, -1));
        msg = fallback;
        len = strlen(msg);
    }
    buf_raw_string(&S->output, msg, len);
    lua_settop(L, 0);
    return result;
}

/* ---------------------------------------------------------------- public API */

arb_sandbox *arb_sandbox_new(arb_limits limits, const char *currency_exponents) {
    arb_sandbox *S = calloc(1, sizeof *S);
    if (S == NULL) return NULL;
    S->limits = limits;
    if (currency_exponents != NULL) {
        S->currency_exponents = strdup(currency_exponents);
        if (S->currency_exponents == NULL) {
            free(S);
            return NULL;
        }
    }
    S->policy_capacity = 8;
    S->policies = calloc((size_t)S->policy_capacity, sizeof(loaded_policy));
    S->L = lua_newstate(sandbox_alloc, S);
    if (S->L == NULL || S->policies == NULL) {
        arb_sandbox_free(S);
        return NULL;
    }
    *(arb_sandbox **)lua_getextraspace(S->L) = S;
    lua_gc(S->L, LUA_GCGEN, 0, 0);
    call_args args = { .S = S };
    if (run_protected(S, setup_body, &args) != ARB_OK) {
        arb_sandbox_free(S);
        return NULL;
    }
    return S;
}

void arb_sandbox_free(arb_sandbox *S) {
    if (S == NULL) return;
    if (S->L) lua_close(S->L);
    while (S->chunks != NULL) {
        struct small_chunk *next = S->chunks->next;
        free(S->chunks);
        S->chunks = next;
    }
    for (int32_t i = 0; i < S->policy_count; i++) free(S->policies[i].upvalue_index);
    free(S->policies);
    free(S->currency_exponents);
    free(S->inputs);
    free(S->view_refs);
    free(S->output.data);
    free(S->log.data);
    free(S);
}

int arb_sandbox_set_config(arb_sandbox *S, const uint8_t *config, size_t length) {
    call_args args = { .S = S, .a = config, .a_length = length };
    return run_protected(S, set_config_body, &args);
}

static int load_any(arb_sandbox *S, const char *chunkname, const char *source, size_t length,
                    int32_t *slot, int mapping);

int arb_sandbox_load(arb_sandbox *S, const char *chunkname, const char *source, size_t length,
                     int32_t *slot) {
    return load_any(S, chunkname, source, length, slot, 0);
}

int arb_sandbox_load_mapping(arb_sandbox *S, const char *chunkname, const char *source, size_t length,
                             int32_t *slot) {
    return load_any(S, chunkname, source, length, slot, 1);
}

static int load_any(arb_sandbox *S, const char *chunkname, const char *source, size_t length,
                    int32_t *slot, int mapping) {
    if (S->policy_count == S->policy_capacity) {
        loaded_policy *grown = realloc(S->policies, sizeof(loaded_policy) * (size_t)S->policy_capacity * 2);
        if (grown == NULL) return ARB_ERR_INTERNAL;
        S->policies = grown;
        S->policy_capacity *= 2;
    }
    loaded_policy *loading = &S->policies[S->policy_count];
    memset(loading, 0, sizeof *loading);
    call_args args = { .S = S, .chunkname = chunkname, .a = (const uint8_t *)source, .a_length = length, .mapping = mapping };
    int status = run_protected(S, load_body, &args);
    if (status == ARB_OK) {
        *slot = S->policy_count++;
    } else {
        free(loading->upvalue_index);
        loading->upvalue_index = NULL;
    }
    return status;
}

/* The log lines follow the result or the error message. */
static void append_log(arb_sandbox *S) {
    if (buf_reserve(&S->output, S->log.length + 4)) {
        memcpy(S->output.data + S->output.length, &S->log_lines, 4);
        S->output.length += 4;
        memcpy(S->output.data + S->output.length, S->log.data, S->log.length);
        S->output.length += S->log.length;
    }
}

int arb_sandbox_map(arb_sandbox *S, int32_t slot, const uint8_t *request, size_t request_length) {
    if (slot < 0 || slot >= S->policy_count) return ARB_ERR_INTERNAL;
    call_args args = { .S = S, .chunkname = "mapping", .a = request, .a_length = request_length, .slot = slot, .mapping = 1 };
    int status = run_protected(S, evaluate_body, &args);
    append_log(S);
    return status;
}

int arb_sandbox_evaluate(arb_sandbox *S, int32_t slot, const uint8_t *event, size_t event_length,
                         const uint8_t *context, size_t context_length) {
    if (slot < 0 || slot >= S->policy_count) return ARB_ERR_INTERNAL;
    call_args args = {
        .S = S, .chunkname = "policy", .a = event, .a_length = event_length,
        .b = context, .b_length = context_length, .slot = slot,
    };
    int status = run_protected(S, evaluate_body, &args);
    append_log(S);
    return status;
}

const uint8_t *arb_sandbox_output(const arb_sandbox *S, size_t *length) {
    *length = S->output.length;
    return S->output.data;
}

int64_t arb_sandbox_instructions_used(const arb_sandbox *S) { return S->instructions; }
uint64_t arb_sandbox_memory_used(const arb_sandbox *S) { return S->memory_used; }
