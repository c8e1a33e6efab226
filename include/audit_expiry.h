/* Audits that ran out: a group in mode: audit past its `until` date
 * (docs/policy.md). The daemon reports them in status, in the metrics
 * (bulkhead_audit_expired) and in its log (journald under systemd) once
 * a day per group; nothing here touches enforcement, which stays what
 * the policy says until an admin changes the mode (docs/recommend.md). */
#ifndef BULKHEAD_AUDIT_EXPIRY_H
#define BULKHEAD_AUDIT_EXPIRY_H

#include <stdint.h>

#include <jansson.h>

#include "ev.h"
#include "metrics.h"
#include "policy.h"

struct audit_expiry;

/* A timer on loop that looks at *policy (the caller's pointer to the
 * policy in force, read at every look; NULL is no policy) at start, every
 * hour and on audit_expiry_check, and logs every expired audit once per
 * UTC day. */
struct audit_expiry *audit_expiry_new(struct ev_loop *loop,
				      struct policy *const *policy);
void audit_expiry_free(struct audit_expiry *ax);	/* NULL is fine */
/* Look now (after a reload): a newly expired audit is logged at once. */
void audit_expiry_check(struct audit_expiry *ax);

/* status' "audit_expired": [{group, until, days_past}], file order. */
json_t *audit_expiry_json(const struct policy *p, int32_t today);
/* The series of bulkhead_audit_expired{group}: every audit group with
 * an `until`, 1 when past it; the arrays are ax's, valid until the next
 * call. */
void audit_expiry_snapshot(struct audit_expiry *ax, const struct policy *p,
			   int32_t today, struct metrics_snapshot *s);

#endif
