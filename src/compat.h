/*
 * compat.h
 *	  Every PostgreSQL version difference the extension cares about, in one
 *	  place, so that the rest of the code reads as if it targeted one version.
 *
 * Tested on PostgreSQL 15, 17 and 18 (test/versions.sh).  13 builds (test/
 * versions.sh 13) but is not tested; 14 and 16 have their guards here but
 * are not built.  No file but this one tests PG_VERSION_NUM: the others use
 * the macros and VEC_HAVE_* features defined here.
 */
#ifndef VECTOR_COMPAT_H
#define VECTOR_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000
#error "vector requires PostgreSQL 13 or later"
#endif

/*
 * 16 moved the varlena macros (VARSIZE, VARDATA, ...) out of postgres.h
 * into varatt.h, which not every header that uses them includes
 * (utils/varbit.h does not).
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/* MarkGUCPrefixReserved appeared in 15; EmitWarningsOnPlaceholders before. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* GetXLogReplayRecPtr moved from access/xlog.h to xlogrecovery.h in 15. */
#include "access/xlog.h"
#if PG_VERSION_NUM >= 150000
#include "access/xlogrecovery.h"
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
/* uniform in [rmin, rmax], from the double: exact enough below 2^53 */
static inline uint64
pg_prng_uint64_range(pg_prng_state *state, uint64 rmin, uint64 rmax)
{
	uint64		r = rmin + (uint64) (pg_prng_double(state) * ((double) (rmax - rmin) + 1));

	return Min(r, rmax);
}
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

/*
 * 18 dropped pg_attribute_noreturn() (a suffix) for pg_noreturn (a prefix,
 * C11's _Noreturn); the suffix form is kept here for every version.
 */
#ifndef pg_attribute_noreturn
#if defined(__GNUC__) || defined(__clang__)
#define pg_attribute_noreturn() __attribute__((noreturn))
#else
#define pg_attribute_noreturn()
#endif
#endif

/*
 * Partition pruning of an Append or MergeAppend plan: 18 replaced the
 * part_prune_info pointer with an index into the plan's list (-1: none).
 */
#if PG_VERSION_NUM >= 180000
#define VecPlanHasPartPrune(node) ((node)->part_prune_index >= 0)
#define VecPlanClearPartPrune(node) ((node)->part_prune_index = -1)
#else
#define VecPlanHasPartPrune(node) ((node)->part_prune_info != NULL)
#define VecPlanClearPartPrune(node) ((node)->part_prune_info = NULL)
#endif

/*
 * 18 compares paths by their count of disabled nodes before their cost
 * (enable_seqscan = off counts one against a sequential scan): an index
 * path priced out at an infinite cost must also count more disabled nodes
 * than any sequential scan, or it wins against one enable_seqscan = off
 * disabled.  Before 18 the infinite cost alone does it.
 */
#if PG_VERSION_NUM >= 180000
#define VecIndexPathPriceOut(ipath) ((ipath)->path.disabled_nodes += 2)
#else
#define VecIndexPathPriceOut(ipath) ((void) (ipath))
#endif

/*
 * 17 replaced IsAutoVacuumWorkerProcess() with AmAutoVacuumWorkerProcess()
 * (miscadmin.h); autovacuum_work_mem stays in autovacuum.h.
 */
#include "postmaster/autovacuum.h"
#if PG_VERSION_NUM >= 170000
#define VecIsAutoVacuumWorker() AmAutoVacuumWorkerProcess()
#else
#define VecIsAutoVacuumWorker() IsAutoVacuumWorkerProcess()
#endif

/*
 * Before 17 the planner keeps an IN list on an index column after the
 * first above an ordered index scan, and before 16 it tries WHERE flag
 * only with btree and hash operator families: src/planner/filterquals.c
 * makes both index conditions of an hnsw scan there.
 */
#define VEC_PLANNER_NEEDS_FILTER_QUALS (PG_VERSION_NUM < 170000)
#define VEC_PLANNER_NEEDS_BOOL_QUALS (PG_VERSION_NUM < 160000)

/* 18 tells vacuum_delay_point whether ANALYZE or VACUUM is calling. */
#if PG_VERSION_NUM >= 180000
#define VecVacuumDelayPoint() vacuum_delay_point(false)
#else
#define VecVacuumDelayPoint() vacuum_delay_point()
#endif

/*
 * The relation's file number, which an index's cached metadata is keyed
 * on: 16 renamed RelFileNode to RelFileLocator.
 */
#if PG_VERSION_NUM >= 160000
#define VecRelFileNumber(rel)	((rel)->rd_locator.relNumber)
#define VecLogNewPage(rel, fork, blk, page) \
	log_newpage(&(rel)->rd_locator, (fork), (blk), (page), true)
#else
#define VecRelFileNumber(rel)	((rel)->rd_node.relNode)
#define VecLogNewPage(rel, fork, blk, page) \
	log_newpage(&(rel)->rd_node, (fork), (blk), (page), true)
#endif

/*
 * A generation context that keeps its first block across resets (the
 * minContextSize argument of GenerationContextCreate) appeared in 15;
 * before, the callers make a fresh context for each use.
 */
#if PG_VERSION_NUM >= 150000
#define VEC_HAVE_KEPT_GENERATION_CONTEXT 1
#endif

/* The planner hook's partition top-k rewrite needs 14's planner. */
#if PG_VERSION_NUM >= 140000
#define VEC_HAVE_PARTITION_TOPK 1
#endif

/*
 * The IndexAmRoutine fields some versions have and others lack, set to
 * what both access methods want: no amadjustmembers (14+), not summarizing
 * (16+), no parallel build through PostgreSQL's own machinery (17+; hnsw
 * runs its own workers).  Fields added later (18's amgettreeheight,
 * amconsistentordering, amtranslatestrategy, ...) stay as makeNode zeroed
 * them: absent.
 */
#if PG_VERSION_NUM >= 170000
#define VecAmRoutineVersionFields(am) \
	((am)->amadjustmembers = NULL, (am)->amsummarizing = false, (am)->amcanbuildparallel = false)
#elif PG_VERSION_NUM >= 160000
#define VecAmRoutineVersionFields(am) \
	((am)->amadjustmembers = NULL, (am)->amsummarizing = false)
#elif PG_VERSION_NUM >= 140000
#define VecAmRoutineVersionFields(am) ((am)->amadjustmembers = NULL)
#else
#define VecAmRoutineVersionFields(am) ((void) (am))
#endif

#endif							/* VECTOR_COMPAT_H */
