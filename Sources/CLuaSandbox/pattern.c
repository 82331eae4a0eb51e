/*
 * Lua 5.4 pattern matching (string.find, match, gmatch, gsub) for the sandbox, derived from
 * Lua 5.4's lstrlib.c (MIT licence, Copyright (C) 1994-2024 Lua.org, PUC-Rio; the notice is in
 * LICENSE-Lua.txt beside this file).
 *
 * Lua's own matcher runs in C and never returns to the VM, so the instruction hook cannot stop
 * it: `string.find(("a"):rep(5000), ".-.-.-b")` backtracks for minutes. This matcher follows
 * the semantics of the Lua 5.4 reference manual (§6.4.1) and charges every step to the
 * evaluation's instruction budget through arb_charge, which also checks the wall-clock
 * deadline. A pathological pattern therefore ends with "instruction budget exceeded" after at
 * most the budget's worth of steps, deterministically. Character classes are ASCII-only,
 * independent of the process locale, so a decision never depends on the machine.
 */

#define _GNU_SOURCE
#include "sandbox_internal.h"

#include <string.h>

#define MAX_CAPTURES 32
#define MAX_DEPTH 200          /* recursion of the matcher itself */
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
#define ESC '%'
#define CHARGE_EVERY 256       /* steps between two charges */

typedef struct MatchState {
    const char *src_init;
    const char *src_end;
    const char *p_end;
    lua_State *L;
    int level;
    int depth;
    int64_t steps;              /* not yet charged */
    struct {
        const char *init;
        ptrdiff_t len;
    } capture[MAX_CAPTURES];
} MatchState;

static inline void step(MatchState *ms) {
    if (++ms->steps >= CHARGE_EVERY) {
        int64_t n = ms->steps;
        ms->steps = 0;
        arb_charge(ms->L, n);
    }
}

static void flush_steps(MatchState *ms) {
    if (ms->steps > 0) {
        int64_t n = ms->steps;
        ms->steps = 0;
        arb_charge(ms->L, n);
    }
}

/* ASCII character classes, fixed whatever the locale. */
static int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static int is_alpha(int c) { return is_lower(c) || is_upper(c); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static int is_cntrl(int c) { return c < 32 || c == 127; }
static int is_graph(int c) { return c > 32 && c < 127; }
static int is_punct(int c) { return is_graph(c) && !is_alpha(c) && !is_digit(c); }
static int is_xdigit(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int to_lower(int c) { return is_upper(c) ? c + ('a' - 'A') : c; }

/* Does character `c` belong to class `%cl`? */
static int class_contains(int c, int cl) {
    int result;
    switch (to_lower(cl)) {
    case 'a': result = is_alpha(c); break;
    case 'c': result = is_cntrl(c); break;
    case 'd': result = is_digit(c); break;
    case 'g': result = is_graph(c); break;
    case 'l': result = is_lower(c); break;
    case 'p': result = is_punct(c); break;
    case 's': result = is_space(c); break;
    case 'u': result = is_upper(c); break;
    case 'w': result = is_alpha(c) || is_digit(c); break;
    case 'x': result = is_xdigit(c); break;
    case 'z': result = c == 0; break;   /* deprecated in Lua 5.2, still accepted by 5.4 */
    default: return cl == c;   /* %x for a non-alphanumeric x is x itself */
    }
    return is_upper(cl) ? !result : result;
}

/* `open` points at '[', `close` at the set's closing ']'. */
static int set_contains(int c, const char *open, const char *close) {
    const char *p = open + 1;
    int inside = 1;
    if (*p == '^') {
        inside = 0;
        p++;
    }
    for (; p < close; p++) {
        if (*p == ESC) {
            p++;
            if (class_contains(c, (unsigned char)*p)) return inside;
        } else if (p + 2 < close && p[1] == '-') {
            if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2]) return inside;
            p += 2;
        } else if ((unsigned char)*p == c) {
            return inside;
        }
    }
    return !inside;
}

/* Returns the end of the single-character class starting at p. A set is scanned at each
   step of the match, so its length is charged (a 500,000-character set made every step cost
   half a million comparisons, uncharged). */
static const char *class_end_uncharged(MatchState *ms, const char *p);

static const char *class_end(MatchState *ms, const char *p) {
    const char *end = class_end_uncharged(ms, p);
    if (end - p > 32) ms->steps += (end - p) / 16;
    return end;
}

