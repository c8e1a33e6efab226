/* Co-location (NIST SP 800-190 §4.3.4, settings.colocation): containers
 * whose sensitivity levels may not share this host's kernel. Pure:
 * (policy, inventory) in, a decision out; the daemon applies it.
 *
 * The containers are taken in the order they first arrived (`since`,
 * from the state file after a restart; ties by id), and each one that
 * holds a level forbidden with a level of an earlier container that runs
 * mixes. With mode enforce, a mixing container is held in quarantine
 * and does not count as running; with mode warn it runs and counts. The
 * same inventory gives the same decision, before and after a restart. */
#ifndef BULKHEAD_COLOCATION_H
#define BULKHEAD_COLOCATION_H

#include "inventory.h"
#include "policy.h"

struct colo_conflict {
	const struct container *c;	/* the later one: mixing or held */
	enum sensitivity level;		/* its level that is forbidden */
	const struct container *with;	/* the first earlier one it meets */
	enum sensitivity with_level;
};

struct colo_result {
	struct colo_conflict *v;	/* in arrival order of c */
	size_t n;
};

/* A container's levels as the boundaries see them: its own
 * <prefix>sensitivity label and its group's (bit per level; SENS_UNSET
 * when neither names one). Containers whose labels are not known yet
 * (quarantined) have none and take no part, nor do other hosts'
 * (SRC_REMOTE): they are in our sets but not on our kernel. */
unsigned colocation_levels(const struct policy *p, const struct container *c);
/* {"low": 2, "restricted": 1}: how many of this host's containers hold
 * each level (colocation_levels; held ones count, they share the
 * kernel; remote ones do not). {} without a policy. What the host key
 * in etcd carries for `bulkheadctl posture --cluster`. */
struct json_t *colocation_levels_json(const struct policy *p,
				      const struct inventory *inv);
/* Every conflict under p->colo_mode (none when it is off). */
void colocation_decide(const struct policy *p, const struct inventory *inv,
		       struct colo_result *r);
void colo_result_free(struct colo_result *r);


/* The conflict of c in r, or NULL. */
const struct colo_conflict *colocation_conflict(const struct colo_result *r,
						const struct container *c);
/* Whether c, arriving now (or relabelled), mixes with the containers
 * that run and came before it: COLO_HELD (enforce), COLO_MIXING (warn)
 * or COLO_NONE. O(containers); the daemon asks before c's first commit
 * so that a held container never enters its group's chains. */
uint8_t colocation_arrival(const struct policy *p, const struct inventory *inv,
			   const struct container *c);

/* What each container's colo must become under r (COLO_MIXING in warn,
 * COLO_HELD in enforce): one change per container whose state differs,
 * with the conflict that explains it (NULL when it leaves). */
struct colo_change {
	struct container *c;
	uint8_t to;
	const struct colo_conflict *why;
};

size_t colocation_changes(const struct policy *p, const struct inventory *inv,
			  const struct colo_result *r,
			  struct colo_change **out);
/* Decide and set every container's colo at once, without a word: before
 * a full commit (start-up, reload), so that a held container is never
 * in its group's chains, not even for one commit. */
void colocation_mark(const struct policy *p, struct inventory *inv);
/* "container vault (restricted) shares this host's kernel with web1
 * (low)": one line for logs and records. */
char *colocation_text(const struct policy *p, const struct colo_change *x);
/* The record of a change (docs/denied-flows.md, "co-location records"),
 * without its seq (the writer adds it). */
struct json_t *colocation_record_json(const struct policy *p,
				      const struct colo_change *x,
				      uint64_t now_ms);

/* What the last decision left, so that the common changes cost
 * O(levels) instead of a sort of every container (docs/benchmarks.md,
 * "co-location"): the first running container of each level (a level
 * runs from that arrival on) and the latest arrival. An attach of a new
 * container that arrives last, of one without a level, and a detach of
 * one that was no level's first change no one else's state; anything
 * else (a relabel, an earlier arrival, a first gone, another policy)
 * decides anew from every container, as colocation_decide does. */
struct colo_index {
	const struct policy *p;		/* NULL: nothing kept */
	char first_id[SENS_RESTRICTED + 1][CONTAINER_ID_MAX + 1];
	uint64_t first_since[SENS_RESTRICTED + 1];
	char last_id[CONTAINER_ID_MAX + 1];
	uint64_t last_since;
	/* the kept part ends here */
	uint64_t n_scans, n_fast;
};

/* Forget: the next update decides from every container. */
void colocation_index_reset(struct colo_index *x);
/* colocation_arrival from the index when it holds (else the scan). */
uint8_t colocation_arrival_index(const struct colo_index *x,
				 const struct policy *p,
				 const struct inventory *inv,
				 const struct container *c);
/* After an attach (added: the container, NULL after detaches only, a
 * relabel is added too): what colocation_decide + colocation_changes
 * give, into r and *out (caller frees both), keeping x up to date. The
 * changes must then be applied (c->colo = to) before the next call. */
size_t colocation_update(struct colo_index *x, const struct policy *p,
			 const struct inventory *inv,
			 const struct container *added,
			 struct colo_result *r, struct colo_change **out);

#endif
