/*
 * compat.h
 *	  Every PostgreSQL version difference the extension cares about, in one
 *	  place, so that the rest of the code reads as if it targeted one version.
 *
 * Supported: PostgreSQL 13 to 17; developed and tested on 15.
 */
#ifndef VECTOR_COMPAT_H
#define VECTOR_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000
#error "vector requires PostgreSQL 13 or later"
#endif

/* MarkGUCPrefixReserved appeared in 15; EmitWarningsOnPlaceholders before. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* palloc_array and friends appeared in 16. */
#ifndef palloc_array
#define palloc_array(type, count) ((type *) palloc(sizeof(type) * (count)))
#define palloc0_array(type, count) ((type *) palloc0(sizeof(type) * (count)))
#endif

/* float overflow helpers moved into utils/float.h in 12; same names since. */
#include "utils/float.h"

/* Uniform doubles in [0, 1), seeded or global: pg_prng appeared in 15. */
#if PG_VERSION_NUM >= 150000
#include "common/pg_prng.h"
#define VecRandomDouble() pg_prng_double(&pg_global_prng_state)
#else
typedef struct pg_prng_state
{
	unsigned short xsubi[3];
} pg_prng_state;
static inline void
pg_prng_seed(pg_prng_state *state, uint64 seed)
{
	state->xsubi[0] = (unsigned short) seed;
	state->xsubi[1] = (unsigned short) (seed >> 16);
	state->xsubi[2] = (unsigned short) (seed >> 32);
}
static inline double
pg_prng_double(pg_prng_state *state)
{
	return pg_erand48(state->xsubi);
}
#define VecRandomDouble() ((double) random() / ((double) MAX_RANDOM_VALUE + 1))
#endif

/* aminsert gained indexUnchanged in 14. */
#if PG_VERSION_NUM >= 140000
#define VEC_AMINSERT_UNCHANGED_ARG , bool indexUnchanged
#else
#define VEC_AMINSERT_UNCHANGED_ARG
#endif

/*
 * ReadRecentBuffer (14+) pins a buffer we saw holding the block before,
 * checking its tag instead of looking it up in the mapping table.  16
 * renamed the relation's file identity.
 */
#if PG_VERSION_NUM >= 160000
#define VEC_HAVE_RECENT_BUFFER 1
#define VecReadRecentBuffer(rel, blk, buf) \
	ReadRecentBuffer((rel)->rd_locator, MAIN_FORKNUM, (blk), (buf))
#elif PG_VERSION_NUM >= 140000
#define VEC_HAVE_RECENT_BUFFER 1
#define VecReadRecentBuffer(rel, blk, buf) \
	ReadRecentBuffer((rel)->rd_node, MAIN_FORKNUM, (blk), (buf))
#endif

/*
 * 16 moved a range table entry's permission fields into RTEPermissionInfo,
 * which every relation entry of a query then needs.  VecRteCheckAsUser is
 * the user an entry's scan runs as (0: the current user).  VecRteReadAs
 * makes a new relation entry of query scan as user; before 16 it checks no
 * permission on it (the caller's query checks the parent's), from 16 on it
 * requires SELECT (the executor expects every RTEPermissionInfo to require
 * something), so when VEC_RTE_READ_CHECKED is 1 the caller must know that
 * user may read the relation.
 */
#if PG_VERSION_NUM >= 160000
#include "parser/parse_relation.h"
#define VEC_RTE_READ_CHECKED 1
#define VecRteCheckAsUser(query, rte) \
	(getRTEPermissionInfo((query)->rteperminfos, (rte))->checkAsUser)
#define VecRteReadAs(query, rte, user) \
	do { \
		RTEPermissionInfo *perminfo_ = addRTEPermissionInfo(&(query)->rteperminfos, (rte)); \
		perminfo_->requiredPerms = ACL_SELECT; \
		perminfo_->checkAsUser = (user); \
	} while (0)
#else
#define VEC_RTE_READ_CHECKED 0
#define VecRteCheckAsUser(query, rte) ((rte)->checkAsUser)
#define VecRteReadAs(query, rte, user) ((rte)->requiredPerms = 0, (rte)->checkAsUser = (user))
#endif

#endif							/* VECTOR_COMPAT_H */