static const char *class_end_uncharged(MatchState *ms, const char *p) {
    char c = *p++;
    if (c == ESC) {
        if (p >= ms->p_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (p < ms->p_end && *p == '^') p++;
        /* The first character of a set is always a member, even ']'. */
        for (;;) {
            if (p >= ms->p_end) luaL_error(ms->L, "malformed pattern (missing ']')");
            char member = *p++;
            if (member == ESC) {
                if (p >= ms->p_end) luaL_error(ms->L, "malformed pattern (missing ']')");
                p++;
            }
            if (p < ms->p_end && *p == ']') return p + 1;
        }
    }
    return p;
}

static int single_match(MatchState *ms, const char *s, const char *p, const char *ep) {
    if (s >= ms->src_end) return 0;
    int c = (unsigned char)*s;
    switch (*p) {
    case '.': return 1;
    case ESC: return class_contains(c, (unsigned char)p[1]);
    case '[':
        if (ep - p > 32) ms->steps += (ep - p) / 16;
        return set_contains(c, p, ep - 1);
    default: return (unsigned char)*p == c;
    }
}

static const char *do_match(MatchState *ms, const char *s, const char *p);

static const char *match_balance(MatchState *ms, const char *s, const char *p) {
    if (p + 1 >= ms->p_end) luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= ms->src_end || *s != *p) return NULL;
    char open = p[0], close = p[1];
    int depth = 1;
    while (++s < ms->src_end) {
        step(ms);
        if (*s == close) {
            if (--depth == 0) return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

static const char *max_expand(MatchState *ms, const char *s, const char *p, const char *ep) {
    ptrdiff_t count = 0;
    while (single_match(ms, s + count, p, ep)) {
        step(ms);
        count++;
    }
    /* Try the longest repetition first, then back off one at a time. */
    while (count >= 0) {
        const char *end = do_match(ms, s + count, ep + 1);
        if (end != NULL) return end;
        count--;
    }
    return NULL;
}

static const char *min_expand(MatchState *ms, const char *s, const char *p, const char *ep) {
    for (;;) {
        const char *end = do_match(ms, s, ep + 1);
        if (end != NULL) return end;
        if (!single_match(ms, s, p, ep)) return NULL;
        s++;
    }
}

static const char *start_capture(MatchState *ms, const char *s, const char *p, ptrdiff_t what) {
    if (ms->level >= MAX_CAPTURES) luaL_error(ms->L, "too many captures");
    ms->capture[ms->level].init = s;
    ms->capture[ms->level].len = what;
    ms->level++;
    const char *end = do_match(ms, s, p);
    if (end == NULL) ms->level--;
    return end;
}

static const char *end_capture(MatchState *ms, const char *s, const char *p) {
    int open = -1;
    for (int i = ms->level - 1; i >= 0; i--) {
        if (ms->capture[i].len == CAP_UNFINISHED) {
            open = i;
            break;
        }
    }
    if (open < 0) luaL_error(ms->L, "invalid pattern capture");
    ms->capture[open].len = s - ms->capture[open].init;
    const char *end = do_match(ms, s, p);
    if (end == NULL) ms->capture[open].len = CAP_UNFINISHED;
    return end;
}

static const char *match_backreference(MatchState *ms, const char *s, int digit) {
    int index = digit - '1';
    if (index < 0 || index >= ms->level || ms->capture[index].len == CAP_UNFINISHED)
        luaL_error(ms->L, "invalid capture index %%%d", index + 1);
    size_t len = (size_t)ms->capture[index].len;
    if (ms->capture[index].len == CAP_POSITION) len = 0;
    arb_charge(ms->L, (int64_t)(len / 16));
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->capture[index].init, s, len) == 0)
        return s + len;
    return NULL;
}

static const char *do_match(MatchState *ms, const char *s, const char *p) {
    if (++ms->depth > MAX_DEPTH) luaL_error(ms->L, "pattern too complex");
    for (;;) {
        step(ms);
        if (p >= ms->p_end) break;
        switch (*p) {
        case '(':
            if (p + 1 < ms->p_end && p[1] == ')')
                s = start_capture(ms, s, p + 2, CAP_POSITION);
            else
                s = start_capture(ms, s, p + 1, CAP_UNFINISHED);
            goto done;
        case ')':
            s = end_capture(ms, s, p + 1);
            goto done;
        case '$':
            if (p + 1 == ms->p_end) {
                if (s != ms->src_end) s = NULL;
                goto done;
            }
            break;  /* a '$' elsewhere is an ordinary character */
        case ESC:
            if (p + 1 < ms->p_end && p[1] == 'b') {
                s = match_balance(ms, s, p + 2);
                if (s == NULL) goto done;
                p += 4;
                continue;
            }
            if (p + 1 < ms->p_end && p[1] == 'f') {
                p += 2;
                if (p >= ms->p_end || *p != '[') luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                const char *ep = class_end(ms, p);
                int previous = (s == ms->src_init) ? 0 : (unsigned char)s[-1];
                int current = (s < ms->src_end) ? (unsigned char)*s : 0;
                if (ep - p > 32) ms->steps += (ep - p) / 8;
                if (!set_contains(previous, p, ep - 1) && set_contains(current, p, ep - 1)) {
                    p = ep;
                    continue;
                }
                s = NULL;
                goto done;
            }
            if (p + 1 < ms->p_end && is_digit((unsigned char)p[1])) {
                s = match_backreference(ms, s, (unsigned char)p[1]);
                if (s == NULL) goto done;
                p += 2;
                continue;
            }
            break;
        default:
            break;
        }
        /* A single-character class, possibly followed by a repetition suffix. */
        const char *ep = class_end(ms, p);
        char suffix = ep < ms->p_end ? *ep : '\0';
        if (!single_match(ms, s, p, ep)) {
            if (suffix == '*' || suffix == '?' || suffix == '-') {
                p = ep + 1;   /* zero repetitions are fine */
                continue;
            }
            s = NULL;
            goto done;
        }
        switch (suffix) {
        case '?': {
            const char *end = do_match(ms, s + 1, ep + 1);
            if (end != NULL) {
                s = end;
                goto done;
            }
            p = ep + 1;
            continue;
        }
        case '+': s = max_expand(ms, s + 1, p, ep); goto done;
        case '*': s = max_expand(ms, s, p, ep); goto done;
        case '-': s = min_expand(ms, s, p, ep); goto done;
        default:
            s++;
            p = ep;
            continue;
        }
    }
done:
    ms->depth--;
    return s;
}

static void prepare(MatchState *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp) {
    ms->L = L;
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
    ms->steps = 0;
    ms->level = 0;
    ms->depth = 0;
}

static void reset(MatchState *ms) {
    ms->level = 0;
    ms->depth = 0;
}

/* Pushes capture i (or the whole match when there are no captures and i == 0). */
static void push_capture(MatchState *ms, int i, const char *s, const char *e) {
    if (i >= ms->level) {
        if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(ms->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t len = ms->capture[i].len;
    if (len == CAP_UNFINISHED) luaL_error(ms->L, "unfinished capture");
    if (len == CAP_POSITION)
        lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
    else
        lua_pushlstring(ms->L, ms->capture[i].init, (size_t)len);
}

static int push_captures(MatchState *ms, const char *s, const char *e) {
    int count = (ms->level == 0 && s != NULL) ? 1 : ms->level;
    luaL_checkstack(ms->L, count, "too many captures");
    for (int i = 0; i < count; i++) push_capture(ms, i, s, e);
    return count;
}

/* Whether string.find must treat the pattern as a pattern. Like Lua's own test, ')' and ']'
   alone do not count: such a pattern is searched for as plain text. */
static int has_specials(const char *p, size_t lp) {
    for (size_t i = 0; i < lp; i++) {
        switch (p[i]) {
        case '^': case '$': case '*': case '+': case '?': case '.':
        case '(': case '[': case '%': case '-':
            return 1;
        default:
            break;
        }
    }
    return 0;
}

/* 1-based start position as Lua 5.4 computes it for find, match and gmatch. */
static size_t start_position(lua_Integer pos, size_t len) {
    if (pos > 0) return (size_t)pos;
    if (pos == 0) return 1;
    if (pos < -(lua_Integer)len) return 1;
    return len + (size_t)pos + 1;
}

static int find_or_match(lua_State *L, int find) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_position(luaL_optinteger(L, 3, 1), ls);
    if (init > ls + 1) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
        arb_charge(L, (int64_t)((ls - (init - 1)) / 16) + 1);
        const char *hit = lp == 0 ? s + init - 1 : memmem(s + init - 1, ls - (init - 1), p, lp);
        if (hit != NULL) {
            lua_pushinteger(L, (hit - s) + 1);
            lua_pushinteger(L, (hit - s) + (lua_Integer)lp);
            return 2;
        }
        luaL_pushfail(L);
        return 1;
    }
    MatchState ms;
    int anchored = lp > 0 && *p == '^';
    if (anchored) {
        p++;
        lp--;
    }
    prepare(&ms, L, s, ls, p, lp);
    const char *start = s + init - 1;
    do {
        reset(&ms);
        const char *end = do_match(&ms, start, p);
        if (end != NULL) {
            flush_steps(&ms);
            if (find) {
                lua_pushinteger(L, (start - s) + 1);
                lua_pushinteger(L, end - s);
                return push_captures(&ms, NULL, NULL) + 2;
            }
            return push_captures(&ms, start, end);
        }
    } while (start++ < ms.src_end && !anchored);
    flush_steps(&ms);
    luaL_pushfail(L);
    return 1;
}

int arb_str_find(lua_State *L) { return find_or_match(L, 1); }
int arb_str_match(lua_State *L) { return find_or_match(L, 0); }

typedef struct GMatchState {
    const char *src;
    const char *p;
    const char *lastmatch;
    MatchState ms;
} GMatchState;

static int gmatch_next(lua_State *L) {
    GMatchState *gm = (GMatchState *)lua_touserdata(L, lua_upvalueindex(3));
    gm->ms.L = L;   /* the iterator may run in another coroutine than gmatch did */
    for (const char *src = gm->src; src <= gm->ms.src_end; src++) {
        reset(&gm->ms);
        const char *end = do_match(&gm->ms, src, gm->p);
        if (end != NULL && end != gm->lastmatch) {
            gm->src = gm->lastmatch = end;
            flush_steps(&gm->ms);
            return push_captures(&gm->ms, src, end);
        }
    }
    flush_steps(&gm->ms);
    return 0;
}

int arb_str_gmatch(lua_State *L) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_position(luaL_optinteger(L, 3, 1), ls);
    if (init > ls + 1) init = ls + 1;   /* start past the end: no matches */
    lua_settop(L, 2);
    GMatchState *gm = (GMatchState *)lua_newuserdatauv(L, sizeof(GMatchState), 0);
    prepare(&gm->ms, L, s, ls, p, lp);
    gm->src = s + init - 1;
    gm->p = p;
    gm->lastmatch = NULL;
    /* Upvalues keep the subject and pattern strings alive for the iterator. */
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

static void append_replacement_string(MatchState *ms, luaL_Buffer *b, const char *s, const char *e) {
    lua_State *L = ms->L;
    size_t l;
    const char *news = lua_tolstring(L, 3, &l);
    const char *end = news + l;
    arb_charge(L, (int64_t)(l / 16) + 1);
    for (const char *p = news; p < end; p++) {
        if (*p != ESC) {
            luaL_addchar(b, *p);
            continue;
        }
        p++;
        if (p >= end) luaL_error(L, "invalid use of '%c' in replacement string", ESC);
        if (*p == ESC) {
            luaL_addchar(b, *p);
        } else if (*p == '0') {
            arb_charge(L, (int64_t)((e - s) / 16));
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (is_digit((unsigned char)*p)) {
            push_capture(ms, *p - '1', s, e);
            luaL_tolstring(L, -1, NULL);   /* a position capture is an integer */
            lua_remove(L, -2);
            arb_charge(L, (int64_t)(lua_rawlen(L, -1) / 16));
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", ESC);
        }
    }
}

static void append_replacement(MatchState *ms, luaL_Buffer *b, const char *s, const char *e, int kind) {
    lua_State *L = ms->L;
    if (kind == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = push_captures(ms, s, e);
        lua_call(L, n, 1);
    } else if (kind == LUA_TTABLE) {
        push_capture(ms, 0, s, e);
        lua_gettable(L, 3);
    } else {
        append_replacement_string(ms, b, s, e);
        return;
    }
    if (!lua_toboolean(L, -1)) {   /* nil or false: keep the original text */
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
    } else if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    } else {
        luaL_addvalue(b);
    }
}

int arb_str_gsub(lua_State *L) {
    size_t ls, lp;
    const char *src = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *lastmatch = NULL;
    int kind = lua_type(L, 3);
    lua_Integer max_replacements = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION ||
                        kind == LUA_TTABLE, 3, "string/function/table");
    int anchored = lp > 0 && *p == '^';
    if (anchored) {
        p++;
        lp--;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    MatchState ms;
    prepare(&ms, L, src, ls, p, lp);
    lua_Integer n = 0;
    int changed = 0;
    while (n < max_replacements) {
        reset(&ms);
        const char *end = do_match(&ms, src, p);
        if (end != NULL && end != lastmatch) {
            n++;
            changed = 1;
            append_replacement(&ms, &b, src, end, kind);
            src = lastmatch = end;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchored) break;
    }
    flush_steps(&ms);
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}
