#ifndef ARBITER_SANDBOX_H
#define ARBITER_SANDBOX_H

/*
 * The Lua sandbox of Arbiter's policy engine.
 *
 * Every call into Lua that can raise an error (and so `longjmp`) happens in this C target,
 * inside one `lua_pcall` entered from C. Swift only ever calls the functions below, which
 * never raise: they return a status and leave their result in the sandbox's output buffer.
 *
 * Values cross the boundary in a small tagged binary format (native byte order):
 *   'n'                          null
 *   'f' / 't'                    false / true
 *   'i' int64                    integer
 *   'd' double                   float
 *   's' u32 len, bytes           string (UTF-8)
 *   'a' u32 count, values...     array
 *   'o' u32 count, (u32 len, key bytes, value)...   object
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct arb_sandbox arb_sandbox;

typedef struct arb_limits {
    /// VM instructions per evaluation (pattern-matching steps and bulk C work are charged too).
    int64_t instruction_budget;
    /// Bytes the whole Lua state may hold.
    uint64_t memory_limit;
    /// Wall-clock bound per evaluation, in nanoseconds.
    int64_t time_limit_ns;
} arb_limits;

/* Status codes returned by the calls below. */
enum {
    ARB_OK = 0,
    ARB_ERR_RUNTIME = 1,     /* a Lua error raised by the policy (message in output) */
    ARB_ERR_BUDGET = 2,      /* instruction budget exhausted */
    ARB_ERR_MEMORY = 3,      /* memory cap reached */
    ARB_ERR_TIME = 4,        /* wall-clock bound passed */
    ARB_ERR_COMPILE = 5,     /* syntax error, or not a text chunk */
    ARB_ERR_MALFORMED = 6,   /* the policy or its decision has the wrong shape */
    ARB_ERR_INTERNAL = 7,    /* the sandbox itself failed (e.g. state could not be created) */
};

/* Outcome codes in an evaluation result. */
enum {
    ARB_OUTCOME_APPROVE = 1,
    ARB_OUTCOME_REVIEW = 2,
    ARB_OUTCOME_REJECT = 3,
};

/// Creates a sandboxed Lua state with the base environment and helpers. NULL when out of memory.
/// `currency_exponents` lists the ISO 4217 currencies whose minor unit is not a hundredth, as
/// four bytes each — the code and its exponent digit ("JPY0KWD3…"): `money()` formats with
/// it. Swift's `Currency` owns the table; the sandbox keeps a copy.
arb_sandbox *arb_sandbox_new(arb_limits limits, const char *currency_exponents);
void arb_sandbox_free(arb_sandbox *sandbox);

/// Sets `ctx.config` (an encoded object), deep-frozen and shared by every evaluation.
int arb_sandbox_set_config(arb_sandbox *sandbox, const uint8_t *config, size_t length);

/// Compiles a policy (text only) and runs its chunk once to read its header.
/// On ARB_OK, `*slot` names the policy for arb_sandbox_evaluate and the output holds an
/// encoded object {name, on, priority}. Otherwise the output holds the error message.
int arb_sandbox_load(arb_sandbox *sandbox, const char *chunkname, const char *source,
                     size_t length, int32_t *slot);

/// Evaluates one loaded policy against an encoded event and an encoded context
/// ({account, history, now}). The chunk runs afresh in a fresh global table, so nothing is
/// carried between evaluations. On ARB_OK the output holds the decision:
///   u8 outcome, string queue (len 0 = none), i64 sla_hours (-1 = none),
///   i64 approvals_required (0 = none), u32 n + n strings (reasons),
///   u32 n + n encoded objects (actions), u32 n + n strings (log lines).
/// Strings are u32 length + bytes. Otherwise the output holds the error message
/// followed by the log lines (u32 n + n strings).
int arb_sandbox_evaluate(arb_sandbox *sandbox, int32_t slot, const uint8_t *event,
                         size_t event_length, const uint8_t *context, size_t context_length);

/// Compiles a source's mapping script: its chunk returns {name = ..., map = function(request)}.
/// Loaded, frozen and run like a policy (fresh globals each call, same limits). On ARB_OK the
/// output holds an encoded object {name}; otherwise the error message.
int arb_sandbox_load_mapping(arb_sandbox *sandbox, const char *chunkname, const char *source,
                             size_t length, int32_t *slot);

/// Calls a loaded mapping's `map` with an encoded request object. On ARB_OK the output holds
/// the encoded table it returned; otherwise the error message. Either is followed by the log
/// lines (u32 n + n strings).
int arb_sandbox_map(arb_sandbox *sandbox, int32_t slot, const uint8_t *request, size_t request_length);

/// The output of the last call, valid until the next call on this sandbox.
const uint8_t *arb_sandbox_output(const arb_sandbox *sandbox, size_t *length);

/// Instructions charged by the last evaluation and bytes the state holds now.
int64_t arb_sandbox_instructions_used(const arb_sandbox *sandbox);
uint64_t arb_sandbox_memory_used(const arb_sandbox *sandbox);

#ifdef __cplusplus
}
#endif

#endif
